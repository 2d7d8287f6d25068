package engine

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/256dpi/lungo"
	"github.com/256dpi/lungo/bsonkit"
	"github.com/256dpi/lungo/mongokit"
	"github.com/cockroachdb/pebble/v2"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/annalsdb/annals/internal/bsoncheck"
)

// Collection is the engine's lungo.ICollection.
type Collection struct {
	db   *Database
	name string
	opts *options.CollectionOptions
}

var _ lungo.ICollection = (*Collection)(nil)

func (c *Collection) e() *Engine { return c.db.c.e }

func (c *Collection) meta(cat *catalog) *collMeta { return cat.get(c.db.name, c.name) }

// Name implements lungo.ICollection.
func (c *Collection) Name() string { return c.name }

// Database implements lungo.ICollection.
func (c *Collection) Database() lungo.IDatabase { return c.db }

// Clone implements lungo.ICollection.
func (c *Collection) Clone(opts ...*options.CollectionOptions) (lungo.ICollection, error) {
	all := append([]*options.CollectionOptions{c.opts}, opts...)
	return &Collection{db: c.db, name: c.name, opts: options.MergeCollectionOptions(all...)}, nil
}

// Aggregate implements lungo.ICollection; aggregation is not supported.
func (c *Collection) Aggregate(context.Context, any, ...*options.AggregateOptions) (lungo.ICursor, error) {
	return nil, unsupported("aggregate")
}

// SearchIndexes implements lungo.ICollection; Atlas Search is not
// available, and the view's methods fail.
func (c *Collection) SearchIndexes() mongo.SearchIndexView { return mongo.SearchIndexView{} }

// Indexes implements lungo.ICollection.
func (c *Collection) Indexes() lungo.IIndexView { return &IndexView{c: c} }

// Watch implements lungo.ICollection: a change stream of this collection.
func (c *Collection) Watch(ctx context.Context, pipeline any, opts ...*options.ChangeStreamOptions) (lungo.IChangeStream, error) {
	return c.e().watch(ctx, c.db.name, c.name, pipeline, opts...)
}

// Drop implements lungo.ICollection. Dropping a missing collection is not
// an error.
func (c *Collection) Drop(ctx context.Context) error {
	return c.e().write(ctx, func(t *txn) error {
		m := c.meta(t.cat)
		if m == nil {
			return nil
		}
		return t.dropColl(m)
	})
}

// hint resolves a hint option to an index name ("" for none, "_id_" for
// the _id order).
func hintName(m *collMeta, h any) (string, error) {
	if h == nil {
		return "", nil
	}
	if s, ok := h.(string); ok {
		if s == "_id_" || m == nil || m.index(s) != nil {
			return s, nil
		}
		return "", commandError(codeBadValue, "BadValue", fmt.Sprintf("hint provided does not correspond to an existing index: %s", s))
	}
	d, err := toDoc(h)
	if err != nil {
		return "", err
	}
	if len(d) == 1 && d[0].Key == "_id" {
		return "_id_", nil
	}
	if m != nil {
		for _, ix := range m.Indexes {
			if sameKeys(ix.Key, d) {
				return ix.Name, nil
			}
		}
	}
	return "", commandError(codeBadValue, "BadValue", "hint provided does not correspond to an existing index")
}

// prepareFor plans a query on the collection, whose metadata is m,
// honouring a hint.
func (c *Collection) prepareFor(m *collMeta, q query, hint any) (*prepared, error) {
	p, err := prepareFor(m, q, hint)
	if err == nil && p.plan != nil {
		p.plan.prefixSeek = c.e().format != formatV1
		p.plan.prefixFilters = p.plan.prefixSeek && !c.e().opts.noPrefixFilters
	}
	return p, err
}

// prepareFor plans a query on m, honouring a hint.
func prepareFor(m *collMeta, q query, hint any) (*prepared, error) {
	name, err := hintName(m, hint)
	if err != nil {
		return nil, err
	}
	if m == nil || name == "" {
		return prepare(m, q)
	}
	// Plan on a view of the collection with only the hinted index.
	view := *m
	view.Indexes = nil
	if ix := m.index(name); ix != nil {
		cp := *ix
		cp.Multikey = false // a hint forces the walk; the filter still decides
		view.Indexes = []*indexMeta{&cp}
	}
	p, err := prepare(&view, q)
	if err != nil {
		return nil, err
	}
	if name != "_id_" && p.plan.index == nil {
		p.plan = &plan{index: view.Indexes[0]}
		p.plan.sorted, p.plan.reverse = sortFromIndex(view.Indexes[0].Fields, p.sortFields, nil, 0, false)
	}
	return p, nil
}

// collect runs a query in a write transaction and returns what it selects.
func collect(ctx context.Context, t *txn, m *collMeta, p *prepared) ([]stored, error) {
	var out []stored
	err := run(ctx, t.b, nil, m, p, func(s stored) bool {
		out = append(out, s)
		return true
	})
	return out, err
}

// Explain returns how a find with this filter and sort would walk the
// collection (see plan.String). Tests use it to prove index use.
func (c *Collection) Explain(ctx context.Context, filter, sort any) (string, error) {
	f, err := toDoc(filter)
	if err != nil {
		return "", err
	}
	s, err := toDoc(sort)
	if err != nil {
		return "", err
	}
	var desc string
	err = c.e().read(ctx, func(cat *catalog) error {
		m := c.meta(cat)
		if m == nil {
			desc = "EOF"
			return nil
		}
		p, err := prepare(m, query{filter: f, sort: s})
		if err != nil {
			return err
		}
		desc = p.plan.String()
		return nil
	})
	return desc, err
}

// Find implements lungo.ICollection. Supported options: Sort, Skip, Limit,
// Projection, Hint, BatchSize; comments, max times, AllowDiskUse and
// NoCursorTimeout are accepted and need nothing. Others fail.
func (c *Collection) Find(ctx context.Context, filter any, opts ...*options.FindOptions) (lungo.ICursor, error) {
	o := options.MergeFindOptions(opts...)
	if o.Collation != nil || o.Min != nil || o.Max != nil || (o.ReturnKey != nil && *o.ReturnKey) ||
		(o.ShowRecordID != nil && *o.ShowRecordID) || (o.CursorType != nil && *o.CursorType != options.NonTailable) ||
		o.Let != nil || (o.AllowPartialResults != nil && *o.AllowPartialResults) {
		return nil, unsupported("find options collation, min, max, returnKey, showRecordId, tailable cursors, let")
	}
	q, proj, err := findQuery(filter, o.Sort, o.Projection)
	if err != nil {
		return nil, err
	}
	if o.Skip != nil {
		q.skip = *o.Skip
	}
	if o.Limit != nil {
		q.limit = *o.Limit
	}
	first := firstBatch
	if o.BatchSize != nil && *o.BatchSize > 0 {
		first = int(*o.BatchSize)
	}
	cur, err := c.find(ctx, q, proj, o.Hint, first)
	if err != nil {
		return nil, err
	}
	if o.BatchSize != nil {
		cur.SetBatchSize(*o.BatchSize)
	}
	return cur, nil
}

func findQuery(filter, sort, projection any) (query, bson.D, error) {
	f, err := toDoc(filter)
	if err != nil {
		return query{}, nil, err
	}
	s, err := toDoc(sort)
	if err != nil {
		return query{}, nil, err
	}
	var proj bson.D
	if projection != nil {
		if proj, err = toDoc(projection); err != nil {
			return query{}, nil, err
		}
	}
	return query{filter: f, sort: s}, proj, nil
}

// project applies a projection to a stored document.
func project(s stored, proj bson.D) (bson.Raw, error) {
	if len(proj) == 0 {
		return s.raw, nil
	}
	if plainInclusion(proj) {
		return projectRaw(s.raw, proj)
	}
	out, err := mongokit.Project(s.d(), &proj)
	if err != nil {
		return nil, fmt.Errorf("engine: projection: %w", err)
	}
	return bson.Marshal(out)
}

// find runs q. Outside transactions it reads up to batch documents (and
// at most maxFirstBatchBytes) at once, and the rest lazily.
func (c *Collection) find(ctx context.Context, q query, proj bson.D, hint any, batch int) (*Cursor, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	e := c.e()
	if s := sessionFrom(ctx); s != nil && (s.inTxn() || s.snapshot) {
		// In a transaction or at a snapshot session's point in time the
		// answer is read at once: the view it reads may end with the
		// session.
		var docs []bson.Raw
		err := c.readNow(ctx, q, proj, hint, func(raw bson.Raw) bool {
			docs = append(docs, raw)
			return true
		})
		if err != nil {
			return nil, err
		}
		return listCursor(docs), nil
	}
	if err := e.enter(); err != nil {
		return nil, err
	}
	cat := e.cat.Load()
	m := c.meta(cat)
	p, err := c.prepareFor(m, q, hint)
	if err != nil {
		e.inflight.Done()
		return nil, err
	}
	snap := e.db.NewSnapshot()
	obs := e.observe()
	release := func() {
		snap.Close()
		e.inflight.Done()
	}
	// each walks the snapshot, passes over the first skip documents and
	// hands the others, projected, to emit until it returns false; its
	// error is the walk's or the projection's.
	each := func(skip int, emit func(bson.Raw) bool) error {
		var perr error
		err := run(ctx, snap, obs, m, p, func(s stored) bool {
			if skip > 0 {
				skip--
				return true
			}
			raw, err := project(s, proj)
			if err != nil {
				perr = err
				return false
			}
			return emit(raw)
		})
		if err == nil {
			err = perr
		}
		return err
	}
	// The first batch is read at once, on the caller's goroutine: most
	// finds (a stream's events, a page) end within it and need no
	// coroutine, whose stack a walk would grow several times over. A
	// longer answer goes on lazily: its walk reads the same snapshot
	// again, in the same order, and passes over the documents already
	// read.
	var first []bson.Raw
	more := false
	size := 0
	err = each(0, func(raw bson.Raw) bool {
		if len(first) == batch || size >= maxFirstBatchBytes {
			more = true
			return false
		}
		first = append(first, raw)
		size += len(raw)
		return true
	})
	if err == nil {
		// Nothing is returned before the commits it depends on are
		// durable; an empty or short answer can depend on what was
		// skipped.
		err = obs.wait(ctx)
	}
	if err != nil || !more {
		release()
		if err != nil {
			return nil, wrapRead(err)
		}
		return listCursor(first), nil
	}
	seq := func(yield func(bson.Raw, error) bool) {
		var werr error
		stopped := false
		err := each(len(first), func(raw bson.Raw) bool {
			if werr = obs.wait(ctx); werr != nil {
				return false
			}
			if !yield(raw, nil) {
				stopped = true
				return false
			}
			return true
		})
		if err == nil {
			err = werr
		}
		if err == nil {
			err = obs.wait(ctx)
		}
		if err != nil && !stopped {
			yield(nil, wrapRead(err))
		}
	}
	return e.lazyCursor(first, seq, release), nil
}

// FindOne implements lungo.ICollection.
func (c *Collection) FindOne(ctx context.Context, filter any, opts ...*options.FindOneOptions) lungo.ISingleResult {
	o := options.MergeFindOneOptions(opts...)
	if o.Collation != nil || o.Min != nil || o.Max != nil || (o.ReturnKey != nil && *o.ReturnKey) || (o.ShowRecordID != nil && *o.ShowRecordID) {
		return singleResult(nil, unsupported("find options collation, min, max, returnKey, showRecordId"))
	}
	q, proj, err := findQuery(filter, o.Sort, o.Projection)
	if err != nil {
		return singleResult(nil, err)
	}
	if o.Skip != nil {
		q.skip = *o.Skip
	}
	q.limit = 1
	// One document is read at once: no cursor, no snapshot held open.
	var doc bson.Raw
	err = c.readNow(ctx, q, proj, o.Hint, func(raw bson.Raw) bool {
		doc = raw
		return false
	})
	return singleResult(doc, err)
}

// readNow reads q's answer at once through the engine's view (a
// transaction's, a snapshot session's or the latest), passing each
// projected document to keep until it returns false.
func (c *Collection) readNow(ctx context.Context, q query, proj bson.D, hint any, keep func(bson.Raw) bool) error {
	return c.e().view(ctx, func(r pebble.Reader, obs *observer, cat *catalog) error {
		m := c.meta(cat)
		p, err := c.prepareFor(m, q, hint)
		if err != nil {
			return err
		}
		var perr error
		err = run(ctx, r, obs, m, p, func(s stored) bool {
			raw, err := project(s, proj)
			if err != nil {
				perr = err
				return false
			}
			return keep(raw)
		})
		if err == nil {
			err = perr
		}
		return err
	})
}

// CountDocuments implements lungo.ICollection.
func (c *Collection) CountDocuments(ctx context.Context, filter any, opts ...*options.CountOptions) (int64, error) {
	o := options.MergeCountOptions(opts...)
	if o.Collation != nil {
		return 0, unsupported("count with collation")
	}
	f, err := toDoc(filter)
	if err != nil {
		return 0, err
	}
	q := query{filter: f}
	if o.Skip != nil {
		q.skip = *o.Skip
	}
	if o.Limit != nil {
		q.limit = *o.Limit
	}
	var n int64
	err = c.e().view(ctx, func(r pebble.Reader, obs *observer, cat *catalog) error {
		m := c.meta(cat)
		p, err := c.prepareFor(m, q, o.Hint)
		if err != nil {
			return err
		}
		return run(ctx, r, obs, m, p, func(stored) bool { n++; return true })
	})
	return n, err
}

// EstimatedDocumentCount implements lungo.ICollection: an exact count of
// the collection's documents.
func (c *Collection) EstimatedDocumentCount(ctx context.Context, opts ...*options.EstimatedDocumentCountOptions) (int64, error) {
	var n int64
	err := c.e().view(ctx, func(r pebble.Reader, obs *observer, cat *catalog) error {
		obs.everything()
		m := c.meta(cat)
		if m == nil {
			return nil
		}
		p := docPrefix(m.ID)
		it, err := r.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: prefixEnd(p)})
		if err != nil {
			return err
		}
		for it.First(); it.Valid(); it.Next() {
			n++
		}
		return it.Close()
	})
	return n, err
}

// Distinct implements lungo.ICollection.
func (c *Collection) Distinct(ctx context.Context, field string, filter any, opts ...*options.DistinctOptions) ([]any, error) {
	o := options.MergeDistinctOptions(opts...)
	if o.Collation != nil {
		return nil, unsupported("distinct with collation")
	}
	f, err := toDoc(filter)
	if err != nil {
		return nil, err
	}
	var list bsonkit.List
	err = c.e().view(ctx, func(r pebble.Reader, obs *observer, cat *catalog) error {
		m := c.meta(cat)
		p, err := prepare(m, query{filter: f})
		if err != nil {
			return err
		}
		return run(ctx, r, obs, m, p, func(s stored) bool {
			list = append(list, s.d())
			return true
		})
	})
	if err != nil {
		return nil, err
	}
	return mongokit.Distinct(list, field), nil
}

// newDocument encodes a document to insert, with an _id first (a new
// ObjectID when it has none).
func newDocument(in any) (stored, error) {
	var raw bson.Raw
	switch d := in.(type) {
	case nil:
		return stored{}, mongo.ErrNilDocument
	case bson.Raw:
		raw = d
	default:
		b, err := bson.Marshal(in)
		if err != nil {
			return stored{}, fmt.Errorf("engine: %w", err)
		}
		raw = b
	}
	if err := bsoncheck.WellFormed(raw); err != nil {
		return stored{}, fmt.Errorf("engine: not a BSON document: %w", err)
	}
	if first, err := raw.IndexErr(0); err == nil && first.Key() == "_id" {
		// The common case: stored as it is, decoded only if something
		// needs the decoded form.
		s := stored{raw: bytes.Clone(raw)}
		if err := checkID(s.id()); err != nil {
			return stored{}, err
		}
		if len(raw) > maxDocumentSize {
			return stored{}, commandError(10334, "BSONObjectTooLarge", fmt.Sprintf("document is %d bytes, over the %d byte limit", len(raw), maxDocumentSize))
		}
		return s, nil
	}
	doc := bson.D{}
	if err := bson.Unmarshal(raw, &doc); err != nil {
		return stored{}, fmt.Errorf("engine: %w", err)
	}
	s := stored{doc: &doc}
	idAt := -1
	for i, e := range doc {
		if e.Key == "_id" {
			idAt = i
			break
		}
	}
	switch {
	case idAt < 0:
		doc = append(bson.D{{Key: "_id", Value: primitive.NewObjectID()}}, doc...)
	case idAt > 0:
		id := doc[idAt]
		rest := append(append(bson.D{}, doc[:idAt]...), doc[idAt+1:]...)
		doc = append(bson.D{id}, rest...)
	}
	s.doc = &doc
	if idAt != 0 {
		b, err := bson.Marshal(doc)
		if err != nil {
			return stored{}, err
		}
		raw = b
	}
	if err := checkID(s.id()); err != nil {
		return stored{}, err
	}
	if len(raw) > maxDocumentSize {
		return stored{}, commandError(10334, "BSONObjectTooLarge", fmt.Sprintf("document is %d bytes, over the %d byte limit", len(raw), maxDocumentSize))
	}
	s.raw = bytes.Clone(raw)
	return s, nil
}

// checkID refuses the _id values MongoDB refuses.
func checkID(id any) error {
	switch v := id.(type) {
	case bson.A, primitive.Regex, primitive.Undefined:
		return commandError(codeBadValue, "BadValue", fmt.Sprintf("can't use a %T for _id", v))
	}
	return nil
}

// InsertOne implements lungo.ICollection.
func (c *Collection) InsertOne(ctx context.Context, doc any, opts ...*options.InsertOneOptions) (*mongo.InsertOneResult, error) {
	s, err := newDocument(doc)
	if err != nil {
		return nil, err
	}
	err = c.e().write(ctx, func(t *txn) error {
		m, err := t.collection(c.db.name, c.name, true)
		if err != nil {
			return err
		}
		return t.insert(m, s)
	})
	if err != nil {
		return nil, writeException(err)
	}
	return &mongo.InsertOneResult{InsertedID: s.id()}, nil
}

// InsertMany implements lungo.ICollection. Outside a transaction, an
// ordered insert keeps the documents before the first failure and an
// unordered one every document that did not fail, as on MongoDB.
func (c *Collection) InsertMany(ctx context.Context, docs []any, opts ...*options.InsertManyOptions) (*mongo.InsertManyResult, error) {
	if len(docs) == 0 {
		return nil, mongo.ErrEmptySlice
	}
	o := options.MergeInsertManyOptions(opts...)
	ordered := o.Ordered == nil || *o.Ordered
	all := make([]stored, len(docs))
	for i, d := range docs {
		s, err := newDocument(d)
		if err != nil {
			return nil, err
		}
		all[i] = s
	}
	res := &mongo.InsertManyResult{}
	err := c.e().writeModels(ctx, len(all), ordered, func(t *txn, i int) error {
		m, err := t.collection(c.db.name, c.name, true)
		if err != nil {
			return err
		}
		if err := t.insert(m, all[i]); err != nil {
			return err
		}
		res.InsertedIDs = append(res.InsertedIDs, all[i].id())
		return nil
	})
	return res, err
}

// updateSpec is an update or a replacement.
type updateSpec struct {
	update  bson.D // operators
	replace bson.D // a whole document
	filters bsonkit.List
	upsert  bool
}

func newUpdate(update any, arrayFilters *options.ArrayFilters, upsert *bool) (updateSpec, error) {
	var u updateSpec
	if _, ok := update.(bson.A); ok {
		return u, unsupported("update pipelines")
	}
	d, err := toDoc(update)
	if err != nil {
		return u, err
	}
	if len(d) == 0 || !strings.HasPrefix(d[0].Key, "$") {
		return u, fmt.Errorf("update document must contain key beginning with '$'")
	}
	u.update = d
	if arrayFilters != nil {
		for _, f := range arrayFilters.Filters {
			fd, err := toDoc(f)
			if err != nil {
				return u, err
			}
			u.filters = append(u.filters, &fd)
		}
	}
	u.upsert = upsert != nil && *upsert
	return u, nil
}

func newReplacement(repl any, upsert *bool) (updateSpec, error) {
	d, err := toDoc(repl)
	if err != nil {
		return updateSpec{}, err
	}
	if len(d) > 0 && strings.HasPrefix(d[0].Key, "$") {
		return updateSpec{}, fmt.Errorf("replacement document cannot contain keys beginning with '$'")
	}
	return updateSpec{replace: d, upsert: upsert != nil && *upsert}, nil
}

// updateResult is what an update did.
type updateResult struct {
	matched, modified int64
	upsertedID        any
	before, after     []stored
}

// apply runs an update or replacement on the documents a query selects
// (limit 1 for the *One forms), upserting when nothing matched.
func (c *Collection) apply(ctx context.Context, t *txn, q query, u updateSpec, hint any) (*updateResult, error) {
	res := &updateResult{}
	m, err := t.collection(c.db.name, c.name, u.upsert)
	if err != nil || m == nil {
		return res, err
	}
	p, err := c.prepareFor(m, q, hint)
	if err != nil {
		return res, err
	}
	matches, err := collect(ctx, t, m, p)
	if err != nil {
		return res, err
	}
	for _, prev := range matches {
		prev.d() // decode once; copies share it
		res.matched++
		next, desc, err := updated(prev, q.filter, u)
		if err != nil {
			return res, err
		}
		res.before = append(res.before, prev)
		res.after = append(res.after, next)
		if bytes.Equal(prev.raw, next.raw) {
			continue
		}
		if m = t.cat.get(c.db.name, c.name); m == nil {
			return res, fmt.Errorf("engine: collection %s.%s dropped during update", c.db.name, c.name)
		}
		if err := t.replace(m, prev, next, desc); err != nil {
			return res, err
		}
		res.modified++
	}
	if res.matched > 0 || !u.upsert {
		return res, nil
	}
	doc, err := upserted(q.filter, u)
	if err != nil {
		return res, err
	}
	if err := t.insert(m, doc); err != nil {
		return res, err
	}
	res.upsertedID = doc.id()
	res.after = append(res.after, doc)
	return res, nil
}

// updated returns the next version of a document and the change event's
// description of it.
func updated(prev stored, filter bson.D, u updateSpec) (stored, bson.D, error) {
	var next stored
	if u.replace != nil {
		d := append(bson.D{{Key: "_id", Value: prev.id()}}, withoutID(u.replace)...)
		if id := bsonkit.Get(&u.replace, "_id"); id != bsonkit.Missing && bsonkit.Compare(id, prev.id()) != 0 {
			return next, nil, commandError(66, "ImmutableField", "the (immutable) field '_id' was found to have been altered")
		}
		next.doc = &d
	} else {
		d := bsonkit.Clone(prev.d())
		f := filter
		ud := u.update
		ch, err := mongokit.Apply(d, &f, &ud, false, u.filters)
		if err != nil {
			return next, nil, fmt.Errorf("engine: update: %w", err)
		}
		if bsonkit.Compare(bsonkit.Get(d, "_id"), prev.id()) != 0 {
			return next, nil, commandError(66, "ImmutableField", "the (immutable) field '_id' was found to have been altered")
		}
		next.doc = d
		raw, err := bson.Marshal(d)
		if err != nil {
			return next, nil, err
		}
		next.raw = raw
		return next, updateDescription(ch), checkSize(raw)
	}
	raw, err := bson.Marshal(next.doc)
	if err != nil {
		return next, nil, err
	}
	next.raw = raw
	return next, bson.D{{Key: "operationType", Value: "replace"}}, checkSize(raw)
}

func checkSize(raw bson.Raw) error {
	if len(raw) > maxDocumentSize {
		return commandError(10334, "BSONObjectTooLarge", fmt.Sprintf("document is %d bytes, over the %d byte limit", len(raw), maxDocumentSize))
	}
	return nil
}

func withoutID(d bson.D) bson.D {
	out := make(bson.D, 0, len(d))
	for _, e := range d {
		if e.Key != "_id" {
			out = append(out, e)
		}
	}
	return out
}

// updateDescription is a change event's description of an update.
func updateDescription(ch *mongokit.Changes) bson.D {
	updatedFields := bson.D{}
	removed := bson.A{}
	paths := make([]string, 0, len(ch.Changed))
	for p := range ch.Changed {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		v := ch.Changed[p]
		if v == bsonkit.Missing {
			removed = append(removed, p)
			continue
		}
		updatedFields = append(updatedFields, bson.E{Key: p, Value: v})
	}
	return bson.D{
		{Key: "operationType", Value: "update"},
		{Key: "updateDescription", Value: bson.D{
			{Key: "updatedFields", Value: updatedFields},
			{Key: "removedFields", Value: removed},
			{Key: "truncatedArrays", Value: bson.A{}},
		}},
	}
}

// upserted builds the document an upsert inserts.
func upserted(filter bson.D, u updateSpec) (stored, error) {
	f := filter
	base, err := mongokit.Extract(&f)
	if err != nil {
		return stored{}, fmt.Errorf("engine: upsert: %w", err)
	}
	var d bsonkit.Doc
	if u.replace != nil {
		d = bsonkit.Clone(&u.replace)
		if id := bsonkit.Get(base, "_id"); id != bsonkit.Missing && bsonkit.Get(d, "_id") == bsonkit.Missing {
			if _, err := bsonkit.Put(d, "_id", id, true); err != nil {
				return stored{}, err
			}
		}
	} else {
		d = base
		ud := u.update
		if _, err := mongokit.Apply(d, &f, &ud, true, u.filters); err != nil {
			return stored{}, fmt.Errorf("engine: upsert: %w", err)
		}
	}
	return newDocument(*d)
}

func toUpdateResult(r *updateResult) *mongo.UpdateResult {
	out := &mongo.UpdateResult{MatchedCount: r.matched, ModifiedCount: r.modified}
	if r.upsertedID != nil {
		out.UpsertedCount = 1
		out.UpsertedID = r.upsertedID
	}
	return out
}

func (c *Collection) update(ctx context.Context, filter any, u updateSpec, many bool, hint any) (*mongo.UpdateResult, error) {
	q, err := selection(filter, many)
	if err != nil {
		return nil, err
	}
	var res *updateResult
	err = c.e().writePartial(ctx, func(t *txn) (bool, error) {
		r, err := c.apply(ctx, t, q, u, hint)
		res = r
		return many && r != nil && r.modified > 0, err
	})
	if err != nil {
		if res != nil && many {
			return toUpdateResult(res), writeException(err)
		}
		return nil, writeException(err)
	}
	return toUpdateResult(res), nil
}

// UpdateOne implements lungo.ICollection.
func (c *Collection) UpdateOne(ctx context.Context, filter, update any, opts ...*options.UpdateOptions) (*mongo.UpdateResult, error) {
	return c.updateWith(ctx, filter, update, false, opts)
}

// updateWith runs UpdateOne or UpdateMany with their options.
func (c *Collection) updateWith(ctx context.Context, filter, update any, many bool, opts []*options.UpdateOptions) (*mongo.UpdateResult, error) {
	o := options.MergeUpdateOptions(opts...)
	if o.Collation != nil || o.Let != nil {
		return nil, unsupported("update with collation or let")
	}
	u, err := newUpdate(update, o.ArrayFilters, o.Upsert)
	if err != nil {
		return nil, err
	}
	return c.update(ctx, filter, u, many, o.Hint)
}

// UpdateByID implements lungo.ICollection.
func (c *Collection) UpdateByID(ctx context.Context, id, update any, opts ...*options.UpdateOptions) (*mongo.UpdateResult, error) {
	if id == nil {
		return nil, mongo.ErrNilValue
	}
	return c.UpdateOne(ctx, bson.D{{Key: "_id", Value: id}}, update, opts...)
}

// UpdateMany implements lungo.ICollection.
func (c *Collection) UpdateMany(ctx context.Context, filter, update any, opts ...*options.UpdateOptions) (*mongo.UpdateResult, error) {
	return c.updateWith(ctx, filter, update, true, opts)
}

// ReplaceOne implements lungo.ICollection.
func (c *Collection) ReplaceOne(ctx context.Context, filter, replacement any, opts ...*options.ReplaceOptions) (*mongo.UpdateResult, error) {
	o := options.MergeReplaceOptions(opts...)
	if o.Collation != nil || o.Let != nil {
		return nil, unsupported("replace with collation or let")
	}
	u, err := newReplacement(replacement, o.Upsert)
	if err != nil {
		return nil, err
	}
	return c.update(ctx, filter, u, false, o.Hint)
}

func (c *Collection) delete(ctx context.Context, filter any, many bool, hint any) (*mongo.DeleteResult, error) {
	q, err := selection(filter, many)
	if err != nil {
		return nil, err
	}
	// Outside a transaction a delete of many documents is not atomic on
	// MongoDB either: it commits in chunks, so its memory is bounded by
	// the chunk, not by how many documents it deletes.
	chunked := many && !inTxn(ctx)
	if chunked {
		q.limit = deleteChunk
	}
	var total int64
	for {
		var n int64
		err = c.e().write(ctx, func(t *txn) error {
			var err error
			n, err = c.removeMatching(ctx, t, q, hint)
			return err
		})
		if err != nil {
			if total > 0 {
				return &mongo.DeleteResult{DeletedCount: total}, err
			}
			return nil, err
		}
		total += n
		if !chunked || n < deleteChunk {
			return &mongo.DeleteResult{DeletedCount: total}, nil
		}
	}
}

// deleteChunk is how many documents a delete outside a transaction
// removes per commit.
const deleteChunk = 1000

// inTxn reports whether ctx runs in a session's transaction.
func inTxn(ctx context.Context) bool {
	s := sessionFrom(ctx)
	return s != nil && s.inTxn()
}

// removeMatching deletes the documents a query selects and counts them.
func (c *Collection) removeMatching(ctx context.Context, t *txn, q query, hint any) (int64, error) {
	m := c.meta(t.cat)
	if m == nil {
		return 0, nil
	}
	p, err := c.prepareFor(m, q, hint)
	if err != nil {
		return 0, err
	}
	matches, err := collect(ctx, t, m, p)
	if err != nil {
		return 0, err
	}
	for i, s := range matches {
		if err := t.remove(m, s); err != nil {
			return int64(i), err
		}
	}
	return int64(len(matches)), nil
}

// DeleteOne implements lungo.ICollection.
func (c *Collection) DeleteOne(ctx context.Context, filter any, opts ...*options.DeleteOptions) (*mongo.DeleteResult, error) {
	o := options.MergeDeleteOptions(opts...)
	if o.Collation != nil || o.Let != nil {
		return nil, unsupported("delete with collation or let")
	}
	return c.delete(ctx, filter, false, o.Hint)
}

// DeleteMany implements lungo.ICollection.
func (c *Collection) DeleteMany(ctx context.Context, filter any, opts ...*options.DeleteOptions) (*mongo.DeleteResult, error) {
	o := options.MergeDeleteOptions(opts...)
	if o.Collation != nil || o.Let != nil {
		return nil, unsupported("delete with collation or let")
	}
	return c.delete(ctx, filter, true, o.Hint)
}

// findAndModify runs the FindOneAnd* forms.
func (c *Collection) findAndModify(ctx context.Context, filter, sort, proj any, u *updateSpec, after bool) lungo.ISingleResult {
	q, pd, err := findQuery(filter, sort, proj)
	if err != nil {
		return singleResult(nil, err)
	}
	q.limit = 1
	var out *stored
	err = c.e().write(ctx, func(t *txn) error {
		if u == nil {
			m := c.meta(t.cat)
			if m == nil {
				return nil
			}
			p, err := prepare(m, q)
			if err != nil {
				return err
			}
			matches, err := collect(ctx, t, m, p)
			if err != nil || len(matches) == 0 {
				return err
			}
			out = &matches[0]
			return t.remove(m, matches[0])
		}
		r, err := c.apply(ctx, t, q, *u, nil)
		if err != nil {
			return err
		}
		switch {
		case after && len(r.after) > 0:
			out = &r.after[0]
		case !after && len(r.before) > 0:
			out = &r.before[0]
		}
		return nil
	})
	if err != nil {
		return singleResult(nil, writeException(err))
	}
	if out == nil {
		return singleResult(nil, nil)
	}
	raw, err := project(*out, pd)
	return singleResult(raw, err)
}

// FindOneAndDelete implements lungo.ICollection.
func (c *Collection) FindOneAndDelete(ctx context.Context, filter any, opts ...*options.FindOneAndDeleteOptions) lungo.ISingleResult {
	o := options.MergeFindOneAndDeleteOptions(opts...)
	if o.Collation != nil || o.Hint != nil || o.Let != nil {
		return singleResult(nil, unsupported("findOneAndDelete with collation, hint or let"))
	}
	return c.findAndModify(ctx, filter, o.Sort, o.Projection, nil, false)
}

// FindOneAndReplace implements lungo.ICollection.
func (c *Collection) FindOneAndReplace(ctx context.Context, filter, replacement any, opts ...*options.FindOneAndReplaceOptions) lungo.ISingleResult {
	o := options.MergeFindOneAndReplaceOptions(opts...)
	if o.Collation != nil || o.Hint != nil || o.Let != nil {
		return singleResult(nil, unsupported("findOneAndReplace with collation, hint or let"))
	}
	u, err := newReplacement(replacement, o.Upsert)
	if err != nil {
		return singleResult(nil, err)
	}
	after := o.ReturnDocument != nil && *o.ReturnDocument == options.After
	return c.findAndModify(ctx, filter, o.Sort, o.Projection, &u, after)
}

// FindOneAndUpdate implements lungo.ICollection.
func (c *Collection) FindOneAndUpdate(ctx context.Context, filter, update any, opts ...*options.FindOneAndUpdateOptions) lungo.ISingleResult {
	o := options.MergeFindOneAndUpdateOptions(opts...)
	if o.Collation != nil || o.Hint != nil || o.Let != nil {
		return singleResult(nil, unsupported("findOneAndUpdate with collation, hint or let"))
	}
	u, err := newUpdate(update, o.ArrayFilters, o.Upsert)
	if err != nil {
		return singleResult(nil, err)
	}
	after := o.ReturnDocument != nil && *o.ReturnDocument == options.After
	return c.findAndModify(ctx, filter, o.Sort, o.Projection, &u, after)
}
