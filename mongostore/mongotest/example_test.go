package mongotest_test

import (
	"errors"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/annalsdb/annals/mongostore"
	"github.com/annalsdb/annals/mongostore/mongotest"
)

// A test opens a store with Open and uses it; the store is closed, and its
// database dropped on MongoDB, when the test ends. This example is compiled
// but not run: an example has no *testing.T to hand to Open.
func ExampleOpen() {
	testDeposit := func(t *testing.T) {
		store := mongotest.Open(t)
		account := uuid.New()
		_, err := store.Append(t.Context(), account, mongostore.NoStream,
			mongostore.EventData{Name: "CashDeposited", Data: map[string]any{"amount": 100}})
		if err != nil {
			t.Fatalf("append: %v", err)
		}
		got, err := store.Load(t.Context(), account)
		if err != nil {
			t.Fatalf("load: %v", err)
		}
		if got.Version != 1 {
			t.Errorf("version = %d, want 1", got.Version)
		}
	}
	_ = testDeposit
}

// A test of behaviour only MongoDB has uses OpenMongo, which skips the
// test, saying why, when no replica set is available. Here two writers race
// to append a batch at the same expected version: on MongoDB their
// transactions meet a write conflict (which the driver retries) or the
// unique (aggregate_uuid, version) index, and exactly one append wins; the
// other gets a concurrency error naming the winner's version. The same test
// runs as TestRacingAppendsOnMongo. This example is compiled but not run:
// an example has no *testing.T to hand to OpenMongo.
func ExampleOpenMongo() {
	_ = testRacingAppends
}

// testRacingAppends races two batch appends expecting version 1.
func testRacingAppends(t *testing.T) {
	store := mongotest.OpenMongo(t)
	ctx := t.Context()
	account := uuid.New()
	opened := mongostore.EventData{Name: "AccountOpened"}
	if _, err := store.Append(ctx, account, mongostore.NoStream, opened); err != nil {
		t.Fatalf("open: %v", err)
	}
	deposit := mongostore.EventData{Name: "CashDeposited", Data: map[string]any{"amount": 100}}
	start := make(chan struct{})
	errs := make(chan error, 2)
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			<-start
			_, err := store.Append(ctx, account, mongostore.Exact(1), deposit, deposit)
			errs <- err
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	won, lost := 0, 0
	for err := range errs {
		var ce *mongostore.ConcurrencyError
		switch {
		case err == nil:
			won++
		case errors.As(err, &ce) && ce.Actual == 3:
			lost++
		default:
			t.Fatalf("append: %v, want success or a concurrency error at version 3", err)
		}
	}
	if won != 1 || lost != 1 {
		t.Fatalf("%d appends won and %d lost, want one of each", won, lost)
	}
	got, err := store.Load(ctx, account)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	if got.Version != 3 {
		t.Errorf("version = %d, want 3: one batch of two on top of the opening", got.Version)
	}
}

func TestRacingAppendsOnMongo(t *testing.T) { testRacingAppends(t) }
