package engine

// Helpers shared by the two differential tests, TestOracle (ours against
// lungo, oracle_test.go) and TestClusteredMatchesPlain (a clustered
// collection against a plain one, clustered_diff_test.go): the parts of an
// operation that run it on one side and print what it answered, the
// weighted choice of the next operation, and the pieces of comparing two
// answers. Each test keeps its own outcome type; these return the parts it
// is made of.

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"

	"github.com/256dpi/lungo"
	"github.com/256dpi/lungo/bsonkit"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
)

// ---------------------------------------------------------------------------
// Choosing operations

// weighted is one choice of a differential test's operation mix: fn makes
// the operation, chosen with probability w over the sum of the weights.
type weighted[T any] struct {
	w  int
	fn func() T
}

// pickWeighted draws one number from r and makes the operation of the
// choice it falls on.
func pickWeighted[T any](r *rand.Rand, choices []weighted[T]) T {
	total := 0
	for _, c := range choices {
		total += c.w
	}
	n := r.IntN(total)
	for _, c := range choices {
		if n < c.w {
			return c.fn()
		}
		n -= c.w
	}
	panic("unreachable")
}

// skipLimit draws a count's skip (1 to 3) and limit (1 to 4), each set one
// time in oneIn and zero (none) otherwise.
func skipLimit(r *rand.Rand, oneIn int) (skip, limit int64) {
	if r.IntN(oneIn) == 0 {
		skip = int64(1 + r.IntN(3))
	}
	if r.IntN(oneIn) == 0 {
		limit = int64(1 + r.IntN(4))
	}
	return skip, limit
}

// withOperator adds field: v to update's operator op (creating it at the
// end if update has none yet) and returns the update.
func withOperator(update bson.D, op, field string, v any) bson.D {
	for i := range update {
		if update[i].Key == op {
			update[i].Value = append(update[i].Value.(bson.D), bson.E{Key: field, Value: v})
			return update
		}
	}
	return append(update, bson.E{Key: op, Value: bson.D{{Key: field, Value: v}}})
}

// ---------------------------------------------------------------------------
// Running operations on one side. Each copies the documents it passes
// (dcopy) but the filter, which exec copies.

// updateDocs runs UpdateMany, or UpdateOne, of update with upsert.
func updateDocs(ctx context.Context, c lungo.ICollection, filter, update bson.D, upsert, many bool) (*mongo.UpdateResult, error) {
	o := options.Update().SetUpsert(upsert)
	if many {
		return c.UpdateMany(ctx, filter, dcopy(update), o)
	}
	return c.UpdateOne(ctx, filter, dcopy(update), o)
}

// deleteDocs runs DeleteMany, or DeleteOne, and prints the count it
// answers ("deleted=N"; nothing with an error).
func deleteDocs(ctx context.Context, c lungo.ICollection, filter bson.D, many bool) (string, error) {
	var res *mongo.DeleteResult
	var err error
	if many {
		res, err = c.DeleteMany(ctx, filter)
	} else {
		res, err = c.DeleteOne(ctx, filter)
	}
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("deleted=%d", res.DeletedCount), nil
}

// countDocs runs CountDocuments with a skip and limit (zero: none) and
// prints its count ("count=N"; nothing with an error).
func countDocs(ctx context.Context, c lungo.ICollection, filter bson.D, skip, limit int64) (string, error) {
	o := options.Count()
	if skip > 0 {
		o.SetSkip(skip)
	}
	if limit > 0 {
		o.SetLimit(limit)
	}
	n, err := c.CountDocuments(ctx, filter, o)
	if err != nil {
		return "", err
	}
	return "count=" + strconv.FormatInt(n, 10), nil
}

// findSpec is a Find's options; a nil document or a zero number leaves
// its option out.
type findSpec struct {
	sort, proj  bson.D
	skip, limit int64
}

// find runs a Find and reads all it returns: nil with the error of a Find
// that fails, else the documents (never nil) and the error of reading
// them.
func (fs findSpec) find(ctx context.Context, c lungo.ICollection, filter bson.D) ([]bson.D, error) {
	o := options.Find()
	setDoc(o.SetSort, fs.sort)
	if fs.skip > 0 {
		o.SetSkip(fs.skip)
	}
	if fs.limit > 0 {
		o.SetLimit(fs.limit)
	}
	setDoc(o.SetProjection, fs.proj)
	cur, err := c.Find(ctx, filter, o)
	if err != nil {
		return nil, err
	}
	docs, err := readAll(ctx, cur)
	if docs == nil {
		docs = []bson.D{}
	}
	return docs, err
}

// bulkModels are a BulkWrite's models, each as its description and a
// maker: each side makes its own (of copies), so that neither sees what
// the other did to them.
type bulkModels []bulkModel

type bulkModel struct {
	desc string
	make func() mongo.WriteModel
}

func (ms *bulkModels) add(desc string, make func() mongo.WriteModel) {
	*ms = append(*ms, bulkModel{desc, make})
}

func (ms *bulkModels) insertOne(d bson.D) {
	ms.add("insert "+j(d), func() mongo.WriteModel { return mongo.NewInsertOneModel().SetDocument(dcopy(d)) })
}

func (ms *bulkModels) updateOne(f, u bson.D, upsert bool) {
	ms.add(fmt.Sprintf("updateOne %s %s upsert=%v", j(f), j(u), upsert), func() mongo.WriteModel {
		return mongo.NewUpdateOneModel().SetFilter(dcopy(f)).SetUpdate(dcopy(u)).SetUpsert(upsert)
	})
}

func (ms *bulkModels) replaceOne(f, rep bson.D, upsert bool) {
	ms.add(fmt.Sprintf("replaceOne %s %s upsert=%v", j(f), j(rep), upsert), func() mongo.WriteModel {
		return mongo.NewReplaceOneModel().SetFilter(dcopy(f)).SetReplacement(dcopy(rep)).SetUpsert(upsert)
	})
}

func (ms *bulkModels) deleteOne(f bson.D) {
	ms.add("deleteOne "+j(f), func() mongo.WriteModel { return mongo.NewDeleteOneModel().SetFilter(dcopy(f)) })
}

func (ms *bulkModels) deleteMany(f bson.D) {
	ms.add("deleteMany "+j(f), func() mongo.WriteModel { return mongo.NewDeleteManyModel().SetFilter(dcopy(f)) })
}

func (ms *bulkModels) updateMany(f, u bson.D) {
	ms.add(fmt.Sprintf("updateMany %s %s", j(f), j(u)), func() mongo.WriteModel {
		return mongo.NewUpdateManyModel().SetFilter(dcopy(f)).SetUpdate(dcopy(u))
	})
}

// desc describes a BulkWrite of the models.
func (ms bulkModels) desc(ordered bool) string {
	descs := make([]string, len(ms))
	for i, m := range ms {
		descs[i] = m.desc
	}
	return fmt.Sprintf("BulkWrite ordered=%v [%s]", ordered, strings.Join(descs, "; "))
}

// write makes the models and runs a BulkWrite of them.
func (ms bulkModels) write(ctx context.Context, c lungo.ICollection, ordered bool) (*mongo.BulkWriteResult, error) {
	wm := make([]mongo.WriteModel, len(ms))
	for i, m := range ms {
		wm[i] = m.make()
	}
	return c.BulkWrite(ctx, wm, options.BulkWrite().SetOrdered(ordered))
}

// singleDocs decodes a single result: the document alone, or nil and the
// error.
func singleDocs(r lungo.ISingleResult) ([]bson.D, error) {
	var d bson.D
	if err := r.Decode(&d); err != nil {
		return nil, err
	}
	return []bson.D{d}, nil
}

// findOneAndOpts are the options of a FindOneAndUpdate, FindOneAndReplace
// or FindOneAndDelete; a nil sort or projection is left out, and a delete
// has neither upsert nor after.
type findOneAndOpts struct {
	sort, proj bson.D
	upsert     bool
	// after returns the document after the change, not before.
	after bool
}

// update runs a FindOneAndUpdate with these options (see singleDocs).
func (fo findOneAndOpts) update(ctx context.Context, c lungo.ICollection, filter, update bson.D) ([]bson.D, error) {
	o := options.FindOneAndUpdate().SetUpsert(fo.upsert).SetReturnDocument(returnDoc(fo.after))
	setDoc(o.SetSort, fo.sort)
	setDoc(o.SetProjection, fo.proj)
	return singleDocs(c.FindOneAndUpdate(ctx, filter, dcopy(update), o))
}

// replace runs a FindOneAndReplace with these options (see singleDocs).
func (fo findOneAndOpts) replace(ctx context.Context, c lungo.ICollection, filter, repl bson.D) ([]bson.D, error) {
	o := options.FindOneAndReplace().SetUpsert(fo.upsert).SetReturnDocument(returnDoc(fo.after))
	setDoc(o.SetSort, fo.sort)
	setDoc(o.SetProjection, fo.proj)
	return singleDocs(c.FindOneAndReplace(ctx, filter, dcopy(repl), o))
}

// delete runs a FindOneAndDelete with this sort and projection (see
// singleDocs).
func (fo findOneAndOpts) delete(ctx context.Context, c lungo.ICollection, filter bson.D) ([]bson.D, error) {
	o := options.FindOneAndDelete()
	setDoc(o.SetSort, fo.sort)
	setDoc(o.SetProjection, fo.proj)
	return singleDocs(c.FindOneAndDelete(ctx, filter, o))
}

// setDoc sets an option (by its setter) to a copy of d, unless d is nil:
// then the option is left out.
func setDoc[O any](set func(any) O, d bson.D) {
	if d != nil {
		set(dcopy(d))
	}
}

// returnDoc is the document a findOneAnd* returns: after the change, or
// before it.
func returnDoc(after bool) options.ReturnDocument {
	if after {
		return options.After
	}
	return options.Before
}

// inSessionTxn runs body in a transaction of a new session of cl, which
// commits when body returns nil and aborts otherwise, and returns the
// transaction's error as txnErr. WithTransaction may run body more than
// once, so body starts afresh each time. err is set when no session
// starts (body does not run).
func inSessionTxn(ctx context.Context, cl lungo.IClient, body func(sc lungo.ISessionContext) error) (txnErr, err error) {
	sess, err := cl.StartSession()
	if err != nil {
		return nil, err
	}
	defer sess.EndSession(ctx)
	_, txnErr = sess.WithTransaction(ctx, func(sc lungo.ISessionContext) (any, error) {
		return nil, body(sc)
	})
	return txnErr, nil
}

// errProbe aborts the transaction of a probe.
var errProbe = errors.New("probe")

// probeTxn runs fn in a session transaction of cl that it aborts, so that
// fn may try a write and leave no trace; it returns an error only when no
// session starts.
func probeTxn(ctx context.Context, cl lungo.IClient, fn func(sc lungo.ISessionContext)) error {
	_, err := inSessionTxn(ctx, cl, func(sc lungo.ISessionContext) error {
		fn(sc)
		return errProbe
	})
	return err
}

// ---------------------------------------------------------------------------
// Comparing

// tieEnd is the end of the run of docs from start whose sort keys (cols)
// are docs[start]'s.
func tieEnd(docs []bson.D, start int, cols []bsonkit.Column) int {
	end := start + 1
	for end < len(docs) && bsonkit.Order(&docs[start], &docs[end], cols, false) == 0 {
		end++
	}
	return end
}

// sortBreak is the first index of docs whose document sorts (by cols)
// before the one ahead of it, or -1 when docs are in sort order.
func sortBreak(docs []bson.D, cols []bsonkit.Column) int {
	for i := 1; i < len(docs); i++ {
		if bsonkit.Order(&docs[i-1], &docs[i], cols, false) > 0 {
			return i
		}
	}
	return -1
}

// sameDistinct compares two Distinct answers, which may come in any order:
// same when, sorted, they hold equal values (bsonkit.Compare: 1, 1.0 and
// NumberLong(1) are equal). typed counts the pairs, ahead of the first
// that differs, that are equal but print differently (canon): another
// type of the same number.
func sameDistinct(a, b []any, canon func(any) string) (same bool, typed int) {
	if len(a) != len(b) {
		return false, 0
	}
	a, b = slices.Clone(a), slices.Clone(b)
	cmp := func(x, y any) int { return bsonkit.Compare(x, y) }
	slices.SortStableFunc(a, cmp)
	slices.SortStableFunc(b, cmp)
	for i := range a {
		if bsonkit.Compare(a[i], b[i]) != 0 {
			return false, typed
		}
		if canon(a[i]) != canon(b[i]) {
			typed++
		}
	}
	return true, typed
}

// lastLines is the last n lines of log (all of them when fewer).
func lastLines(log []string, n int) []string {
	if len(log) > n {
		return log[len(log)-n:]
	}
	return log
}
