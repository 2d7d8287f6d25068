package main

import (
	"context"
	"errors"
	"testing"

	"github.com/annalsdb/annals/mongostore"
	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/bson"
)

// TestUpcastStoredV1 stores OrderCreated events in their first shape and
// loads them through the repository.
func TestUpcastStoredV1(t *testing.T) {
	ctx := context.Background()
	store := openStore(t, "memory:")
	orders := NewOrders(store)
	for _, tc := range []struct {
		name   string
		amount any
		want   int64
		err    error
	}{
		{"int32", int32(12), 12_00, nil},
		{"int64", int64(1) << 40, (int64(1) << 40) * 100, nil},
		{"double", 12.345, 12_35, nil},
		{"string", "12", 0, mongostore.ErrUpcast},
		{"missing", nil, 0, mongostore.ErrUpcast},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := bson.M{"customer": "cy"}
			if tc.amount != nil {
				data["amount"] = tc.amount
			}
			id := uuid.New()
			if _, err := store.Append(ctx, id, mongostore.NoStream,
				mongostore.EventData{Name: "OrderCreated", SchemaVersion: 1, Data: data}); err != nil {
				t.Fatal(err)
			}
			o, err := orders.Get(ctx, id)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("got %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if o.State.TotalCents != tc.want || o.State.Customer != "cy" {
				t.Errorf("got %+v, want %d cents for cy", *o.State, tc.want)
			}
		})
	}
}
