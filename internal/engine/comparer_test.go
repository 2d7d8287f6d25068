package engine

import (
	"bytes"
	"context"
	"math/rand/v2"
	"testing"

	"github.com/256dpi/lungo"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
)

// TestComparerSplit: an index entry's prefix ends exactly after its first
// field's encoding for the types Split reads (checked against the
// encoding's own length), every other key is its own prefix, and
// comparing prefixes first, then the rest, orders random index entries as
// bytes.Compare does, as Pebble requires of a comparer.
func TestComparerSplit(t *testing.T) {
	g := &keGen{r: rand.New(rand.NewPCG(3, 4))}
	head := indexPrefix(7, 2)
	var keys [][]byte
	split := 0
	for i := 0; i < 20_000; i++ {
		first, rest := g.value(0), g.value(0)
		enc, err := appendKey(nil, first)
		if err != nil {
			t.Fatal(err)
		}
		key := append(append(bytes.Clone(head), enc...), mustKey(t, rest)...)
		if g.r.IntN(4) == 0 {
			key = append(bytes.Clone(head), enc...) // a unique one-field index
		}
		keys = append(keys, key)
		n := splitKey(key)
		switch _, ok := keyValueLen(enc); {
		case ok && n != len(head)+len(enc):
			t.Fatalf("Split(%s + …) = %d, want %d", keFmt(first), n, len(head)+len(enc))
		case ok:
			split++
		case n != len(key):
			t.Fatalf("Split of an entry led by %s = %d, want the whole key (%d)", keFmt(first), n, len(key))
		}
	}
	if split < len(keys)/4 {
		t.Fatalf("only %d of %d entries have a shorter prefix: the generator misses the common types", split, len(keys))
	}
	for _, k := range [][]byte{docKey(7, mustKey(t, "a")), oplogKey(5, 1), metaFormat, catalogKey("d", "c"), head} {
		if n := splitKey(k); n != len(k) {
			t.Errorf("Split(%x) = %d, want the whole key", k, n)
		}
	}
	for i := 0; i < 200_000; i++ {
		a, b := keys[g.r.IntN(len(keys))], keys[g.r.IntN(len(keys))]
		an, bn := splitKey(a), splitKey(b)
		want := bytes.Compare(a[:an], b[:bn])
		if want == 0 {
			want = bytes.Compare(a[an:], b[bn:])
		}
		if got := bytes.Compare(a, b); got != want {
			t.Fatalf("bytes.Compare(%x, %x) = %d, but prefix then suffix gives %d", a, b, got, want)
		}
	}
	t.Logf("%d of %d entries split after their first field", split, len(keys))
}

func mustKey(t *testing.T, v any) []byte {
	t.Helper()
	k, err := appendKey(nil, v)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestStreamLoadSkipsTables: a query pinning an index's first field seeks
// by prefix, so the bloom filters of the tables without it are consulted
// and those tables skipped (Pebble counts the filter's hits).
func TestStreamLoadSkipsTables(t *testing.T) {
	ctx := context.Background()
	e, c := streamStore(t)
	var streams []primitive.Binary
	for table := 0; table < 6; table++ {
		var docs []any
		for i := 0; i < 50; i++ {
			id := uuid.New()
			s := primitive.Binary{Subtype: 4, Data: id[:]}
			streams = append(streams, s)
			for v := 1; v <= 3; v++ {
				docs = append(docs, bson.D{{Key: "s", Value: s}, {Key: "v", Value: v}})
			}
		}
		if _, err := c.InsertMany(ctx, docs); err != nil {
			t.Fatal(err)
		}
		if err := e.db.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	before := e.db.Metrics().Filter.Hits
	cur, err := c.Find(ctx, bson.D{{Key: "s", Value: streams[0]}}, options.Find().SetSort(bson.D{{Key: "v", Value: 1}}))
	if err != nil {
		t.Fatal(err)
	}
	var got []bson.M
	if err := cur.All(ctx, &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("loaded %d documents, want 3", len(got))
	}
	if hits := e.db.Metrics().Filter.Hits - before; hits < 4 {
		t.Errorf("the load consulted no bloom filter to skip a table (%d tables)", e.db.Metrics().Total().TablesCount)
	}
}

// TestFormat1Store: a store written with Pebble's default comparer
// (format 1, before index prefixes) opens, reads and writes as before.
func TestFormat1Store(t *testing.T) {
	ctx := context.Background()
	fs := vfs.NewMem()
	e, err := Open(ctx, Options{Path: "store", FS: fs, format: formatV1})
	if err != nil {
		t.Fatal(err)
	}
	c := e.Client().Database("d").Collection("c")
	if _, err := c.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "s", Value: 1}, {Key: "v", Value: 1}}, Options: options.Index().SetUnique(true)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.InsertMany(ctx, []any{bson.D{{Key: "s", Value: "a"}, {Key: "v", Value: 1}}, bson.D{{Key: "s", Value: "a"}, {Key: "v", Value: 2}}}); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	for round := 0; round < 2; round++ {
		e, err := Open(ctx, Options{Path: "store", FS: fs})
		if err != nil {
			t.Fatalf("reopen a format 1 store: %v", err)
		}
		if e.format != formatV1 {
			t.Fatalf("reopened as %q, want %q", e.format, formatV1)
		}
		c := e.Client().Database("d").Collection("c")
		if _, err := c.InsertOne(ctx, bson.D{{Key: "s", Value: "a"}, {Key: "v", Value: 3 + round}}); err != nil {
			t.Fatal(err)
		}
		n, err := c.CountDocuments(ctx, bson.D{{Key: "s", Value: "a"}})
		if err != nil {
			t.Fatal(err)
		}
		if n != int64(3+round) {
			t.Errorf("round %d: %d documents, want %d", round, n, 3+round)
		}
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestIndexEntriesStayInPlace: a stream's index entries share a comparer
// prefix, and Pebble would move the values after the first of each prefix
// into value blocks, one more block read per table for a stream load. The
// store keeps every value beside its key.
func TestIndexEntriesStayInPlace(t *testing.T) {
	ctx := context.Background()
	e, c := streamStore(t)
	var docs []any
	for range 50 {
		id := uuid.New()
		for v := 1; v <= 10; v++ {
			docs = append(docs, bson.D{{Key: "s", Value: primitive.Binary{Subtype: 4, Data: id[:]}}, {Key: "v", Value: v}})
		}
	}
	if _, err := c.InsertMany(ctx, docs); err != nil {
		t.Fatal(err)
	}
	if err := e.db.Flush(); err != nil {
		t.Fatal(err)
	}
	m := e.db.Metrics()
	if m.Total().TablesCount == 0 {
		t.Fatal("nothing flushed to a table")
	}
	for level, l := range m.Levels {
		if l.Additional.ValueBlocksSize > 0 {
			t.Errorf("level %d holds %d bytes of value blocks, want none", level, l.Additional.ValueBlocksSize)
		}
	}
}

// streamStore opens a memory engine without compactions holding an
// events collection with a unique {s, v} index, as streams are indexed.
func streamStore(t *testing.T) (*Engine, lungo.ICollection) {
	t.Helper()
	e, err := Open(context.Background(), Options{noCompactions: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	c := e.Client().Database("d").Collection("events")
	if _, err := c.Indexes().CreateOne(context.Background(), mongo.IndexModel{Keys: bson.D{{Key: "s", Value: 1}, {Key: "v", Value: 1}}, Options: options.Index().SetUnique(true)}); err != nil {
		t.Fatal(err)
	}
	return e, c
}
