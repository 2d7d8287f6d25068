package projections_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/annalsdb/annals/mongostore"
	"github.com/annalsdb/annals/mongostore/mongotest"
	"github.com/annalsdb/annals/projections"
	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/mongo/options"
)

// The tests in this file need a real MongoDB replica set (see mongotest)
// and skip, saying why, without one. They check what no scripted reply
// can: the server's own write conflicts and history loss.

// A write inside a handler that conflicts with a write committed after the
// batch's transaction began fails on MongoDB with WriteConflict, labelled
// TransientTransactionError; the driver reruns the whole batch, and every
// event is still applied once.
func TestMongoWriteConflictInHandlerIsRetried(t *testing.T) {
	store := mongotest.OpenMongo(t)
	ctx := t.Context()
	stream := uuid.New()
	const n = 3
	evs := make([]mongostore.EventData, n)
	for i := range evs {
		evs[i] = mongostore.EventData{Name: "Deposited"}
	}
	if _, err := store.Append(ctx, stream, mongostore.NoStream, evs...); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	calls, interfered := 0, false
	p := projections.New("conflicts", []string{"Deposited"}, func(ctx context.Context, tx *projections.Tx, ev mongostore.Event) error {
		mu.Lock()
		calls++
		first := !interfered
		interfered = true
		mu.Unlock()
		coll := tx.Collection()
		id := bson.D{{Key: "_id", Value: ev.Stream.String()}}
		if first {
			// The transaction has read (its snapshot is taken); now
			// another client writes the document this handler will write.
			_, err := store.Database().Collection(coll.Name()).UpdateOne(context.WithoutCancel(ctx), id,
				bson.D{{Key: "$set", Value: bson.D{{Key: "touched", Value: true}}}}, options.Update().SetUpsert(true))
			if err != nil {
				return err
			}
		}
		_, err := coll.UpdateOne(ctx, id, bson.D{{Key: "$push", Value: bson.D{{Key: "versions", Value: ev.Version}}}},
			options.Update().SetUpsert(true))
		return err
	})
	r := fast(projections.NewRunner(store, p))
	start(t, r)
	st := waitLive(t, r, "conflicts")
	if st.Applied != n {
		t.Fatalf("applied %d, want %d", st.Applied, n)
	}
	mu.Lock()
	got := calls
	mu.Unlock()
	if got <= n {
		t.Fatalf("the handler ran %d times for %d events: no write conflict was retried", got, n)
	}
	coll, err := r.Collection(ctx, "conflicts", "")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Versions []int64 `bson:"versions"`
	}
	if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: stream.String()}}).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Versions) != n {
		t.Fatalf("versions applied %v, want 1..%d once each", doc.Versions, n)
	}
}

// A change stream that starts before the oplog's first entry fails on
// MongoDB with ChangeStreamHistoryLost (286), which the store recognises,
// so projections catch up from the events collection instead of retrying.
func TestMongoHistoryLostIsRecognised(t *testing.T) {
	store := mongotest.OpenMongo(t)
	ctx := t.Context()
	cs, err := store.EventsCollection().Watch(ctx, bson.A{},
		options.ChangeStream().SetStartAtOperationTime(&primitive.Timestamp{T: 1, I: 1}))
	if err == nil {
		nctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		cs.Next(nctx) // some servers report it on the first getMore
		cancel()
		err = cs.Err()
		cs.Close(context.WithoutCancel(ctx))
	}
	if !mongostore.IsHistoryLost(err) {
		t.Fatalf("watch from the dawn of time: %v, want history lost", err)
	}
}
