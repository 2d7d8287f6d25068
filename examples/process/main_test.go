package main

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/annalsdb/annals/mongostore"
	"github.com/annalsdb/annals/projections"
	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/bson"
)

func TestDemo(t *testing.T) {
	for _, uri := range []string{"memory:", "file:" + filepath.Join(t.TempDir(), "process.db")} {
		t.Run(uri, func(t *testing.T) {
			ctx := context.Background()
			store := openStore(t, uri)
			var out bytes.Buffer
			orders, err := demo(ctx, store, &out)
			if err != nil {
				t.Fatalf("demo: %v\n%s", err, out.String())
			}
			text := out.String()
			for _, want := range []string{
				"saga live, generation 1, 2 confirmations applied; dispatcher: 2 commands stored, 0 replayed",
				"saga live, generation 2, 2 confirmations applied; dispatcher: 0 commands stored, 2 replayed",
			} {
				if !strings.Contains(text, want) {
					t.Errorf("output lacks %q:\n%s", want, text)
				}
			}
			if got := strings.Count(text, ", 1 event: ShipmentRequested"); got != 4 {
				t.Errorf("got %d shipments of one event, want 2 before and 2 after the replay:\n%s", got, text)
			}
			if got := strings.Count(text, "bo's order: no shipment"); got != 2 {
				t.Errorf("bo's cancelled order: got %d lines saying no shipment, want 2:\n%s", got, text)
			}
			checkShipments(t, store, orders)
			checkTodos(t, store, 2)
		})
	}
}

// TestRun runs the command twice on one file, as a user would: the second
// run's replay covers the first run's confirmations too, and still stores
// nothing twice.
func TestRun(t *testing.T) {
	uri := "file:" + filepath.Join(t.TempDir(), "process.db")
	for i := range 2 {
		var out bytes.Buffer
		if err := run(context.Background(), uri, &out); err != nil {
			t.Fatalf("run %d: %v\n%s", i+1, err, out.String())
		}
	}
	store := openStore(t, uri)
	n := 0
	for e, err := range store.Scan(context.Background(), mongostore.ScanQuery{Names: []string{"ShipmentRequested"}}) {
		if err != nil {
			t.Fatal(err)
		}
		if e.Version != 1 {
			t.Errorf("shipment %s has a ShipmentRequested at version %d: requested twice", e.Stream, e.Version)
		}
		n++
	}
	if n != 4 {
		t.Errorf("got %d shipments requested in two runs, want 4", n)
	}
	checkTodos(t, store, 4)
}

// checkShipments checks that each confirmed order has one shipment whose
// event id derives from the confirmation's, and the cancelled one none.
func checkShipments(t *testing.T, store *mongostore.Store, orders []customerOrder) {
	t.Helper()
	ctx := context.Background()
	for _, o := range orders {
		s, err := store.Load(ctx, shipmentID(o.ID))
		if !o.Confirm {
			if !errors.Is(err, mongostore.ErrStreamNotFound) {
				t.Errorf("%s's cancelled order: got shipment %v (%v), want none", o.Customer, s, err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		order, err := store.Load(ctx, o.ID)
		if err != nil {
			t.Fatal(err)
		}
		confirmed := order.Events[len(order.Events)-1]
		if len(s.Events) != 1 || s.Type != shipmentType {
			t.Fatalf("%s's shipment: got %d events of type %q, want 1 of %q", o.Customer, len(s.Events), s.Type, shipmentType)
		}
		e := s.Events[0]
		var req ShipmentRequested
		if err := e.Decode(&req); err != nil {
			t.Fatal(err)
		}
		if confirmed.Name != "OrderConfirmed" || e.ID != commandID(confirmed.ID) ||
			e.Metadata.CausationID != confirmed.ID.String() || req.Order != o.ID.String() {
			t.Errorf("%s's shipment: got %s %s caused by %s for %+v, want the command of %s %s",
				o.Customer, e.Name, e.ID, e.Metadata.CausationID, req, confirmed.Name, confirmed.ID)
		}
	}
}

// checkTodos checks that the saga's serving read model holds n todos, all
// done.
func checkTodos(t *testing.T, store *mongostore.Store, n int) {
	t.Helper()
	ctx := context.Background()
	coll, err := projections.NewRunner(store, saga(newRegistry())).Collection(ctx, sagaProjection, todoCollection)
	if err != nil {
		t.Fatal(err)
	}
	cur, err := coll.Find(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	var todos []Todo
	if err := cur.All(ctx, &todos); err != nil {
		t.Fatal(err)
	}
	if len(todos) != n {
		t.Errorf("got %d todos, want %d", len(todos), n)
	}
	for _, td := range todos {
		if td.Status != todoDone || td.ShipmentVersion != 1 || td.ID != commandID(uuid.MustParse(td.CausedBy)).String() {
			t.Errorf("todo %+v: want done, shipment at version 1, id derived from its cause", td)
		}
	}
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
