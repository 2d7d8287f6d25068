package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/annalsdb/annals/mongostore"
	"github.com/annalsdb/annals/projections"
	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/bson"
)

// DefaultInterval is how often the Dispatcher looks for pending todos.
const DefaultInterval = 20 * time.Millisecond

// Dispatcher sends the commands the saga recorded. For each pending todo
// it appends ShipmentRequested to the shipment's stream, with the todo's
// id as the event id, then marks the todo done. A crash between the two
// leaves the todo pending; sending it again stores nothing, because the
// store recognises the event id and answers Replayed.
type Dispatcher struct {
	// Interval is how often Run looks for pending todos (default
	// DefaultInterval).
	Interval time.Duration
	// Logger receives the errors Run retries; nil discards them.
	Logger *slog.Logger

	store    *mongostore.Store
	runner   *projections.Runner
	stored   atomic.Int64
	replayed atomic.Int64
}

// NewDispatcher returns a dispatcher of the todos of the saga that runner
// runs.
func NewDispatcher(store *mongostore.Store, runner *projections.Runner) *Dispatcher {
	return &Dispatcher{Interval: DefaultInterval, store: store, runner: runner}
}

// Run dispatches pending todos every Interval until ctx ends, then
// returns nil. A failed step is logged and tried again at the next tick.
func (d *Dispatcher) Run(ctx context.Context) error {
	log := d.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	t := time.NewTicker(d.Interval)
	defer t.Stop()
	for {
		if _, err := d.Step(ctx); err != nil && ctx.Err() == nil {
			log.Warn("dispatch failed; retrying", "error", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Step sends every pending todo once and returns how many it completed.
func (d *Dispatcher) Step(ctx context.Context) (int, error) {
	todos, err := d.Pending(ctx)
	if err != nil {
		return 0, err
	}
	for i, t := range todos {
		res, err := d.send(ctx, t)
		if err != nil {
			return i, err
		}
		if err := d.markDone(ctx, t, res); err != nil {
			return i, err
		}
	}
	return len(todos), nil
}

// Pending reads the todos not done yet from the saga's serving read model.
func (d *Dispatcher) Pending(ctx context.Context) ([]Todo, error) {
	coll, err := d.runner.Collection(ctx, sagaProjection, todoCollection)
	if err != nil {
		return nil, err
	}
	cur, err := coll.Find(ctx, bson.D{{Key: "status", Value: todoPending}})
	if err != nil {
		return nil, fmt.Errorf("read pending todos: %w", err)
	}
	var todos []Todo
	if err := cur.All(ctx, &todos); err != nil {
		return nil, fmt.Errorf("read pending todos: %w", err)
	}
	return todos, nil
}

// send appends the todo's command to its shipment stream. Whatever the
// stream's version (Any), the todo's id decides whether it is new.
func (d *Dispatcher) send(ctx context.Context, t Todo) (mongostore.AppendResult, error) {
	id, err := uuid.Parse(t.ID)
	if err != nil {
		return mongostore.AppendResult{}, fmt.Errorf("todo %q: %w", t.ID, err)
	}
	shipment, err := uuid.Parse(t.Shipment)
	if err != nil {
		return mongostore.AppendResult{}, fmt.Errorf("todo %s: shipment: %w", t.ID, err)
	}
	res, err := d.store.AppendStreams(ctx, mongostore.StreamAppend{
		Stream: shipment, Type: shipmentType, Expected: mongostore.Any,
		Events: []mongostore.EventData{{
			ID: id, Name: "ShipmentRequested",
			Data:     ShipmentRequested{Order: t.Order, ConfirmedBy: t.ConfirmedBy},
			Metadata: mongostore.Metadata{CausationID: t.CausedBy, CorrelationID: t.Order, Actor: sagaProjection},
		}},
	})
	if err != nil {
		return mongostore.AppendResult{}, fmt.Errorf("request shipment %s: %w", shipment, err)
	}
	if res[0].Replayed {
		d.replayed.Add(1)
	} else {
		d.stored.Add(1)
	}
	return res[0], nil
}

// markDone records that a todo's command is stored.
func (d *Dispatcher) markDone(ctx context.Context, t Todo, res mongostore.AppendResult) error {
	coll, err := d.runner.Collection(ctx, sagaProjection, todoCollection)
	if err != nil {
		return err
	}
	_, err = coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: t.ID}, {Key: "status", Value: todoPending}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "status", Value: todoDone}, {Key: "shipment_version", Value: res.FromVersion}}}})
	if err != nil {
		return fmt.Errorf("mark todo %s done: %w", t.ID, err)
	}
	return nil
}

// Stats reports how many commands this dispatcher stored, and how many it
// sent again and the store recognised (Replayed: nothing stored).
func (d *Dispatcher) Stats() (stored, replayed int64) { return d.stored.Load(), d.replayed.Load() }

// WaitIdle polls until no todo is pending, or ctx ends.
func (d *Dispatcher) WaitIdle(ctx context.Context) error {
	t := time.NewTicker(d.Interval)
	defer t.Stop()
	for {
		todos, err := d.Pending(ctx)
		if err == nil && len(todos) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for the dispatcher (%d pending, last error %v): %w", len(todos), err, ctx.Err())
		case <-t.C:
		}
	}
}
