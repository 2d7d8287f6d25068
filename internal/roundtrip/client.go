package roundtrip

import (
	"context"
	"time"

	"github.com/256dpi/lungo"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
	"go.mongodb.org/mongo-driver/mongo/readpref"
)

// Client is a lungo.IClient that counts the round trips made through it
// and through every database, collection, session and cursor it hands
// out. It is safe for concurrent use.
type Client struct {
	inner lungo.IClient
	n     *counter
}

var _ lungo.IClient = (*Client)(nil)

// Wrap returns a counting client around c, with its counts at zero.
func Wrap(c lungo.IClient) *Client {
	return &Client{inner: c, n: &counter{}}
}

// Unwrap returns the wrapped client.
func (c *Client) Unwrap() lungo.IClient { return c.inner }

// Count returns the number of round trips counted since Wrap or the last
// Reset.
func (c *Client) Count() int64 { return c.n.count() }

// Ops returns the counts per operation name (Find, InsertOne,
// CommitTransaction, GetMore, ...), for debugging. The map is a copy.
func (c *Client) Ops() map[string]int64 { return c.n.snapshot() }

// Reset sets every count back to zero.
func (c *Client) Reset() { c.n.reset() }

// Connect implements lungo.IClient; it is not counted.
func (c *Client) Connect(ctx context.Context) error { return c.inner.Connect(ctx) }

// Database implements lungo.IClient.
func (c *Client) Database(name string, opts ...*options.DatabaseOptions) lungo.IDatabase {
	return &Database{inner: c.inner.Database(name, opts...), client: c}
}

// Disconnect implements lungo.IClient; it is not counted.
func (c *Client) Disconnect(ctx context.Context) error { return c.inner.Disconnect(ctx) }

// ListDatabaseNames implements lungo.IClient.
func (c *Client) ListDatabaseNames(ctx context.Context, filter any, opts ...*options.ListDatabasesOptions) ([]string, error) {
	c.n.add(ctx, "ListDatabaseNames", 1)
	return c.inner.ListDatabaseNames(ctx, filter, opts...)
}

// ListDatabases implements lungo.IClient.
func (c *Client) ListDatabases(ctx context.Context, filter any, opts ...*options.ListDatabasesOptions) (mongo.ListDatabasesResult, error) {
	c.n.add(ctx, "ListDatabases", 1)
	return c.inner.ListDatabases(ctx, filter, opts...)
}

// NumberSessionsInProgress implements lungo.IClient.
func (c *Client) NumberSessionsInProgress() int { return c.inner.NumberSessionsInProgress() }

// Ping implements lungo.IClient.
func (c *Client) Ping(ctx context.Context, rp *readpref.ReadPref) error {
	c.n.add(ctx, "Ping", 1)
	return c.inner.Ping(ctx, rp)
}

// StartSession implements lungo.IClient; starting a session is client-side
// and not counted.
func (c *Client) StartSession(opts ...*options.SessionOptions) (lungo.ISession, error) {
	s, err := c.inner.StartSession(opts...)
	if err != nil {
		return nil, err
	}
	return &Session{inner: s, client: c}, nil
}

// Timeout implements lungo.IClient.
func (c *Client) Timeout() *time.Duration { return c.inner.Timeout() }

// UseSession implements lungo.IClient. fn gets a session context whose
// session counts like one from StartSession.
func (c *Client) UseSession(ctx context.Context, fn func(lungo.ISessionContext) error) error {
	return c.inner.UseSession(ctx, c.sessionFunc(fn))
}

// UseSessionWithOptions implements lungo.IClient, like UseSession.
func (c *Client) UseSessionWithOptions(ctx context.Context, opts *options.SessionOptions, fn func(lungo.ISessionContext) error) error {
	return c.inner.UseSessionWithOptions(ctx, opts, c.sessionFunc(fn))
}

func (c *Client) sessionFunc(fn func(lungo.ISessionContext) error) func(lungo.ISessionContext) error {
	return func(sc lungo.ISessionContext) error {
		return fn(&sessionContext{Context: sc, Session: &Session{inner: sc, client: c}})
	}
}

// Watch implements lungo.IClient.
func (c *Client) Watch(ctx context.Context, pipeline any, opts ...*options.ChangeStreamOptions) (lungo.IChangeStream, error) {
	c.n.add(ctx, "Client.Watch", 1)
	cs, err := c.inner.Watch(ctx, pipeline, opts...)
	if err != nil {
		return nil, err
	}
	return &ChangeStream{inner: cs, n: c.n}, nil
}
