package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/annalsdb/annals/mongostore"
	"github.com/google/uuid"
)

func TestDemo(t *testing.T) {
	for _, uri := range []string{"memory:", "file:" + filepath.Join(t.TempDir(), "orders.db")} {
		t.Run(uri, func(t *testing.T) {
			ctx := context.Background()
			store := openStore(t, uri)
			var out bytes.Buffer
			ids, err := demo(ctx, store, &out)
			if err != nil {
				t.Fatalf("demo: %v\n%s", err, out.String())
			}
			text := out.String()
			for _, want := range []string{
				"saved after 1 attempt\n", "saved after 2 attempts\n",
				"order for ana is open, 2 items, total 50.00, at version 3",
				"refused after 2 attempts: order already",
				"snapshot every 10 events: latest at version 20",
				"from the snapshot and the events after it: order for bo is open, 25 items, total 312.50, at version 26",
				"from the events alone: order for bo is open, 25 items, total 312.50, at version 26",
				`OrderCreated stored at schema version 1: {"customer":"cy","amount":12}`,
				"decoded through the registry: main.OrderCreated{Customer:cy AmountCents:1200}",
				"loaded through the repository: order for cy is open, 0 items, total 12.00, at version 1",
				"confirmed on top of the old event: order for cy is confirmed, 0 items, total 12.00, at version 2",
			} {
				if !strings.Contains(text, want) {
					t.Errorf("output lacks %q:\n%s", want, text)
				}
			}
			if c, x := strings.Count(text, "ana confirms: saved"), strings.Count(text, "bo cancels: saved"); c+x != 1 {
				t.Errorf("race 2 saved %d confirmations and %d cancellations, want one decision:\n%s", c, x, text)
			}
			checkState(t, store, NewOrders(store), ids)
		})
	}
}

// TestRun runs the command twice on one file, as a user would.
func TestRun(t *testing.T) {
	uri := "file:" + filepath.Join(t.TempDir(), "orders.db")
	for i := range 2 {
		var out bytes.Buffer
		if err := run(context.Background(), uri, &out); err != nil {
			t.Fatalf("run %d: %v\n%s", i+1, err, out.String())
		}
		if !strings.Contains(out.String(), "store: file engine") {
			t.Errorf("run %d output lacks the engine:\n%s", i+1, out.String())
		}
	}
}

// checkState checks the streams the demo left behind.
func checkState(t *testing.T, store *mongostore.Store, orders *Orders, ids demoOrders) {
	t.Helper()
	ctx := context.Background()

	raced := names(t, store, ids.Raced)
	decision := raced[len(raced)-1]
	if got := strings.Join(raced[:3], ","); got != "OrderCreated,ItemAdded,ItemAdded" || len(raced) != 4 ||
		(decision != "OrderConfirmed" && decision != "OrderCancelled") {
		t.Errorf("raced order's events: got %v, want created, two items and one decision", raced)
	}
	o, err := orders.Get(ctx, ids.Raced)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]Status{"OrderConfirmed": StatusConfirmed, "OrderCancelled": StatusCancelled}[decision]; o.State.Status != want {
		t.Errorf("raced order is %s, its last event %s", o.State.Status, decision)
	}

	if got := names(t, store, ids.Bulk); len(got) != bulkItems+1 {
		t.Errorf("bulk order has %d events, want %d", len(got), bulkItems+1)
	}
	if _, ok, err := snapshotVersion(ctx, store, ids.Bulk); err != nil || ok {
		t.Errorf("bulk order's snapshot: found %v (%v), want it deleted", ok, err)
	}

	legacy, err := store.Load(ctx, ids.Legacy)
	if err != nil {
		t.Fatal(err)
	}
	var first map[string]any
	if err := legacy.Events[0].Decode(&first); err != nil {
		t.Fatal(err)
	}
	if legacy.Events[0].SchemaVersion != 1 || first["amount"] != int32(12) || len(legacy.Events) != 2 {
		t.Errorf("legacy order: first event %v at schema %d, %d events: upcasting must not rewrite what is stored",
			first, legacy.Events[0].SchemaVersion, len(legacy.Events))
	}
	l, err := orders.Get(ctx, ids.Legacy)
	if err != nil {
		t.Fatal(err)
	}
	if l.State.TotalCents != 1200 || l.State.Status != StatusConfirmed {
		t.Errorf("legacy order loads as %+v, want 1200 cents, confirmed", *l.State)
	}
}

func names(t *testing.T, store *mongostore.Store, id uuid.UUID) []string {
	t.Helper()
	s, err := store.Load(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range s.Events {
		out = append(out, e.Name)
	}
	return out
}

func openStore(t *testing.T, uri string) *mongostore.Store {
	t.Helper()
	store, err := mongostore.Open(context.Background(), uri)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close(context.Background()) })
	return store
}
