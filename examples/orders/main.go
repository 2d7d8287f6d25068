// Command orders shows aggregates under contention with annals: two
// operators race to confirm and to cancel the same order, the loser
// retries and meets the business rule; long orders are restored from
// snapshots; and an OrderCreated stored in an old shape is lifted to the
// current one on load.
//
//	go run ./examples/orders                        # embedded engine, in memory
//	go run ./examples/orders --store file:orders.db # embedded engine, in a file
//	go run ./examples/orders --store 'mongodb://localhost:27017/?replicaSet=rs0'
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"

	"github.com/annalsdb/annals/mongostore"
	"github.com/google/uuid"
)

func main() {
	store := flag.String("store", "memory:", "store URI: memory:, file:PATH or mongodb://…")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *store, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "orders:", err)
		os.Exit(1)
	}
}

// run opens the store at uri and runs the demo on it, printing to out.
func run(ctx context.Context, uri string, out io.Writer) error {
	store, err := mongostore.Open(ctx, uri)
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	defer store.Close(ctx)
	fmt.Fprintf(out, "store: %s engine\n", store.Engine())
	_, err = demo(ctx, store, out)
	return err
}

// demoOrders are the orders the demo leaves behind.
type demoOrders struct{ Raced, Bulk, Legacy uuid.UUID }

// demo runs the three parts of the demo.
func demo(ctx context.Context, store *mongostore.Store, out io.Writer) (demoOrders, error) {
	orders := NewOrders(store)
	var ids demoOrders
	var err error
	if ids.Raced, err = demoRace(ctx, orders, out); err != nil {
		return ids, fmt.Errorf("race: %w", err)
	}
	if ids.Bulk, err = demoSnapshots(ctx, store, orders, out); err != nil {
		return ids, fmt.Errorf("snapshots: %w", err)
	}
	if ids.Legacy, err = demoUpcast(ctx, store, orders, out); err != nil {
		return ids, fmt.Errorf("upcasting: %w", err)
	}
	return ids, nil
}

// show prints an order as loaded through the repository.
func show(ctx context.Context, out io.Writer, orders *Orders, id uuid.UUID, prefix string) error {
	o, err := orders.Get(ctx, id)
	if err != nil {
		return err
	}
	s := o.State
	fmt.Fprintf(out, "%sorder for %s is %s, %d items, total %s, at version %d\n",
		prefix, s.Customer, s.Status, s.Items, money(s.TotalCents), o.Version)
	return nil
}
