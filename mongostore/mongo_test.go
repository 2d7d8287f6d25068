package mongostore_test

import (
	"testing"
	"time"

	"github.com/annalsdb/annals/mongostore"
	"github.com/annalsdb/annals/mongostore/mongotest"
	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/bson"
)

// On MongoDB, a scan page far into the events collection reads about one
// page of index keys: the query annals sends (filter, sort, hint, limit)
// is an index range starting at the page, not a walk from the start of an
// index nor a sort in memory, so a catch-up costs linear time in the
// events read rather than quadratic. Asked of the server with explain
// (executionStats). Runs only where a MongoDB answers.
func TestMongoScanPageIsIndexRange(t *testing.T) {
	var now time.Time
	clock := func() time.Time { now = now.Add(time.Millisecond); return now }
	now = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	store := mongotest.OpenMongo(t, mongostore.WithClock(clock))
	ctx := t.Context()
	const n, page = 300, 10
	var positions []mongostore.Position
	for i := range n {
		res, err := store.Append(ctx, uuid.New(), mongostore.NoStream, mongostore.EventData{Name: "Tick", Data: map[string]int{"i": i}})
		if err != nil {
			t.Fatal(err)
		}
		positions = append(positions, mongostore.Position{RecordedAt: res.RecordedAt, Stream: res.Stream, Version: res.ToVersion})
	}
	q := mongostore.ScanQuery{After: positions[n/2], Names: []string{"Tick"}, Limit: page}
	var out struct {
		ExecutionStats struct {
			NReturned         int64 `bson:"nReturned"`
			TotalKeysExamined int64 `bson:"totalKeysExamined"`
			TotalDocsExamined int64 `bson:"totalDocsExamined"`
		} `bson:"executionStats"`
	}
	err := store.Database().RunCommand(ctx, bson.D{
		{Key: "explain", Value: bson.D{
			{Key: "find", Value: mongostore.CollectionEvents},
			{Key: "filter", Value: mongostore.ScanFilter(q)},
			{Key: "sort", Value: mongostore.ScanSort},
			{Key: "hint", Value: mongostore.IndexRecordedAt},
			{Key: "limit", Value: q.Limit},
		}},
		{Key: "verbosity", Value: "executionStats"},
	}).Decode(&out)
	if err != nil {
		t.Fatalf("explain: %v", err)
	}
	st := out.ExecutionStats
	if st.NReturned != page {
		t.Fatalf("explain returned %d, want %d", st.NReturned, page)
	}
	// One key per event of the page, plus the position's own key and the
	// key that ends the range: nothing like the n/2 keys before the page.
	if st.TotalKeysExamined > page+2 || st.TotalDocsExamined > page+1 {
		t.Fatalf("a page of %d after %d events examined %d keys and %d documents: not an index range from the page",
			page, n/2, st.TotalKeysExamined, st.TotalDocsExamined)
	}
}
