package projections_test

import (
	"context"
	"testing"
	"time"

	"github.com/annalsdb/annals/mongostore"
	"github.com/annalsdb/annals/projections"
	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/bson"
)

func TestBuiltins(t *testing.T) {
	s := openStore(t)
	b := &bank{t: t, s: s}
	b.open(4)
	b.activity(40)
	untyped := uuid.New()
	if _, err := s.Append(context.Background(), untyped, mongostore.NoStream, mongostore.EventData{Name: "Pinged"}); err != nil {
		t.Fatal(err)
	}
	r := fast(projections.NewRunner(s, projections.Streams(), projections.EventCounts()))
	start(t, r)
	waitLive(t, r, projections.StreamsProjection)
	b.activity(20)
	waitLive(t, r, projections.StreamsProjection)
	waitLive(t, r, projections.EventCountsProjection)

	t.Run("Streams", func(t *testing.T) {
		coll, err := r.Collection(context.Background(), projections.StreamsProjection, "")
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range append(b.accts, untyped) {
			want, err := s.Load(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			var got struct {
				ID        string        `bson:"_id"`
				UUID      bson.RawValue `bson:"aggregate_uuid"`
				Type      string        `bson:"aggregate_type"`
				Version   int64         `bson:"version"`
				CreatedAt time.Time     `bson:"created_at"`
				UpdatedAt time.Time     `bson:"updated_at"`
			}
			if err := coll.FindOne(context.Background(), bson.D{{Key: "_id", Value: id.String()}}).Decode(&got); err != nil {
				t.Fatalf("stream %s: %v", id, err)
			}
			sub, data := got.UUID.Binary()
			first, last := want.Events[0], want.Events[len(want.Events)-1]
			if sub != 4 || uuid.UUID(data) != id || got.Type != want.Type || got.Version != want.Version ||
				!got.CreatedAt.Equal(first.RecordedAt) || !got.UpdatedAt.Equal(last.RecordedAt) {
				t.Errorf("stream %s: got %+v, want type %q version %d created %v updated %v", id, got, want.Type, want.Version, first.RecordedAt, last.RecordedAt)
			}
		}
		n, _ := coll.CountDocuments(context.Background(), bson.D{})
		if n != int64(len(b.accts)+1) {
			t.Errorf("%d stream documents, want %d", n, len(b.accts)+1)
		}
	})

	t.Run("EventCounts", func(t *testing.T) {
		want := map[string]int64{}
		for e, err := range s.Scan(context.Background(), mongostore.ScanQuery{}) {
			if err != nil {
				t.Fatal(err)
			}
			want[e.Name]++
		}
		coll, err := r.Collection(context.Background(), projections.EventCountsProjection, "")
		if err != nil {
			t.Fatal(err)
		}
		cur, err := coll.Find(context.Background(), bson.D{})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]int64{}
		for cur.Next(context.Background()) {
			var d struct {
				Name  string `bson:"_id"`
				Count int64  `bson:"count"`
			}
			if err := cur.Decode(&d); err != nil {
				t.Fatal(err)
			}
			got[d.Name] = d.Count
		}
		if len(got) != len(want) {
			t.Errorf("counts %v, want %v", got, want)
		}
		for name, n := range want {
			if got[name] != n {
				t.Errorf("%s: counted %d, want %d", name, got[name], n)
			}
		}
	})
}

// TestCatchUpBatches: catching up applies many events per transaction.
func TestCatchUpBatches(t *testing.T) {
	s := openStore(t)
	b := &bank{t: t, s: s}
	b.open(10)
	b.activity(1000)
	r := projections.NewRunner(s, accountsProjection())
	var txns, events int
	projections.SetHook(r, func(_ context.Context, point int, _, state string) error {
		if point == projections.HookAfterCommit && state == projections.StateCatchingUp {
			txns++
		}
		return nil
	})
	start(t, r)
	st := waitLive(t, r, "accounts")
	events = int(st.Applied)
	checkTruth(t, s, r)
	if txns == 0 || events/txns < 100 {
		t.Errorf("catch-up applied %d events in %d transactions; want at least 100 per transaction", events, txns)
	}
	t.Logf("catch-up: %d events in %d transactions", events, txns)
}
