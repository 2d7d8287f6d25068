package engine

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/256dpi/lungo"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/bsontype"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
)

// This file holds the fixture of corrupt_test.go: a small store of varied
// content, the record of everything it holds, and the file plumbing
// (copy, fingerprint, classify) the corruption cases are built from.

// cxContent is everything a store holds, as the engine answers it: every
// document of every collection as stored bytes, every index listing, the
// order each index walks, and every Pebble record under the engine.
type cxContent struct {
	// Colls maps "db.coll" to what the collection holds.
	Colls map[string]*cxColl
	// Raw is every key and value of the Pebble store, in key order.
	Raw []cxKV
}

type cxColl struct {
	// IDs are the documents' _id values (type byte + value bytes) in the
	// order a full Find returns them.
	IDs []string
	// Docs maps an _id to the document's bytes.
	Docs map[string][]byte
	// Indexes are the index specifications as listed, as BSON bytes.
	Indexes [][]byte
	// Scans maps an index name to the _ids a hinted full walk returns;
	// read only when walks are asked for, and compared only when both
	// sides have them.
	Scans map[string][]string
}

type cxKV struct{ K, V []byte }

// cxRead reads the whole content of the store e serves: every document of
// every collection through Find, the index listings, every record of the
// Pebble store, and with walks each index walked in full through a hinted
// Find. Any error is returned as it came: the caller classifies it.
func cxRead(ctx context.Context, e *Engine, walks bool) (*cxContent, error) {
	out := &cxContent{Colls: map[string]*cxColl{}}
	c := e.Client()
	dbs, err := c.ListDatabaseNames(ctx, bson.D{})
	if err != nil {
		return nil, fmt.Errorf("list databases: %w", err)
	}
	for _, dbName := range dbs {
		db := c.Database(dbName)
		names, err := db.ListCollectionNames(ctx, bson.D{})
		if err != nil {
			return nil, fmt.Errorf("list collections of %s: %w", dbName, err)
		}
		for _, name := range names {
			coll := db.Collection(name)
			cc := &cxColl{Docs: map[string][]byte{}, Scans: map[string][]string{}}
			cur, err := coll.Find(ctx, bson.D{})
			if err != nil {
				return nil, fmt.Errorf("find %s.%s: %w", dbName, name, err)
			}
			for cur.Next(ctx) {
				raw := slices.Clone([]byte(cur.(*Cursor).Current()))
				id := cxID(raw)
				if _, dup := cc.Docs[id]; dup {
					cur.Close(ctx)
					return nil, fmt.Errorf("find %s.%s: _id %s returned twice", dbName, name, cxShowID(id))
				}
				cc.IDs = append(cc.IDs, id)
				cc.Docs[id] = raw
			}
			err = cur.Err()
			cur.Close(ctx)
			if err != nil {
				return nil, fmt.Errorf("find %s.%s: %w", dbName, name, err)
			}
			specs, err := coll.Indexes().List(ctx)
			if err != nil {
				return nil, fmt.Errorf("list indexes of %s.%s: %w", dbName, name, err)
			}
			var ixNames []string
			for specs.Next(ctx) {
				raw := slices.Clone([]byte(specs.(*Cursor).Current()))
				cc.Indexes = append(cc.Indexes, raw)
				if n, ok := bson.Raw(raw).Lookup("name").StringValueOK(); ok && n != "_id_" {
					ixNames = append(ixNames, n)
				}
			}
			err = specs.Err()
			specs.Close(ctx)
			if err != nil {
				return nil, fmt.Errorf("list indexes of %s.%s: %w", dbName, name, err)
			}
			for _, ix := range ixNames {
				if !walks {
					break
				}
				cur, err := coll.Find(ctx, bson.D{}, options.Find().SetHint(ix))
				if err != nil {
					return nil, fmt.Errorf("walk index %s of %s.%s: %w", ix, dbName, name, err)
				}
				var ids []string
				for cur.Next(ctx) {
					ids = append(ids, cxID(cur.(*Cursor).Current()))
				}
				err = cur.Err()
				cur.Close(ctx)
				if err != nil {
					return nil, fmt.Errorf("walk index %s of %s.%s: %w", ix, dbName, name, err)
				}
				cc.Scans[ix] = ids
			}
			out.Colls[dbName+"."+name] = cc
		}
	}
	if err := e.enter(); err != nil {
		return nil, err
	}
	defer e.inflight.Done()
	it, err := e.db.NewIter(nil)
	if err != nil {
		return nil, fmt.Errorf("raw records: %w", wrapRead(err))
	}
	for it.First(); it.Valid(); it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			it.Close()
			return nil, fmt.Errorf("raw records: %w", wrapRead(err))
		}
		out.Raw = append(out.Raw, cxKV{K: slices.Clone(it.Key()), V: slices.Clone(v)})
	}
	if err := it.Close(); err != nil {
		return nil, fmt.Errorf("raw records: %w", wrapRead(err))
	}
	return out, nil
}

// cxMatches reads the whole content of the store e serves, as cxRead
// does without the index walks, and reports whether it is want's. It
// compares as it reads and keeps nothing: it is what every case runs. It
// stops at the first difference; cxRead then says what differs.
func cxMatches(ctx context.Context, e *Engine, want *cxContent) (bool, error) {
	c := e.Client()
	dbs, err := c.ListDatabaseNames(ctx, bson.D{})
	if err != nil {
		return false, fmt.Errorf("list databases: %w", err)
	}
	seen := 0
	for _, dbName := range dbs {
		db := c.Database(dbName)
		names, err := db.ListCollectionNames(ctx, bson.D{})
		if err != nil {
			return false, fmt.Errorf("list collections of %s: %w", dbName, err)
		}
		for _, name := range names {
			w := want.Colls[dbName+"."+name]
			if w == nil {
				return false, nil
			}
			seen++
			coll := db.Collection(name)
			same, err := cxSameCursor(ctx, func() (lungo.ICursor, error) { return coll.Find(ctx, bson.D{}) },
				func(i int, raw bson.Raw) bool {
					return i < len(w.IDs) && cxID(raw) == w.IDs[i] && bytes.Equal(raw, w.Docs[w.IDs[i]])
				}, len(w.IDs))
			if err != nil {
				return false, fmt.Errorf("find %s.%s: %w", dbName, name, err)
			}
			if !same {
				return false, nil
			}
			same, err = cxSameCursor(ctx, func() (lungo.ICursor, error) { return coll.Indexes().List(ctx) },
				func(i int, raw bson.Raw) bool { return i < len(w.Indexes) && bytes.Equal(raw, w.Indexes[i]) }, len(w.Indexes))
			if err != nil {
				return false, fmt.Errorf("list indexes of %s.%s: %w", dbName, name, err)
			}
			if !same {
				return false, nil
			}
		}
	}
	if seen != len(want.Colls) {
		return false, nil
	}
	if err := e.enter(); err != nil {
		return false, err
	}
	defer e.inflight.Done()
	it, err := e.db.NewIter(nil)
	if err != nil {
		return false, fmt.Errorf("raw records: %w", wrapRead(err))
	}
	i := 0
	for it.First(); it.Valid(); it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			it.Close()
			return false, fmt.Errorf("raw records: %w", wrapRead(err))
		}
		if i >= len(want.Raw) || !bytes.Equal(it.Key(), want.Raw[i].K) || !bytes.Equal(v, want.Raw[i].V) {
			it.Close()
			return false, nil
		}
		i++
	}
	if err := it.Close(); err != nil {
		return false, fmt.Errorf("raw records: %w", wrapRead(err))
	}
	return i == len(want.Raw), nil
}

// cxSameCursor runs a query and checks each result with same, and that
// there are n.
func cxSameCursor(ctx context.Context, open func() (lungo.ICursor, error), same func(int, bson.Raw) bool, n int) (bool, error) {
	cur, err := open()
	if err != nil {
		return false, err
	}
	defer cur.Close(ctx)
	i := 0
	for cur.Next(ctx) {
		if !same(i, cur.(*Cursor).Current()) {
			return false, nil
		}
		i++
	}
	if err := cur.Err(); err != nil {
		return false, err
	}
	return i == n, nil
}

// cxID is a document's _id as type byte + value bytes.
func cxID(raw bson.Raw) string {
	v := raw.Lookup("_id")
	return string(append([]byte{byte(v.Type)}, v.Value...))
}

func cxShowID(id string) string {
	if id == "" {
		return "<none>"
	}
	out := bson.RawValue{Type: bsontype.Type(id[0]), Value: []byte(id[1:])}.String()
	if len(out) > 60 {
		out = out[:60] + "…"
	}
	return out
}

// cxDiff describes how got differs from want, or returns "" when the two
// are equal. It names at most a few differences of each sort.
func cxDiff(want, got *cxContent) string {
	var d []string
	names := map[string]bool{}
	for n := range want.Colls {
		names[n] = true
	}
	for n := range got.Colls {
		names[n] = true
	}
	sorted := make([]string, 0, len(names))
	for n := range names {
		sorted = append(sorted, n)
	}
	sort.Strings(sorted)
	for _, n := range sorted {
		w, g := want.Colls[n], got.Colls[n]
		switch {
		case g == nil:
			d = append(d, fmt.Sprintf("collection %s lost (%d docs)", n, len(w.IDs)))
			continue
		case w == nil:
			d = append(d, fmt.Sprintf("collection %s appeared (%d docs)", n, len(g.IDs)))
			continue
		}
		var lost, changed, extra []string
		for _, id := range w.IDs {
			gd, ok := g.Docs[id]
			switch {
			case !ok:
				lost = append(lost, cxShowID(id))
			case !bytes.Equal(gd, w.Docs[id]):
				changed = append(changed, cxShowID(id))
			}
		}
		for _, id := range g.IDs {
			if _, ok := w.Docs[id]; !ok {
				extra = append(extra, cxShowID(id))
			}
		}
		if len(lost)+len(changed)+len(extra) > 0 {
			var parts []string
			for _, p := range []struct {
				what string
				ids  []string
			}{{"lost", lost}, {"changed", changed}, {"extra", extra}} {
				if len(p.ids) > 0 {
					parts = append(parts, fmt.Sprintf("%d %s %s", len(p.ids), p.what, cxFirst(p.ids)))
				}
			}
			d = append(d, fmt.Sprintf("%s: %s", n, strings.Join(parts, ", ")))
		} else if !slices.Equal(w.IDs, g.IDs) {
			d = append(d, fmt.Sprintf("%s: same documents in another order", n))
		}
		if !slices.EqualFunc(w.Indexes, g.Indexes, bytes.Equal) {
			d = append(d, fmt.Sprintf("%s: index listing differs: want %s, got %s", n, cxSpecs(w.Indexes), cxSpecs(g.Indexes)))
		}
		for ix, wids := range w.Scans {
			if gids, ok := g.Scans[ix]; ok && !slices.Equal(wids, gids) {
				d = append(d, fmt.Sprintf("%s: walk of index %s returns %d entries, want %d", n, ix, len(gids), len(wids)))
			}
		}
	}
	if rd := cxRawDiff(want.Raw, got.Raw); rd != "" {
		d = append(d, rd)
	}
	return strings.Join(d, "; ")
}

func cxFirst(s []string) string {
	if len(s) == 0 {
		return ""
	}
	if len(s) > 3 {
		return "(" + strings.Join(s[:3], ", ") + ", …)"
	}
	return "(" + strings.Join(s, ", ") + ")"
}

func cxSpecs(specs [][]byte) string {
	var s []string
	for _, raw := range specs {
		s = append(s, bson.Raw(raw).String())
	}
	return "[" + strings.Join(s, " ") + "]"
}

// cxRawDiff compares two sorted record lists.
func cxRawDiff(want, got []cxKV) string {
	var lost, changed, extra int
	var first string
	note := func(what string, k []byte) {
		if first == "" {
			first = fmt.Sprintf("%s key %q", what, k)
		}
	}
	i, j := 0, 0
	for i < len(want) || j < len(got) {
		switch {
		case j == len(got) || (i < len(want) && bytes.Compare(want[i].K, got[j].K) < 0):
			lost++
			note("lost", want[i].K)
			i++
		case i == len(want) || bytes.Compare(want[i].K, got[j].K) > 0:
			extra++
			note("extra", got[j].K)
			j++
		default:
			if !bytes.Equal(want[i].V, got[j].V) {
				changed++
				note("changed", want[i].K)
			}
			i++
			j++
		}
	}
	if lost+changed+extra == 0 {
		return ""
	}
	return fmt.Sprintf("store records: %d lost, %d changed, %d extra (first: %s)", lost, changed, extra, first)
}

// cxDocs counts the documents of a content record.
func (c *cxContent) docs() int {
	n := 0
	for _, cc := range c.Colls {
		n += len(cc.IDs)
	}
	return n
}

// cxGen makes the fixture's varied, deterministic content.
type cxGen struct {
	r  *rand.Rand
	at time.Time
}

func newCXGen(seed uint64) *cxGen {
	return &cxGen{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), at: time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (g *cxGen) uuid() primitive.Binary {
	b := make([]byte, 16)
	binary.BigEndian.PutUint64(b, g.r.Uint64())
	binary.BigEndian.PutUint64(b[8:], g.r.Uint64())
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return primitive.Binary{Subtype: 4, Data: b}
}

var cxWords = []string{"order", "ledger", "Zürich", "naïve", "東京", "émigré", "🙂", "cash", "", "x", "deposit", "null\x00byte", "tab\tsep", "quote\"d"}

func (g *cxGen) text(max int) string {
	var b strings.Builder
	for n := g.r.IntN(max + 1); b.Len() < n; {
		b.WriteString(cxWords[g.r.IntN(len(cxWords))])
		b.WriteByte(' ')
	}
	return b.String()
}

func (g *cxGen) blob(max int) []byte {
	b := make([]byte, g.r.IntN(max+1))
	for i := range b {
		b[i] = byte(g.r.Uint32())
	}
	return b
}

var cxEventNames = []string{"OrderCreated", "ItemAdded", "ItemRemoved", "OrderShipped", "CashDeposited", "CashWithdrawn"}

// events returns n events of streams aggregates, shaped as annals stores
// them.
func (g *cxGen) events(streams []primitive.Binary, versions map[string]int64, n int) []any {
	docs := make([]any, 0, n)
	for range n {
		agg := streams[g.r.IntN(len(streams))]
		versions[string(agg.Data)]++
		g.at = g.at.Add(time.Duration(g.r.IntN(5000)) * time.Millisecond)
		items := bson.A{}
		for k := range g.r.IntN(4) {
			items = append(items, bson.D{{Key: "sku", Value: fmt.Sprintf("SKU-%03d", g.r.IntN(500))}, {Key: "qty", Value: int32(k + 1)}, {Key: "price", Value: float64(g.r.IntN(100000)) / 100}})
		}
		docs = append(docs, bson.D{
			{Key: "_id", Value: g.uuid()},
			{Key: "aggregate_uuid", Value: agg},
			{Key: "aggregate_type", Value: []string{"Order", "Account", "Cart"}[agg.Data[0]%3]},
			{Key: "version", Value: versions[string(agg.Data)]},
			{Key: "name", Value: cxEventNames[g.r.IntN(len(cxEventNames))]},
			{Key: "schema_version", Value: int32(1 + g.r.IntN(3))},
			{Key: "data", Value: bson.D{{Key: "amount", Value: g.r.NormFloat64() * 1000}, {Key: "note", Value: g.text(120)}, {Key: "items", Value: items}}},
			{Key: "metadata", Value: bson.D{{Key: "correlation_id", Value: g.uuid()}, {Key: "actor", Value: fmt.Sprintf("user-%d", g.r.IntN(40))}}},
			{Key: "recorded_at", Value: primitive.NewDateTimeFromTime(g.at)},
		})
	}
	return docs
}

// readModel returns a document of many BSON types for the "views"
// collection.
func (g *cxGen) readModel(i int) bson.D {
	var score any
	switch i % 4 {
	case 0:
		score = int32(g.r.IntN(1000) - 500)
	case 1:
		score = g.r.Int64()
	case 2:
		score = g.r.Float64() * 1e6
	default:
		score = []any{math.Inf(1), math.Inf(-1), -0.0, math.MaxFloat64, math.SmallestNonzeroFloat64}[i%5]
	}
	tags := bson.A{}
	for range g.r.IntN(5) {
		tags = append(tags, cxWords[g.r.IntN(len(cxWords))])
	}
	dec, _ := primitive.ParseDecimal128(fmt.Sprintf("%d.%04d", g.r.IntN(1e6), g.r.IntN(1e4)))
	return bson.D{
		{Key: "_id", Value: primitive.ObjectID{0x65, 0, 0, 0, 0, 0, 0, 0, byte(i >> 16), byte(i >> 8), byte(i), 7}},
		{Key: "title", Value: g.text(60)},
		{Key: "score", Value: score},
		{Key: "tags", Value: tags},
		{Key: "nested", Value: bson.D{{Key: "a", Value: bson.D{{Key: "b", Value: int64(i)}, {Key: "c", Value: bson.A{int32(1), "two", 3.5, nil, true}}}}}},
		{Key: "price", Value: dec},
		{Key: "flag", Value: i%3 == 0},
		{Key: "missing", Value: nil},
		{Key: "blob", Value: primitive.Binary{Subtype: 0, Data: g.blob(400)}},
		{Key: "when", Value: primitive.NewDateTimeFromTime(g.at.Add(time.Duration(i) * time.Hour))},
		{Key: "ts", Value: primitive.Timestamp{T: uint32(1700000000 + i), I: uint32(i)}},
		{Key: "re", Value: primitive.Regex{Pattern: "^a.*" + fmt.Sprint(i), Options: "i"}},
	}
}

// cxBuildStore fills a store at dir in two cleanly closed sessions and
// returns its content.
func cxBuildStore(ctx context.Context, t *testing.T, dir string, g *cxGen) *cxContent {
	t.Helper()
	e, err := Open(ctx, Options{Path: dir})
	if err != nil {
		t.Fatalf("open new store: %v", err)
	}
	c := e.Client()
	app, other := c.Database("app"), c.Database("other")
	events, views, kv, scratch := app.Collection("events"), app.Collection("views"), other.Collection("kv"), app.Collection("scratch")
	cxMust(t, "events indexes", cxIndexes(ctx, events,
		mongo.IndexModel{Keys: bson.D{{Key: "aggregate_uuid", Value: 1}, {Key: "version", Value: 1}}, Options: options.Index().SetUnique(true)},
		mongo.IndexModel{Keys: bson.D{{Key: "aggregate_type", Value: 1}}},
		mongo.IndexModel{Keys: bson.D{{Key: "recorded_at", Value: -1}}}))
	cxMust(t, "views indexes", cxIndexes(ctx, views,
		mongo.IndexModel{Keys: bson.D{{Key: "tags", Value: 1}}},
		mongo.IndexModel{Keys: bson.D{{Key: "score", Value: -1}, {Key: "nested.a.b", Value: 1}}}))
	cxMust(t, "kv indexes", cxIndexes(ctx, kv,
		mongo.IndexModel{Keys: bson.D{{Key: "n", Value: 1}}},
		mongo.IndexModel{Keys: bson.D{{Key: "v", Value: 1}}, Options: options.Index().SetUnique(true).SetName("v_unique")}))

	streams := make([]primitive.Binary, 60)
	for i := range streams {
		streams[i] = g.uuid()
	}
	versions := map[string]int64{}
	evs := g.events(streams, versions, 1200)
	for i := 0; i < len(evs); i += 100 {
		_, err := events.InsertMany(ctx, evs[i:i+100])
		cxMust(t, "insert events", err)
	}
	for i := range 500 {
		_, err := views.InsertOne(ctx, g.readModel(i))
		cxMust(t, "insert view", err)
	}
	var kvs []any
	for i := range 300 {
		kvs = append(kvs, bson.D{{Key: "_id", Value: fmt.Sprintf("key-%05d", i)}, {Key: "n", Value: int64(i % 37)}, {Key: "v", Value: fmt.Sprintf("value %d %s", i, g.text(30))}})
	}
	_, err = kv.InsertMany(ctx, kvs)
	cxMust(t, "insert kv", err)
	var tmp []any
	for i := range 100 {
		tmp = append(tmp, bson.D{{Key: "_id", Value: int32(i)}, {Key: "pad", Value: g.text(200)}})
	}
	_, err = scratch.InsertMany(ctx, tmp)
	cxMust(t, "insert scratch", err)

	_, err = views.UpdateMany(ctx, bson.D{{Key: "flag", Value: true}}, bson.D{{Key: "$inc", Value: bson.D{{Key: "hits", Value: int32(1)}}}, {Key: "$set", Value: bson.D{{Key: "touched", Value: "yes"}}}})
	cxMust(t, "update views", err)
	for i := 0; i < 300; i += 6 {
		_, err := kv.ReplaceOne(ctx, bson.D{{Key: "_id", Value: fmt.Sprintf("key-%05d", i)}}, bson.D{{Key: "n", Value: int64(-i)}, {Key: "v", Value: fmt.Sprintf("replaced %d", i)}})
		cxMust(t, "replace kv", err)
	}
	_, err = kv.DeleteMany(ctx, bson.D{{Key: "n", Value: bson.D{{Key: "$in", Value: bson.A{int64(3), int64(5), int64(7)}}}}})
	cxMust(t, "delete kv", err)
	_, err = views.DeleteMany(ctx, bson.D{{Key: "nested.a.b", Value: bson.D{{Key: "$gte", Value: int64(480)}}}})
	cxMust(t, "delete views", err)
	cxMust(t, "drop scratch", scratch.Drop(ctx))
	cxMust(t, "close store", e.Close())

	// A second session leaves a second table and a catalog change.
	e, err = Open(ctx, Options{Path: dir})
	if err != nil {
		t.Fatalf("reopen store: %v", err)
	}
	c = e.Client()
	app, other = c.Database("app"), c.Database("other")
	events, views, kv = app.Collection("events"), app.Collection("views"), other.Collection("kv")
	evs = g.events(streams, versions, 300)
	for i := 0; i < len(evs); i += 50 {
		_, err := events.InsertMany(ctx, evs[i:i+50])
		cxMust(t, "insert events", err)
	}
	_, err = views.UpdateMany(ctx, bson.D{{Key: "flag", Value: false}}, bson.D{{Key: "$push", Value: bson.D{{Key: "tags", Value: "second"}}}})
	cxMust(t, "update views", err)
	_, err = kv.Indexes().DropOne(ctx, "n_1")
	cxMust(t, "drop index", err)
	want, err := cxRead(ctx, e, true)
	if err != nil {
		t.Fatalf("read fixture: %v", err)
	}
	cxMust(t, "close store", e.Close())
	return want
}

// cxCrashCopy reopens the store at dir, commits more (many small commits
// that stay in the WAL), and copies the directory to crash while the
// engine is still open: what a crash, power cut or kill -9 leaves. It
// returns the content the copy must hold: every acknowledged commit.
func cxCrashCopy(ctx context.Context, t *testing.T, dir, crash string, g *cxGen) *cxContent {
	t.Helper()
	e, err := Open(ctx, Options{Path: dir})
	if err != nil {
		t.Fatalf("reopen store: %v", err)
	}
	defer e.Close()
	c := e.Client()
	app, other := c.Database("app"), c.Database("other")
	events, views, kv, late := app.Collection("events"), app.Collection("views"), other.Collection("kv"), app.Collection("late")
	streams := make([]primitive.Binary, 10)
	for i := range streams {
		streams[i] = g.uuid()
	}
	versions := map[string]int64{}
	for i, ev := range g.events(streams, versions, 200) {
		if i%20 == 0 {
			_, err = views.UpdateOne(ctx, bson.D{{Key: "nested.a.b", Value: int64(i)}}, bson.D{{Key: "$set", Value: bson.D{{Key: "late", Value: g.text(40)}}}})
			cxMust(t, "update view", err)
		}
		_, err := events.InsertOne(ctx, ev)
		cxMust(t, "insert event", err)
	}
	cxMust(t, "late indexes", cxIndexes(ctx, late, mongo.IndexModel{Keys: bson.D{{Key: "k", Value: 1}}}))
	for i := range 50 {
		_, err := late.InsertOne(ctx, bson.D{{Key: "_id", Value: int64(i)}, {Key: "k", Value: g.text(20)}, {Key: "blob", Value: g.blob(300)}})
		cxMust(t, "insert late", err)
	}
	_, err = kv.DeleteMany(ctx, bson.D{{Key: "n", Value: int64(11)}})
	cxMust(t, "delete kv", err)
	_, err = views.DeleteOne(ctx, bson.D{{Key: "nested.a.b", Value: int64(2)}})
	cxMust(t, "delete view", err)
	want, err := cxRead(ctx, e, true)
	if err != nil {
		t.Fatalf("read fixture: %v", err)
	}
	// Nothing may run in the background while the files are copied, or
	// the copy would be a state no crash can leave: check that no flush
	// or compaction ran or is running across the copy.
	before := e.db.Metrics()
	if before.Compact.NumInProgress != 0 || before.Flush.NumInProgress != 0 {
		t.Fatalf("background work in progress while taking the crash copy")
	}
	if err := cxCopyDir(dir, crash); err != nil {
		t.Fatalf("copy store: %v", err)
	}
	after := e.db.Metrics()
	if after.Compact.Count != before.Compact.Count || after.Flush.Count != before.Flush.Count ||
		after.Compact.NumInProgress != 0 || after.Flush.NumInProgress != 0 {
		t.Fatalf("a flush or compaction ran while the crash copy was taken")
	}
	return want
}

func cxIndexes(ctx context.Context, c lungo.ICollection, models ...mongo.IndexModel) error {
	_, err := c.Indexes().CreateMany(ctx, models)
	return err
}

func cxMust(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// cxCopyDir copies the regular files of src into dst, which it creates.
func cxCopyDir(src, dst string) error {
	if err := os.MkdirAll(dst, 0o700); err != nil {
		return err
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	for _, ent := range entries {
		if !ent.Type().IsRegular() {
			return fmt.Errorf("%s: not a regular file", filepath.Join(src, ent.Name()))
		}
		if err := cxCopyFile(filepath.Join(src, ent.Name()), filepath.Join(dst, ent.Name())); err != nil {
			return err
		}
	}
	return nil
}

func cxCopyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// cxFingerprint is a directory's file names with their contents' hashes
// and sizes, to compare in one process.
type cxFingerprint map[string]string

var cxSeed = maphash.MakeSeed()

func cxFingerprintOf(dir string) (cxFingerprint, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	fp := cxFingerprint{}
	for _, ent := range entries {
		b, err := os.ReadFile(filepath.Join(dir, ent.Name()))
		if err != nil {
			return nil, err
		}
		fp[ent.Name()] = fmt.Sprintf("%d bytes hash %x", len(b), maphash.Bytes(cxSeed, b))
	}
	return fp, nil
}

// cxChanges lists how after differs from before. An empty LOCK file that
// appeared is reported apart (lockCreated): Pebble creates it to take its
// file lock, and it holds no data.
func cxChanges(before, after cxFingerprint) (changes []string, lockCreated bool) {
	var names []string
	for n := range before {
		names = append(names, n)
	}
	for n := range after {
		if _, ok := before[n]; !ok {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		b, inBefore := before[n]
		a, inAfter := after[n]
		switch {
		case !inAfter:
			changes = append(changes, "removed "+n)
		case !inBefore && n == "LOCK" && strings.HasPrefix(a, "0 bytes"):
			lockCreated = true
		case !inBefore:
			changes = append(changes, "created "+n)
		case a != b:
			changes = append(changes, "rewrote "+n)
		}
	}
	return changes, lockCreated
}

// cxKind is the kind of a store file, the rows of the report.
func cxKind(name string) string {
	switch {
	case name == MarkerFile:
		return "marker " + MarkerFile
	case strings.HasPrefix(name, "MANIFEST-"):
		return "MANIFEST"
	case strings.HasPrefix(name, "OPTIONS-"):
		return "OPTIONS"
	case strings.HasSuffix(name, ".sst"):
		return "*.sst"
	case strings.HasSuffix(name, ".log"):
		return "*.log WAL"
	case name == "CURRENT" || strings.HasPrefix(name, "marker."):
		return "CURRENT/marker.*"
	case name == "LOCK":
		return "LOCK"
	case strings.HasSuffix(name, ".blob"):
		return "*.blob"
	}
	return "other"
}

var cxKindOrder = []string{"marker " + MarkerFile, "CURRENT/marker.*", "MANIFEST", "OPTIONS", "*.sst", "*.blob", "*.log WAL", "LOCK", "other"}
