package main

import (
	"context"
	"fmt"

	"github.com/annalsdb/annals/mongostore"
	"github.com/google/uuid"
)

// snapshotEvery is how many events apart the order snapshots are.
const snapshotEvery = 10

// Orders runs the order commands against a store.
type Orders struct {
	reg  *mongostore.Registry
	repo *mongostore.Repository[*Order]
}

// NewOrders returns the orders of store. Orders with many lines are
// restored from a snapshot taken every snapshotEvery events.
func NewOrders(store *mongostore.Store) *Orders {
	reg := newRegistry()
	repo := mongostore.NewRepository(store, reg, orderType, func() *Order { return &Order{} })
	repo.Snapshots = mongostore.EveryN(snapshotEvery)
	repo.SnapshotSchema = snapshotSchema
	return &Orders{reg: reg, repo: repo}
}

// Create creates an order for customer and returns its id.
func (o *Orders) Create(ctx context.Context, customer string, cents int64) (uuid.UUID, error) {
	id := uuid.New()
	err := o.repo.Create(ctx, id, func(r *order) error {
		return r.Record(OrderCreated{Customer: customer, AmountCents: cents})
	})
	if err != nil {
		return uuid.Nil, fmt.Errorf("create order for %s: %w", customer, err)
	}
	return id, nil
}

// AddItem adds a line to an open order. Errors: ErrAlreadyConfirmed,
// ErrAlreadyCancelled, the store's.
func (o *Orders) AddItem(ctx context.Context, id uuid.UUID, sku string, cents int64) error {
	return o.repo.Update(ctx, id, func(r *order) error { return addItem(r, sku, cents) })
}

// Confirm confirms an open order. Errors: ErrAlreadyConfirmed,
// ErrAlreadyCancelled, the store's.
func (o *Orders) Confirm(ctx context.Context, id uuid.UUID, by string) error {
	return o.repo.Update(ctx, id, func(r *order) error { return confirm(r, by) })
}

// Cancel cancels an open order. Errors: ErrAlreadyConfirmed,
// ErrAlreadyCancelled, the store's.
func (o *Orders) Cancel(ctx context.Context, id uuid.UUID, by, reason string) error {
	return o.repo.Update(ctx, id, func(r *order) error { return cancel(r, by, reason) })
}

// Get loads an order as its events say it is now.
func (o *Orders) Get(ctx context.Context, id uuid.UUID) (*order, error) {
	return o.repo.Load(ctx, id)
}
