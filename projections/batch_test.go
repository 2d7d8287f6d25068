package projections_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/annalsdb/annals/mongostore"
	"github.com/annalsdb/annals/projections"
	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
)

// A batch handler's error fails the projection naming the event given to
// FailedOn (else the batch's first event), and nothing of the batch is
// written; a write the bulk write refuses fails it too.
func TestBatchHandlerFailure(t *testing.T) {
	s := openStore(t)
	ctx := t.Context()
	poison := uuid.New()
	stream := uuid.New()
	_, err := s.Append(ctx, stream, mongostore.NoStream,
		mongostore.EventData{Name: "Noted"}, mongostore.EventData{Name: "Noted"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, uuid.New(), mongostore.NoStream, mongostore.EventData{ID: poison, Name: "Poison"}); err != nil {
		t.Fatal(err)
	}
	p := projections.NewBatch("notes", []string{"Noted", "Poison"}, func(ctx context.Context, w *projections.Writes, events []mongostore.Event) error {
		for _, ev := range events {
			if ev.Name == "Poison" {
				return projections.FailedOn(ev, errors.New("cannot note poison"))
			}
			w.Queue(ev, "", mongo.NewInsertOneModel().SetDocument(bson.D{{Key: "_id", Value: ev.ID.String()}}))
		}
		return nil
	})
	r := fast(projections.NewRunner(s, p))
	r.BatchSize = 10 // all three events in one batch
	start(t, r)
	st := waitState(t, r, "notes", projections.StateFailed)
	if st.Failure == nil || st.Failure.EventID != poison || st.Failure.Error != "cannot note poison" {
		t.Fatalf("failure %+v, want the poison event and its error", st.Failure)
	}
	coll, err := r.Collection(ctx, "notes", "")
	if err != nil {
		t.Fatal(err)
	}
	if n, err := coll.CountDocuments(ctx, bson.D{}); err != nil || n != 0 {
		t.Fatalf("%d notes written by the failed batch (%v), want none", n, err)
	}
}

// A projection has one handler form.
func TestBatchHandlerValidation(t *testing.T) {
	s := openEmbedded(t)
	both := projections.NewBatch("both", []string{"A"}, func(context.Context, *projections.Writes, []mongostore.Event) error { return nil })
	both.Handler = func(context.Context, *projections.Tx, mongostore.Event) error { return nil }
	err := projections.NewRunner(s, both).Run(t.Context())
	if err == nil || !strings.Contains(err.Error(), "both a Handler and a BatchHandler") {
		t.Fatalf("Run with both handlers: %v", err)
	}
}
