package mongostore_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/annalsdb/annals/mongostore"
	"github.com/google/uuid"
)

type OrderCreated struct {
	Customer string  `bson:"customer"`
	Total    float64 `bson:"total"`
}

type OrderConfirmed struct {
	By string `bson:"by"`
}

func Example() {
	ctx := context.Background()
	store, err := mongostore.Open(ctx, "memory:")
	if err != nil {
		panic(err)
	}
	defer store.Close(ctx)

	orderID := uuid.New()
	if _, err := store.Append(ctx, orderID, mongostore.NoStream,
		mongostore.EventData{Name: "OrderCreated", Data: OrderCreated{Customer: "ana", Total: 42.5}}); err != nil {
		panic(err)
	}
	res, err := store.Append(ctx, orderID, mongostore.Exact(1),
		mongostore.EventData{Name: "OrderConfirmed", Data: OrderConfirmed{By: "ana"}})
	if err != nil {
		panic(err)
	}
	fmt.Printf("wrote versions %d..%d\n", res.FromVersion, res.ToVersion)

	stream, err := store.Load(ctx, orderID)
	if err != nil {
		panic(err)
	}
	for _, e := range stream.Events {
		fmt.Println(e.Version, e.Name)
	}
	var created OrderCreated
	if err := stream.Events[0].Decode(&created); err != nil {
		panic(err)
	}
	fmt.Println(created.Customer, created.Total)
	// Output:
	// wrote versions 2..2
	// 1 OrderCreated
	// 2 OrderConfirmed
	// ana 42.5
}

func ExampleStore_Append_conflict() {
	ctx := context.Background()
	store, err := mongostore.Open(ctx, "memory:")
	if err != nil {
		panic(err)
	}
	defer store.Close(ctx)

	orderID := uuid.New()
	store.Append(ctx, orderID, mongostore.NoStream, mongostore.EventData{Name: "OrderCreated"})
	store.Append(ctx, orderID, mongostore.Exact(1), mongostore.EventData{Name: "OrderConfirmed"})

	// Someone decided on version 1 and is late.
	_, err = store.Append(ctx, orderID, mongostore.Exact(1), mongostore.EventData{Name: "OrderCancelled"})
	var ce *mongostore.ConcurrencyError
	if errors.As(err, &ce) {
		fmt.Printf("conflict: expected %s, stream is at %d\n", ce.Expected, ce.Actual)
	}
	fmt.Println(errors.Is(err, mongostore.ErrConcurrency))
	// Output:
	// conflict: expected version 1, stream is at 2
	// true
}

func ExampleStore_Append_retry() {
	ctx := context.Background()
	store, err := mongostore.Open(ctx, "memory:")
	if err != nil {
		panic(err)
	}
	defer store.Close(ctx)

	accountID := uuid.New()
	deposit := mongostore.EventData{ID: uuid.New(), Name: "CashDeposited", Data: map[string]any{"amount": 100}}
	first, _ := store.Append(ctx, accountID, mongostore.Any, deposit)
	// The connection broke before the answer came back: send it again.
	again, _ := store.Append(ctx, accountID, mongostore.Any, deposit)
	fmt.Println(first.FromVersion, again.FromVersion, again.Replayed)
	// Output: 1 1 true
}

func ExampleStore_AppendStreams() {
	ctx := context.Background()
	store, err := mongostore.Open(ctx, "memory:")
	if err != nil {
		panic(err)
	}
	defer store.Close(ctx)

	from, to := uuid.New(), uuid.New()
	store.Append(ctx, from, mongostore.NoStream, mongostore.EventData{Name: "AccountOpened"})
	store.Append(ctx, to, mongostore.NoStream, mongostore.EventData{Name: "AccountOpened"})

	// Both streams or neither.
	res, err := store.AppendStreams(ctx,
		mongostore.StreamAppend{Stream: from, Type: "Account", Expected: mongostore.Exact(1),
			Events: []mongostore.EventData{{Name: "MoneyWithdrawn", Data: map[string]any{"amount": 30}}}},
		mongostore.StreamAppend{Stream: to, Type: "Account", Expected: mongostore.Exact(1),
			Events: []mongostore.EventData{{Name: "MoneyDeposited", Data: map[string]any{"amount": 30}}}},
	)
	if err != nil {
		panic(err)
	}
	fmt.Println(res[0].ToVersion, res[1].ToVersion)
	// Output: 2 2
}

func ExampleStore_Read() {
	ctx := context.Background()
	store, err := mongostore.Open(ctx, "memory:")
	if err != nil {
		panic(err)
	}
	defer store.Close(ctx)

	id := uuid.New()
	for i := range 5 {
		store.Append(ctx, id, mongostore.Exact(int64(i)), mongostore.EventData{Name: "Ticked"})
	}
	// The stream as it was at version 3.
	past, err := store.Read(ctx, id, mongostore.ReadQuery{ToVersion: 3})
	if err != nil {
		panic(err)
	}
	fmt.Println(past.Version, len(past.Events))
	// Output: 3 3
}
