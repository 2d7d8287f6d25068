package engine

import (
	"context"
	"fmt"

	"github.com/256dpi/lungo"
	"github.com/256dpi/lungo/mongokit"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
	"go.mongodb.org/mongo-driver/mongo/readconcern"
	"go.mongodb.org/mongo-driver/mongo/readpref"
	"go.mongodb.org/mongo-driver/mongo/writeconcern"
)

// Database is the engine's lungo.IDatabase.
type Database struct {
	c    *Client
	name string
	opts *options.DatabaseOptions
}

var _ lungo.IDatabase = (*Database)(nil)

// Aggregate implements lungo.IDatabase; aggregation is not supported.
func (d *Database) Aggregate(context.Context, any, ...*options.AggregateOptions) (lungo.ICursor, error) {
	return nil, unsupported("aggregate")
}

// Client implements lungo.IDatabase.
func (d *Database) Client() lungo.IClient { return d.c }

// Collection implements lungo.IDatabase.
func (d *Database) Collection(name string, opts ...*options.CollectionOptions) lungo.ICollection {
	return &Collection{db: d, name: name, opts: options.MergeCollectionOptions(opts...)}
}

// CreateCollection implements lungo.IDatabase. Creating a collection that
// exists is an error (NamespaceExists), as on MongoDB.
func (d *Database) CreateCollection(ctx context.Context, name string, opts ...*options.CreateCollectionOptions) error {
	o := options.MergeCreateCollectionOptions(opts...)
	if o.Capped != nil || o.Validator != nil || o.TimeSeriesOptions != nil || o.Collation != nil ||
		o.ClusteredIndex != nil || o.ChangeStreamPreAndPostImages != nil || o.ExpireAfterSeconds != nil {
		return unsupported("create collection %s: capped, validated, time-series, clustered or collated collections", name)
	}
	return d.c.e.write(ctx, func(t *txn) error {
		if t.cat.get(d.name, name) != nil {
			return commandError(48, "NamespaceExists", fmt.Sprintf("collection %s.%s already exists", d.name, name))
		}
		_, err := t.collection(d.name, name, true)
		return err
	})
}

// CreateView implements lungo.IDatabase; views are not supported.
func (d *Database) CreateView(context.Context, string, string, any, ...*options.CreateViewOptions) error {
	return unsupported("views")
}

// Drop implements lungo.IDatabase: it drops every collection.
func (d *Database) Drop(ctx context.Context) error {
	return d.c.e.write(ctx, func(t *txn) error {
		for _, m := range t.cat.collections(d.name) {
			if err := t.dropColl(m); err != nil {
				return err
			}
		}
		return nil
	})
}

// ListCollectionNames implements lungo.IDatabase.
func (d *Database) ListCollectionNames(ctx context.Context, filter any, opts ...*options.ListCollectionsOptions) ([]string, error) {
	specs, err := d.ListCollectionSpecifications(ctx, filter, opts...)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.Name
	}
	return names, nil
}

// collectionDocs returns the listCollections documents matching filter.
func (d *Database) collectionDocs(ctx context.Context, filter any) ([]bson.D, error) {
	f, err := toDoc(filter)
	if err != nil {
		return nil, err
	}
	var out []bson.D
	err = d.c.e.read(ctx, func(cat *catalog) error {
		for _, m := range cat.collections(d.name) {
			doc := bson.D{
				{Key: "name", Value: m.Name},
				{Key: "type", Value: "collection"},
				{Key: "options", Value: bson.D{}},
				{Key: "info", Value: bson.D{{Key: "readOnly", Value: false}}},
				{Key: "idIndex", Value: bson.D{{Key: "v", Value: int32(2)}, {Key: "key", Value: bson.D{{Key: "_id", Value: int32(1)}}}, {Key: "name", Value: "_id_"}}},
			}
			if len(f) > 0 {
				ok, err := mongokit.Match(&doc, &f)
				if err != nil {
					return err
				}
				if !ok {
					continue
				}
			}
			out = append(out, doc)
		}
		return nil
	})
	return out, err
}

// ListCollectionSpecifications implements lungo.IDatabase.
func (d *Database) ListCollectionSpecifications(ctx context.Context, filter any, opts ...*options.ListCollectionsOptions) ([]*mongo.CollectionSpecification, error) {
	docs, err := d.collectionDocs(ctx, filter)
	if err != nil {
		return nil, err
	}
	specs := make([]*mongo.CollectionSpecification, len(docs))
	for i, doc := range docs {
		specs[i] = &mongo.CollectionSpecification{Name: doc[0].Value.(string), Type: "collection", Options: mustMarshal(bson.D{})}
	}
	return specs, nil
}

// ListCollections implements lungo.IDatabase.
func (d *Database) ListCollections(ctx context.Context, filter any, opts ...*options.ListCollectionsOptions) (lungo.ICursor, error) {
	docs, err := d.collectionDocs(ctx, filter)
	if err != nil {
		return nil, err
	}
	raws := make([]bson.Raw, len(docs))
	for i, doc := range docs {
		raws[i] = mustMarshal(doc)
	}
	return listCursor(raws), nil
}

// Name implements lungo.IDatabase.
func (d *Database) Name() string { return d.name }

// ReadConcern implements lungo.IDatabase.
func (d *Database) ReadConcern() *readconcern.ReadConcern { return d.opts.ReadConcern }

// ReadPreference implements lungo.IDatabase.
func (d *Database) ReadPreference() *readpref.ReadPref { return d.opts.ReadPreference }

// WriteConcern implements lungo.IDatabase.
func (d *Database) WriteConcern() *writeconcern.WriteConcern { return d.opts.WriteConcern }

// RunCommand implements lungo.IDatabase. The engine answers the commands
// annals and tools ask a deployment about itself (ping, hello, isMaster,
// buildInfo, serverStatus's basics); others fail with ErrUnsupported.
func (d *Database) RunCommand(ctx context.Context, cmd any, opts ...*options.RunCmdOptions) lungo.ISingleResult {
	raw, err := d.c.e.command(ctx, d.name, cmd)
	return singleResult(raw, err)
}

// RunCommandCursor implements lungo.IDatabase; not supported.
func (d *Database) RunCommandCursor(context.Context, any, ...*options.RunCmdOptions) (lungo.ICursor, error) {
	return nil, unsupported("commands with cursors")
}

// Watch implements lungo.IDatabase: a change stream of the database's
// collections.
func (d *Database) Watch(ctx context.Context, pipeline any, opts ...*options.ChangeStreamOptions) (lungo.IChangeStream, error) {
	return d.c.e.watch(ctx, d.name, "", pipeline, opts...)
}

func mustMarshal(v any) bson.Raw {
	raw, err := bson.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("engine: marshal %T: %v", v, err))
	}
	return raw
}
