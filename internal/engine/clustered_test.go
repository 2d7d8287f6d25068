package engine

// Tests of clustered collections: a unique index created with the storage
// engine option {annals: {clustered: true}} holds the collection's
// documents in its entries, the _id keyspace points at them, and the other
// indexes point at the clustered keys. These tests check the rules of
// creating, dropping and writing such a collection; clustered_diff_test.go
// checks that it answers everything as a plain collection does.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/256dpi/lungo"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
)

// clKV is the clustered index of these tests, clKVName its default name.
var clKV = bson.D{{Key: "k", Value: int32(1)}, {Key: "v", Value: int32(1)}}

const (
	clKVName = "k_1_v_1"
	clTName  = "t_1"
	clDB     = "cl"
)

// clusteredEngine is the storage engine option that clusters a collection
// on an index.
func clusteredEngine() bson.D {
	return bson.D{{Key: "annals", Value: bson.D{{Key: "clustered", Value: true}}}}
}

// clusteredModel is a unique index model that clusters its collection.
func clusteredModel(keys bson.D) mongo.IndexModel {
	return mongo.IndexModel{Keys: keys, Options: options.Index().SetUnique(true).SetStorageEngine(clusteredEngine())}
}

// clTModel is the non-unique index on t of these tests.
func clTModel() mongo.IndexModel {
	return mongo.IndexModel{Keys: bson.D{{Key: "t", Value: int32(1)}}}
}

// openMemEngine opens an engine in memory, closed when the test ends.
func openMemEngine(t *testing.T) *Engine {
	t.Helper()
	e, err := Open(context.Background(), Options{})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { _ = e.Close() })
	return e
}

// clColl returns the collection name of database clDB.
func clColl(e *Engine, name string) *Collection {
	return e.Client().Database(clDB).Collection(name).(*Collection)
}

// newClustered creates a collection clustered on {k: 1, v: 1}, with the
// non-unique index {t: 1} and the given other indexes, holding docs.
func newClustered(t *testing.T, e *Engine, name string, docs []bson.D, more ...mongo.IndexModel) *Collection {
	t.Helper()
	ctx := context.Background()
	c := clColl(e, name)
	models := append([]mongo.IndexModel{clusteredModel(clKV), clTModel()}, more...)
	if _, err := c.Indexes().CreateMany(ctx, models); err != nil {
		t.Fatalf("create the indexes of %s: %v", name, err)
	}
	insertDocs(t, c, docs)
	return c
}

func insertDocs(t *testing.T, c lungo.ICollection, docs []bson.D) {
	t.Helper()
	if len(docs) == 0 {
		return
	}
	list := make([]any, len(docs))
	for i, d := range docs {
		list[i] = d
	}
	if _, err := c.InsertMany(context.Background(), list); err != nil {
		t.Fatalf("insert into %s: %v", c.Name(), err)
	}
}

// absent marks a field kvDoc leaves out.
type absent struct{}

// kvDoc is {_id, k, v, more...}, without k or v when they are absent{}.
func kvDoc(id, k, v any, more ...bson.E) bson.D {
	d := bson.D{{Key: "_id", Value: id}}
	if _, ok := k.(absent); !ok {
		d = append(d, bson.E{Key: "k", Value: k})
	}
	if _, ok := v.(absent); !ok {
		d = append(d, bson.E{Key: "v", Value: v})
	}
	return append(d, more...)
}

// cj is a value in canonical extended JSON, where types show.
func cj(v any) string {
	b, err := bson.MarshalExtJSON(bson.D{{Key: "v", Value: v}}, true, false)
	if err != nil {
		return fmt.Sprintf("<%v>", err)
	}
	return string(b[len(`{"v":`) : len(b)-1])
}

func cjDocs(docs []bson.D) string {
	parts := make([]string, len(docs))
	for i, d := range docs {
		parts[i] = cj(d)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// findDocs runs a find and reads all it returns.
func findDocs(t *testing.T, ctx context.Context, c lungo.ICollection, filter any, opts ...*options.FindOptions) []bson.D {
	t.Helper()
	cur, err := c.Find(ctx, filter, opts...)
	if err != nil {
		t.Fatalf("find %s in %s: %v", j(filter), c.Name(), err)
	}
	docs, err := readAll(ctx, cur)
	if err != nil {
		t.Fatalf("find %s in %s: %v", j(filter), c.Name(), err)
	}
	return docs
}

func sortByID() *options.FindOptions {
	return options.Find().SetSort(bson.D{{Key: "_id", Value: int32(1)}})
}

// throughKV reads a collection in the order of {k: 1, v: 1}, walking that
// index.
func throughKV() *options.FindOptions {
	return options.Find().SetSort(clKV).SetHint(clKVName)
}

// indexNames lists a collection's indexes.
func indexNames(t *testing.T, c lungo.ICollection) []string {
	t.Helper()
	specs, err := c.Indexes().ListSpecifications(context.Background())
	if err != nil {
		t.Fatalf("list the indexes of %s: %v", c.Name(), err)
	}
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.Name
	}
	slices.Sort(names)
	return names
}

// keyCounts counts a collection's keys in the _id keyspace and in each of
// its indexes that is not multikey (by name), reading the store directly:
// an entry a move or a refused write left behind shows here even where no
// query would find it.
func keyCounts(t *testing.T, e *Engine, coll string) (docs int, entries map[string]int) {
	t.Helper()
	m := e.cat.Load().get(clDB, coll)
	if m == nil {
		t.Fatalf("collection %s not in the catalog", coll)
	}
	count := func(p []byte) int {
		it, err := e.db.NewIter(nil)
		if err != nil {
			t.Fatal(err)
		}
		defer it.Close()
		n := 0
		for ok := it.SeekGE(p); ok && bytes.HasPrefix(it.Key(), p); ok = it.Next() {
			n++
		}
		if err := it.Error(); err != nil {
			t.Fatal(err)
		}
		return n
	}
	entries = map[string]int{}
	for _, ix := range m.Indexes {
		if ix.Multikey {
			continue
		}
		entries[ix.Name] = count(indexPrefix(m.ID, ix.ID))
	}
	return count(docPrefix(m.ID)), entries
}

// checkKeys fails unless the collection's _id keyspace and each of its
// indexes hold one entry per document, want in all.
func checkKeys(t *testing.T, e *Engine, coll string, want int) {
	t.Helper()
	docs, entries := keyCounts(t, e, coll)
	if docs != want {
		t.Errorf("%s: %d keys in the _id keyspace, want %d", coll, docs, want)
	}
	for _, name := range sortedKeys(entries) {
		if entries[name] != want {
			t.Errorf("%s: %d entries in index %s, want %d", coll, entries[name], name, want)
		}
	}
}

// checkContents fails unless a collection holds exactly want (in _id
// order), read by _id, through the clustered index, by a look-up of each
// document's _id and of its clustered key, and through {t: 1} when the
// collection has it.
func checkContents(t *testing.T, e *Engine, c *Collection, want []bson.D) {
	t.Helper()
	ctx := context.Background()
	wantS := cjDocs(want)
	if got := findDocs(t, ctx, c, bson.D{}, sortByID()); docsKey(got) != docsKey(want) {
		t.Errorf("%s by _id:\n got  %s\n want %s", c.Name(), cjDocs(got), wantS)
	}
	viaKV := findDocs(t, ctx, c, bson.D{}, throughKV())
	if docsKey(sortByCanon(viaKV)) != docsKey(sortByCanon(want)) {
		t.Errorf("%s through %s:\n got  %s\n want %s", c.Name(), clKVName, cjDocs(viaKV), wantS)
	}
	for i := 1; i < len(viaKV); i++ {
		if kvCompare(viaKV[i-1], viaKV[i]) >= 0 {
			t.Errorf("%s through %s: not in key order at %d: %s", c.Name(), clKVName, i, cjDocs(viaKV))
			break
		}
	}
	if slices.Contains(indexNames(t, c), clTName) {
		viaT := findDocs(t, ctx, c, bson.D{}, options.Find().SetSort(bson.D{{Key: "t", Value: int32(1)}}).SetHint(clTName))
		if docsKey(sortByCanon(viaT)) != docsKey(sortByCanon(want)) {
			t.Errorf("%s through %s:\n got  %s\n want %s", c.Name(), clTName, cjDocs(viaT), wantS)
		}
	}
	for _, d := range want {
		id, _ := lookup(d, "_id")
		var got bson.D
		if err := c.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&got); err != nil {
			t.Errorf("%s: FindOne _id %s: %v", c.Name(), cj(id), err)
		} else if cj(got) != cj(d) {
			t.Errorf("%s: FindOne _id %s:\n got  %s\n want %s", c.Name(), cj(id), cj(got), cj(d))
		}
		if got := findDocs(t, ctx, c, kvFilter(d)); docsKey(got) != docsKey([]bson.D{d}) {
			t.Errorf("%s: find by its clustered key %s:\n got  %s\n want %s", c.Name(), j(kvFilter(d)), cjDocs(got), cj(d))
		}
	}
	checkKeys(t, e, c.Name(), len(want))
}

// kvFilter selects a document by its clustered key (null for missing).
func kvFilter(d bson.D) bson.D {
	k, _ := lookup(d, "k")
	v, _ := lookup(d, "v")
	return bson.D{{Key: "k", Value: k}, {Key: "v", Value: v}}
}

// kvCompare orders documents by {k: 1, v: 1}.
func kvCompare(a, b bson.D) int {
	return bytes.Compare(kvSortKey(a), kvSortKey(b))
}

func kvSortKey(d bson.D) []byte {
	var key []byte
	for _, f := range []string{"k", "v"} {
		v, _ := lookup(d, f)
		var err error
		if key, err = appendKey(key, v); err != nil {
			panic(err)
		}
	}
	return key
}

func sortByCanon(docs []bson.D) []bson.D {
	type keyed struct {
		key string
		doc bson.D
	}
	ks := make([]keyed, len(docs))
	for i, d := range docs {
		ks[i] = keyed{docsKey([]bson.D{d}), d}
	}
	slices.SortFunc(ks, func(a, b keyed) int { return strings.Compare(a.key, b.key) })
	out := make([]bson.D, len(docs))
	for i, k := range ks {
		out[i] = k.doc
	}
	return out
}

// docsKey is documents as their BSON: equal when the documents are, types
// and field order included. Faster than cjDocs, for comparisons.
func docsKey(docs []bson.D) string {
	var b []byte
	for _, d := range docs {
		var err error
		if b, err = bson.MarshalAppend(b, d); err != nil {
			panic(fmt.Sprintf("marshal %v: %v", d, err))
		}
	}
	return string(b)
}

// watch opens a change stream on a collection, closed when the test ends.
func watch(t *testing.T, c lungo.ICollection) lungo.IChangeStream {
	t.Helper()
	cs, err := c.Watch(context.Background(), bson.A{})
	if err != nil {
		t.Fatalf("watch %s: %v", c.Name(), err)
	}
	t.Cleanup(func() { _ = cs.Close(context.Background()) })
	return cs
}

// drainEvents reads the change events available now.
func drainEvents(t *testing.T, cs lungo.IChangeStream) []bson.D {
	t.Helper()
	ctx := context.Background()
	var out []bson.D
	for cs.TryNext(ctx) {
		var d bson.D
		if err := cs.Decode(&d); err != nil {
			t.Fatalf("decode a change event: %v", err)
		}
		out = append(out, d)
	}
	if err := cs.Err(); err != nil {
		t.Fatalf("change stream: %v", err)
	}
	return out
}

// isDuplicate reports a duplicate key error as both the driver and lungo
// recognise it (mongostore.IsDuplicate, which this package cannot import,
// takes either).
func isDuplicate(err error) bool {
	return mongo.IsDuplicateKeyError(err) && lungo.IsUniquenessError(err)
}

// refusedUnsupported reports an error that wraps ErrUnsupported, or, for a
// bulk write, whose write error says so.
func refusedUnsupported(err error) bool {
	return err != nil && (errors.Is(err, ErrUnsupported) || strings.Contains(err.Error(), ErrUnsupported.Error()))
}

// TestClusteredCreateRefused: a clustered index that is not unique, on a
// collection that holds documents, second to another one, or with other
// storage engine options is refused, and the collection is left as it was.
func TestClusteredCreateRefused(t *testing.T) {
	ctx := context.Background()
	e := openMemEngine(t)
	unique := func(se bson.D) mongo.IndexModel {
		return mongo.IndexModel{Keys: clKV, Options: options.Index().SetUnique(true).SetStorageEngine(se)}
	}
	seed := []bson.D{kvDoc(1, 1, 1, bson.E{Key: "t", Value: 1})}
	cases := []struct {
		name string
		// prep builds the collection before the refused creation.
		prep        func(t *testing.T, c *Collection)
		model       mongo.IndexModel
		many        []mongo.IndexModel // created with CreateMany instead of model
		unsupported bool               // the error wraps ErrUnsupported
	}{
		{name: "not unique", model: mongo.IndexModel{Keys: clKV, Options: options.Index().SetStorageEngine(clusteredEngine())}},
		{name: "unique false", model: mongo.IndexModel{Keys: clKV, Options: options.Index().SetUnique(false).SetStorageEngine(clusteredEngine())}},
		{
			name:        "collection holds documents",
			prep:        func(t *testing.T, c *Collection) { insertDocs(t, c, seed) },
			model:       clusteredModel(clKV),
			unsupported: true,
		},
		{
			name: "collection holds documents and a plain index",
			prep: func(t *testing.T, c *Collection) {
				if _, err := c.Indexes().CreateOne(ctx, clTModel()); err != nil {
					t.Fatal(err)
				}
				insertDocs(t, c, seed)
			},
			model:       clusteredModel(clKV),
			unsupported: true,
		},
		{
			name: "a second clustered index",
			prep: func(t *testing.T, c *Collection) {
				if _, err := c.Indexes().CreateOne(ctx, clusteredModel(bson.D{{Key: "u", Value: int32(1)}})); err != nil {
					t.Fatal(err)
				}
			},
			model: clusteredModel(clKV),
		},
		{
			name: "a second clustered index, documents deleted",
			prep: func(t *testing.T, c *Collection) {
				if _, err := c.Indexes().CreateOne(ctx, clusteredModel(bson.D{{Key: "u", Value: int32(1)}})); err != nil {
					t.Fatal(err)
				}
				insertDocs(t, c, seed)
				if _, err := c.DeleteMany(ctx, bson.D{}); err != nil {
					t.Fatal(err)
				}
			},
			model: clusteredModel(clKV),
		},
		{
			name:        "in one call with a plain index, collection holds documents",
			prep:        func(t *testing.T, c *Collection) { insertDocs(t, c, seed) },
			many:        []mongo.IndexModel{clTModel(), clusteredModel(clKV)},
			unsupported: true,
		},
		{name: "another storage engine", model: unique(bson.D{{Key: "wiredTiger", Value: bson.D{{Key: "configString", Value: "block_compressor=zstd"}}}}), unsupported: true},
		{name: "another annals option", model: unique(bson.D{{Key: "annals", Value: bson.D{{Key: "clustered", Value: true}, {Key: "compress", Value: true}}}}), unsupported: true},
		{name: "only another annals option", model: unique(bson.D{{Key: "annals", Value: bson.D{{Key: "compress", Value: true}}}}), unsupported: true},
		{name: "annals not a document", model: unique(bson.D{{Key: "annals", Value: true}}), unsupported: true},
		{name: "annals beside another engine", model: unique(bson.D{{Key: "annals", Value: bson.D{{Key: "clustered", Value: true}}}, {Key: "wiredTiger", Value: bson.D{}}}), unsupported: true},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := clColl(e, fmt.Sprintf("refused%d", i))
			if tc.prep != nil {
				tc.prep(t, c)
			}
			names := indexNames(t, c)
			docs := findDocs(t, ctx, c, bson.D{}, sortByID())
			var err error
			if tc.many != nil {
				_, err = c.Indexes().CreateMany(ctx, tc.many)
			} else {
				_, err = c.Indexes().CreateOne(ctx, tc.model)
			}
			if err == nil {
				t.Fatal("created, want an error")
			}
			if tc.unsupported && !errors.Is(err, ErrUnsupported) {
				t.Errorf("error %v does not wrap ErrUnsupported", err)
			}
			if got := indexNames(t, c); !slices.Equal(got, names) {
				t.Errorf("indexes after the refusal: %v, want %v", got, names)
			}
			if got := findDocs(t, ctx, c, bson.D{}, sortByID()); docsKey(got) != docsKey(docs) {
				t.Errorf("documents after the refusal: %s, want %s", cjDocs(got), cjDocs(docs))
			}
			if e.cat.Load().get(clDB, c.Name()) != nil {
				checkKeys(t, e, c.Name(), len(docs))
			}
		})
	}
}

// TestClusteredCreate: a clustered index is created on a collection that
// does not exist, that exists with other indexes, or whose documents were
// all deleted, alone or among other indexes; the collection is clustered
// after (it refuses an array in its key).
func TestClusteredCreate(t *testing.T) {
	ctx := context.Background()
	e := openMemEngine(t)
	cases := []struct {
		name   string
		prep   func(t *testing.T, c *Collection)
		models []mongo.IndexModel
		want   []string
	}{
		{name: "new collection", models: []mongo.IndexModel{clusteredModel(clKV)}, want: []string{"_id_", clKVName}},
		{
			name:   "with other indexes in one call",
			models: []mongo.IndexModel{clTModel(), clusteredModel(clKV), {Keys: bson.D{{Key: "u", Value: int32(1)}}, Options: options.Index().SetUnique(true)}},
			want:   []string{"_id_", clKVName, clTName, "u_1"},
		},
		{
			name: "collection with a plain index",
			prep: func(t *testing.T, c *Collection) {
				if _, err := c.Indexes().CreateOne(ctx, clTModel()); err != nil {
					t.Fatal(err)
				}
			},
			models: []mongo.IndexModel{clusteredModel(clKV)},
			want:   []string{"_id_", clKVName, clTName},
		},
		{
			name: "collection whose documents were deleted",
			prep: func(t *testing.T, c *Collection) {
				insertDocs(t, c, []bson.D{kvDoc(1, 1, 1), kvDoc(2, 2, 2)})
				if _, err := c.DeleteMany(ctx, bson.D{}); err != nil {
					t.Fatal(err)
				}
			},
			models: []mongo.IndexModel{clusteredModel(clKV)},
			want:   []string{"_id_", clKVName},
		},
		{
			name:   "named",
			models: []mongo.IndexModel{{Keys: clKV, Options: options.Index().SetName("by_kv").SetUnique(true).SetStorageEngine(clusteredEngine())}},
			want:   []string{"_id_", "by_kv"},
		},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := clColl(e, fmt.Sprintf("create%d", i))
			if tc.prep != nil {
				tc.prep(t, c)
			}
			if _, err := c.Indexes().CreateMany(ctx, tc.models); err != nil {
				t.Fatalf("create: %v", err)
			}
			if got := indexNames(t, c); !slices.Equal(got, tc.want) {
				t.Errorf("indexes: %v, want %v", got, tc.want)
			}
			if _, err := c.InsertOne(ctx, kvDoc(1, bson.A{1, 2}, 1, bson.E{Key: "u", Value: 1})); !errors.Is(err, ErrUnsupported) {
				t.Errorf("insert with an array in the clustered key: %v, want ErrUnsupported (is the collection clustered?)", err)
			}
			docs := []bson.D{kvDoc(2, 2, "b", bson.E{Key: "u", Value: 2}), kvDoc(3, 1, "a", bson.E{Key: "u", Value: 3})}
			insertDocs(t, c, docs)
			if got := findDocs(t, ctx, c, bson.D{}, sortByID()); docsKey(got) != docsKey(docs) {
				t.Errorf("documents: %s, want %s", cjDocs(got), cjDocs(docs))
			}
		})
	}
}

// TestClusteredCreateAgain: creating the clustered index again, or asking
// for an existing plain index again with clustered: true, does nothing —
// with or without documents — and the layout stays as it was built.
func TestClusteredCreateAgain(t *testing.T) {
	ctx := context.Background()
	e := openMemEngine(t)
	docs := []bson.D{kvDoc(1, 1, 1), kvDoc(2, 2, 2)}
	plainKV := mongo.IndexModel{Keys: clKV, Options: options.Index().SetUnique(true)}
	named := mongo.IndexModel{Keys: clKV, Options: options.Index().SetName(clKVName).SetUnique(true).SetStorageEngine(clusteredEngine())}
	cases := []struct {
		name      string
		first     mongo.IndexModel
		docs      []bson.D
		again     mongo.IndexModel
		clustered bool // the layout as first built
	}{
		{name: "clustered again, empty", first: clusteredModel(clKV), again: clusteredModel(clKV), clustered: true},
		{name: "clustered again, with documents", first: clusteredModel(clKV), docs: docs, again: clusteredModel(clKV), clustered: true},
		{name: "clustered again by name, with documents", first: clusteredModel(clKV), docs: docs, again: named, clustered: true},
		{name: "plain asked clustered, empty", first: plainKV, again: clusteredModel(clKV)},
		{name: "plain asked clustered, with documents", first: plainKV, docs: docs, again: clusteredModel(clKV)},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := clColl(e, fmt.Sprintf("again%d", i))
			if _, err := c.Indexes().CreateOne(ctx, tc.first); err != nil {
				t.Fatalf("first creation: %v", err)
			}
			insertDocs(t, c, tc.docs)
			names := indexNames(t, c)
			name, err := c.Indexes().CreateOne(ctx, tc.again)
			if err != nil {
				t.Fatalf("created again: %v, want no error", err)
			}
			if name != clKVName {
				t.Errorf("created again: name %q, want %q", name, clKVName)
			}
			if got := indexNames(t, c); !slices.Equal(got, names) {
				t.Errorf("indexes: %v, want %v", got, names)
			}
			if got := findDocs(t, ctx, c, bson.D{}, throughKV()); docsKey(got) != docsKey(tc.docs) {
				t.Errorf("documents through %s: %s, want %s", clKVName, cjDocs(got), cjDocs(tc.docs))
			}
			_, err = c.InsertOne(ctx, kvDoc(9, bson.A{7, 8}, 9))
			switch {
			case tc.clustered && !errors.Is(err, ErrUnsupported):
				t.Errorf("an array in the key of a clustered collection: %v, want ErrUnsupported", err)
			case !tc.clustered && err != nil:
				t.Errorf("an array in the key of a plain index: %v, want it stored (the layout changed?)", err)
			}
		})
	}
}

// TestClusteredArrayRefused: a write that would put an array in a
// clustered key fails with ErrUnsupported and stores nothing of itself:
// no document, no entry, no change event.
func TestClusteredArrayRefused(t *testing.T) {
	ctx := context.Background()
	e := openMemEngine(t)
	seed := []bson.D{
		kvDoc(1, 1, 1, bson.E{Key: "t", Value: 1}),
		kvDoc(2, 2, 2, bson.E{Key: "t", Value: 1}),
	}
	set := func(k string, v any) bson.D { return bson.D{{Key: "$set", Value: bson.D{{Key: k, Value: v}}}} }
	id := func(id any) bson.D { return bson.D{{Key: "_id", Value: id}} }
	cases := []struct {
		name string
		run  func(ctx context.Context, c *Collection) error
		// bulk: the error is a bulk write's, which reports the refusal in
		// its message rather than wrapping ErrUnsupported.
		bulk bool
		// added are the documents the write stores besides the refused one.
		added []bson.D
	}{
		{name: "insert, array in k", run: func(ctx context.Context, c *Collection) error {
			_, err := c.InsertOne(ctx, kvDoc(3, bson.A{1, 2}, 3))
			return err
		}},
		{name: "insert, empty array in v", run: func(ctx context.Context, c *Collection) error {
			_, err := c.InsertOne(ctx, kvDoc(3, 3, bson.A{}))
			return err
		}},
		{name: "insert, array of documents in v", run: func(ctx context.Context, c *Collection) error {
			_, err := c.InsertOne(ctx, kvDoc(3, 3, bson.A{bson.D{{Key: "x", Value: 1}}}))
			return err
		}},
		{name: "update $set k", run: func(ctx context.Context, c *Collection) error {
			_, err := c.UpdateOne(ctx, id(1), set("k", bson.A{5}))
			return err
		}},
		{name: "update $set v to an array beside $push", run: func(ctx context.Context, c *Collection) error {
			_, err := c.UpdateOne(ctx, id(1), bson.D{{Key: "$push", Value: bson.D{{Key: "w", Value: 1}}}, {Key: "$set", Value: bson.D{{Key: "v", Value: bson.A{1}}}}})
			return err
		}},
		{name: "update many, the first fails", run: func(ctx context.Context, c *Collection) error {
			_, err := c.UpdateMany(ctx, bson.D{{Key: "t", Value: 1}}, set("v", bson.A{"x"}))
			return err
		}},
		{name: "replace", run: func(ctx context.Context, c *Collection) error {
			_, err := c.ReplaceOne(ctx, id(2), bson.D{{Key: "k", Value: bson.A{2}}, {Key: "v", Value: 2}})
			return err
		}},
		{name: "upsert", run: func(ctx context.Context, c *Collection) error {
			_, err := c.UpdateOne(ctx, id(7), set("k", bson.A{7}), options.Update().SetUpsert(true))
			return err
		}},
		{name: "upsert from the filter", run: func(ctx context.Context, c *Collection) error {
			_, err := c.UpdateOne(ctx, bson.D{{Key: "_id", Value: 7}, {Key: "k", Value: bson.A{7}}}, set("t", 7), options.Update().SetUpsert(true))
			return err
		}},
		{name: "find one and update", run: func(ctx context.Context, c *Collection) error {
			return c.FindOneAndUpdate(ctx, id(1), set("k", bson.A{})).Err()
		}},
		{name: "find one and replace", run: func(ctx context.Context, c *Collection) error {
			return c.FindOneAndReplace(ctx, id(1), bson.D{{Key: "k", Value: 1}, {Key: "v", Value: bson.A{1, 1}}}).Err()
		}},
		{name: "insert many, ordered", bulk: true, added: []bson.D{kvDoc(3, 3, 3)}, run: func(ctx context.Context, c *Collection) error {
			_, err := c.InsertMany(ctx, []any{kvDoc(3, 3, 3), kvDoc(4, bson.A{4}, 4), kvDoc(5, 5, 5)})
			return err
		}},
		{name: "insert many, unordered", bulk: true, added: []bson.D{kvDoc(3, 3, 3), kvDoc(5, 5, 5)}, run: func(ctx context.Context, c *Collection) error {
			_, err := c.InsertMany(ctx, []any{kvDoc(3, 3, 3), kvDoc(4, bson.A{4}, 4), kvDoc(5, 5, 5)}, options.InsertMany().SetOrdered(false))
			return err
		}},
		{name: "bulk write, unordered", bulk: true, added: []bson.D{kvDoc(6, 6, 6)}, run: func(ctx context.Context, c *Collection) error {
			_, err := c.BulkWrite(ctx, []mongo.WriteModel{
				mongo.NewUpdateOneModel().SetFilter(id(1)).SetUpdate(set("k", bson.A{1})),
				mongo.NewInsertOneModel().SetDocument(kvDoc(6, 6, 6)),
				mongo.NewReplaceOneModel().SetFilter(id(2)).SetReplacement(bson.D{{Key: "v", Value: bson.A{}}}),
			}, options.BulkWrite().SetOrdered(false))
			return err
		}},
		{name: "transaction", run: func(ctx context.Context, c *Collection) error {
			sess, err := c.e().Client().StartSession()
			if err != nil {
				return err
			}
			defer sess.EndSession(ctx)
			_, err = sess.WithTransaction(ctx, func(sc lungo.ISessionContext) (any, error) {
				if _, err := c.InsertOne(sc, kvDoc(3, 3, 3)); err != nil {
					return nil, err
				}
				if _, err := c.UpdateOne(sc, id(1), set("k", 9)); err != nil {
					return nil, err
				}
				_, err := c.InsertOne(sc, kvDoc(4, 4, bson.A{4}))
				return nil, err
			})
			return err
		}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newClustered(t, e, fmt.Sprintf("array%d", i), seed)
			cs := watch(t, c)
			err := tc.run(ctx, c)
			switch {
			case err == nil:
				t.Fatal("no error, want the write refused")
			case tc.bulk && !refusedUnsupported(err):
				t.Errorf("error %v does not say ErrUnsupported", err)
			case !tc.bulk && !errors.Is(err, ErrUnsupported):
				t.Errorf("error %v does not wrap ErrUnsupported", err)
			}
			want := append(slices.Clone(seed), tc.added...)
			checkContents(t, e, c, want)
			if evs := drainEvents(t, cs); len(evs) != len(tc.added) {
				t.Errorf("%d change events, want %d (one per document added): %s", len(evs), len(tc.added), cjDocs(evs))
			}
		})
	}
}

// TestClusteredDuplicateKeys: a write that breaks the clustered index, the
// _id index or another unique index of a clustered collection fails with
// a duplicate key error and writes nothing of itself.
func TestClusteredDuplicateKeys(t *testing.T) {
	ctx := context.Background()
	e := openMemEngine(t)
	seed := []bson.D{
		kvDoc(1, 1, 1, bson.E{Key: "t", Value: 1}, bson.E{Key: "u", Value: 1}),
		kvDoc(2, 2, "a", bson.E{Key: "u", Value: 2}),
		kvDoc(3, absent{}, absent{}, bson.E{Key: "u", Value: 3}),
	}
	unique := mongo.IndexModel{Keys: bson.D{{Key: "u", Value: int32(1)}}, Options: options.Index().SetUnique(true)}
	set := func(e ...bson.E) bson.D { return bson.D{{Key: "$set", Value: bson.D(e)}} }
	id := func(id any) bson.D { return bson.D{{Key: "_id", Value: id}} }
	kv := func(k, v any) []bson.E { return []bson.E{{Key: "k", Value: k}, {Key: "v", Value: v}} }
	insert := func(d bson.D) func(context.Context, *Collection) error {
		return func(ctx context.Context, c *Collection) error {
			_, err := c.InsertOne(ctx, d)
			return err
		}
	}
	update := func(f, u bson.D, upsert bool) func(context.Context, *Collection) error {
		return func(ctx context.Context, c *Collection) error {
			_, err := c.UpdateOne(ctx, f, u, options.Update().SetUpsert(upsert))
			return err
		}
	}
	cases := []struct {
		name  string
		run   func(ctx context.Context, c *Collection) error
		added []bson.D // documents stored besides the refused write
	}{
		{name: "insert, same clustered key", run: insert(kvDoc(9, 1, 1, bson.E{Key: "u", Value: 9}))},
		{name: "insert, numerically equal clustered key", run: insert(kvDoc(9, int64(1), 1.0, bson.E{Key: "u", Value: 9}))},
		{name: "insert, null key as missing", run: insert(kvDoc(9, nil, absent{}, bson.E{Key: "u", Value: 9}))},
		{name: "insert, same _id", run: insert(kvDoc(1, 7, 7, bson.E{Key: "u", Value: 9}))},
		{name: "insert, same u", run: insert(kvDoc(9, 7, 7, bson.E{Key: "u", Value: 1}))},
		{name: "update, move onto a clustered key", run: update(id(2), set(kv(1, 1)...), false)},
		{name: "update, unset onto the null key", run: update(id(1), bson.D{{Key: "$unset", Value: bson.D{{Key: "k", Value: ""}, {Key: "v", Value: ""}}}}, false)},
		{name: "update, same u", run: update(id(2), set(bson.E{Key: "u", Value: 1}), false)},
		{name: "update, move and same u", run: update(id(2), set(bson.E{Key: "k", Value: 8}, bson.E{Key: "u", Value: 1}), false)},
		{name: "upsert, onto a clustered key", run: update(id(9), set(append(kv(1, 1), bson.E{Key: "u", Value: 9})...), true)},
		{name: "upsert, same u", run: update(bson.D{{Key: "k", Value: 9}, {Key: "v", Value: 9}}, set(bson.E{Key: "u", Value: 2}), true)},
		{name: "replace, onto a clustered key", run: func(ctx context.Context, c *Collection) error {
			_, err := c.ReplaceOne(ctx, id(1), bson.D{{Key: "k", Value: 2}, {Key: "v", Value: "a"}, {Key: "u", Value: 1}})
			return err
		}},
		{name: "find one and update, onto a clustered key", run: func(ctx context.Context, c *Collection) error {
			return c.FindOneAndUpdate(ctx, id(3), set(kv(2, "a")...)).Err()
		}},
		{name: "insert many, ordered", added: []bson.D{kvDoc(4, 4, 4, bson.E{Key: "u", Value: 4})}, run: func(ctx context.Context, c *Collection) error {
			_, err := c.InsertMany(ctx, []any{kvDoc(4, 4, 4, bson.E{Key: "u", Value: 4}), kvDoc(5, 1, 1, bson.E{Key: "u", Value: 5}), kvDoc(6, 6, 6, bson.E{Key: "u", Value: 6})})
			return err
		}},
		{name: "bulk write, unordered", added: []bson.D{kvDoc(6, 6, 6, bson.E{Key: "u", Value: 6})}, run: func(ctx context.Context, c *Collection) error {
			_, err := c.BulkWrite(ctx, []mongo.WriteModel{
				mongo.NewUpdateOneModel().SetFilter(id(3)).SetUpdate(set(kv(1, 1)...)),
				mongo.NewInsertOneModel().SetDocument(kvDoc(6, 6, 6, bson.E{Key: "u", Value: 6})),
				mongo.NewInsertOneModel().SetDocument(kvDoc(7, 7, 7, bson.E{Key: "u", Value: 6})),
			}, options.BulkWrite().SetOrdered(false))
			return err
		}},
		{name: "transaction", run: func(ctx context.Context, c *Collection) error {
			sess, err := c.e().Client().StartSession()
			if err != nil {
				return err
			}
			defer sess.EndSession(ctx)
			_, err = sess.WithTransaction(ctx, func(sc lungo.ISessionContext) (any, error) {
				// Moves 1 away, so that (1, 1) is free, then breaks u.
				if _, err := c.UpdateOne(sc, id(1), set(kv(5, 5)...)); err != nil {
					return nil, err
				}
				if _, err := c.InsertOne(sc, kvDoc(8, 1, 1, bson.E{Key: "u", Value: 8})); err != nil {
					return nil, err
				}
				_, err := c.InsertOne(sc, kvDoc(9, 9, 9, bson.E{Key: "u", Value: 2}))
				return nil, err
			})
			return err
		}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newClustered(t, e, fmt.Sprintf("dup%d", i), seed, unique)
			cs := watch(t, c)
			err := tc.run(ctx, c)
			if err == nil {
				t.Fatal("no error, want a duplicate key error")
			}
			if !isDuplicate(err) {
				t.Errorf("error %v is not a duplicate key error", err)
			}
			want := append(slices.Clone(seed), tc.added...)
			checkContents(t, e, c, want)
			for _, d := range want {
				u, _ := lookup(d, "u")
				if got := findDocs(t, ctx, c, bson.D{{Key: "u", Value: u}}); docsKey(got) != docsKey([]bson.D{d}) {
					t.Errorf("find u %v: %s, want %s", u, cjDocs(got), cj(d))
				}
			}
			if evs := drainEvents(t, cs); len(evs) != len(tc.added) {
				t.Errorf("%d change events, want %d: %s", len(evs), len(tc.added), cjDocs(evs))
			}
		})
	}
}

// TestClusteredMoves: an update that changes the clustered key moves the
// document (its old entry gone, its _id and other indexes finding it at the
// new one); one that changes only other fields rewrites it in place.
func TestClusteredMoves(t *testing.T) {
	ctx := context.Background()
	e := openMemEngine(t)
	seed := []bson.D{
		kvDoc(1, 1, 1, bson.E{Key: "t", Value: 1}),
		kvDoc(2, 2, "a", bson.E{Key: "t", Value: 2}),
		kvDoc(3, "c", absent{}, bson.E{Key: "t", Value: 1}),
	}
	set := func(e ...bson.E) bson.D { return bson.D{{Key: "$set", Value: bson.D(e)}} }
	id := func(id any) bson.D { return bson.D{{Key: "_id", Value: id}} }
	inTxn := func(fn func(sc context.Context, c *Collection) error) func(context.Context, *Collection) error {
		return func(ctx context.Context, c *Collection) error {
			sess, err := c.e().Client().StartSession()
			if err != nil {
				return err
			}
			defer sess.EndSession(ctx)
			_, err = sess.WithTransaction(ctx, func(sc lungo.ISessionContext) (any, error) { return nil, fn(sc, c) })
			return err
		}
	}
	updateOne := func(f, u bson.D) func(context.Context, *Collection) error {
		return func(ctx context.Context, c *Collection) error {
			res, err := c.UpdateOne(ctx, f, u)
			if err == nil && res.ModifiedCount != 1 {
				err = fmt.Errorf("modified %d, want 1", res.ModifiedCount)
			}
			return err
		}
	}
	cases := []struct {
		name string
		run  func(ctx context.Context, c *Collection) error
		want []bson.D
		// gone are clustered keys no document may hold after.
		gone []bson.D
	}{
		{
			name: "set k", run: updateOne(id(1), set(bson.E{Key: "k", Value: 5})),
			want: []bson.D{kvDoc(1, 5, 1, bson.E{Key: "t", Value: 1}), seed[1], seed[2]},
			gone: []bson.D{kvFilter(seed[0])},
		},
		{
			name: "inc v", run: updateOne(id(1), bson.D{{Key: "$inc", Value: bson.D{{Key: "v", Value: 10}}}}),
			want: []bson.D{kvDoc(1, 1, 11, bson.E{Key: "t", Value: 1}), seed[1], seed[2]},
			gone: []bson.D{kvFilter(seed[0])},
		},
		{
			name: "unset k", run: updateOne(id(2), bson.D{{Key: "$unset", Value: bson.D{{Key: "k", Value: ""}}}}),
			want: []bson.D{seed[0], kvDoc(2, absent{}, "a", bson.E{Key: "t", Value: 2}), seed[2]},
			gone: []bson.D{kvFilter(seed[1])},
		},
		{
			name: "set v where it was missing", run: updateOne(id(3), set(bson.E{Key: "v", Value: 0})),
			// A field $set adds goes last.
			want: []bson.D{seed[0], seed[1], kvDoc(3, "c", absent{}, bson.E{Key: "t", Value: 1}, bson.E{Key: "v", Value: 0})},
			gone: []bson.D{kvFilter(seed[2])},
		},
		{
			name: "set t in place", run: updateOne(id(1), set(bson.E{Key: "t", Value: 9}, bson.E{Key: "x", Value: "new"})),
			want: []bson.D{kvDoc(1, 1, 1, bson.E{Key: "t", Value: 9}, bson.E{Key: "x", Value: "new"}), seed[1], seed[2]},
		},
		{
			name: "set k to an equal number of another type", run: updateOne(id(1), set(bson.E{Key: "k", Value: int64(1)}, bson.E{Key: "v", Value: 1.0})),
			want: []bson.D{kvDoc(1, int64(1), 1.0, bson.E{Key: "t", Value: 1}), seed[1], seed[2]},
		},
		{
			name: "replace with another key",
			run: func(ctx context.Context, c *Collection) error {
				_, err := c.ReplaceOne(ctx, id(2), bson.D{{Key: "k", Value: 0}, {Key: "v", Value: 0}, {Key: "y", Value: true}})
				return err
			},
			want: []bson.D{seed[0], kvDoc(2, 0, 0, bson.E{Key: "y", Value: true}), seed[2]},
			gone: []bson.D{kvFilter(seed[1])},
		},
		{
			name: "replace keeping the key",
			run: func(ctx context.Context, c *Collection) error {
				_, err := c.ReplaceOne(ctx, id(2), bson.D{{Key: "v", Value: "a"}, {Key: "k", Value: 2}, {Key: "t", Value: 3}})
				return err
			},
			want: []bson.D{seed[0], {{Key: "_id", Value: 2}, {Key: "v", Value: "a"}, {Key: "k", Value: 2}, {Key: "t", Value: 3}}, seed[2]},
		},
		{
			name: "find one and update returns the moved document",
			run: func(ctx context.Context, c *Collection) error {
				var got bson.D
				err := c.FindOneAndUpdate(ctx, bson.D{{Key: "k", Value: "c"}}, set(bson.E{Key: "k", Value: "d"}), options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&got)
				if want := kvDoc(3, "d", absent{}, bson.E{Key: "t", Value: 1}); err == nil && cj(got) != cj(want) {
					err = fmt.Errorf("returned %s, want %s", cj(got), cj(want))
				}
				return err
			},
			want: []bson.D{seed[0], seed[1], kvDoc(3, "d", absent{}, bson.E{Key: "t", Value: 1})},
			gone: []bson.D{kvFilter(seed[2])},
		},
		{
			name: "update many moves each",
			run: func(ctx context.Context, c *Collection) error {
				res, err := c.UpdateMany(ctx, bson.D{{Key: "t", Value: 1}}, bson.D{{Key: "$set", Value: bson.D{{Key: "v", Value: "m"}}}})
				if err == nil && res.ModifiedCount != 2 {
					err = fmt.Errorf("modified %d, want 2", res.ModifiedCount)
				}
				return err
			},
			want: []bson.D{kvDoc(1, 1, "m", bson.E{Key: "t", Value: 1}), seed[1], kvDoc(3, "c", absent{}, bson.E{Key: "t", Value: 1}, bson.E{Key: "v", Value: "m"})},
			gone: []bson.D{kvFilter(seed[0]), kvFilter(seed[2])},
		},
		{
			name: "upsert at a new key",
			run: func(ctx context.Context, c *Collection) error {
				_, err := c.UpdateOne(ctx, bson.D{{Key: "k", Value: 4}, {Key: "v", Value: 4}}, bson.D{{Key: "$setOnInsert", Value: bson.D{{Key: "_id", Value: 4}}}}, options.Update().SetUpsert(true))
				return err
			},
			want: append(slices.Clone(seed), kvDoc(4, 4, 4)),
		},
		{
			name: "move, then reuse the freed key, in a transaction",
			run: inTxn(func(sc context.Context, c *Collection) error {
				if _, err := c.UpdateOne(sc, id(1), set(bson.E{Key: "k", Value: 7})); err != nil {
					return err
				}
				_, err := c.InsertOne(sc, kvDoc(5, 1, 1))
				return err
			}),
			want: []bson.D{kvDoc(1, 7, 1, bson.E{Key: "t", Value: 1}), seed[1], seed[2], kvDoc(5, 1, 1)},
		},
		{
			name: "swap two keys in a transaction",
			run: inTxn(func(sc context.Context, c *Collection) error {
				for _, u := range []struct {
					id   int
					k, v any
				}{{1, "tmp", "tmp"}, {2, 1, 1}, {1, 2, "a"}} {
					if _, err := c.UpdateOne(sc, id(u.id), set(bson.E{Key: "k", Value: u.k}, bson.E{Key: "v", Value: u.v})); err != nil {
						return err
					}
				}
				return nil
			}),
			want: []bson.D{kvDoc(1, 2, "a", bson.E{Key: "t", Value: 1}), kvDoc(2, 1, 1, bson.E{Key: "t", Value: 2}), seed[2]},
			gone: []bson.D{kvFilter(bson.D{{Key: "k", Value: "tmp"}, {Key: "v", Value: "tmp"}})},
		},
		{
			name: "a document in the key, holding an array, moves",
			run: func(ctx context.Context, c *Collection) error {
				if _, err := c.InsertOne(ctx, kvDoc(6, bson.D{{Key: "a", Value: bson.A{1, 2}}}, 1, bson.E{Key: "t", Value: 6})); err != nil {
					return err
				}
				return updateOne(bson.D{{Key: "k", Value: bson.D{{Key: "a", Value: bson.A{1, 2}}}}}, set(bson.E{Key: "k.b", Value: 3}))(ctx, c)
			},
			want: append(slices.Clone(seed), kvDoc(6, bson.D{{Key: "a", Value: bson.A{1, 2}}, {Key: "b", Value: 3}}, 1, bson.E{Key: "t", Value: 6})),
			gone: []bson.D{{{Key: "k", Value: bson.D{{Key: "a", Value: bson.A{1, 2}}}}, {Key: "v", Value: 1}}},
		},
		{
			name: "move away and back",
			run: func(ctx context.Context, c *Collection) error {
				if err := updateOne(id(2), set(bson.E{Key: "k", Value: 20}))(ctx, c); err != nil {
					return err
				}
				return updateOne(id(2), set(bson.E{Key: "k", Value: 2}, bson.E{Key: "t", Value: 22}))(ctx, c)
			},
			want: []bson.D{seed[0], kvDoc(2, 2, "a", bson.E{Key: "t", Value: 22}), seed[2]},
			gone: []bson.D{{{Key: "k", Value: 20}, {Key: "v", Value: "a"}}},
		},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newClustered(t, e, fmt.Sprintf("move%d", i), seed)
			if err := tc.run(ctx, c); err != nil {
				t.Fatalf("write: %v", err)
			}
			checkContents(t, e, c, tc.want)
			for _, g := range tc.gone {
				if got := findDocs(t, ctx, c, g); len(got) != 0 {
					t.Errorf("find the old key %s: %s, want nothing", j(g), cjDocs(got))
				}
				if got := findDocs(t, ctx, c, g, options.Find().SetHint(clKVName)); len(got) != 0 {
					t.Errorf("find the old key %s through %s: %s, want nothing", j(g), clKVName, cjDocs(got))
				}
			}
			for _, d := range tc.want {
				tv, _ := lookup(d, "t")
				got := findDocs(t, ctx, c, bson.D{{Key: "t", Value: tv}}, options.Find().SetHint(clTName))
				if !slices.ContainsFunc(got, func(g bson.D) bool { return cj(g) == cj(d) }) {
					t.Errorf("find t %v through %s: %s, does not hold %s", tv, clTName, cjDocs(got), cj(d))
				}
			}
		})
	}
}

// TestClusteredDropIndexes: dropping the clustered index is refused, by
// name or by keys; dropping every index drops the others and keeps it, and
// the collection works on.
func TestClusteredDropIndexes(t *testing.T) {
	ctx := context.Background()
	e := openMemEngine(t)
	seed := []bson.D{
		kvDoc(1, 1, 1, bson.E{Key: "t", Value: 1}, bson.E{Key: "u", Value: 1}),
		kvDoc(2, 2, 2, bson.E{Key: "t", Value: 1}, bson.E{Key: "u", Value: 2}),
	}
	unique := mongo.IndexModel{Keys: bson.D{{Key: "u", Value: int32(1)}}, Options: options.Index().SetUnique(true)}
	cases := []struct {
		name    string
		drop    func(ctx context.Context, v lungo.IIndexView) error
		refused bool
		want    []string
	}{
		{name: "the clustered index by name", refused: true, want: []string{"_id_", clKVName, clTName, "u_1"},
			drop: func(ctx context.Context, v lungo.IIndexView) error { _, err := v.DropOne(ctx, clKVName); return err }},
		{name: "the clustered index by keys", refused: true, want: []string{"_id_", clKVName, clTName, "u_1"},
			drop: func(ctx context.Context, v lungo.IIndexView) error { _, err := v.DropOneWithKey(ctx, clKV); return err }},
		{name: "all", want: []string{"_id_", clKVName},
			drop: func(ctx context.Context, v lungo.IIndexView) error { _, err := v.DropAll(ctx); return err }},
		{name: "all by *", want: []string{"_id_", clKVName},
			drop: func(ctx context.Context, v lungo.IIndexView) error { _, err := v.DropOne(ctx, "*"); return err }},
		{name: "another index", want: []string{"_id_", clKVName, "u_1"},
			drop: func(ctx context.Context, v lungo.IIndexView) error { _, err := v.DropOne(ctx, clTName); return err }},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newClustered(t, e, fmt.Sprintf("dropix%d", i), seed, unique)
			err := tc.drop(ctx, c.Indexes())
			switch {
			case tc.refused && err == nil:
				t.Error("dropped, want an error")
			case !tc.refused && err != nil:
				t.Errorf("drop: %v", err)
			}
			if got := indexNames(t, c); !slices.Equal(got, tc.want) {
				t.Errorf("indexes: %v, want %v", got, tc.want)
			}
			checkContents(t, e, c, seed)
			if _, err := c.InsertOne(ctx, kvDoc(3, 1, 1)); !isDuplicate(err) {
				t.Errorf("insert onto a clustered key after the drop: %v, want a duplicate key error", err)
			}
			if _, err := c.InsertOne(ctx, kvDoc(3, bson.A{3}, 3)); !errors.Is(err, ErrUnsupported) {
				t.Errorf("insert with an array in the key after the drop: %v, want ErrUnsupported", err)
			}
			more := kvDoc(3, 0, 0, bson.E{Key: "t", Value: 1}, bson.E{Key: "u", Value: 3})
			if _, err := c.InsertOne(ctx, more); err != nil {
				t.Fatalf("insert after the drop: %v", err)
			}
			checkContents(t, e, c, append(slices.Clone(seed), more))
		})
	}
}

// TestClusteredDropCollection: dropping a clustered collection removes its
// catalog entry, documents and entries; a collection of the same name is
// then new and plain.
func TestClusteredDropCollection(t *testing.T) {
	ctx := context.Background()
	e := openMemEngine(t)
	seed := []bson.D{kvDoc(1, 1, 1, bson.E{Key: "t", Value: 1}), kvDoc(2, 2, 2, bson.E{Key: "t", Value: 2})}
	c := newClustered(t, e, "dropped", seed)
	if _, err := c.UpdateOne(ctx, bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "$set", Value: bson.D{{Key: "k", Value: 3}}}}); err != nil {
		t.Fatal(err)
	}
	id := e.cat.Load().get(clDB, "dropped").ID
	if err := c.Drop(ctx); err != nil {
		t.Fatalf("drop: %v", err)
	}
	names, err := e.Client().Database(clDB).ListCollectionNames(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(names, "dropped") {
		t.Errorf("collections after the drop: %v", names)
	}
	for _, p := range [][]byte{docPrefix(id), collIndexPrefix(id)} {
		it, err := e.db.NewIter(nil)
		if err != nil {
			t.Fatal(err)
		}
		if it.SeekGE(p) && bytes.HasPrefix(it.Key(), p) {
			t.Errorf("key %x left after the drop", it.Key())
		}
		it.Close()
	}
	if n, err := c.CountDocuments(ctx, bson.D{}); err != nil || n != 0 {
		t.Errorf("count after the drop: %d, %v; want 0", n, err)
	}
	insertDocs(t, c, seed)
	if _, err := c.InsertOne(ctx, kvDoc(3, bson.A{1}, 1)); err != nil {
		t.Errorf("insert with an array in k into the new plain collection: %v", err)
	}
	if got := indexNames(t, c); !slices.Equal(got, []string{"_id_"}) {
		t.Errorf("indexes of the new collection: %v, want only _id_", got)
	}
}

// TestClusteredExplain: queries on a clustered collection are planned as
// on a plain one; those the clustered index serves say IXSCAN with its
// name.
func TestClusteredExplain(t *testing.T) {
	ctx := context.Background()
	e := openMemEngine(t)
	docs := []bson.D{kvDoc(1, 1, 1, bson.E{Key: "t", Value: 1}), kvDoc(2, 2, 2, bson.E{Key: "t", Value: 2})}
	cl := newClustered(t, e, "explained", docs)
	plain := clColl(e, "explained_plain")
	if _, err := plain.Indexes().CreateMany(ctx, []mongo.IndexModel{{Keys: clKV, Options: options.Index().SetUnique(true)}, clTModel()}); err != nil {
		t.Fatal(err)
	}
	insertDocs(t, plain, docs)
	cases := []struct {
		filter, sort bson.D
		want         string
	}{
		{filter: bson.D{{Key: "k", Value: 1}}, want: "IXSCAN " + clKVName},
		{filter: bson.D{{Key: "k", Value: 1}, {Key: "v", Value: 1}}, want: "IXSCAN " + clKVName},
		{filter: bson.D{{Key: "k", Value: 1}, {Key: "v", Value: bson.D{{Key: "$gt", Value: 0}}}}, want: "IXSCAN " + clKVName},
		{filter: bson.D{{Key: "k", Value: bson.D{{Key: "$in", Value: bson.A{1, 2}}}}}, want: "IXSCAN " + clKVName},
		{filter: bson.D{{Key: "k", Value: bson.D{{Key: "$gte", Value: 1}}}}, sort: bson.D{{Key: "k", Value: -1}}, want: "IXSCAN " + clKVName},
		{filter: bson.D{}, sort: clKV, want: "IXSCAN " + clKVName + " (order)"},
		{filter: bson.D{}, sort: bson.D{{Key: "k", Value: -1}, {Key: "v", Value: -1}}, want: "IXSCAN " + clKVName + " (order)"},
		{filter: bson.D{{Key: "k", Value: 2}}, sort: bson.D{{Key: "v", Value: -1}}, want: "IXSCAN " + clKVName},
		{filter: bson.D{{Key: "t", Value: 1}}, want: "IXSCAN " + clTName},
		{filter: bson.D{{Key: "_id", Value: 1}}},
		{filter: bson.D{{Key: "x", Value: 1}}},
		{filter: bson.D{}, sort: bson.D{{Key: "_id", Value: -1}}},
		{filter: bson.D{{Key: "v", Value: 1}}, sort: bson.D{{Key: "v", Value: 1}}},
	}
	for _, tc := range cases {
		t.Run(j(tc.filter)+" sort "+j(tc.sort), func(t *testing.T) {
			var sortArg any
			if tc.sort != nil {
				sortArg = tc.sort
			}
			got, err := cl.Explain(ctx, tc.filter, sortArg)
			if err != nil {
				t.Fatal(err)
			}
			want, err := plain.Explain(ctx, tc.filter, sortArg)
			if err != nil {
				t.Fatal(err)
			}
			if tc.want != "" && want != tc.want {
				t.Fatalf("the plain collection's plan is %q, want %q: the test's premise is wrong", want, tc.want)
			}
			if got != want {
				t.Errorf("plan %q, want %q (as on the plain collection)", got, want)
			}
		})
	}
}

// TestClusteredPersists: a clustered collection written to a store on
// disk, flushed to tables, reads back the same after a reopen — by _id,
// through the clustered index and through the others, more documents than
// a walk fetches with point reads — and is still clustered.
func TestClusteredPersists(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	e, err := Open(ctx, Options{Path: dir})
	if err != nil {
		t.Fatal(err)
	}
	unique := mongo.IndexModel{Keys: bson.D{{Key: "u", Value: int32(1)}}, Options: options.Index().SetUnique(true)}
	var docs []bson.D
	for i := range 120 {
		var k any = i % 7
		if i%5 == 0 {
			k = fmt.Sprintf("s%d", i%3)
		}
		docs = append(docs, kvDoc(i, k, i, bson.E{Key: "t", Value: i % 4}, bson.E{Key: "u", Value: i}))
	}
	c := newClustered(t, e, "persisted", docs, unique)
	if err := e.db.Flush(); err != nil {
		t.Fatal(err)
	}
	// Moves, in-place rewrites and deletes before the close, over what
	// is in tables.
	if _, err := c.UpdateMany(ctx, bson.D{{Key: "t", Value: 0}}, bson.D{{Key: "$inc", Value: bson.D{{Key: "v", Value: 1000}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UpdateMany(ctx, bson.D{{Key: "t", Value: 1}}, bson.D{{Key: "$set", Value: bson.D{{Key: "x", Value: "in place"}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteMany(ctx, bson.D{{Key: "t", Value: 2}}); err != nil {
		t.Fatal(err)
	}
	var want []bson.D
	for i, d := range docs {
		d = slices.Clone(d)
		switch i % 4 {
		case 0:
			d[2].Value = i + 1000
		case 1:
			d = append(d, bson.E{Key: "x", Value: "in place"})
		case 2:
			continue
		}
		want = append(want, d)
	}
	checkContents(t, e, c, want)
	if err := e.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}

	e, err = Open(ctx, Options{Path: dir})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	t.Cleanup(func() { _ = e.Close() })
	if err := e.db.Flush(); err != nil {
		t.Fatal(err)
	}
	c = clColl(e, "persisted")
	checkContents(t, e, c, want)
	for _, d := range want {
		u, _ := lookup(d, "u")
		if got := findDocs(t, ctx, c, bson.D{{Key: "u", Value: u}}); docsKey(got) != docsKey([]bson.D{d}) {
			t.Errorf("find u %v after the reopen: %s, want %s", u, cjDocs(got), cj(d))
		}
	}
	for tv := range 4 {
		var wantT []bson.D
		for _, d := range want {
			if x, _ := lookup(d, "t"); x == tv {
				wantT = append(wantT, d)
			}
		}
		if got := findDocs(t, ctx, c, bson.D{{Key: "t", Value: tv}}, options.Find().SetSort(bson.D{{Key: "t", Value: 1}, {Key: "_id", Value: 1}})); docsKey(got) != docsKey(wantT) {
			t.Errorf("find t %d after the reopen:\n got  %s\n want %s", tv, cjDocs(got), cjDocs(wantT))
		}
	}
	if _, err := c.InsertOne(ctx, kvDoc(1000, bson.A{1}, 1, bson.E{Key: "u", Value: 1000})); !errors.Is(err, ErrUnsupported) {
		t.Errorf("an array in the key after the reopen: %v, want ErrUnsupported (still clustered?)", err)
	}
	first := want[0]
	k, _ := lookup(first, "k")
	v, _ := lookup(first, "v")
	if _, err := c.InsertOne(ctx, kvDoc(1000, k, v, bson.E{Key: "u", Value: 1000})); !isDuplicate(err) {
		t.Errorf("insert onto an existing clustered key after the reopen: %v, want a duplicate key error", err)
	}
	if _, err := c.UpdateOne(ctx, bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "$set", Value: bson.D{{Key: "k", Value: "moved"}}}}); err != nil {
		t.Fatalf("move after the reopen: %v", err)
	}
	for i, d := range want {
		if id, _ := lookup(d, "_id"); id == 1 {
			want[i] = slices.Clone(d)
			want[i][1].Value = "moved"
		}
	}
	checkContents(t, e, c, want)
}

// TestClusteredIndexBuiltOverDocuments: an index created on a clustered
// collection that holds documents indexes them (its entries pointing at
// their clustered keys), a multikey one too; a unique one they violate is
// not created and leaves nothing behind; later moves keep them right.
func TestClusteredIndexBuiltOverDocuments(t *testing.T) {
	ctx := context.Background()
	e := openMemEngine(t)
	c := clColl(e, "built")
	if _, err := c.Indexes().CreateOne(ctx, clusteredModel(clKV)); err != nil {
		t.Fatal(err)
	}
	var docs []bson.D
	for i := range 40 {
		docs = append(docs, kvDoc(i, i%6, i, bson.E{Key: "t", Value: i % 4}, bson.E{Key: "u", Value: i % 10}, bson.E{Key: "w", Value: i},
			bson.E{Key: "x", Value: bson.A{i % 3, fmt.Sprintf("x%d", i%5)}}))
	}
	insertDocs(t, c, docs)
	dup := mongo.IndexModel{Keys: bson.D{{Key: "u", Value: int32(1)}}, Options: options.Index().SetUnique(true)}
	if _, err := c.Indexes().CreateOne(ctx, dup); !lungo.IsUniquenessError(err) {
		t.Errorf("a unique index the documents violate: %v, want a duplicate key error", err)
	}
	if got := indexNames(t, c); !slices.Equal(got, []string{"_id_", clKVName}) {
		t.Errorf("indexes after the refused one: %v", got)
	}
	m := e.cat.Load().get(clDB, "built")
	if n := len(m.Indexes); n != 1 {
		t.Errorf("%d indexes in the catalog, want 1", n)
	}
	// Nothing under the index ids the refused index could have had.
	it, err := e.db.NewIter(nil)
	if err != nil {
		t.Fatal(err)
	}
	p := collIndexPrefix(m.ID)
	n := 0
	for ok := it.SeekGE(p); ok && bytes.HasPrefix(it.Key(), p); ok = it.Next() {
		n++
	}
	it.Close()
	if n != len(docs) {
		t.Errorf("%d index entries in the collection, want %d (the clustered index's only)", n, len(docs))
	}
	models := []mongo.IndexModel{
		clTModel(),
		{Keys: bson.D{{Key: "w", Value: int32(-1)}}, Options: options.Index().SetUnique(true)},
		{Keys: bson.D{{Key: "x", Value: int32(1)}}},
	}
	if _, err := c.Indexes().CreateMany(ctx, models); err != nil {
		t.Fatalf("create over documents: %v", err)
	}
	check := func(all []bson.D) {
		t.Helper()
		checkContents(t, e, c, all)
		for _, d := range all {
			w, _ := lookup(d, "w")
			if got := findDocs(t, ctx, c, bson.D{{Key: "w", Value: w}}, options.Find().SetHint("w_-1")); docsKey(got) != docsKey([]bson.D{d}) {
				t.Errorf("find w %v: %s, want %s", w, cjDocs(got), cj(d))
			}
		}
		for _, x := range []any{0, 1, 2, "x0", "x4"} {
			var want []bson.D
			for _, d := range all {
				xs, _ := lookup(d, "x")
				if slices.ContainsFunc(xs.(bson.A), func(v any) bool { return fmt.Sprint(v) == fmt.Sprint(x) }) {
					want = append(want, d)
				}
			}
			got := findDocs(t, ctx, c, bson.D{{Key: "x", Value: x}}, options.Find().SetHint("x_1").SetSort(bson.D{{Key: "_id", Value: 1}}))
			if docsKey(got) != docsKey(want) {
				t.Errorf("find x %v: %s, want %s", x, cjDocs(got), cjDocs(want))
			}
		}
	}
	check(docs)
	// Move every other document; rewrite the others in place.
	if _, err := c.UpdateMany(ctx, bson.D{{Key: "w", Value: bson.D{{Key: "$mod", Value: bson.A{2, 0}}}}}, bson.D{{Key: "$inc", Value: bson.D{{Key: "v", Value: 100}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UpdateMany(ctx, bson.D{{Key: "w", Value: bson.D{{Key: "$mod", Value: bson.A{2, 1}}}}}, bson.D{{Key: "$set", Value: bson.D{{Key: "y", Value: true}}}}); err != nil {
		t.Fatal(err)
	}
	for i := range docs {
		docs[i] = slices.Clone(docs[i])
		if i%2 == 0 {
			docs[i][2].Value = i + 100
		} else {
			docs[i] = append(docs[i], bson.E{Key: "y", Value: true})
		}
	}
	check(docs)
}

// TestClusteredSnapshotSession: a snapshot session, and a cursor, over a
// clustered collection keep seeing the documents where they were when
// they first read, by _id, through the clustered index and through
// another index, while another writer moves, rewrites, deletes and
// inserts them — one write at a time between reads, and concurrently.
func TestClusteredSnapshotSession(t *testing.T) {
	ctx := context.Background()
	e := openMemEngine(t)
	var seed []bson.D
	for i := range 30 {
		seed = append(seed, kvDoc(i, i%5, i, bson.E{Key: "t", Value: i % 3}))
	}
	// read is what a reader sees: by _id, through each index, by look-ups
	// and counts.
	read := func(t *testing.T, ctx context.Context, c *Collection) string {
		t.Helper()
		var b strings.Builder
		fmt.Fprintf(&b, "by _id %s\n", cjDocs(findDocs(t, ctx, c, bson.D{}, sortByID())))
		fmt.Fprintf(&b, "through kv %s\n", cjDocs(findDocs(t, ctx, c, bson.D{}, throughKV())))
		fmt.Fprintf(&b, "k 2 %s\n", cjDocs(findDocs(t, ctx, c, bson.D{{Key: "k", Value: 2}})))
		for tv := range 3 {
			fmt.Fprintf(&b, "t %d %s\n", tv, cjDocs(sortByCanon(findDocs(t, ctx, c, bson.D{{Key: "t", Value: tv}}, options.Find().SetHint(clTName)))))
		}
		for _, id := range []int{0, 3, 7, 12, 29} {
			var d bson.D
			err := c.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&d)
			fmt.Fprintf(&b, "_id %d %s %v\n", id, cj(d), err)
		}
		n, err := c.CountDocuments(ctx, bson.D{{Key: "k", Value: bson.D{{Key: "$gte", Value: 2}}}})
		fmt.Fprintf(&b, "count %d %v\n", n, err)
		vals, err := c.Distinct(ctx, "v", bson.D{{Key: "t", Value: 1}})
		fmt.Fprintf(&b, "distinct %s %v\n", cj(bson.A(vals)), err)
		return b.String()
	}
	// write is one round of another writer's moves (of every document
	// with t = round % 3, and of _id 7), in-place rewrite (_id 12), delete
	// and insert; keys stay unique, v being unique.
	write := func(c *Collection, round int) error {
		if _, err := c.UpdateMany(ctx, bson.D{{Key: "t", Value: round % 3}}, bson.D{{Key: "$inc", Value: bson.D{{Key: "v", Value: 1000}}}}); err != nil {
			return err
		}
		if _, err := c.UpdateOne(ctx, bson.D{{Key: "_id", Value: 7}}, bson.D{{Key: "$set", Value: bson.D{{Key: "k", Value: fmt.Sprintf("r%d", round)}, {Key: "x", Value: round}}}}); err != nil {
			return err
		}
		if _, err := c.UpdateOne(ctx, bson.D{{Key: "_id", Value: 12}}, bson.D{{Key: "$set", Value: bson.D{{Key: "x", Value: round}}}}); err != nil {
			return err
		}
		if _, err := c.DeleteOne(ctx, bson.D{{Key: "_id", Value: 100 + round - 1}}); err != nil {
			return err
		}
		_, err := c.InsertOne(ctx, kvDoc(100+round, 2, -round, bson.E{Key: "t", Value: 1}))
		return err
	}

	t.Run("session", func(t *testing.T) {
		c := newClustered(t, e, "snap", seed)
		before := read(t, ctx, c)
		err := e.Client().UseSessionWithOptions(ctx, options.Session().SetSnapshot(true), func(sc lungo.ISessionContext) error {
			if got := read(t, sc, c); got != before {
				t.Fatalf("first snapshot read:\n%s\nwant\n%s", got, before)
			}
			for round := range 5 {
				if err := write(c, round); err != nil {
					t.Fatal(err)
				}
				if got := read(t, sc, c); got != before {
					t.Fatalf("snapshot read after round %d of writes:\n%s\nwant\n%s", round, got, before)
				}
			}
			if got := read(t, ctx, c); got == before {
				t.Error("a read outside the session sees none of the writes")
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		now := findDocs(t, ctx, c, bson.D{}, sortByID())
		if len(now) != 31 {
			t.Errorf("%d documents after the writes, want 31", len(now))
		}
		checkContents(t, e, c, now)
	})

	t.Run("cursor", func(t *testing.T) {
		// A cursor outside a session reads lazily from the store as it
		// was when the query ran.
		c := newClustered(t, e, "snapcursor", seed)
		type reader struct {
			name string
			opts *options.FindOptions
			cur  lungo.ICursor
			got  []bson.D
			want []bson.D
		}
		readers := []*reader{
			{name: "by _id", opts: sortByID()},
			{name: "through kv", opts: throughKV()},
			{name: "through t", opts: options.Find().SetSort(bson.D{{Key: "t", Value: 1}, {Key: "_id", Value: 1}}).SetHint(clTName)},
			{name: "k 2 through kv", opts: options.Find().SetHint(clKVName)},
		}
		for _, r := range readers {
			filter := bson.D{}
			if r.name == "k 2 through kv" {
				filter = bson.D{{Key: "k", Value: 2}}
			}
			r.want = findDocs(t, ctx, c, filter, r.opts)
			cur, err := c.Find(ctx, filter, r.opts.SetBatchSize(2))
			if err != nil {
				t.Fatal(err)
			}
			r.cur = cur
			t.Cleanup(func() { _ = cur.Close(ctx) })
			for range 3 {
				if !cur.Next(ctx) {
					t.Fatalf("%s: the cursor ended early: %v", r.name, cur.Err())
				}
				var d bson.D
				if err := cur.Decode(&d); err != nil {
					t.Fatal(err)
				}
				r.got = append(r.got, d)
			}
		}
		for round := range 5 {
			if err := write(c, round); err != nil {
				t.Fatal(err)
			}
		}
		for _, r := range readers {
			rest, err := readAll(ctx, r.cur)
			if err != nil {
				t.Fatalf("%s: %v", r.name, err)
			}
			if got := append(r.got, rest...); docsKey(got) != docsKey(r.want) {
				t.Errorf("%s, with writes after its first documents:\n got  %s\n want %s", r.name, cjDocs(got), cjDocs(r.want))
			}
		}
	})

	t.Run("concurrent writer", func(t *testing.T) {
		c := newClustered(t, e, "snapconcurrent", seed)
		before := read(t, ctx, c)
		err := e.Client().UseSessionWithOptions(ctx, options.Session().SetSnapshot(true), func(sc lungo.ISessionContext) error {
			// The session's first read takes its snapshot: the writer
			// starts after it.
			if got := read(t, sc, c); got != before {
				t.Fatalf("first snapshot read:\n%s\nwant\n%s", got, before)
			}
			stop := make(chan struct{})
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				for round := 0; ; round++ {
					select {
					case <-stop:
						return
					default:
					}
					if err := write(c, round); err != nil {
						t.Errorf("writer, round %d: %v", round, err)
						return
					}
				}
			}()
			defer func() {
				close(stop)
				wg.Wait()
			}()
			for i := range 10 {
				if got := read(t, sc, c); got != before {
					t.Fatalf("snapshot read %d, with a writer running:\n%s\nwant\n%s", i, got, before)
				}
				// A read outside the session sees one state: 30 or
				// 31 documents (a round's delete and insert commit
				// apart), each once.
				for _, opts := range []*options.FindOptions{sortByID(), throughKV(), options.Find().SetHint(clTName)} {
					docs := findDocs(t, ctx, c, bson.D{}, opts)
					ids := map[string]bool{}
					for _, d := range docs {
						id, _ := lookup(d, "_id")
						ids[cj(id)] = true
					}
					if len(ids) != len(docs) || len(docs) < 30 || len(docs) > 31 {
						t.Fatalf("a read with a writer running: %d documents, %d _ids: %s", len(docs), len(ids), cjDocs(docs))
					}
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}

// TestClusteredArrayOnPath: a clustered index on a dotted path refuses a
// document with an array anywhere along the path (it would make the index
// multikey: one document under several keys).
func TestClusteredArrayOnPath(t *testing.T) {
	ctx := context.Background()
	e := openMemEngine(t)
	c := clColl(e, "dotted")
	keys := bson.D{{Key: "a.b", Value: int32(1)}}
	if _, err := c.Indexes().CreateOne(ctx, clusteredModel(keys)); err != nil {
		t.Fatal(err)
	}
	kept := []bson.D{
		{{Key: "_id", Value: 1}, {Key: "a", Value: bson.D{{Key: "b", Value: 1}}}},
		{{Key: "_id", Value: 2}, {Key: "a", Value: bson.D{{Key: "b", Value: 2.5}, {Key: "c", Value: 1}}}},
		{{Key: "_id", Value: 3}, {Key: "a", Value: bson.D{{Key: "b", Value: "s"}, {Key: "c", Value: 2}}}},
	}
	insertDocs(t, c, kept)
	cases := []struct {
		name string
		doc  bson.D
	}{
		{"array of documents", bson.D{{Key: "_id", Value: 10}, {Key: "a", Value: bson.A{bson.D{{Key: "b", Value: 5}}, bson.D{{Key: "b", Value: 6}}}}}},
		{"array of one document", bson.D{{Key: "_id", Value: 11}, {Key: "a", Value: bson.A{bson.D{{Key: "b", Value: 7}}}}}},
		{"array at the leaf", bson.D{{Key: "_id", Value: 12}, {Key: "a", Value: bson.D{{Key: "b", Value: bson.A{8}}}}}},
		{"array of scalars on the way", bson.D{{Key: "_id", Value: 13}, {Key: "a", Value: bson.A{9}}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := c.InsertOne(ctx, tc.doc); !errors.Is(err, ErrUnsupported) {
				t.Errorf("insert %s: %v, want ErrUnsupported", j(tc.doc), err)
			}
			if _, err := c.UpdateOne(ctx, bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "$set", Value: bson.D{{Key: "a", Value: tc.doc[1].Value}}}}); !errors.Is(err, ErrUnsupported) {
				t.Errorf("update to %s: %v, want ErrUnsupported", j(tc.doc[1].Value), err)
			}
			if got := findDocs(t, ctx, c, bson.D{}, sortByID()); docsKey(got) != docsKey(kept) {
				t.Errorf("documents: %s, want %s", cjDocs(got), cjDocs(kept))
			}
			checkKeys(t, e, "dotted", len(kept))
		})
	}
}

// TestClusteredDescendingKey: a clustered index with a descending field
// keeps its documents in its order, and finds and moves them as an
// ascending one does.
func TestClusteredDescendingKey(t *testing.T) {
	ctx := context.Background()
	e := openMemEngine(t)
	c := clColl(e, "descending")
	keys := bson.D{{Key: "k", Value: int32(-1)}, {Key: "v", Value: int32(1)}}
	if _, err := c.Indexes().CreateMany(ctx, []mongo.IndexModel{clusteredModel(keys), clTModel()}); err != nil {
		t.Fatal(err)
	}
	var docs []bson.D
	for i := range 20 {
		docs = append(docs, kvDoc(i, i%4, i, bson.E{Key: "t", Value: i % 3}))
	}
	insertDocs(t, c, docs)
	if _, err := c.UpdateMany(ctx, bson.D{{Key: "t", Value: 0}}, bson.D{{Key: "$inc", Value: bson.D{{Key: "k", Value: 10}}}}); err != nil {
		t.Fatal(err)
	}
	for i := range docs {
		if i%3 == 0 {
			docs[i] = kvDoc(i, i%4+10, i, bson.E{Key: "t", Value: 0})
		}
	}
	if got := findDocs(t, ctx, c, bson.D{}, sortByID()); docsKey(got) != docsKey(docs) {
		t.Errorf("by _id:\n got  %s\n want %s", cjDocs(got), cjDocs(docs))
	}
	want := slices.Clone(docs)
	slices.SortStableFunc(want, func(a, b bson.D) int {
		ka, _ := lookup(a, "k")
		kb, _ := lookup(b, "k")
		va, _ := lookup(a, "v")
		vb, _ := lookup(b, "v")
		if ka.(int) != kb.(int) {
			return kb.(int) - ka.(int)
		}
		return va.(int) - vb.(int)
	})
	name := "k_-1_v_1"
	if got := findDocs(t, ctx, c, bson.D{}, options.Find().SetSort(keys).SetHint(name)); docsKey(got) != docsKey(want) {
		t.Errorf("through %s:\n got  %s\n want %s", name, cjDocs(got), cjDocs(want))
	}
	if plan, err := c.Explain(ctx, bson.D{{Key: "k", Value: bson.D{{Key: "$gt", Value: 2}}}}, nil); err != nil || plan != "IXSCAN "+name {
		t.Errorf("plan of a range on k: %q, %v; want IXSCAN %s", plan, err, name)
	}
	for _, d := range docs {
		if got := findDocs(t, ctx, c, kvFilter(d)); docsKey(got) != docsKey([]bson.D{d}) {
			t.Errorf("find %s: %s, want %s", j(kvFilter(d)), cjDocs(got), cj(d))
		}
	}
	var big []bson.D
	for _, d := range want {
		if k, _ := lookup(d, "k"); k.(int) > 2 {
			big = append(big, d)
		}
	}
	if got := findDocs(t, ctx, c, bson.D{{Key: "k", Value: bson.D{{Key: "$gt", Value: 2}}}}, options.Find().SetSort(keys)); docsKey(got) != docsKey(big) {
		t.Errorf("k > 2 in index order:\n got  %s\n want %s", cjDocs(got), cjDocs(big))
	}
	checkKeys(t, e, "descending", len(docs))
}
