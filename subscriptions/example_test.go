package subscriptions_test

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/annalsdb/annals/mongostore"
	"github.com/annalsdb/annals/subscriptions"
)

// A consumer group: the service feeds the subscription, a worker fetches,
// handles and acknowledges.
func Example() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	store, err := mongostore.Open(ctx, "memory:")
	if err != nil {
		panic(err)
	}
	defer store.Close(context.Background())

	svc := subscriptions.New(store)
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	defer func() { cancel(); <-done }()

	if _, err := svc.Create(ctx, subscriptions.Subscription{Name: "billing", Events: []string{"OrderPlaced"}}); err != nil {
		panic(err)
	}
	order := uuid.New()
	if _, err := store.Append(ctx, order, mongostore.NoStream,
		mongostore.EventData{Name: "OrderPlaced", Data: map[string]any{"total": 42.5}},
		mongostore.EventData{Name: "OrderShipped", Data: map[string]any{}}); err != nil {
		panic(err)
	}
	batch, err := svc.Fetch(ctx, "billing", "worker-1", 10, 10*time.Second)
	if err != nil {
		panic(err)
	}
	for _, d := range batch {
		var placed struct{ Total float64 }
		if err := d.Event.Decode(&placed); err != nil {
			panic(err)
		}
		fmt.Printf("%s v%d total %.2f (attempt %d)\n", d.Event.Name, d.Event.Version, placed.Total, d.Attempt)
		if err := svc.Ack(ctx, "billing", "worker-1", d.Event.ID); err != nil {
			panic(err)
		}
	}
	// Output:
	// OrderPlaced v1 total 42.50 (attempt 1)
}
