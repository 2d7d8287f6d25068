package main

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/annalsdb/annals/mongostore"
	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/mongo/options"
)

// everyType is a payload holding a value of every BSON type the embedded
// engine can store, in an order that is not sorted. (lungo v0.4.0 panics
// on MinKey, MaxKey, JavaScript, Symbol and Undefined, so those are left
// out; canonical Extended JSON carries them too.)
func everyType(i int) bson.D {
	dec, _ := primitive.ParseDecimal128("1234.5000")
	return bson.D{
		{Key: "z_int32", Value: int32(i)},
		{Key: "a_int64", Value: int64(1) << 40},
		{Key: "double_whole", Value: 1.0},
		{Key: "double_negative_zero", Value: math.Copysign(0, -1)},
		{Key: "double_nan", Value: math.NaN()},
		{Key: "double_inf", Value: math.Inf(-1)},
		{Key: "double_tiny", Value: 5e-324},
		{Key: "decimal", Value: dec},
		{Key: "string", Value: "héllo \u2028 <tag> & \"quotes\"\n"},
		{Key: "bool", Value: true},
		{Key: "null", Value: nil},
		{Key: "date", Value: primitive.NewDateTimeFromTime(time.Date(1969, 7, 20, 20, 17, 40, 123e6, time.UTC))},
		{Key: "binary", Value: primitive.Binary{Subtype: 0, Data: []byte{0, 1, 2, 255}}},
		{Key: "uuid", Value: mongostore.UUIDValue(uuid.New())},
		{Key: "user_binary", Value: primitive.Binary{Subtype: 0x80, Data: []byte("x")}},
		{Key: "object_id", Value: primitive.NewObjectID()},
		{Key: "regex", Value: primitive.Regex{Pattern: "^a.*b$", Options: "im"}},
		{Key: "timestamp", Value: primitive.Timestamp{T: 1700000000, I: 7}},
		{Key: "nested", Value: bson.D{{Key: "y", Value: int32(1)}, {Key: "b", Value: bson.A{int64(2), "three", bson.D{{Key: "x", Value: 4.5}}}}}},
		{Key: "empty_doc", Value: bson.D{}},
		{Key: "empty_array", Value: bson.A{}},
	}
}

// fill appends a varied history to s: several streams and types, batches
// and single events, metadata of every kind (escaped keys too), explicit
// and assigned ids.
func fill(t *testing.T, s *mongostore.Store) {
	t.Helper()
	ctx := context.Background()
	for i := range 7 {
		id := uuid.New()
		typ := []string{"Order", "Account", ""}[i%3]
		events := []mongostore.EventData{
			{ID: uuid.New(), Name: "Created", SchemaVersion: int32(1 + i%2), Data: everyType(i),
				Metadata: mongostore.Metadata{CorrelationID: "c-" + fmt.Sprint(i), Actor: "ana",
					Extra: map[string]any{"n": 3, "f": 1.0, "at": time.Date(2020, 1, 2, 3, 4, 5, 6e6, time.UTC),
						"nested": map[string]any{"k": []any{"v", int32(1)}}}}},
			{ID: uuid.New(), Name: "Noted"},
		}
		if i%2 == 0 { // escaped keys: the event is marked metadata_escaped
			events[1].Metadata.Extra = map[string]any{"http.method": "GET", "$op": "x", "100%": 1}
		}
		if _, err := s.AppendStreams(ctx, mongostore.StreamAppend{Stream: id, Type: typ, Expected: mongostore.NoStream, Events: events}); err != nil {
			t.Fatal(err)
		}
		for j := range i {
			if _, err := s.Append(ctx, id, mongostore.Any, mongostore.EventData{Name: "Ticked", Data: map[string]any{"j": j}}); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// rawEvents reads every event document as stored, by _id.
func rawEvents(t *testing.T, s *mongostore.Store) []bson.Raw {
	t.Helper()
	ctx := context.Background()
	cur, err := s.EventsCollection().Find(ctx, bson.D{}, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		t.Fatal(err)
	}
	defer cur.Close(ctx)
	var out []bson.Raw
	for cur.Next(ctx) {
		var doc bson.Raw
		if err := cur.Decode(&doc); err != nil {
			t.Fatal(err)
		}
		out = append(out, doc)
	}
	if err := cur.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// sameEvents checks that two stores hold the same event documents, byte
// for byte, naming the first field that differs.
func sameEvents(t *testing.T, want, got []bson.Raw) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d events, want %d", len(got), len(want))
	}
	for i := range want {
		if bytes.Equal(want[i], got[i]) {
			continue
		}
		we, _ := want[i].Elements()
		ge, _ := got[i].Elements()
		for j := range max(len(we), len(ge)) {
			switch {
			case j >= len(we) || j >= len(ge):
				t.Fatalf("event %d: %d fields, want %d", i, len(ge), len(we))
			case we[j].Key() != ge[j].Key():
				t.Fatalf("event %d field %d is %s, want %s", i, j, ge[j].Key(), we[j].Key())
			case !bytes.Equal(we[j], ge[j]):
				t.Fatalf("event %d field %s:\n got %s\nwant %s", i, we[j].Key(), ge[j].Value(), we[j].Value())
			}
		}
		t.Fatalf("event %d differs outside its fields", i)
	}
}

// TestExportImportRoundTrip moves every event from the memory engine to a
// file: store and back through NDJSON, and checks that the documents are
// byte for byte the originals; importing again changes nothing.
func TestExportImportRoundTrip(t *testing.T) {
	ctx := context.Background()
	src := openStore(t, "memory:")
	fill(t, src)
	want := rawEvents(t, src)
	if len(want) < 20 {
		t.Fatalf("only %d events to move", len(want))
	}

	// memory: → NDJSON file (exportEvents: a memory: store lives in this
	// process only) → file: store (the import command).
	dump := filepath.Join(t.TempDir(), "events.ndjson")
	var buf bytes.Buffer
	n, err := exportEvents(ctx, src, &buf, nil)
	if err != nil || n != int64(len(want)) {
		t.Fatalf("exported %d events (%v), want %d", n, err, len(want))
	}
	if err := os.WriteFile(dump, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	checkScanOrder(t, src, buf.String())
	dst := fileStore(t)
	cli(t, nil, "import", "--store", dst, "--in", dump, "--batch", "4").expect(t, exitOK, fmt.Sprintf("imported %d events, 0 already present", len(want)))
	// Twice: nothing new, from stdin this time.
	withStdin(t, buf.String(), func() {
		cli(t, map[string]string{"ANNALS_STORE": dst}, "import").expect(t, exitOK, fmt.Sprintf("imported 0 events, %d already present", len(want)))
	})
	fileDocs := func() []bson.Raw {
		s := openStore(t, dst)
		defer s.Close(ctx)
		return rawEvents(t, s)
	}
	sameEvents(t, want, fileDocs())

	// file: → NDJSON (the export command) → memory: (importEvents).
	out := filepath.Join(t.TempDir(), "again.ndjson")
	cli(t, nil, "export", "--store", dst, "--out", out).expect(t, exitOK, fmt.Sprintf("exported %d events", len(want)))
	again, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, buf.Bytes()) {
		t.Errorf("the file: store exports differently from the memory: store it was imported from")
	}
	back := openStore(t, "memory:")
	st, err := importEvents(ctx, back, bytes.NewReader(again), defaultImportBatch, nil)
	if err != nil || st.inserted != int64(len(want)) {
		t.Fatalf("import into memory: %+v, %v", st, err)
	}
	sameEvents(t, want, rawEvents(t, back))

	// The moved store works: appends continue the streams.
	stream := uuidOf(t, want[0], "aggregate_uuid")
	if _, err := back.Append(ctx, stream, mongostore.StreamExists, mongostore.EventData{Name: "After"}); err != nil {
		t.Errorf("append after import: %v", err)
	}
}

func uuidOf(t *testing.T, doc bson.Raw, field string) uuid.UUID {
	t.Helper()
	_, data, ok := doc.Lookup(field).BinaryOK()
	if !ok {
		t.Fatalf("no %s", field)
	}
	return uuid.UUID(data)
}

// checkScanOrder checks that an export lists events in mongostore.Scan's
// order.
func checkScanOrder(t *testing.T, s *mongostore.Store, export string) {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(export), "\n")
	i := 0
	for e, err := range s.Scan(context.Background(), mongostore.ScanQuery{}) {
		if err != nil {
			t.Fatal(err)
		}
		if i >= len(lines) || !strings.HasPrefix(lines[i], `{"id":"`+e.ID.String()+`"`) {
			t.Fatalf("export line %d is not event %s, the %dth in scan order", i+1, e.ID, i+1)
		}
		i++
	}
}

// TestImportRefuses: what would duplicate or corrupt a stream is refused,
// naming the event, and nothing of the failed batch is stored.
func TestImportRefuses(t *testing.T) {
	ctx := context.Background()
	src := openStore(t, "memory:")
	id := uuid.New()
	if _, err := src.Append(ctx, id, mongostore.NoStream, mongostore.EventData{Name: "A"}, mongostore.EventData{Name: "B"}, mongostore.EventData{Name: "C"}); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := exportEvents(ctx, src, &buf, nil); err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(strings.TrimSpace(buf.String()), "\n")
	write := func(name, s string) string {
		p := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}

	// A stream whose versions hold other events.
	other := fileStore(t)
	s := openStore(t, other)
	if _, err := s.Append(ctx, id, mongostore.NoStream, mongostore.EventData{Name: "A"}); err != nil {
		t.Fatal(err)
	}
	s.Close(ctx)
	cli(t, nil, "import", "--store", other, "--in", write("all.ndjson", buf.String())).
		expect(t, exitError, "already holds version 1 as another event")

	dst := fileStore(t)
	cli(t, nil, "import", "--store", dst, "--in", write("gap.ndjson", lines[0]+lines[2])).
		expect(t, exitError, "versions 2 to 2 are missing", "line 2")
	cli(t, nil, "import", "--store", dst, "--in", write("changed.ndjson", strings.Replace(lines[0], `"name":"A"`, `"name":"Z"`, 1))).
		expect(t, exitOK, "imported 1 events") // the gap's batch stored nothing: version 1 is free
	cli(t, nil, "import", "--store", dst, "--in", write("first.ndjson", lines[0])).
		expect(t, exitError, "already stored, differently (field name)")
	cli(t, nil, "import", "--store", dst, "--in", write("junk.ndjson", "{\"id\":1}\n")).
		expect(t, exitError, "line 1", "not an export record")
	cli(t, nil, "import", "--store", dst, "--in", write("unknown.ndjson", strings.Replace(lines[0], `{"id"`, `{"extra":1,"id"`, 1))).
		expect(t, exitError, "unknown field")
	cli(t, nil, "import", "--store", dst, "--batch", "0").expect(t, exitUsage, "--batch")
	cli(t, nil, "import", "--store", dst, "--in", "/nonexistent").expect(t, exitError, "no such file")
}

// TestExportRefusesForeignFields: an event document with a field annals
// does not write cannot be exported whole, so export refuses it.
func TestExportRefusesForeignFields(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, "memory:")
	doc := bson.D{
		{Key: "_id", Value: mongostore.UUIDValue(uuid.New())}, {Key: "aggregate_uuid", Value: mongostore.UUIDValue(uuid.New())},
		{Key: "aggregate_type", Value: ""}, {Key: "version", Value: int64(1)}, {Key: "name", Value: "A"},
		{Key: "schema_version", Value: int32(1)}, {Key: "data", Value: bson.D{}}, {Key: "metadata", Value: bson.D{}},
		{Key: "recorded_at", Value: primitive.NewDateTimeFromTime(time.Now())}, {Key: "tenant", Value: "x"},
	}
	if _, err := s.EventsCollection().InsertOne(ctx, doc); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := exportEvents(ctx, s, &buf, nil); err == nil || !strings.Contains(err.Error(), `"tenant"`) {
		t.Errorf("export of a document with a foreign field: %v", err)
	}
}

// TestExportWithProgress draws a bar on a terminal and writes nothing
// but events to stdout.
func TestExportWithProgress(t *testing.T) {
	uri := fileStore(t)
	s := openStore(t, uri)
	seed(t, s, 3, 3)
	s.Close(context.Background())
	asTerminal(t)
	r := cli(t, nil, "export", "--store", uri)
	r.expect(t, exitOK, "exported 9 events")
	if n := strings.Count(r.stdout, "\n"); n != 9 {
		t.Errorf("stdout has %d lines, want 9 events", n)
	}
	if !strings.Contains(r.stderr, "100%") {
		t.Errorf("no progress bar on stderr:\n%q", r.stderr)
	}
	dump := filepath.Join(t.TempDir(), "x.ndjson")
	if err := os.WriteFile(dump, []byte(r.stdout), 0o600); err != nil {
		t.Fatal(err)
	}
	r = cli(t, nil, "import", "--store", fileStore(t), "--in", dump)
	r.expect(t, exitOK, "imported 9 events")
	if !strings.Contains(r.stderr, "100%") {
		t.Errorf("no progress bar on stderr:\n%q", r.stderr)
	}
}
