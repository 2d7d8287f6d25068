package projections_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/annalsdb/annals/mongostore"
	"github.com/annalsdb/annals/projections"
	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
)

// A catch-up batch whose transaction would outlive MongoDB's 60 s
// transaction lifetime must not be tried again as it is (the server would
// abort it again, for ever): it is abandoned at MaxBatchDuration and the
// catch-up goes on in smaller batches, each event still applied once.
//
// The batches are timed on a clock the handler moves 10 s per event, so a
// batch of more than 3 events "takes" over 30 s. The handler plays the
// server's part too: once a transaction attempt has run 60 s on that
// clock, its writes fail as MongoDB's do after it aborted the transaction
// (251 NoSuchTransaction, labelled TransientTransactionError), which the
// driver answers by running the same batch again.
func TestCatchUpShrinksBatchesThatRunTooLong(t *testing.T) {
	store := openEmbedded(t)
	ctx := t.Context()
	const streams, perStream = 8, 5
	for range streams {
		evs := make([]mongostore.EventData, perStream)
		for i := range evs {
			evs[i] = mongostore.EventData{Name: "Ticked"}
		}
		if _, err := store.Append(ctx, uuid.New(), mongostore.NoStream, evs...); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	now := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	began := map[context.Context]time.Time{} // each transaction attempt's start
	p := projections.New("ticks", []string{"Ticked"}, func(ctx context.Context, tx *projections.Tx, ev mongostore.Event) error {
		mu.Lock()
		if _, ok := began[ctx]; !ok {
			began[ctx] = now
		}
		now = now.Add(10 * time.Second)
		expired := now.Sub(began[ctx]) > 60*time.Second
		mu.Unlock()
		if expired {
			return mongo.CommandError{Code: 251, Name: "NoSuchTransaction", Labels: []string{"TransientTransactionError"},
				Message: "Transaction with { txnNumber: 1 } has been aborted."}
		}
		_, err := tx.Collection().UpdateOne(ctx, bson.D{{Key: "_id", Value: ev.Stream.String()}},
			bson.D{{Key: "$push", Value: bson.D{{Key: "versions", Value: ev.Version}}}}, options.Update().SetUpsert(true))
		return err
	})
	r := fast(projections.NewRunner(store, p))
	r.BatchSize = 200
	projections.SetBatchClock(r, clock)
	start(t, r)
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	st, err := r.WaitLive(wctx, "ticks")
	if err != nil {
		t.Fatalf("the catch-up did not finish: %v", err)
	}
	if st.Applied != streams*perStream {
		t.Fatalf("applied %d events, want %d", st.Applied, streams*perStream)
	}
	coll, err := r.Collection(ctx, "ticks", "")
	if err != nil {
		t.Fatal(err)
	}
	cur, err := coll.Find(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	var docs []struct {
		Versions []int64 `bson:"versions"`
	}
	if err := cur.All(ctx, &docs); err != nil {
		t.Fatal(err)
	}
	if len(docs) != streams {
		t.Fatalf("%d streams in the read model, want %d", len(docs), streams)
	}
	for _, d := range docs {
		for i, v := range d.Versions {
			if v != int64(i+1) || len(d.Versions) != perStream {
				t.Fatalf("a stream's applied versions are %v, want 1..%d once each", d.Versions, perStream)
			}
		}
	}
}
