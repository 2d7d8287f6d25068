package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/256dpi/lungo"
	"github.com/256dpi/lungo/bsonkit"
	"github.com/256dpi/lungo/mongokit"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
)

// convFixture fills a lungo store through lungo's own client.
type convFixture func(ctx context.Context, t *testing.T, c lungo.IClient)

// convUUIDs returns deterministic random UUIDs (version 4, BSON subtype 4).
func convUUIDs(seed uint64) func() primitive.Binary {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	return func() primitive.Binary {
		b := make([]byte, 16)
		for i := range b {
			b[i] = byte(r.UintN(256))
		}
		b[6] = b[6]&0x0f | 0x40
		b[8] = b[8]&0x3f | 0x80
		return primitive.Binary{Subtype: 4, Data: b}
	}
}

// convEventIndexes are mongostore's indexes on the events collection.
var convEventIndexes = []mongo.IndexModel{
	{Keys: bson.D{{Key: "aggregate_uuid", Value: 1}, {Key: "version", Value: 1}},
		Options: options.Index().SetName("aggregate_uuid_1_version_1").SetUnique(true)},
	{Keys: bson.D{{Key: "aggregate_type", Value: 1}, {Key: "aggregate_uuid", Value: 1}},
		Options: options.Index().SetName("aggregate_type_1_aggregate_uuid_1")},
	{Keys: bson.D{{Key: "recorded_at", Value: 1}, {Key: "aggregate_uuid", Value: 1}, {Key: "version", Value: 1}},
		Options: options.Index().SetName("recorded_at_1_aggregate_uuid_1_version_1")},
}

// convEvents returns events shaped as mongostore stores them.
func convEvents(uuid func() primitive.Binary, at time.Time, streams, perStream int) []any {
	var docs []any
	for s := range streams {
		stream := uuid()
		typ := []string{"Order", "Account", "Shipment"}[s%3]
		for v := 1; v <= perStream; v++ {
			at = at.Add(1500 * time.Millisecond)
			docs = append(docs, bson.D{
				{Key: "_id", Value: uuid()},
				{Key: "aggregate_uuid", Value: stream},
				{Key: "aggregate_type", Value: typ},
				{Key: "version", Value: int64(v)},
				{Key: "name", Value: []string{"OrderCreated", "ItemAdded", "OrderShipped"}[v%3]},
				{Key: "schema_version", Value: int32(1 + v%2)},
				{Key: "data", Value: bson.D{
					{Key: "sku", Value: fmt.Sprintf("SKU-%05d", v)},
					{Key: "qty", Value: int32(v % 7)},
					{Key: "price", Value: float64(v) * 1.25},
					{Key: "tags", Value: bson.A{"a", "b", int64(v)}},
					{Key: "lines", Value: bson.A{bson.D{{Key: "n", Value: int32(1)}}, bson.D{{Key: "n", Value: int32(2)}, {Key: "note", Value: "ünïcødé ✓"}}}},
				}},
				{Key: "metadata", Value: bson.D{
					{Key: "correlation_id", Value: uuid()},
					{Key: "actor", Value: "user-42"},
				}},
				{Key: "recorded_at", Value: primitive.NewDateTimeFromTime(at)},
			})
		}
	}
	return docs
}

// convAnnals writes what mongostore and the projection runner keep: the
// events collection with its three indexes (one unique and compound),
// snapshots, checkpoints and a query collection.
func convAnnals(streams, perStream int) convFixture {
	return func(ctx context.Context, t *testing.T, c lungo.IClient) {
		t.Helper()
		db := c.Database("annals")
		events := db.Collection("events")
		if _, err := events.Indexes().CreateMany(ctx, convEventIndexes); err != nil {
			t.Fatal(err)
		}
		uuid := convUUIDs(uint64(streams*1_000_003 + perStream))
		at := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
		docs := convEvents(uuid, at, streams, perStream)
		var err error
		if len(docs) > 0 {
			if _, err := events.InsertMany(ctx, docs); err != nil {
				t.Fatal(err)
			}
		}
		if err := db.CreateCollection(ctx, "snapshots"); err != nil {
			t.Fatal(err)
		}
		if streams > 0 {
			_, err = db.Collection("snapshots").InsertOne(ctx, bson.D{
				{Key: "_id", Value: "Order/0f8fad5b-d9cb-469f-a165-70867728950e"},
				{Key: "aggregate_uuid", Value: uuid()},
				{Key: "aggregate_type", Value: "Order"},
				{Key: "version", Value: int64(perStream)},
				{Key: "schema_version", Value: int32(3)},
				{Key: "state", Value: bson.D{{Key: "total", Value: primitive.NewDecimal128(12345, 2)}, {Key: "open", Value: true}}},
				{Key: "taken_at", Value: primitive.NewDateTimeFromTime(at)},
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		_, err = db.Collection("projection_checkpoints").InsertOne(ctx, bson.D{
			{Key: "_id", Value: "streams"},
			{Key: "projection", Value: "streams"},
			{Key: "generation", Value: int64(1)},
			{Key: "state", Value: "running"},
			{Key: "lease_until", Value: primitive.NewDateTimeFromTime(at)},
			{Key: "resume_token", Value: bson.D{{Key: "ts", Value: primitive.Timestamp{T: 1700000000, I: 7}}}},
			{Key: "position", Value: bson.D{{Key: "recorded_at", Value: primitive.NewDateTimeFromTime(at)}, {Key: "aggregate_uuid", Value: uuid()}, {Key: "version", Value: int64(3)}}},
			{Key: "applied", Value: int64(streams * perStream)},
			{Key: "updated_at", Value: primitive.NewDateTimeFromTime(at)},
		})
		if err != nil {
			t.Fatal(err)
		}
		_, err = db.Collection("proj_streams_1").Indexes().CreateOne(ctx, mongo.IndexModel{
			Keys:    bson.D{{Key: "aggregate_type", Value: 1}, {Key: "_id", Value: 1}},
			Options: options.Index().SetName("aggregate_type_1__id_1"),
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// convKitchenSink writes every BSON type lungo stores (its bsonkit refuses
// JavaScript, symbols, min and max keys, undefined and DB pointers), _ids of many types, an _id that
// is not the first field, and empty collections in a second database.
func convKitchenSink(ctx context.Context, t *testing.T, c lungo.IClient) {
	t.Helper()
	uuid := convUUIDs(7)
	oid, _ := primitive.ObjectIDFromHex("65f0c0ffee00000000000001")
	dec, _ := primitive.ParseDecimal128("-1234.5678E-3")
	all := bson.D{
		{Key: "null", Value: nil},
		{Key: "true", Value: true},
		{Key: "false", Value: false},
		{Key: "int32", Value: int32(math.MinInt32)},
		{Key: "int64", Value: int64(math.MaxInt64)},
		{Key: "double", Value: 3.141592653589793},
		{Key: "negzero", Value: math.Copysign(0, -1)},
		{Key: "inf", Value: math.Inf(-1)},
		{Key: "decimal", Value: dec},
		{Key: "string", Value: "héllo\x01wörld"},
		{Key: "empty", Value: ""},
		{Key: "bin0", Value: primitive.Binary{Subtype: 0, Data: []byte{0, 1, 2, 255}}},
		{Key: "bin4", Value: uuid()},
		{Key: "bin80", Value: primitive.Binary{Subtype: 0x80, Data: []byte("user")}},
		{Key: "oid", Value: oid},
		{Key: "date", Value: primitive.NewDateTimeFromTime(time.Date(1969, 7, 20, 20, 17, 0, 0, time.UTC))},
		{Key: "ts", Value: primitive.Timestamp{T: 1, I: 2}},
		{Key: "regex", Value: primitive.Regex{Pattern: "^a.*z$", Options: "i"}},
		{Key: "doc", Value: bson.D{{Key: "a", Value: bson.D{{Key: "b", Value: bson.D{{Key: "c", Value: int32(1)}}}}}}},
		{Key: "emptydoc", Value: bson.D{}},
		{Key: "array", Value: bson.A{int32(1), "two", bson.A{3.0, bson.A{}}, bson.D{{Key: "x", Value: nil}}}},
		{Key: "emptyarray", Value: bson.A{}},
	}
	ids := []any{int32(1), int64(2), 2.5, "s", oid, uuid(), uuid(), bson.D{{Key: "k", Value: "compound"}},
		primitive.NewDateTimeFromTime(time.Unix(0, 0)), true}
	var docs []any
	for i, id := range ids {
		d := append(bson.D{{Key: "_id", Value: id}, {Key: "i", Value: int32(i)}}, all...)
		docs = append(docs, d)
	}
	// lungo keeps fields where they are given; MongoDB and the engine put
	// _id first.
	docs = append(docs, bson.D{{Key: "a", Value: int32(1)}, {Key: "_id", Value: "late"}, {Key: "z", Value: bson.A{}}})
	sink := c.Database("app").Collection("sink")
	if _, err := sink.InsertMany(ctx, docs); err != nil {
		t.Fatal(err)
	}
	_, err := sink.Indexes().CreateOne(ctx, mongo.IndexModel{
		Keys:    bson.D{{Key: "i", Value: -1}, {Key: "string", Value: 1}},
		Options: options.Index().SetName("by_i_desc").SetUnique(true),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Database("other").CreateCollection(ctx, "empty"); err != nil {
		t.Fatal(err)
	}
	_, err = c.Database("other").Collection("indexed_empty").Indexes().CreateOne(ctx, mongo.IndexModel{
		Keys:    bson.D{{Key: "email", Value: 1}},
		Options: options.Index().SetUnique(true),
	})
	if err != nil {
		t.Fatal(err)
	}
}

// convWriteLungo writes a lungo file store at path with lungo itself and
// returns the file's bytes.
func convWriteLungo(t *testing.T, path string, fill convFixture) []byte {
	t.Helper()
	ctx := context.Background()
	client, eng, err := lungo.Open(ctx, lungo.Options{Store: lungo.NewFileStore(path, 0o600)})
	if err != nil {
		t.Fatal(err)
	}
	fill(ctx, t, client)
	eng.Close()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// convContent is a store's content as a client serves it.
type convContent struct {
	// docs maps a namespace to its documents by _id (the _id's type and
	// bytes).
	docs map[string]map[string]bson.Raw
	// indexes maps a namespace to its sorted index descriptions.
	indexes map[string][]string
}

// convRead reads every collection, document and index a client serves,
// except lungo's local.oplog.
func convRead(t *testing.T, c lungo.IClient) convContent {
	t.Helper()
	ctx := context.Background()
	out := convContent{docs: map[string]map[string]bson.Raw{}, indexes: map[string][]string{}}
	dbs, err := c.ListDatabaseNames(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	for _, db := range dbs {
		names, err := c.Database(db).ListCollectionNames(ctx, bson.D{})
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range names {
			ns := db + "." + name
			if ns == "local.oplog" {
				continue
			}
			coll := c.Database(db).Collection(name)
			cur, err := coll.Find(ctx, bson.D{})
			if err != nil {
				t.Fatal(err)
			}
			docs := map[string]bson.Raw{}
			for cur.Next(ctx) {
				var raw bson.Raw
				if err := cur.Decode(&raw); err != nil {
					t.Fatal(err)
				}
				id := raw.Lookup("_id")
				docs[fmt.Sprintf("%02x:%x", byte(id.Type), id.Value)] = raw
			}
			if err := cur.Err(); err != nil {
				t.Fatal(err)
			}
			cur.Close(ctx)
			out.docs[ns] = docs
			icur, err := coll.Indexes().List(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var ixs []string
			for icur.Next(ctx) {
				var spec struct {
					Name   string   `bson:"name"`
					Key    bson.Raw `bson:"key"`
					Unique bool     `bson:"unique"`
				}
				if err := icur.Decode(&spec); err != nil {
					t.Fatal(err)
				}
				ixs = append(ixs, fmt.Sprintf("%s key=%s unique=%v", spec.Name, spec.Key, spec.Unique))
			}
			if err := icur.Err(); err != nil {
				t.Fatal(err)
			}
			icur.Close(ctx)
			slices.Sort(ixs)
			out.indexes[ns] = ixs
		}
	}
	return out
}

// convReadLungo reads a lungo file through lungo. It reads a copy, so the
// file itself is not touched.
func convReadLungo(t *testing.T, original []byte) convContent {
	t.Helper()
	path := filepath.Join(t.TempDir(), "copy.lungo")
	if err := os.WriteFile(path, original, 0o600); err != nil {
		t.Fatal(err)
	}
	client, eng, err := lungo.Open(context.Background(), lungo.Options{Store: lungo.NewFileStore(path, 0o600)})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	return convRead(t, client)
}

// convReadStore opens the converted store and reads it.
func convReadStore(t *testing.T, path string) convContent {
	t.Helper()
	e, err := Open(context.Background(), Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	return convRead(t, e.Client())
}

// convIDFirst is raw with its _id moved first when it is not.
func convIDFirst(t *testing.T, raw bson.Raw) bson.Raw {
	t.Helper()
	elems, err := raw.Elements()
	if err != nil {
		t.Fatal(err)
	}
	if len(elems) == 0 || elems[0].Key() == "_id" {
		return raw
	}
	var d bson.D
	if err := bson.Unmarshal(raw, &d); err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(d, func(e bson.E) bool { return e.Key == "_id" })
	d = append(bson.D{d[i]}, append(d[:i:i], d[i+1:]...)...)
	b, err := bson.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// convCheckSame fails unless the converted store holds what lungo held:
// the same namespaces, the same documents byte for byte (with _id first),
// the same indexes. The engine lists every index; lungo does not list the
// _id index of a collection it created without one, so that one is left
// out of the comparison.
func convCheckSame(t *testing.T, got, want convContent) {
	t.Helper()
	if g, w := slices.Sorted(maps.Keys(got.docs)), slices.Sorted(maps.Keys(want.docs)); !slices.Equal(g, w) {
		t.Fatalf("namespaces: got %v, want %v", g, w)
	}
	for ns, wdocs := range want.docs {
		gdocs := got.docs[ns]
		if len(gdocs) != len(wdocs) {
			t.Errorf("%s: got %d documents, want %d", ns, len(gdocs), len(wdocs))
		}
		for id, w := range wdocs {
			g, ok := gdocs[id]
			if !ok {
				t.Errorf("%s: document %s missing", ns, id)
				continue
			}
			if w = convIDFirst(t, w); !bytes.Equal(g, w) {
				t.Errorf("%s: document %s:\n got %s\nwant %s", ns, id, g, w)
			}
		}
		withoutID := func(ixs []string) []string {
			return slices.DeleteFunc(slices.Clone(ixs), func(s string) bool { return strings.HasPrefix(s, "_id_ ") })
		}
		if g, w := withoutID(got.indexes[ns]), withoutID(want.indexes[ns]); !slices.Equal(g, w) {
			t.Errorf("%s: indexes:\n got %q\nwant %q", ns, g, w)
		}
	}
}

// convLog captures log lines.
type convLog struct{ buf bytes.Buffer }

func (l *convLog) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(&l.buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// lines returns the captured lines that mention s.
func (l *convLog) lines(s string) []string {
	var out []string
	for line := range strings.Lines(l.buf.String()) {
		if strings.Contains(line, s) {
			out = append(out, line)
		}
	}
	return out
}

// convListDir lists a directory's names.
func convListDir(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

func convCheckFile(t *testing.T, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s changed: got %d bytes, want the original %d bytes", path, len(got), len(want))
	}
}

func convNeeds(t *testing.T, path string, want bool) {
	t.Helper()
	got, err := NeedsConversion(path)
	if err != nil {
		t.Fatalf("NeedsConversion: %v", err)
	}
	if got != want {
		t.Fatalf("NeedsConversion(%s) = %v, want %v", path, got, want)
	}
}

func TestConvertLungo(t *testing.T) {
	tests := []struct {
		name string
		fill convFixture
		docs int
	}{
		{"annals shapes", convAnnals(4, 25), 102},
		{"every BSON type", convKitchenSink, 11},
		{"every collection dropped", func(ctx context.Context, t *testing.T, c lungo.IClient) {
			if err := c.Database("app").CreateCollection(ctx, "gone"); err != nil {
				t.Fatal(err)
			}
			if err := c.Database("app").Drop(ctx); err != nil {
				t.Fatal(err)
			}
		}, 0},
		{"empty collections only", convAnnals(0, 0), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			path := filepath.Join(dir, "annals.db")
			original := convWriteLungo(t, path, tt.fill)
			want := convReadLungo(t, original)
			convNeeds(t, path, true)

			var log convLog
			if err := ConvertLungo(ctx, path, Options{Logger: log.logger()}); err != nil {
				t.Fatal(err)
			}
			convNeeds(t, path, false)
			if st, err := os.Stat(path); err != nil || !st.IsDir() {
				t.Fatalf("%s after conversion: %v, %v; want a directory", path, st, err)
			}
			convCheckFile(t, path+BackupSuffix, original)
			if got, want := convListDir(t, dir), []string{"annals.db", "annals.db" + BackupSuffix}; !slices.Equal(got, want) {
				t.Errorf("directory holds %q, want %q", got, want)
			}
			lines := log.lines("converted lungo")
			if len(lines) != 1 || !strings.Contains(lines[0], "level=INFO") || !strings.Contains(lines[0], fmt.Sprintf("documents=%d", tt.docs)) {
				t.Errorf("log lines: %q; want one Info line with documents=%d", lines, tt.docs)
			}
			convCheckSame(t, convReadStore(t, path), want)

			// Converting again is a no-op.
			if err := ConvertLungo(ctx, path, Options{Logger: log.logger()}); err != nil {
				t.Fatalf("second conversion: %v", err)
			}
			if got := len(log.lines("converted lungo")); got != 1 {
				t.Errorf("second conversion logged: got %d lines in all, want 1", got)
			}
			convCheckFile(t, path+BackupSuffix, original)
			convCheckSame(t, convReadStore(t, path), want)
		})
	}
}

// TestConvertLungoUniqueIndexes checks the converted unique indexes still
// refuse duplicates and the plain ones do not.
func TestConvertLungoUniqueIndexes(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "annals.db")
	convWriteLungo(t, path, convAnnals(2, 3))
	if err := ConvertLungo(ctx, path, Options{}); err != nil {
		t.Fatal(err)
	}
	e, err := Open(ctx, Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	events := e.Client().Database("annals").Collection("events")
	var first struct {
		ID      primitive.Binary `bson:"_id"`
		Stream  primitive.Binary `bson:"aggregate_uuid"`
		Type    string           `bson:"aggregate_type"`
		Version int64            `bson:"version"`
	}
	if err := events.FindOne(ctx, bson.D{{Key: "version", Value: int64(3)}}).Decode(&first); err != nil {
		t.Fatal(err)
	}
	newID := convUUIDs(99)
	tests := []struct {
		name    string
		doc     bson.D
		wantDup bool
	}{
		{"same stream and version", bson.D{{Key: "_id", Value: newID()}, {Key: "aggregate_uuid", Value: first.Stream}, {Key: "version", Value: first.Version}}, true},
		{"same _id", bson.D{{Key: "_id", Value: first.ID}, {Key: "aggregate_uuid", Value: newID()}, {Key: "version", Value: int64(1)}}, true},
		{"same stream, next version", bson.D{{Key: "_id", Value: newID()}, {Key: "aggregate_uuid", Value: first.Stream}, {Key: "version", Value: int64(4)},
			{Key: "aggregate_type", Value: first.Type}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := events.InsertOne(ctx, tt.doc)
			if got := mongo.IsDuplicateKeyError(err); got != tt.wantDup {
				t.Errorf("insert: %v; duplicate key error: got %v, want %v", err, got, tt.wantDup)
			}
			if !tt.wantDup && err != nil {
				t.Errorf("insert: %v", err)
			}
		})
	}
}

// TestConvertLungoResume simulates crashes at each step and checks a new
// conversion finishes the job from what is left.
func TestConvertLungoResume(t *testing.T) {
	ctx := context.Background()
	// convertedCopy converts a copy of the original and returns the new
	// store's directory.
	convertedCopy := func(t *testing.T, original []byte) string {
		t.Helper()
		p := filepath.Join(t.TempDir(), "copy.db")
		if err := os.WriteFile(p, original, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := ConvertLungo(ctx, p, Options{}); err != nil {
			t.Fatal(err)
		}
		return p
	}
	rename := func(t *testing.T, from, to string) {
		t.Helper()
		if err := os.Rename(from, to); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name  string
		crash func(t *testing.T, path string, original []byte)
	}{
		{"during step 1, nothing built", func(t *testing.T, path string, _ []byte) {
			if err := os.Mkdir(path+ConvertingSuffix, 0o700); err != nil {
				t.Fatal(err)
			}
		}},
		{"during step 1, half a store built", func(t *testing.T, path string, _ []byte) {
			e, err := Open(ctx, Options{Path: path + ConvertingSuffix})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.Client().Database("annals").Collection("events").InsertOne(ctx, bson.D{{Key: "_id", Value: "stray"}}); err != nil {
				t.Fatal(err)
			}
			if _, err := e.Client().Database("junk").Collection("x").InsertOne(ctx, bson.D{{Key: "_id", Value: 1}}); err != nil {
				t.Fatal(err)
			}
			e.Close()
		}},
		{"during step 1, garbage in the directory", func(t *testing.T, path string, _ []byte) {
			if err := os.Mkdir(path+ConvertingSuffix, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(path+ConvertingSuffix, "000002.log"), []byte("torn"), 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{"before step 2, store complete", func(t *testing.T, path string, original []byte) {
			rename(t, convertedCopy(t, original), path+ConvertingSuffix)
		}},
		{"after step 2, no store", func(t *testing.T, path string, _ []byte) {
			rename(t, path, path+BackupSuffix)
		}},
		{"after step 2, half a store", func(t *testing.T, path string, _ []byte) {
			rename(t, path, path+BackupSuffix)
			if err := os.Mkdir(path+ConvertingSuffix, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(path+ConvertingSuffix, MarkerFile), []byte("half"), 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{"after step 2, store complete", func(t *testing.T, path string, original []byte) {
			rename(t, path, path+BackupSuffix)
			rename(t, convertedCopy(t, original), path+ConvertingSuffix)
		}},
		{"backup already there, identical", func(t *testing.T, path string, original []byte) {
			if err := os.WriteFile(path+BackupSuffix, original, 0o600); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "annals.db")
			original := convWriteLungo(t, path, convAnnals(3, 10))
			want := convReadLungo(t, original)
			tt.crash(t, path, original)
			convNeeds(t, path, true)

			if err := ConvertLungo(ctx, path, Options{}); err != nil {
				t.Fatal(err)
			}
			convNeeds(t, path, false)
			convCheckFile(t, path+BackupSuffix, original)
			if got, want := convListDir(t, dir), []string{"annals.db", "annals.db" + BackupSuffix}; !slices.Equal(got, want) {
				t.Errorf("directory holds %q, want %q", got, want)
			}
			convCheckSame(t, convReadStore(t, path), want)
		})
	}
}

// TestConvertLungoRefused checks the states ConvertLungo must refuse, and
// that refusing writes nothing.
func TestConvertLungoRefused(t *testing.T) {
	ctx := context.Background()
	valid := func(t *testing.T) []byte {
		t.Helper()
		return convWriteLungo(t, filepath.Join(t.TempDir(), "valid.db"), convAnnals(2, 5))
	}
	lungoFile := func(t *testing.T, ns lungo.FileNamespace) []byte {
		t.Helper()
		b, err := bson.Marshal(lungo.File{Namespaces: map[string]lungo.FileNamespace{"app.things": ns}})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	doc := func(d bson.D) bsonkit.Doc { return &d }
	idIndex := lungo.FileIndex{Key: doc(bson.D{{Key: "_id", Value: int32(1)}}), Unique: true}
	tests := []struct {
		name string
		// file returns the bytes at path; extra sets up the paths beside.
		file    func(t *testing.T) []byte
		extra   func(t *testing.T, path string)
		wantErr error
	}{
		{name: "empty file", file: func(*testing.T) []byte { return nil }, wantErr: ErrCorrupt},
		{name: "four bytes", file: func(*testing.T) []byte { return []byte{5, 0, 0, 0} }, wantErr: ErrCorrupt},
		{name: "truncated", file: func(t *testing.T) []byte { b := valid(t); return b[:len(b)/2] }, wantErr: ErrCorrupt},
		{name: "last byte cut", file: func(t *testing.T) []byte { b := valid(t); return b[:len(b)-1] }, wantErr: ErrCorrupt},
		{name: "garbage appended", file: func(t *testing.T) []byte { return append(valid(t), "garbage"...) }, wantErr: ErrCorrupt},
		{name: "length header flipped", file: func(t *testing.T) []byte { b := valid(t); b[1] ^= 0xff; return b }, wantErr: ErrCorrupt},
		{name: "element type flipped", file: func(t *testing.T) []byte { b := valid(t); b[4] = 0x7e; return b }, wantErr: ErrCorrupt},
		{name: "terminator flipped", file: func(t *testing.T) []byte { b := valid(t); b[len(b)-1] = 0xff; return b }, wantErr: ErrCorrupt},
		{name: "inner length flipped", file: func(t *testing.T) []byte {
			b := valid(t)
			i := bytes.Index(b, []byte("namespaces\x00")) + len("namespaces\x00")
			b[i] ^= 0x55
			return b
		}, wantErr: ErrCorrupt},
		{name: "BSON but not lungo", file: func(t *testing.T) []byte {
			b, _ := bson.Marshal(bson.D{{Key: "hello", Value: "world"}})
			return b
		}, wantErr: ErrCorrupt},
		{name: "duplicate under a unique index", file: func(t *testing.T) []byte {
			return lungoFile(t, lungo.FileNamespace{
				Documents: bsonkit.List{doc(bson.D{{Key: "_id", Value: 1}, {Key: "k", Value: 1}}), doc(bson.D{{Key: "_id", Value: 2}, {Key: "k", Value: 1}})},
				Indexes:   map[string]lungo.FileIndex{"_id_": idIndex, "k_1": {Key: doc(bson.D{{Key: "k", Value: int32(1)}}), Unique: true}},
			})
		}, wantErr: ErrCorrupt},
		{name: "duplicate _id, no _id index in the file", file: func(t *testing.T) []byte {
			// lungo loads this; the engine refuses the second document.
			return lungoFile(t, lungo.FileNamespace{
				Documents: bsonkit.List{doc(bson.D{{Key: "_id", Value: 1}, {Key: "n", Value: "a"}}), doc(bson.D{{Key: "_id", Value: 1}, {Key: "n", Value: "b"}})},
			})
		}, wantErr: ErrCorrupt},
		{name: "document without _id", file: func(t *testing.T) []byte {
			return lungoFile(t, lungo.FileNamespace{Documents: bsonkit.List{doc(bson.D{{Key: "n", Value: "a"}})}})
		}, wantErr: ErrCorrupt},
		{name: "partial index", file: func(t *testing.T) []byte {
			return lungoFile(t, lungo.FileNamespace{Indexes: map[string]lungo.FileIndex{"_id_": idIndex,
				"k_1": {Key: doc(bson.D{{Key: "k", Value: int32(1)}}), Partial: doc(bson.D{{Key: "k", Value: bson.D{{Key: "$exists", Value: true}}}})}}})
		}, wantErr: ErrUnsupported},
		{name: "TTL index", file: func(t *testing.T) []byte {
			return lungoFile(t, lungo.FileNamespace{Indexes: map[string]lungo.FileIndex{"_id_": idIndex,
				"at_1": {Key: doc(bson.D{{Key: "at", Value: int32(1)}}), Expiry: time.Hour}}})
		}, wantErr: ErrUnsupported},
		{name: "different backup in the way", file: valid, extra: func(t *testing.T, path string) {
			if err := os.WriteFile(path+BackupSuffix, []byte("someone else's"), 0o600); err != nil {
				t.Fatal(err)
			}
		}, wantErr: ErrBackupExists},
		{name: "a directory as backup", file: valid, extra: func(t *testing.T, path string) {
			if err := os.Mkdir(path+BackupSuffix, 0o700); err != nil {
				t.Fatal(err)
			}
		}, wantErr: ErrBackupExists},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "annals.db")
			content := tt.file(t)
			if err := os.WriteFile(path, content, 0o600); err != nil {
				t.Fatal(err)
			}
			if tt.extra != nil {
				tt.extra(t, path)
			}
			before := convListDir(t, dir)
			convNeeds(t, path, true)

			var log convLog
			err := ConvertLungo(ctx, path, Options{Logger: log.logger()})
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("ConvertLungo: got %v, want an error wrapping %v", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name %s", err, path)
			}
			t.Logf("refused: %v", err)
			convCheckFile(t, path, content)
			if got := convListDir(t, dir); !slices.Equal(got, before) {
				t.Errorf("directory holds %q after the refusal, want %q as before", got, before)
			}
			if lines := log.lines("converted"); len(lines) != 0 {
				t.Errorf("logged %q after a refusal", lines)
			}
			convNeeds(t, path, true)
		})
	}
}

// TestConvertLungoNothingToDo checks the states with nothing to convert.
func TestConvertLungoNothingToDo(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		setup   func(t *testing.T, path string)
		wantErr bool
	}{
		{"nothing at path", func(*testing.T, string) {}, false},
		{"a store directory", func(t *testing.T, path string) {
			e, err := Open(ctx, Options{Path: path})
			if err != nil {
				t.Fatal(err)
			}
			if err := e.Close(); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"an empty directory", func(t *testing.T, path string) {
			if err := os.Mkdir(path, 0o700); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"converting directory without its source", func(t *testing.T, path string) {
			if err := os.Mkdir(path+ConvertingSuffix, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(path+ConvertingSuffix, MarkerFile), []byte("maybe the only copy"), 0o600); err != nil {
				t.Fatal(err)
			}
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "annals.db")
			tt.setup(t, path)
			before := convListDir(t, dir)
			needs, nerr := NeedsConversion(path)
			err := ConvertLungo(ctx, path, Options{})
			if tt.wantErr {
				if nerr == nil || err == nil {
					t.Fatalf("NeedsConversion: %v, ConvertLungo: %v; want both to fail", nerr, err)
				}
				t.Logf("refused: %v", err)
			} else {
				if nerr != nil || needs {
					t.Errorf("NeedsConversion: %v, %v; want false, nil", needs, nerr)
				}
				if err != nil {
					t.Errorf("ConvertLungo: %v", err)
				}
			}
			if got := convListDir(t, dir); !slices.Equal(got, before) {
				t.Errorf("directory holds %q, want %q as before", got, before)
			}
		})
	}
}

// convWriteCatalog writes a lungo file of events with lungo's own file
// writer (lungo.FileStore.Store of a catalog built with mongokit): lungo's
// client clones the collection on every insert, which takes minutes for
// 20,000 documents.
func convWriteCatalog(t *testing.T, path string, streams, perStream int) []byte {
	t.Helper()
	events := mongokit.NewCollection(true)
	for _, m := range convEventIndexes {
		key, err := bsonkit.Convert(m.Keys)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := events.CreateIndex(*m.Options.Name, mongokit.IndexConfig{Key: key, Unique: m.Options.Unique != nil && *m.Options.Unique}); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range convEvents(convUUIDs(1), time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC), streams, perStream) {
		doc, err := bsonkit.Convert(d)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := events.Insert(doc); err != nil {
			t.Fatal(err)
		}
	}
	cat := lungo.NewCatalog()
	cat.Namespaces[lungo.Handle{"annals", "events"}] = events
	if err := lungo.NewFileStore(path, 0o600).Store(cat); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestConvertLungoLarge converts 20,000 events and logs the time and the
// memory allocated; it asserts only the content.
func TestConvertLungoLarge(t *testing.T) {
	if testing.Short() {
		t.Skip("large conversion skipped in -short mode")
	}
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "annals.db")
	original := convWriteCatalog(t, path, 200, 100)
	want := convReadLungo(t, original)

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	if err := ConvertLungo(ctx, path, Options{}); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	runtime.ReadMemStats(&after)
	t.Logf("converted 20,000 events (a %d-byte lungo file) in %v, allocating %d MiB in all", len(original), took,
		(after.TotalAlloc-before.TotalAlloc)>>20)

	got := convReadStore(t, path)
	if n := len(got.docs["annals.events"]); n != 20_000 {
		t.Fatalf("converted store has %d events, want 20000", n)
	}
	convCheckSame(t, got, want)
	convCheckFile(t, path+BackupSuffix, original)
}

// TestConvertLungoClustered checks that a conversion builds the indexes
// Options.ConvertClustered names clustered, the others as they were, and
// that the documents read back the same through every index.
func TestConvertLungoClustered(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "annals.db")
	original := convWriteLungo(t, path, convAnnals(4, 25))
	want := convReadLungo(t, original)
	opts := Options{ConvertClustered: []string{"annals.events.aggregate_uuid_1_version_1", "annals.events.no_such_index"}}
	if err := ConvertLungo(ctx, path, opts); err != nil {
		t.Fatal(err)
	}
	convCheckSame(t, convReadStore(t, path), want)

	e, err := Open(ctx, Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	specs, err := e.Client().Database("annals").Collection("events").Indexes().ListSpecifications(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var clustered []string
	for _, s := range specs {
		if s.Clustered != nil && *s.Clustered {
			clustered = append(clustered, s.Name)
		}
	}
	if want := []string{"aggregate_uuid_1_version_1"}; !slices.Equal(clustered, want) {
		t.Errorf("clustered indexes of annals.events: got %q, want %q", clustered, want)
	}
	// Every stream reads back whole, in order, through the clustered index.
	events := e.Client().Database("annals").Collection("events")
	streams, err := events.Distinct(ctx, "aggregate_uuid", bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	if len(streams) != 4 {
		t.Fatalf("got %d streams, want 4", len(streams))
	}
	for _, s := range streams {
		filter := bson.D{{Key: "aggregate_uuid", Value: s}}
		sort := bson.D{{Key: "version", Value: 1}}
		plan, err := e.Client().Database("annals").Collection("events").(*Collection).Explain(ctx, filter, sort)
		if err != nil {
			t.Fatal(err)
		}
		if plan != "IXSCAN aggregate_uuid_1_version_1" {
			t.Errorf("stream load plan: got %q, want IXSCAN aggregate_uuid_1_version_1", plan)
		}
		cur, err := events.Find(ctx, filter, options.Find().SetSort(sort))
		if err != nil {
			t.Fatal(err)
		}
		var got []bson.Raw
		if err := cur.All(ctx, &got); err != nil {
			t.Fatal(err)
		}
		if len(got) != 25 {
			t.Fatalf("stream %v: got %d events, want 25", s, len(got))
		}
		for i, raw := range got {
			if v := raw.Lookup("version").AsInt64(); v != int64(i+1) {
				t.Fatalf("stream %v: event %d has version %d, want %d", s, i, v, i+1)
			}
		}
	}
}
