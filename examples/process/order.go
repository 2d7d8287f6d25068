package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/annalsdb/annals/mongostore"
	"github.com/google/uuid"
)

// ErrNotOpen means an order was confirmed or cancelled before: it takes no
// further decision.
var ErrNotOpen = errors.New("order is no longer open")

// OrderPlaced is an order's first event.
type OrderPlaced struct {
	Customer string `bson:"customer"`
}

// OrderConfirmed says who confirmed an order; the shipping saga reacts to
// it.
type OrderConfirmed struct {
	By string `bson:"by"`
}

// OrderCancelled says who cancelled an order.
type OrderCancelled struct {
	By string `bson:"by"`
}

// ShipmentRequested is the first event of a shipment: the command the
// saga issues for a confirmed order.
type ShipmentRequested struct {
	Order       string `bson:"order"`
	ConfirmedBy string `bson:"confirmed_by"`
}

// Aggregate types.
const (
	orderType    = "Order"
	shipmentType = "Shipment"
)

// newRegistry registers the events of orders and shipments.
func newRegistry() *mongostore.Registry {
	reg := mongostore.NewRegistry()
	mongostore.Register[OrderPlaced](reg, "OrderPlaced", 1)
	mongostore.Register[OrderConfirmed](reg, "OrderConfirmed", 1)
	mongostore.Register[OrderCancelled](reg, "OrderCancelled", 1)
	mongostore.Register[ShipmentRequested](reg, "ShipmentRequested", 1)
	return reg
}

// Order is an order's state, rebuilt from its events.
type Order struct {
	Customer string `bson:"customer"`
	Status   string `bson:"status"`
}

// Apply folds one event into the order.
func (o *Order) Apply(event any) error {
	switch e := event.(type) {
	case OrderPlaced:
		o.Customer, o.Status = e.Customer, "open"
	case OrderConfirmed:
		o.Status = "confirmed"
	case OrderCancelled:
		o.Status = "cancelled"
	default:
		return fmt.Errorf("order: unexpected event %T", event)
	}
	return nil
}

// Orders runs the order commands against a store.
type Orders struct {
	repo *mongostore.Repository[*Order]
}

// NewOrders returns the orders of store, decoding through reg.
func NewOrders(store *mongostore.Store, reg *mongostore.Registry) *Orders {
	return &Orders{repo: mongostore.NewRepository(store, reg, orderType, func() *Order { return &Order{} })}
}

// Place places an order for customer and returns its id.
func (o *Orders) Place(ctx context.Context, customer string) (uuid.UUID, error) {
	id := uuid.New()
	err := o.repo.Create(ctx, id, func(r *mongostore.Root[*Order]) error {
		return r.Record(OrderPlaced{Customer: customer})
	})
	if err != nil {
		return uuid.Nil, fmt.Errorf("place order for %s: %w", customer, err)
	}
	return id, nil
}

// Confirm confirms an open order. Errors: ErrNotOpen, the store's.
func (o *Orders) Confirm(ctx context.Context, id uuid.UUID, by string) error {
	return o.decide(ctx, id, OrderConfirmed{By: by})
}

// Cancel cancels an open order. Errors: ErrNotOpen, the store's.
func (o *Orders) Cancel(ctx context.Context, id uuid.UUID, by string) error {
	return o.decide(ctx, id, OrderCancelled{By: by})
}

func (o *Orders) decide(ctx context.Context, id uuid.UUID, decision any) error {
	return o.repo.Update(ctx, id, func(r *mongostore.Root[*Order]) error {
		if r.State.Status != "open" {
			return fmt.Errorf("%w: it is %s", ErrNotOpen, r.State.Status)
		}
		return r.Record(decision)
	})
}
