package main

import (
	"errors"
	"fmt"
	"math"

	"github.com/annalsdb/annals/mongostore"
	"go.mongodb.org/mongo-driver/bson"
)

// Business-rule errors: a decided order takes no further decisions.
var (
	// ErrAlreadyConfirmed means the order was confirmed before.
	ErrAlreadyConfirmed = errors.New("order already confirmed")
	// ErrAlreadyCancelled means the order was cancelled before.
	ErrAlreadyCancelled = errors.New("order already cancelled")
)

// OrderCreated is an order's first event, in its current shape (schema
// version 2). Version 1 stored {"customer", "amount"} with the amount in
// whole units; upcastOrderCreatedV1 lifts it.
type OrderCreated struct {
	Customer    string `bson:"customer"`
	AmountCents int64  `bson:"amount_cents"`
}

// ItemAdded adds a line to an open order.
type ItemAdded struct {
	SKU   string `bson:"sku"`
	Cents int64  `bson:"cents"`
}

// OrderConfirmed says who confirmed an order.
type OrderConfirmed struct {
	By string `bson:"by"`
}

// OrderCancelled says who cancelled an order, and why.
type OrderCancelled struct {
	By     string `bson:"by"`
	Reason string `bson:"reason"`
}

// orderType is the aggregate type recorded on order streams.
const orderType = "Order"

// newRegistry registers the order events at their current shapes, with
// the upcaster of OrderCreated's first shape.
func newRegistry() *mongostore.Registry {
	reg := mongostore.NewRegistry()
	mongostore.Register[OrderCreated](reg, "OrderCreated", 2)
	mongostore.Register[ItemAdded](reg, "ItemAdded", 1)
	mongostore.Register[OrderConfirmed](reg, "OrderConfirmed", 1)
	mongostore.Register[OrderCancelled](reg, "OrderCancelled", 1)
	reg.Upcast("OrderCreated", 1, upcastOrderCreatedV1)
	return reg
}

// upcastOrderCreatedV1 lifts {"customer", "amount" (whole units)} to
// {"customer", "amount_cents"}.
func upcastOrderCreatedV1(d bson.M) (bson.M, error) {
	var cents int64
	switch a := d["amount"].(type) {
	case int32:
		cents = int64(a) * 100
	case int64:
		cents = a * 100
	case float64:
		cents = int64(math.Round(a * 100))
	default:
		return nil, fmt.Errorf("amount is %T, want a number", d["amount"])
	}
	delete(d, "amount")
	d["amount_cents"] = cents
	return d, nil
}

// Status is where an order is in its life.
type Status string

// Statuses.
const (
	StatusOpen      Status = "open"
	StatusConfirmed Status = "confirmed"
	StatusCancelled Status = "cancelled"
)

// Order is an order's state, rebuilt from its events. Its fields are
// what a snapshot stores: raise snapshotSchema when they change.
type Order struct {
	Customer   string `bson:"customer"`
	TotalCents int64  `bson:"total_cents"`
	Items      int    `bson:"items"`
	Status     Status `bson:"status"`
	DecidedBy  string `bson:"decided_by,omitempty"`
}

// snapshotSchema is the version of Order's snapshot shape.
const snapshotSchema = 1

// Apply folds one event into the order.
func (o *Order) Apply(event any) error {
	switch e := event.(type) {
	case OrderCreated:
		o.Customer, o.TotalCents, o.Status = e.Customer, e.AmountCents, StatusOpen
	case ItemAdded:
		o.TotalCents += e.Cents
		o.Items++
	case OrderConfirmed:
		o.Status, o.DecidedBy = StatusConfirmed, e.By
	case OrderCancelled:
		o.Status, o.DecidedBy = StatusCancelled, e.By
	default:
		return fmt.Errorf("order: unexpected event %T", event)
	}
	return nil
}

// order is a loaded order, ready to decide.
type order = mongostore.Root[*Order]

// stillOpen refuses a decision on an order that is no longer open.
func stillOpen(o *order) error {
	switch o.State.Status {
	case StatusConfirmed:
		return fmt.Errorf("%w by %s", ErrAlreadyConfirmed, o.State.DecidedBy)
	case StatusCancelled:
		return fmt.Errorf("%w by %s", ErrAlreadyCancelled, o.State.DecidedBy)
	}
	return nil
}

// addItem decides to add a line to an open order.
func addItem(o *order, sku string, cents int64) error {
	if err := stillOpen(o); err != nil {
		return err
	}
	return o.Record(ItemAdded{SKU: sku, Cents: cents})
}

// confirm decides to confirm an open order.
func confirm(o *order, by string) error {
	if err := stillOpen(o); err != nil {
		return err
	}
	return o.Record(OrderConfirmed{By: by})
}

// cancel decides to cancel an open order.
func cancel(o *order, by, reason string) error {
	if err := stillOpen(o); err != nil {
		return err
	}
	return o.Record(OrderCancelled{By: by, Reason: reason})
}

// money renders cents as units with two decimals.
func money(cents int64) string {
	sign := ""
	if cents < 0 {
		sign, cents = "-", -cents
	}
	return fmt.Sprintf("%s%d.%02d", sign, cents/100, cents%100)
}
