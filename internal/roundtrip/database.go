package roundtrip

import (
	"context"

	"github.com/256dpi/lungo"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
	"go.mongodb.org/mongo-driver/mongo/readconcern"
	"go.mongodb.org/mongo-driver/mongo/readpref"
	"go.mongodb.org/mongo-driver/mongo/writeconcern"
)

// Database is a lungo.IDatabase that counts round trips into its
// client's counter.
type Database struct {
	inner  lungo.IDatabase
	client *Client
}

var _ lungo.IDatabase = (*Database)(nil)

// Unwrap returns the wrapped database.
func (d *Database) Unwrap() lungo.IDatabase { return d.inner }

func (d *Database) add(ctx context.Context, op string) { d.client.n.add(ctx, op, 1) }

func (d *Database) cursor(cur lungo.ICursor, err error) (lungo.ICursor, error) {
	if err != nil {
		return nil, err
	}
	return &Cursor{inner: cur, n: d.client.n}, nil
}

// Aggregate implements lungo.IDatabase.
func (d *Database) Aggregate(ctx context.Context, pipeline any, opts ...*options.AggregateOptions) (lungo.ICursor, error) {
	d.add(ctx, "Database.Aggregate")
	return d.cursor(d.inner.Aggregate(ctx, pipeline, opts...))
}

// Client implements lungo.IDatabase; it returns the counting client.
func (d *Database) Client() lungo.IClient { return d.client }

// Collection implements lungo.IDatabase.
func (d *Database) Collection(name string, opts ...*options.CollectionOptions) lungo.ICollection {
	return &Collection{inner: d.inner.Collection(name, opts...), db: d}
}

// CreateCollection implements lungo.IDatabase.
func (d *Database) CreateCollection(ctx context.Context, name string, opts ...*options.CreateCollectionOptions) error {
	d.add(ctx, "CreateCollection")
	return d.inner.CreateCollection(ctx, name, opts...)
}

// CreateView implements lungo.IDatabase.
func (d *Database) CreateView(ctx context.Context, view, on string, pipeline any, opts ...*options.CreateViewOptions) error {
	d.add(ctx, "CreateView")
	return d.inner.CreateView(ctx, view, on, pipeline, opts...)
}

// Drop implements lungo.IDatabase.
func (d *Database) Drop(ctx context.Context) error {
	d.add(ctx, "Database.Drop")
	return d.inner.Drop(ctx)
}

// ListCollectionNames implements lungo.IDatabase.
func (d *Database) ListCollectionNames(ctx context.Context, filter any, opts ...*options.ListCollectionsOptions) ([]string, error) {
	d.add(ctx, "ListCollectionNames")
	return d.inner.ListCollectionNames(ctx, filter, opts...)
}

// ListCollectionSpecifications implements lungo.IDatabase.
func (d *Database) ListCollectionSpecifications(ctx context.Context, filter any, opts ...*options.ListCollectionsOptions) ([]*mongo.CollectionSpecification, error) {
	d.add(ctx, "ListCollectionSpecifications")
	return d.inner.ListCollectionSpecifications(ctx, filter, opts...)
}

// ListCollections implements lungo.IDatabase.
func (d *Database) ListCollections(ctx context.Context, filter any, opts ...*options.ListCollectionsOptions) (lungo.ICursor, error) {
	d.add(ctx, "ListCollections")
	return d.cursor(d.inner.ListCollections(ctx, filter, opts...))
}

// Name implements lungo.IDatabase.
func (d *Database) Name() string { return d.inner.Name() }

// ReadConcern implements lungo.IDatabase.
func (d *Database) ReadConcern() *readconcern.ReadConcern { return d.inner.ReadConcern() }

// ReadPreference implements lungo.IDatabase.
func (d *Database) ReadPreference() *readpref.ReadPref { return d.inner.ReadPreference() }

// RunCommand implements lungo.IDatabase.
func (d *Database) RunCommand(ctx context.Context, cmd any, opts ...*options.RunCmdOptions) lungo.ISingleResult {
	d.add(ctx, "RunCommand")
	return d.inner.RunCommand(ctx, cmd, opts...)
}

// RunCommandCursor implements lungo.IDatabase.
func (d *Database) RunCommandCursor(ctx context.Context, cmd any, opts ...*options.RunCmdOptions) (lungo.ICursor, error) {
	d.add(ctx, "RunCommandCursor")
	return d.cursor(d.inner.RunCommandCursor(ctx, cmd, opts...))
}

// Watch implements lungo.IDatabase.
func (d *Database) Watch(ctx context.Context, pipeline any, opts ...*options.ChangeStreamOptions) (lungo.IChangeStream, error) {
	d.add(ctx, "Database.Watch")
	cs, err := d.inner.Watch(ctx, pipeline, opts...)
	if err != nil {
		return nil, err
	}
	return &ChangeStream{inner: cs, n: d.client.n}, nil
}

// WriteConcern implements lungo.IDatabase.
func (d *Database) WriteConcern() *writeconcern.WriteConcern { return d.inner.WriteConcern() }
