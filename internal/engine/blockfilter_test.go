package engine

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/cockroachdb/pebble/v2/sstable"
	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
)

// TestPrefixFilterEncoding: a block's filter admits every prefix added
// to it, an empty block admits none, and properties the filter does not
// know (an index block's, a table's, another version's) admit all.
func TestPrefixFilterEncoding(t *testing.T) {
	for _, n := range []int{1, 5, 50, 500} {
		c := newPrefixCollector().(*prefixCollector)
		var prefixes [][]byte
		for i := range n {
			id := uuid.New()
			k := append(indexPrefix(7, 3), mustKey(t, primitive.Binary{Subtype: 4, Data: id[:]})...)
			prefixes = append(prefixes, k)
			for v := range 3 { // a prefix's keys are neighbours
				key := append(append([]byte(nil), k...), mustKey(t, int64(i*3+v))...)
				if err := c.AddPointKey(internalKey(key), nil); err != nil {
					t.Fatal(err)
				}
			}
		}
		prop, err := c.FinishDataBlock(nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range prefixes {
			if ok, _ := newPrefixFilter(p).Intersects(prop); !ok {
				t.Fatalf("%d prefixes: the filter lacks one that was added", n)
			}
		}
		// Others are mostly excluded (a bloom filter's false positives).
		admitted := 0
		for range 1000 {
			id := uuid.New()
			p := append(indexPrefix(7, 3), mustKey(t, primitive.Binary{Subtype: 4, Data: id[:]})...)
			if ok, _ := newPrefixFilter(p).Intersects(prop); ok {
				admitted++
			}
		}
		if limit := map[int]int{1: 50, 5: 50, 50: 50, 500: 400}[n]; admitted > limit {
			t.Errorf("%d prefixes: %d of 1000 absent prefixes admitted, want at most %d", n, admitted, limit)
		}
	}

	c := newPrefixCollector()
	if err := c.AddPointKey(internalKey(docKey(7, mustKey(t, "x"))), nil); err != nil {
		t.Fatal(err)
	}
	empty, err := c.FinishDataBlock(nil)
	if err != nil {
		t.Fatal(err)
	}
	p := append(indexPrefix(7, 3), mustKey(t, "x")...)
	for _, tc := range []struct {
		name string
		prop []byte
		want bool
	}{
		{"a block of documents only", empty, false},
		{"an index block's or a table's", nil, true},
		{"another version", []byte{prefixFilterVersion + 1, 6, 0, 0, 0, 0, 0, 0, 0, 0}, true},
		{"a truncated filter", []byte{prefixFilterVersion, 6, 0}, true},
	} {
		if got, _ := newPrefixFilter(p).Intersects(tc.prop); got != tc.want {
			t.Errorf("%s: Intersects = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// headStore is streamStore with the prefix filters on or off.
func headStore(t *testing.T, filters bool) (*Engine, *Collection) {
	t.Helper()
	e, err := Open(context.Background(), Options{noCompactions: true, noPrefixFilters: !filters})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	c := e.Client().Database("d").Collection("events").(*Collection)
	if _, err := c.Indexes().CreateOne(context.Background(), mongo.IndexModel{
		Keys: bson.D{{Key: "s", Value: 1}, {Key: "v", Value: 1}}, Options: options.Index().SetUnique(true),
	}); err != nil {
		t.Fatal(err)
	}
	return e, c
}

// TestHeadReadSkipsBlocks: the head read (a stream's greatest version, a
// backward walk) reads the blocks of the tables holding the stream only,
// where without the prefix filters it reads one in every table whose key
// range covers the stream; and it finds the same head either way, across
// updates, deletes and flushes.
func TestHeadReadSkipsBlocks(t *testing.T) {
	ctx := context.Background()
	var blocks [2]int64
	var reads, tables int64
	for i, filters := range []bool{false, true} {
		e, c := headStore(t, filters)
		r := rand.New(rand.NewPCG(1, 2))
		heads := map[string]int{}
		var streams []primitive.Binary
		for table := 0; table < 8; table++ {
			var docs []any
			for range 40 {
				var s primitive.Binary
				if len(streams) > 0 && r.IntN(3) == 0 {
					s = streams[r.IntN(len(streams))] // a stream in several tables
				} else {
					id := uuid.New()
					s = primitive.Binary{Subtype: 4, Data: id[:]}
					streams = append(streams, s)
				}
				for range 1 + r.IntN(4) {
					heads[string(s.Data)]++
					docs = append(docs, bson.D{{Key: "s", Value: s}, {Key: "v", Value: heads[string(s.Data)]}, {Key: "pad", Value: make([]byte, 200)}})
				}
			}
			if _, err := c.InsertMany(ctx, docs); err != nil {
				t.Fatal(err)
			}
			// Some heads go: the new head is the version before.
			for range 5 {
				s := streams[r.IntN(len(streams))]
				if heads[string(s.Data)] == 0 {
					continue
				}
				if _, err := c.DeleteOne(ctx, bson.D{{Key: "s", Value: s}, {Key: "v", Value: heads[string(s.Data)]}}); err != nil {
					t.Fatal(err)
				}
				heads[string(s.Data)]--
			}
			if err := e.db.Flush(); err != nil {
				t.Fatal(err)
			}
		}
		head := func(s primitive.Binary) int {
			var got struct {
				V int `bson:"v"`
			}
			err := c.FindOne(ctx, bson.D{{Key: "s", Value: s}}, options.FindOne().SetSort(bson.D{{Key: "v", Value: -1}})).Decode(&got)
			if err == mongo.ErrNoDocuments {
				return 0
			}
			if err != nil {
				t.Fatal(err)
			}
			return got.V
		}
		m := e.db.Metrics()
		before := m.BlockCache.Hits + m.BlockCache.Misses
		for _, s := range streams {
			if got, want := head(s), heads[string(s.Data)]; got != want {
				t.Fatalf("filters %v: head of %x: got %d, want %d", filters, s.Data, got, want)
			}
		}
		id := uuid.New()
		if got := head(primitive.Binary{Subtype: 4, Data: id[:]}); got != 0 {
			t.Fatalf("filters %v: head of an unknown stream: got %d, want none", filters, got)
		}
		m = e.db.Metrics()
		blocks[i] = m.BlockCache.Hits + m.BlockCache.Misses - before
		reads, tables = int64(len(streams)+1), m.Total().TablesCount
		t.Logf("filters %v: %d tables, %d block reads for %d head reads", filters, tables, blocks[i], reads)
	}
	// Every table covers every stream's key range (random UUIDs), and
	// most streams are in one or two: the filters should save a data
	// block in at least half the tables, per read. (The other blocks
	// read, the same either way, are the tables' index and filter blocks
	// and the document's.)
	if saved := (blocks[0] - blocks[1]) / reads; saved < tables/2 {
		t.Errorf("the prefix filters saved %d block reads per head read (%d → %d in all), want at least %d of %d tables",
			saved, blocks[0], blocks[1], tables/2, tables)
	}
}

// internalKey is a point key as a collector sees it.
func internalKey(user []byte) sstable.InternalKey {
	return sstable.InternalKey{UserKey: user}
}
