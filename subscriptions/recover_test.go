package subscriptions

import (
	"context"
	"testing"
	"time"

	"github.com/annalsdb/annals/projections"
	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
)

// TestFailedFeedRecovers: a feed whose queue write is refused fails, as
// any projection would, and Run puts it back to work by itself once the
// cause is gone: the event that failed is then queued and delivered.
func TestFailedFeedRecovers(t *testing.T) {
	ctx := context.Background()
	svc, store, clk := newService(t, "memory:")
	if _, err := svc.Create(ctx, Subscription{Name: "s"}); err != nil {
		t.Fatal(err)
	}
	first := appendEvents(t, store, uuid.New(), "", "Placed")
	if got := fetchN(t, svc, "s", "c", 1); got[0].Event.ID != first[0] {
		t.Fatalf("delivered %s, want %s", got[0].Event.ID, first[0])
	}
	// The cause: a unique index the next message breaks (it has the same
	// version as the first).
	ix := svc.messages().Indexes()
	name, err := ix.CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "version", Value: 1}}, Options: options.Index().SetUnique(true)})
	if err != nil {
		t.Fatal(err)
	}
	second := appendEvents(t, store, uuid.New(), "", "Placed")
	st := waitFeed(t, svc, "s", func(st Status) bool { return st.Feed.State == projections.StateFailed })
	if st.Feed.Failure == nil || st.Feed.Failure.EventID != second[0] {
		t.Fatalf("feed failure %+v, want one on %s", st.Feed.Failure, second[0])
	}
	// Retries while the cause stays fail again; once it is gone, the
	// next one (at most 2 × feedRetryMin later here) succeeds.
	if _, err := ix.DropOne(ctx, name); err != nil {
		t.Fatal(err)
	}
	clk.advance(3 * feedRetryMin)
	got := fetchN(t, svc, "s", "c", 1)
	if got[0].Event.ID != second[0] {
		t.Errorf("after recovery delivered %s, want %s", got[0].Event.ID, second[0])
	}
	waitFeed(t, svc, "s", func(st Status) bool { return st.Feed.State == projections.StateLive })
}

// waitFeed polls a subscription's status until ok holds.
func waitFeed(t *testing.T, svc *Service, name string, ok func(Status) bool) Status {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := svc.Status(context.Background(), name)
		if err != nil {
			t.Fatal(err)
		}
		if ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("subscription %s: feed %s, failure %+v", name, st.Feed.State, st.Feed.Failure)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
