package projections_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/annalsdb/annals/internal/mockmongo"
	"github.com/annalsdb/annals/internal/roundtrip"
	"github.com/annalsdb/annals/mongostore"
	"github.com/annalsdb/annals/projections"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
)

// mockStore opens a store on the driver's mock deployment, through a
// counting wrapper as a user's instrumented client would be.
func mockStore(t *testing.T) (*mockmongo.Mock, *roundtrip.Client, *mongostore.Store) {
	t.Helper()
	m := mockmongo.New(t, nil)
	m.Script(mockmongo.StoreSchema()...)
	client := roundtrip.Wrap(m.Client)
	store, err := mongostore.New(t.Context(), client)
	if err != nil {
		t.Fatalf("mongostore.New on the mock: %v", err)
	}
	m.Clear()
	return m, client, store
}

// The majority time is read through the store's client, whatever wraps
// it: lungo.WithSession refused the wrapper's sessions ("unknown
// session"), so every catch-up on MongoDB failed and retried forever.
func TestMajorityTimeThroughWrappedClient(t *testing.T) {
	m, client, store := mockStore(t)
	want := primitive.Timestamp{T: 1700000000, I: 7}
	// A real replica set stamps every reply with its operationTime.
	m.Script(mockmongo.WithOperationTime(mockmongo.Found("annals.events"), want))
	r := projections.NewRunner(store)
	got, err := projections.MajorityTime(r, t.Context())
	if err != nil {
		t.Fatalf("majorityTime: %v", err)
	}
	if got == nil || *got != want {
		t.Fatalf("majorityTime = %v, want %v", got, want)
	}
	finds := m.Named("find")
	if len(finds) != 1 {
		t.Fatalf("commands sent %v, want one find", m.Names())
	}
	if lvl := mockmongo.Field(finds[0], "readConcern").Document().Lookup("level").StringValue(); lvl != "majority" {
		t.Errorf("find read concern %q, want majority", lvl)
	}
	if n := client.Ops()["FindOne"]; n != 1 {
		t.Errorf("counted %v, want the find counted once", client.Ops())
	}
}

// A handler whose write meets a transient conflict (WriteConflict inside a
// transaction, which MongoDB labels TransientTransactionError) fails with
// a HandlerError; the driver's WithTransaction must still see the label and
// run the transaction again, instead of the worker tearing down its stream
// and lease and backing off.
func TestHandlerErrorTransientIsRetriedByDriver(t *testing.T) {
	wraps := map[string]func(error) error{
		"wrapped":      func(err error) error { return fmt.Errorf("upsert balance: %w", err) },
		"joined":       func(err error) error { return errors.Join(errors.New("also this"), err) },
		"handler-bare": func(err error) error { return err },
	}
	for name, wrap := range wraps {
		t.Run(name, func(t *testing.T) {
			m, _, store := mockStore(t)
			m.Script(
				// What MongoDB answers a write that conflicts inside a
				// transaction: code 112 with the transient label.
				mockmongo.CommandError(112, "WriteConflict", "TransientTransactionError"),
				mockmongo.OK(), // abortTransaction
				mockmongo.OK(bson.E{Key: "n", Value: 1}, bson.E{Key: "nModified", Value: 1}),
				mockmongo.OK(), // commitTransaction
			)
			attempts := 0
			err := store.Transaction(t.Context(), func(sc context.Context) error {
				attempts++
				_, err := store.Database().Collection("balances").UpdateOne(sc,
					bson.D{{Key: "_id", Value: "a"}}, bson.D{{Key: "$inc", Value: bson.D{{Key: "n", Value: 1}}}})
				if err != nil {
					return &projections.HandlerError{Projection: "balances", Err: wrap(err)}
				}
				return nil
			})
			if err != nil {
				t.Fatalf("transaction: %v (commands %v)", err, m.Names())
			}
			if attempts != 2 {
				t.Fatalf("callback ran %d times, want 2 (the driver retries transient errors)", attempts)
			}
			want := []string{"update", "abortTransaction", "update", "commitTransaction"}
			if got := m.Names(); !slices.Equal(got, want) {
				t.Fatalf("commands %v, want %v", got, want)
			}
		})
	}
}

// A handler error that is not transient is not retried: the transaction
// is aborted once and the error comes back as the HandlerError.
func TestHandlerErrorPermanentIsNotRetried(t *testing.T) {
	m, _, store := mockStore(t)
	m.Script(
		mockmongo.WriteError(0, 11000, "E11000 duplicate key error"),
		mockmongo.OK(), // abortTransaction
	)
	attempts := 0
	err := store.Transaction(t.Context(), func(sc context.Context) error {
		attempts++
		_, err := store.Database().Collection("owners").InsertOne(sc, bson.D{{Key: "_id", Value: "a"}})
		if err != nil {
			return &projections.HandlerError{Projection: "owners", Err: err}
		}
		return nil
	})
	var he *projections.HandlerError
	if !errors.As(err, &he) || !mongostore.IsDuplicate(err) {
		t.Fatalf("err = %v, want the HandlerError around the duplicate key error", err)
	}
	if attempts != 1 {
		t.Fatalf("callback ran %d times, want 1", attempts)
	}
}
