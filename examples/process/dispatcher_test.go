package main

import (
	"context"
	"testing"
	"time"

	"github.com/annalsdb/annals/projections"
)

// TestDispatchAfterCrash sends a todo's command and "crashes" before
// marking the todo done; the next step sends it again, the store answers
// Replayed, and the shipment holds the event once.
func TestDispatchAfterCrash(t *testing.T) {
	ctx := context.Background()
	store := openStore(t, "memory:")
	reg := newRegistry()
	runner := projections.NewRunner(store, saga(reg))
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- runner.Run(runCtx) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("runner: %v", err)
		}
	})

	orders := NewOrders(store, reg)
	id, err := orders.Place(ctx, "ana")
	if err != nil {
		t.Fatal(err)
	}
	if err := orders.Confirm(ctx, id, "ops"); err != nil {
		t.Fatal(err)
	}
	waitCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := runner.WaitLive(waitCtx, sagaProjection); err != nil {
		t.Fatal(err)
	}

	d := NewDispatcher(store, runner) // not running: the test drives it
	todos, err := d.Pending(ctx)
	if err != nil || len(todos) != 1 {
		t.Fatalf("got todos %+v (%v), want one", todos, err)
	}
	first, err := d.send(ctx, todos[0])
	if err != nil || first.Replayed {
		t.Fatalf("first send: %+v, %v", first, err)
	}
	// Crash: the todo is never marked done. The restarted dispatcher's
	// step finds it pending and sends it again.
	n, err := d.Step(ctx)
	if err != nil || n != 1 {
		t.Fatalf("step after the crash: completed %d, %v; want 1", n, err)
	}
	if stored, replayed := d.Stats(); stored != 1 || replayed != 1 {
		t.Errorf("got %d stored and %d replayed, want 1 and 1", stored, replayed)
	}
	s, err := store.Load(ctx, shipmentID(id))
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Events) != 1 || s.Events[0].ID != first.IDs[0] {
		t.Errorf("shipment holds %d events, want the one first sent", len(s.Events))
	}
	if n, err := d.Step(ctx); err != nil || n != 0 {
		t.Errorf("step with nothing pending: completed %d, %v", n, err)
	}
	if todos, err := d.Pending(ctx); err != nil || len(todos) != 0 {
		t.Errorf("pending after the step: %+v, %v", todos, err)
	}
}
