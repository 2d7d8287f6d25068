package mongostore

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/bson"
)

// TestQueriesUseIndexes asks the embedded engine how it runs the store's
// own queries: each must walk an index (or the _id order) for its bounds
// and its order, never scan the events collection nor sort in memory.
// This is what keeps an append, a load or a scan page flat in the number
// of events stored.
func TestQueriesUseIndexes(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, "memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	explainer, ok := s.events.(interface {
		Explain(ctx context.Context, filter, sort any) (string, error)
	})
	if !ok {
		t.Fatalf("the embedded events collection (%T) cannot explain its plans", s.events)
	}
	stream := uuid.New()
	at := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	after := Position{RecordedAt: at, Stream: stream, Version: 3}
	vdesc := bson.D{{Key: fieldVersion, Value: -1}}
	vasc := bson.D{{Key: fieldVersion, Value: 1}}
	cases := []struct {
		name         string
		filter, sort any
		want         string
	}{
		{"head read", bson.D{{Key: fieldStream, Value: UUIDValue(stream)}}, vdesc, "IXSCAN " + IndexStreamVersion},
		{"event at a version", bson.D{{Key: fieldStream, Value: UUIDValue(stream)}, {Key: fieldVersion, Value: int64(3)}}, nil, "IXSCAN " + IndexStreamVersion},
		{"whole stream", ReadQuery{}.filter(stream), vasc, "IXSCAN " + IndexStreamVersion},
		{"version range", ReadQuery{FromVersion: 3, ToVersion: 9}.filter(stream), vasc, "IXSCAN " + IndexStreamVersion},
		{"as of a time", ReadQuery{AsOf: at}.filter(stream), vasc, "IXSCAN " + IndexStreamVersion},
		{"scan from the start", ScanQuery{}.filter(), scanSort, "IXSCAN " + IndexRecordedAt + " (order)"},
		{"scan page", ScanQuery{After: after}.filter(), scanSort, "IXSCAN " + IndexRecordedAt},
		{"scan page of some names", ScanQuery{After: after, Names: []string{"A", "B"}}.filter(), scanSort, "IXSCAN " + IndexRecordedAt},
		{"replay check by ids", bson.D{{Key: fieldID, Value: bson.D{{Key: "$in", Value: bson.A{UUIDValue(uuid.New()), UUIDValue(uuid.New())}}}}}, nil, "IDHACK"},
		{"gap fill", bson.D{{Key: "$or", Value: bson.A{
			bson.D{{Key: fieldStream, Value: UUIDValue(stream)}, {Key: fieldVersion, Value: bson.D{{Key: "$gt", Value: 2}, {Key: "$lte", Value: 5}}}},
			bson.D{{Key: fieldStream, Value: UUIDValue(uuid.New())}, {Key: fieldVersion, Value: bson.D{{Key: "$gt", Value: 0}, {Key: "$lte", Value: 1}}}},
		}}}, bson.D{{Key: fieldStream, Value: 1}, {Key: fieldVersion, Value: 1}}, "IXSCAN " + IndexStreamVersion},
		{"streams of a type", bson.D{{Key: fieldStreamType, Value: "Order"}}, bson.D{{Key: fieldStream, Value: 1}}, "IXSCAN " + IndexTypeStream},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := explainer.Explain(ctx, c.filter, c.sort)
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Errorf("plan %q, want %q", got, c.want)
			}
		})
	}
}
