package engine

import (
	"context"

	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
)

// BulkWrite implements lungo.ICollection. The models run in one
// transaction of the engine: outside a session transaction, an ordered
// bulk write keeps the models before the first failure and an unordered
// one every model that did not fail, as on MongoDB.
func (c *Collection) BulkWrite(ctx context.Context, models []mongo.WriteModel, opts ...*options.BulkWriteOptions) (*mongo.BulkWriteResult, error) {
	if len(models) == 0 {
		return nil, mongo.ErrEmptySlice
	}
	o := options.MergeBulkWriteOptions(opts...)
	if o.Let != nil {
		return nil, unsupported("bulk write with let")
	}
	ordered := o.Ordered == nil || *o.Ordered
	ops := make([]func(t *txn, res *mongo.BulkWriteResult) error, len(models))
	for i, model := range models {
		op, err := c.bulkOp(ctx, model)
		if err != nil {
			return nil, err
		}
		ops[i] = op
	}
	res := &mongo.BulkWriteResult{UpsertedIDs: map[int64]any{}}
	err := c.e().writeModels(ctx, len(ops), ordered, func(t *txn, i int) error {
		if err := ops[i](t, res); err != nil {
			return err
		}
		if id, ok := res.UpsertedIDs[-1]; ok {
			delete(res.UpsertedIDs, -1)
			res.UpsertedIDs[int64(i)] = id
		}
		return nil
	})
	return res, err
}

// writeModels runs n write models in one transaction of the engine, as the
// driver runs a bulk write: a model that fails is a write error of the
// returned mongo.BulkWriteException, after which an ordered write stops
// and an unordered one goes on; outside a session transaction what the
// other models did is kept. A model that fails keeps what it did before
// failing (an update of many documents), as on MongoDB; single-document
// writes check everything before they write. A failure of the engine
// itself aborts the whole write.
func (e *Engine) writeModels(ctx context.Context, n int, ordered bool, model func(t *txn, i int) error) error {
	return e.writePartial(ctx, func(t *txn) (bool, error) {
		var bwe mongo.BulkWriteException
		for i := range n {
			err := model(t, i)
			if err == nil {
				continue
			}
			be, ok := bulkException(i, err).(mongo.BulkWriteException)
			if !ok {
				return false, err
			}
			bwe.WriteErrors = append(bwe.WriteErrors, be.WriteErrors...)
			if ordered {
				break
			}
		}
		if len(bwe.WriteErrors) > 0 {
			return true, bwe
		}
		return false, nil
	})
}

// bulkOp turns a write model into an operation on a transaction.
func (c *Collection) bulkOp(ctx context.Context, model mongo.WriteModel) (func(*txn, *mongo.BulkWriteResult) error, error) {
	upd := func(filter any, u updateSpec, many bool, hint any) (func(*txn, *mongo.BulkWriteResult) error, error) {
		q, err := selection(filter, many)
		if err != nil {
			return nil, err
		}
		return func(t *txn, res *mongo.BulkWriteResult) error {
			r, err := c.apply(ctx, t, q, u, hint)
			if err != nil {
				return err
			}
			res.MatchedCount += r.matched
			res.ModifiedCount += r.modified
			if r.upsertedID != nil {
				res.UpsertedCount++
				res.UpsertedIDs[-1] = r.upsertedID
			}
			return nil
		}, nil
	}
	del := func(filter any, many bool, hint any) (func(*txn, *mongo.BulkWriteResult) error, error) {
		q, err := selection(filter, many)
		if err != nil {
			return nil, err
		}
		return func(t *txn, res *mongo.BulkWriteResult) error {
			n, err := c.removeMatching(ctx, t, q, hint)
			res.DeletedCount += n
			return err
		}, nil
	}
	updModel := func(collation bool, filter, update any, af *options.ArrayFilters, upsert *bool, many bool, hint any) (func(*txn, *mongo.BulkWriteResult) error, error) {
		if collation {
			return nil, unsupported("update with collation")
		}
		u, err := newUpdate(update, af, upsert)
		if err != nil {
			return nil, err
		}
		return upd(filter, u, many, hint)
	}
	switch m := model.(type) {
	case *mongo.InsertOneModel:
		s, err := newDocument(m.Document)
		if err != nil {
			return nil, err
		}
		return func(t *txn, res *mongo.BulkWriteResult) error {
			meta, err := t.collection(c.db.name, c.name, true)
			if err != nil {
				return err
			}
			if err := t.insert(meta, s); err != nil {
				return err
			}
			res.InsertedCount++
			return nil
		}, nil
	case *mongo.UpdateOneModel:
		return updModel(m.Collation != nil, m.Filter, m.Update, m.ArrayFilters, m.Upsert, false, m.Hint)
	case *mongo.UpdateManyModel:
		return updModel(m.Collation != nil, m.Filter, m.Update, m.ArrayFilters, m.Upsert, true, m.Hint)
	case *mongo.ReplaceOneModel:
		if m.Collation != nil {
			return nil, unsupported("replace with collation")
		}
		u, err := newReplacement(m.Replacement, m.Upsert)
		if err != nil {
			return nil, err
		}
		return upd(m.Filter, u, false, m.Hint)
	case *mongo.DeleteOneModel:
		if m.Collation != nil {
			return nil, unsupported("delete with collation")
		}
		return del(m.Filter, false, m.Hint)
	case *mongo.DeleteManyModel:
		if m.Collation != nil {
			return nil, unsupported("delete with collation")
		}
		return del(m.Filter, true, m.Hint)
	}
	return nil, unsupported("write model %T", model)
}
