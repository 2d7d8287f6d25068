package roundtrip

import (
	"context"

	"github.com/256dpi/lungo"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
)

// Collection is a lungo.ICollection that counts round trips into its
// client's counter. Contexts pass through unchanged, so operations made
// with a session context run in that session.
type Collection struct {
	inner lungo.ICollection
	db    *Database
}

var _ lungo.ICollection = (*Collection)(nil)

// Unwrap returns the wrapped collection.
func (c *Collection) Unwrap() lungo.ICollection { return c.inner }

func (c *Collection) add(ctx context.Context, op string) { c.db.client.n.add(ctx, op, 1) }

// Aggregate implements lungo.ICollection.
func (c *Collection) Aggregate(ctx context.Context, pipeline any, opts ...*options.AggregateOptions) (lungo.ICursor, error) {
	c.add(ctx, "Aggregate")
	return c.db.cursor(c.inner.Aggregate(ctx, pipeline, opts...))
}

// BulkWrite implements lungo.ICollection. It counts one round trip per
// command the driver would send; see bulkCommands.
func (c *Collection) BulkWrite(ctx context.Context, models []mongo.WriteModel, opts ...*options.BulkWriteOptions) (*mongo.BulkWriteResult, error) {
	ordered := true
	if o := options.MergeBulkWriteOptions(opts...); o.Ordered != nil {
		ordered = *o.Ordered
	}
	c.db.client.n.add(ctx, "BulkWrite", bulkCommands(models, ordered))
	return c.inner.BulkWrite(ctx, models, opts...)
}

// bulkCommands returns how many write commands the official driver (v1)
// sends for a bulk write: consecutive models of one kind share a command
// when the write is ordered, all models of one kind share one when it is
// not. An ordered write that fails stops early and sends fewer.
func bulkCommands(models []mongo.WriteModel, ordered bool) int64 {
	const (
		none = iota
		insert
		deleteOne
		deleteMany
		updateOne
		updateMany
	)
	kind := func(m mongo.WriteModel) int {
		switch m.(type) {
		case *mongo.InsertOneModel:
			return insert
		case *mongo.DeleteOneModel:
			return deleteOne
		case *mongo.DeleteManyModel:
			return deleteMany
		case *mongo.ReplaceOneModel, *mongo.UpdateOneModel:
			return updateOne
		case *mongo.UpdateManyModel:
			return updateMany
		}
		return none
	}
	var n int64
	var seen [updateMany + 1]bool
	prev := none
	for _, m := range models {
		k := kind(m)
		if k == none {
			continue
		}
		if ordered {
			if k != prev {
				n++
			}
		} else if !seen[k] {
			n++
		}
		seen[k], prev = true, k
	}
	return n
}

// Clone implements lungo.ICollection; the clone counts into the same
// counter.
func (c *Collection) Clone(opts ...*options.CollectionOptions) (lungo.ICollection, error) {
	inner, err := c.inner.Clone(opts...)
	if err != nil {
		return nil, err
	}
	return &Collection{inner: inner, db: c.db}, nil
}

// CountDocuments implements lungo.ICollection.
func (c *Collection) CountDocuments(ctx context.Context, filter any, opts ...*options.CountOptions) (int64, error) {
	c.add(ctx, "CountDocuments")
	return c.inner.CountDocuments(ctx, filter, opts...)
}

// Database implements lungo.ICollection; it returns the counting
// database the collection came from.
func (c *Collection) Database() lungo.IDatabase { return c.db }

// DeleteMany implements lungo.ICollection.
func (c *Collection) DeleteMany(ctx context.Context, filter any, opts ...*options.DeleteOptions) (*mongo.DeleteResult, error) {
	c.add(ctx, "DeleteMany")
	return c.inner.DeleteMany(ctx, filter, opts...)
}

// DeleteOne implements lungo.ICollection.
func (c *Collection) DeleteOne(ctx context.Context, filter any, opts ...*options.DeleteOptions) (*mongo.DeleteResult, error) {
	c.add(ctx, "DeleteOne")
	return c.inner.DeleteOne(ctx, filter, opts...)
}

// Distinct implements lungo.ICollection.
func (c *Collection) Distinct(ctx context.Context, field string, filter any, opts ...*options.DistinctOptions) ([]any, error) {
	c.add(ctx, "Distinct")
	return c.inner.Distinct(ctx, field, filter, opts...)
}

// Drop implements lungo.ICollection.
func (c *Collection) Drop(ctx context.Context) error {
	c.add(ctx, "Drop")
	return c.inner.Drop(ctx)
}

// EstimatedDocumentCount implements lungo.ICollection.
func (c *Collection) EstimatedDocumentCount(ctx context.Context, opts ...*options.EstimatedDocumentCountOptions) (int64, error) {
	c.add(ctx, "EstimatedDocumentCount")
	return c.inner.EstimatedDocumentCount(ctx, opts...)
}

// Find implements lungo.ICollection. It counts the find command; further
// batches count when the cursor fetches them (see Cursor).
func (c *Collection) Find(ctx context.Context, filter any, opts ...*options.FindOptions) (lungo.ICursor, error) {
	c.add(ctx, "Find")
	return c.db.cursor(c.inner.Find(ctx, filter, opts...))
}

// FindOne implements lungo.ICollection.
func (c *Collection) FindOne(ctx context.Context, filter any, opts ...*options.FindOneOptions) lungo.ISingleResult {
	c.add(ctx, "FindOne")
	return c.inner.FindOne(ctx, filter, opts...)
}

// FindOneAndDelete implements lungo.ICollection.
func (c *Collection) FindOneAndDelete(ctx context.Context, filter any, opts ...*options.FindOneAndDeleteOptions) lungo.ISingleResult {
	c.add(ctx, "FindOneAndDelete")
	return c.inner.FindOneAndDelete(ctx, filter, opts...)
}

// FindOneAndReplace implements lungo.ICollection.
func (c *Collection) FindOneAndReplace(ctx context.Context, filter, replacement any, opts ...*options.FindOneAndReplaceOptions) lungo.ISingleResult {
	c.add(ctx, "FindOneAndReplace")
	return c.inner.FindOneAndReplace(ctx, filter, replacement, opts...)
}

// FindOneAndUpdate implements lungo.ICollection.
func (c *Collection) FindOneAndUpdate(ctx context.Context, filter, update any, opts ...*options.FindOneAndUpdateOptions) lungo.ISingleResult {
	c.add(ctx, "FindOneAndUpdate")
	return c.inner.FindOneAndUpdate(ctx, filter, update, opts...)
}

// Indexes implements lungo.ICollection.
func (c *Collection) Indexes() lungo.IIndexView {
	return &IndexView{inner: c.inner.Indexes(), db: c.db}
}

// InsertMany implements lungo.ICollection. It counts one insert command,
// which is what the driver sends up to 100,000 documents and 48 MB.
func (c *Collection) InsertMany(ctx context.Context, docs []any, opts ...*options.InsertManyOptions) (*mongo.InsertManyResult, error) {
	c.add(ctx, "InsertMany")
	return c.inner.InsertMany(ctx, docs, opts...)
}

// InsertOne implements lungo.ICollection.
func (c *Collection) InsertOne(ctx context.Context, doc any, opts ...*options.InsertOneOptions) (*mongo.InsertOneResult, error) {
	c.add(ctx, "InsertOne")
	return c.inner.InsertOne(ctx, doc, opts...)
}

// Name implements lungo.ICollection.
func (c *Collection) Name() string { return c.inner.Name() }

// ReplaceOne implements lungo.ICollection.
func (c *Collection) ReplaceOne(ctx context.Context, filter, replacement any, opts ...*options.ReplaceOptions) (*mongo.UpdateResult, error) {
	c.add(ctx, "ReplaceOne")
	return c.inner.ReplaceOne(ctx, filter, replacement, opts...)
}

// SearchIndexes implements lungo.ICollection. The driver's search index
// view is a concrete type the wrapper cannot intercept: its calls are not
// counted.
func (c *Collection) SearchIndexes() mongo.SearchIndexView { return c.inner.SearchIndexes() }

// UpdateByID implements lungo.ICollection.
func (c *Collection) UpdateByID(ctx context.Context, id, update any, opts ...*options.UpdateOptions) (*mongo.UpdateResult, error) {
	c.add(ctx, "UpdateByID")
	return c.inner.UpdateByID(ctx, id, update, opts...)
}

// UpdateMany implements lungo.ICollection.
func (c *Collection) UpdateMany(ctx context.Context, filter, update any, opts ...*options.UpdateOptions) (*mongo.UpdateResult, error) {
	c.add(ctx, "UpdateMany")
	return c.inner.UpdateMany(ctx, filter, update, opts...)
}

// UpdateOne implements lungo.ICollection.
func (c *Collection) UpdateOne(ctx context.Context, filter, update any, opts ...*options.UpdateOptions) (*mongo.UpdateResult, error) {
	c.add(ctx, "UpdateOne")
	return c.inner.UpdateOne(ctx, filter, update, opts...)
}

// Watch implements lungo.ICollection.
func (c *Collection) Watch(ctx context.Context, pipeline any, opts ...*options.ChangeStreamOptions) (lungo.IChangeStream, error) {
	c.add(ctx, "Watch")
	cs, err := c.inner.Watch(ctx, pipeline, opts...)
	if err != nil {
		return nil, err
	}
	return &ChangeStream{inner: cs, n: c.db.client.n}, nil
}

// IndexView is a lungo.IIndexView that counts round trips into its
// client's counter.
type IndexView struct {
	inner lungo.IIndexView
	db    *Database
}

var _ lungo.IIndexView = (*IndexView)(nil)

// Unwrap returns the wrapped index view.
func (v *IndexView) Unwrap() lungo.IIndexView { return v.inner }

func (v *IndexView) add(ctx context.Context, op string) { v.db.client.n.add(ctx, op, 1) }

// CreateMany implements lungo.IIndexView: one createIndexes command for
// all the models.
func (v *IndexView) CreateMany(ctx context.Context, models []mongo.IndexModel, opts ...*options.CreateIndexesOptions) ([]string, error) {
	v.add(ctx, "Indexes.CreateMany")
	return v.inner.CreateMany(ctx, models, opts...)
}

// CreateOne implements lungo.IIndexView.
func (v *IndexView) CreateOne(ctx context.Context, model mongo.IndexModel, opts ...*options.CreateIndexesOptions) (string, error) {
	v.add(ctx, "Indexes.CreateOne")
	return v.inner.CreateOne(ctx, model, opts...)
}

// DropAll implements lungo.IIndexView.
func (v *IndexView) DropAll(ctx context.Context, opts ...*options.DropIndexesOptions) (bson.Raw, error) {
	v.add(ctx, "Indexes.DropAll")
	return v.inner.DropAll(ctx, opts...)
}

// DropOne implements lungo.IIndexView.
func (v *IndexView) DropOne(ctx context.Context, name string, opts ...*options.DropIndexesOptions) (bson.Raw, error) {
	v.add(ctx, "Indexes.DropOne")
	return v.inner.DropOne(ctx, name, opts...)
}

// DropOneWithKey implements lungo.IIndexView.
func (v *IndexView) DropOneWithKey(ctx context.Context, keys any, opts ...*options.DropIndexesOptions) (bson.Raw, error) {
	v.add(ctx, "Indexes.DropOneWithKey")
	return v.inner.DropOneWithKey(ctx, keys, opts...)
}

// List implements lungo.IIndexView.
func (v *IndexView) List(ctx context.Context, opts ...*options.ListIndexesOptions) (lungo.ICursor, error) {
	v.add(ctx, "Indexes.List")
	return v.db.cursor(v.inner.List(ctx, opts...))
}

// ListSpecifications implements lungo.IIndexView.
func (v *IndexView) ListSpecifications(ctx context.Context, opts ...*options.ListIndexesOptions) ([]*mongo.IndexSpecification, error) {
	v.add(ctx, "Indexes.ListSpecifications")
	return v.inner.ListSpecifications(ctx, opts...)
}
