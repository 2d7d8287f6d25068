package main

import (
	"context"
	"errors"
	"testing"
)

// TestConfirmCancelRace races a confirmation against a cancellation many
// times: exactly one is saved, the other is refused by the business rule
// (after a retry when both decided on the same version), and the order is
// never both confirmed and cancelled.
func TestConfirmCancelRace(t *testing.T) {
	const rounds = 40
	ctx := context.Background()
	store := openStore(t, "memory:")
	orders := NewOrders(store)
	for _, collide := range []bool{true, false} {
		wins := map[string]int{}
		for range rounds {
			id, err := orders.Create(ctx, "ana", 10_00)
			if err != nil {
				t.Fatal(err)
			}
			got := orders.race(ctx, id, collide,
				command{"ana", "confirms", func(o *order) error { return confirm(o, "ana") }},
				command{"bo", "cancels", func(o *order) error { return cancel(o, "bo", "changed mind") }},
			)
			winner, loser := got[0], got[1]
			if winner.Err != nil {
				winner, loser = loser, winner
			}
			if winner.Err != nil || loser.Err == nil {
				t.Fatalf("collide %v: want one saved and one refused, got %v and %v", collide, got[0].Err, got[1].Err)
			}
			wantErr := map[string]error{"confirms": ErrAlreadyConfirmed, "cancels": ErrAlreadyCancelled}[winner.What]
			if !errors.Is(loser.Err, wantErr) {
				t.Errorf("collide %v: %s %s refused with %v, want %v", collide, loser.Operator, loser.What, loser.Err, wantErr)
			}
			if collide && loser.Attempts != 2 {
				t.Errorf("the loser of a collision ran %d attempts, want 2 (conflict, then refusal)", loser.Attempts)
			}
			names := names(t, store, id)
			if len(names) != 2 {
				t.Fatalf("collide %v: order has events %v, want created and one decision", collide, names)
			}
			wins[winner.What]++
		}
		t.Logf("collide %v: wins %v", collide, wins)
	}
}

// TestAddItemRace shows the other way a loser ends: both operators add an
// item, the loser's retry succeeds, and both items are kept.
func TestAddItemRace(t *testing.T) {
	ctx := context.Background()
	orders := NewOrders(openStore(t, "memory:"))
	id, err := orders.Create(ctx, "ana", 0)
	if err != nil {
		t.Fatal(err)
	}
	got := orders.race(ctx, id, true,
		command{"ana", "adds a pen", func(o *order) error { return addItem(o, "pen", 1_00) }},
		command{"bo", "adds a pad", func(o *order) error { return addItem(o, "pad", 2_00) }},
	)
	if got[0].Err != nil || got[1].Err != nil || got[0].Attempts+got[1].Attempts != 3 {
		t.Fatalf("got %+v, want both saved, one of them on its second attempt", got)
	}
	o, err := orders.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if o.State.Items != 2 || o.State.TotalCents != 3_00 || o.Version != 3 {
		t.Errorf("got %+v at version %d, want both items at version 3", *o.State, o.Version)
	}
}
