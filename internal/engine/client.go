package engine

import (
	"context"
	"errors"
	"time"

	"github.com/256dpi/lungo"
	"github.com/256dpi/lungo/mongokit"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
	"go.mongodb.org/mongo-driver/mongo/readpref"
)

// Client is the engine's lungo.IClient: the MongoDB driver's client API over
// the embedded store.
type Client struct {
	e *Engine
}

var _ lungo.IClient = (*Client)(nil)

// Client returns a client on the engine. Clients are cheap; all share the
// engine.
func (e *Engine) Client() *Client { return &Client{e: e} }

// Engine returns the engine the client works on.
func (c *Client) Engine() *Engine { return c.e }

// Connect implements lungo.IClient; there is nothing to connect to.
func (c *Client) Connect(context.Context) error { return nil }

// Disconnect implements lungo.IClient. It does not close the engine, which
// belongs to whoever opened it.
func (c *Client) Disconnect(context.Context) error { return nil }

// Database implements lungo.IClient. Read and write concerns and read
// preferences are accepted: the engine has one node, commits are durable
// and reads see durable data only.
func (c *Client) Database(name string, opts ...*options.DatabaseOptions) lungo.IDatabase {
	o := options.MergeDatabaseOptions(opts...)
	return &Database{c: c, name: name, opts: o}
}

// ListDatabaseNames implements lungo.IClient.
func (c *Client) ListDatabaseNames(ctx context.Context, filter any, opts ...*options.ListDatabasesOptions) ([]string, error) {
	res, err := c.ListDatabases(ctx, filter, opts...)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(res.Databases))
	for i, d := range res.Databases {
		names[i] = d.Name
	}
	return names, nil
}

// ListDatabases implements lungo.IClient.
func (c *Client) ListDatabases(ctx context.Context, filter any, opts ...*options.ListDatabasesOptions) (mongo.ListDatabasesResult, error) {
	if err := c.e.enter(); err != nil {
		return mongo.ListDatabasesResult{}, err
	}
	defer c.e.inflight.Done()
	f, err := toDoc(filter)
	if err != nil {
		return mongo.ListDatabasesResult{}, err
	}
	var res mongo.ListDatabasesResult
	for _, name := range c.e.cat.Load().databases() {
		spec := bson.D{{Key: "name", Value: name}, {Key: "sizeOnDisk", Value: int64(0)}, {Key: "empty", Value: false}}
		if len(f) > 0 {
			ok, err := mongokit.Match(&spec, &f)
			if err != nil {
				return res, err
			}
			if !ok {
				continue
			}
		}
		res.Databases = append(res.Databases, mongo.DatabaseSpecification{Name: name})
	}
	return res, nil
}

// NumberSessionsInProgress implements lungo.IClient.
func (c *Client) NumberSessionsInProgress() int { return 0 }

// Ping implements lungo.IClient: it fails once the engine is closed.
func (c *Client) Ping(context.Context, *readpref.ReadPref) error {
	if err := c.e.enter(); err != nil {
		return err
	}
	c.e.inflight.Done()
	return nil
}

// StartSession implements lungo.IClient.
func (c *Client) StartSession(opts ...*options.SessionOptions) (lungo.ISession, error) {
	if err := c.e.enter(); err != nil {
		return nil, err
	}
	c.e.inflight.Done()
	s := newSession(c)
	if o := options.MergeSessionOptions(opts...); o.Snapshot != nil && *o.Snapshot {
		if o.CausalConsistency != nil && *o.CausalConsistency {
			return nil, errors.New("engine: causal consistency and snapshot cannot both be set for a session")
		}
		s.snapshot = true
	}
	return s, nil
}

// Timeout implements lungo.IClient.
func (c *Client) Timeout() *time.Duration { return nil }

// UseSession implements lungo.IClient.
func (c *Client) UseSession(ctx context.Context, fn func(lungo.ISessionContext) error) error {
	return c.UseSessionWithOptions(ctx, nil, fn)
}

// UseSessionWithOptions implements lungo.IClient.
func (c *Client) UseSessionWithOptions(ctx context.Context, opts *options.SessionOptions, fn func(lungo.ISessionContext) error) error {
	sess, err := c.StartSession(opts)
	if err != nil {
		return err
	}
	s := sess.(*Session)
	defer s.EndSession(ctx)
	return fn(s.context(ctx))
}

// Watch implements lungo.IClient: a change stream of every collection.
func (c *Client) Watch(ctx context.Context, pipeline any, opts ...*options.ChangeStreamOptions) (lungo.IChangeStream, error) {
	return c.e.watch(ctx, "", "", pipeline, opts...)
}
