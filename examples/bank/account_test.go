package main

import (
	"context"
	"errors"
	"testing"

	"github.com/google/uuid"
)

func TestCommandsRefused(t *testing.T) {
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
	if err := bank.Deposit(ctx, ana, 10_00); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		command func() error
		want    error
	}{
		{"zero deposit", func() error { return bank.Deposit(ctx, ana, 0) }, ErrInvalidAmount},
		{"negative withdrawal", func() error { return bank.Withdraw(ctx, ana, -1) }, ErrInvalidAmount},
		{"overdraft by a cent", func() error { return bank.Withdraw(ctx, ana, 10_01) }, ErrInsufficientFunds},
		{"overdrawing transfer", func() error { return bank.Transfer(ctx, ana, bo, 10_01) }, ErrInsufficientFunds},
		{"transfer to itself", func() error { return bank.Transfer(ctx, ana, ana, 1) }, ErrSameAccount},
		{"negative transfer", func() error { return bank.Transfer(ctx, bo, ana, -5) }, ErrInvalidAmount},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.command(); !errors.Is(err, tc.want) {
				t.Errorf("got %v, want %v", err, tc.want)
			}
			for id, want := range map[uuid.UUID]int64{ana: 2, bo: 1} {
				a, err := bank.Account(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				if a.Version != want {
					t.Errorf("%s at version %d, want %d: a refused command wrote", a.State.Owner, a.Version, want)
				}
			}
		})
	}
	// The whole balance can go.
	if err := bank.Transfer(ctx, ana, bo, 10_00); err != nil {
		t.Fatalf("transfer of the whole balance: %v", err)
	}
}
