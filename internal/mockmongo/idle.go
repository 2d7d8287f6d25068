package mockmongo

import (
	"context"

	"github.com/256dpi/lungo"
	"go.mongodb.org/mongo-driver/mongo/options"
)

// IdleStreams wraps a client so that the change streams opened through it
// deliver no events: Next and TryNext wait until their context ends and
// report none, as a getMore does on a server with nothing new (awaitData),
// where the mock deployment would answer at once from its queue. Script
// the aggregate's reply with an empty first batch. Close hands the driver's
// change stream the context it is given, so a close still sends
// killCursors for the stream's cursor, and first reports on Closes the
// state of that context.
//
// Open the store on it (mongostore.New(ctx, idle)); it unwraps to the
// mock client, so the store sees MongoDB.
type IdleStreams struct {
	lungo.IClient
	// Closes receives the state of the context of each change stream's
	// Close when it was called; it should be buffered.
	Closes chan StreamClose
}

// StreamClose is the state of the context a change stream was closed with.
type StreamClose struct {
	// Err is the context's error: nil while it is alive.
	Err error
	// Deadline reports whether the context had a deadline.
	Deadline bool
}

// NewIdleStreams wraps m's client, with room on Closes for a few closes.
func NewIdleStreams(m *Mock) *IdleStreams {
	return &IdleStreams{IClient: m.Client, Closes: make(chan StreamClose, 4)}
}

// Unwrap returns the wrapped client.
func (c *IdleStreams) Unwrap() lungo.IClient { return c.IClient }

// Database returns the database whose collections' change streams idle.
func (c *IdleStreams) Database(name string, opts ...*options.DatabaseOptions) lungo.IDatabase {
	return idleDatabase{c.IClient.Database(name, opts...), c.Closes}
}

type idleDatabase struct {
	lungo.IDatabase
	closes chan StreamClose
}

func (d idleDatabase) Collection(name string, opts ...*options.CollectionOptions) lungo.ICollection {
	return idleCollection{d.IDatabase.Collection(name, opts...), d.closes}
}

type idleCollection struct {
	lungo.ICollection
	closes chan StreamClose
}

func (c idleCollection) Watch(ctx context.Context, pipeline any, opts ...*options.ChangeStreamOptions) (lungo.IChangeStream, error) {
	cs, err := c.ICollection.Watch(ctx, pipeline, opts...)
	if err != nil {
		return nil, err
	}
	return idleStream{cs, c.closes}, nil
}

type idleStream struct {
	lungo.IChangeStream
	closes chan StreamClose
}

func (s idleStream) Next(ctx context.Context) bool {
	<-ctx.Done()
	return false
}

func (s idleStream) TryNext(ctx context.Context) bool {
	<-ctx.Done()
	return false
}

func (s idleStream) Close(ctx context.Context) error {
	_, deadline := ctx.Deadline()
	s.closes <- StreamClose{Err: ctx.Err(), Deadline: deadline}
	return s.IChangeStream.Close(ctx)
}

// KilledCursors returns the cursor ids of the killCursors commands sent
// since New or the last Clear, in order.
func (m *Mock) KilledCursors() []int64 {
	var out []int64
	for _, c := range m.Named("killCursors") {
		ids, _ := c.Command.Lookup("cursors").Array().Values()
		for _, id := range ids {
			out = append(out, id.Int64())
		}
	}
	return out
}
