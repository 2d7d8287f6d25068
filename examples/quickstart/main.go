// Command quickstart shows annals' event store in a few steps: it opens a
// store, appends an order's events, loses a race on purpose, retries an
// append idempotently and reads the order back, as it is and as it was.
//
//	go run ./examples/quickstart                      # embedded engine, in memory
//	go run ./examples/quickstart --store file:demo.db # embedded engine, in a file
//	go run ./examples/quickstart --store 'mongodb://localhost:27017/?replicaSet=rs0'
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"

	"github.com/annalsdb/annals/mongostore"
	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/bson"
)

func main() {
	store := flag.String("store", "memory:", "store URI: memory:, file:PATH or mongodb://…")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *store, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

// OrderCreated is the first event of an order.
type OrderCreated struct {
	Customer string  `bson:"customer"`
	Total    float64 `bson:"total"`
}

// OrderConfirmed says who confirmed an order.
type OrderConfirmed struct {
	By string `bson:"by"`
}

func run(ctx context.Context, uri string, out io.Writer) error {
	store, err := mongostore.Open(ctx, uri)
	if err != nil {
		return err
	}
	defer store.Close(ctx)
	fmt.Fprintf(out, "store: %s engine\n", store.Engine())

	order := uuid.New()
	created, err := store.AppendStreams(ctx, mongostore.StreamAppend{
		Stream: order, Type: "Order", Expected: mongostore.NoStream,
		Events: []mongostore.EventData{{Name: "OrderCreated", Data: OrderCreated{Customer: "ana", Total: 42.5},
			Metadata: mongostore.Metadata{CorrelationID: "checkout-1", Actor: "ana"}}},
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "created order %s at version %d\n", order, created[0].ToVersion)

	// Two operators decide on version 1; the second one loses.
	confirm := mongostore.EventData{ID: uuid.New(), Name: "OrderConfirmed", Data: OrderConfirmed{By: "bo"}}
	if _, err := store.Append(ctx, order, mongostore.Exact(1), confirm); err != nil {
		return err
	}
	_, err = store.Append(ctx, order, mongostore.Exact(1), mongostore.EventData{Name: "OrderCancelled"})
	var conflict *mongostore.ConcurrencyError
	if !errors.As(err, &conflict) {
		return fmt.Errorf("expected a conflict, got %v", err)
	}
	fmt.Fprintf(out, "cancel refused: expected %s, the order is at version %d\n", conflict.Expected, conflict.Actual)

	// The confirmation's answer was lost; sending it again stores nothing twice.
	again, err := store.Append(ctx, order, mongostore.Exact(1), confirm)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "confirmation retried: version %d, replayed %v\n", again.ToVersion, again.Replayed)

	stream, err := store.Load(ctx, order)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "order %s (%s) is at version %d:\n", order, stream.Type, stream.Version)
	for _, e := range stream.Events {
		// Relaxed Extended JSON, as the CLI and the HTTP API print it:
		// 42.5, not {"$numberDouble":"42.5"}.
		data, err := bson.MarshalExtJSON(e.Data, false, false)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "  %d %-15s %s\n", e.Version, e.Name, data)
	}
	past, err := store.Read(ctx, order, mongostore.ReadQuery{ToVersion: 1})
	if err != nil {
		return err
	}
	var first OrderCreated
	if err := past.Events[0].Decode(&first); err != nil {
		return err
	}
	fmt.Fprintf(out, "as of version 1: created for %s, total %.2f\n", first.Customer, first.Total)
	return nil
}
