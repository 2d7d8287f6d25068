package mongotest_test

import (
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

// A test of behaviour only MongoDB has uses OpenMongo, which skips the test,
// saying why, when no replica set is available.
func ExampleOpenMongo() {
	testWriteConflict := func(t *testing.T) {
		store := mongotest.OpenMongo(t)
		_ = store // race two transactions and check the driver retried one
	}
	_ = testWriteConflict
}
