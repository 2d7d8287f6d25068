package main

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/annalsdb/annals/mongostore"
	"github.com/google/uuid"
)

// TestConcurrentTransfers races transfers in both directions: each one
// moves money on both accounts or on neither, so the balances add up to
// exactly what the successful transfers say.
func TestConcurrentTransfers(t *testing.T) {
	ctx := context.Background()
	bank := NewBank(openStore(t, "memory:"))
	ana, err := bank.Open(ctx, "ana")
	if err != nil {
		t.Fatal(err)
	}
	bo, err := bank.Open(ctx, "bo")
	if err != nil {
		t.Fatal(err)
	}
	if err := bank.Deposit(ctx, ana, 100); err != nil {
		t.Fatal(err)
	}
	if err := bank.Deposit(ctx, bo, 100); err != nil {
		t.Fatal(err)
	}
	const perSide = 10
	var mu sync.Mutex
	moved := map[string]int64{} // successful cents per direction
	var wg sync.WaitGroup
	release := make(chan struct{})
	for _, dir := range []struct {
		name     string
		from, to uuid.UUID
	}{{"ana→bo", ana, bo}, {"bo→ana", bo, ana}} {
		wg.Go(func() {
			<-release
			for range perSide {
				err := bank.Transfer(ctx, dir.from, dir.to, 3)
				switch {
				case err == nil:
					mu.Lock()
					moved[dir.name] += 3
					mu.Unlock()
				case errors.Is(err, mongostore.ErrConcurrency), errors.Is(err, ErrInsufficientFunds):
				default:
					t.Errorf("%s: %v", dir.name, err)
				}
			}
		})
	}
	close(release)
	wg.Wait()
	a, err := bank.Account(ctx, ana)
	if err != nil {
		t.Fatal(err)
	}
	b, err := bank.Account(ctx, bo)
	if err != nil {
		t.Fatal(err)
	}
	if want := 100 - moved["ana→bo"] + moved["bo→ana"]; a.State.Balance != want {
		t.Errorf("ana holds %d, want %d (moved %v)", a.State.Balance, want, moved)
	}
	if a.State.Balance+b.State.Balance != 200 {
		t.Errorf("ana %d + bo %d != 200: money appeared or vanished", a.State.Balance, b.State.Balance)
	}
}
