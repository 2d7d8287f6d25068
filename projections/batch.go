package projections

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/256dpi/lungo"
	"github.com/annalsdb/annals/mongostore"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
)

// BatchHandlerFunc applies a batch of events at once, the form for
// projections that must keep up with many events: it queues its writes on
// w, and the runner sends them as one ordered bulk write per collection,
// inside the transaction in which it also records the projection's
// positions and checkpoint, so effects still happen exactly once.
//
// events holds the batch's handled events, each once, in version order
// within each stream (streams in the order their first event was
// recorded); a batch may hold several events of one stream, so a write
// for an event must not assume an earlier event's write is already
// visible to reads: reads through w.Collection see the transaction's
// snapshot, not the queued writes. ctx carries the transaction and is for
// such reads only. A returned error fails the projection, naming the event
// given to FailedOn, or else the batch's first event; a transient database
// error or a full disk is retried. The queued writes are checked the same way: a write
// error fails the projection naming the event the failing write was
// queued for.
type BatchHandlerFunc func(ctx context.Context, w *Writes, events []mongostore.Event) error

// NewBatch returns a projection named name handling the given events with
// a batch handler, with one query collection named after it.
func NewBatch(name string, events []string, handler BatchHandlerFunc) *Projection {
	return &Projection{Name: name, Events: events, BatchHandler: handler}
}

// Writes collects a batch handler's writes, per query collection, in the
// order they are queued, each with the event it was queued for.
type Writes struct {
	tx     *Tx
	models map[string][]mongo.WriteModel // logical collection → its writes
	events map[string][]mongostore.Event // logical collection → the event of each write
	order  []string                      // logical collections, first write first
}

// Queue adds writes for ev to the query collection with the given logical
// name ("" for the projection's first collection); a write that fails
// fails the projection naming ev. Queueing no writes does nothing. It
// panics on a name the projection did not declare in Collections, like
// Tx.Collection.
func (w *Writes) Queue(ev mongostore.Event, collection string, models ...mongo.WriteModel) {
	if collection == "" {
		collection = w.tx.projection.collections()[0]
	}
	if !slices.Contains(w.tx.projection.collections(), collection) {
		panic(fmt.Sprintf("projections: projection %s did not declare collection %q", w.tx.projection.Name, collection))
	}
	if len(models) == 0 {
		return // a bulk write of nothing is an error on both engines
	}
	if _, ok := w.models[collection]; !ok {
		w.order = append(w.order, collection)
	}
	w.models[collection] = append(w.models[collection], models...)
	for range models {
		w.events[collection] = append(w.events[collection], ev)
	}
}

// Collection returns a query collection for reads in the batch's
// transaction (see Tx.Collection); writes go through Queue.
func (w *Writes) Collection(name ...string) lungo.ICollection { return w.tx.Collection(name...) }

// Generation is the generation of collections being written.
func (w *Writes) Generation() int64 { return w.tx.generation }

// Len is the number of writes queued.
func (w *Writes) Len() int {
	n := 0
	for _, m := range w.models {
		n += len(m)
	}
	return n
}

// flush sends the queued writes, one ordered bulk write per collection.
// A write error comes back as the eventError of the event its write was
// queued for.
func (w *Writes) flush(ctx context.Context) error {
	for _, c := range w.order {
		_, err := w.tx.Collection(c).BulkWrite(ctx, w.models[c], options.BulkWrite().SetOrdered(true))
		if err == nil {
			continue
		}
		err = fmt.Errorf("write %d changes to %s: %w", len(w.models[c]), c, err)
		var bwe mongo.BulkWriteException
		if errors.As(err, &bwe) && len(bwe.WriteErrors) > 0 {
			if i := bwe.WriteErrors[0].Index; i >= 0 && i < len(w.events[c]) {
				return FailedOn(w.events[c][i], err)
			}
		}
		return err
	}
	return nil
}

// FailedOn makes a batch handler's error name the event it failed on.
func FailedOn(ev mongostore.Event, err error) error {
	if err == nil {
		return nil
	}
	return &eventError{ev: ev, err: err}
}

// eventError is an error a batch handler attributes to one event.
type eventError struct {
	ev  mongostore.Event
	err error
}

func (e *eventError) Error() string { return e.err.Error() }
func (e *eventError) Unwrap() error { return e.err }

// applyBatchHandler runs the batch handler on the runs' events and sends
// its writes. It returns how many events it applied and the last in
// position order.
func (w *worker) applyBatchHandler(sc context.Context, tx *Tx, runs []*streamRun) (int, *mongostore.Event, error) {
	p := w.p
	var events []mongostore.Event
	var last *mongostore.Event
	for _, run := range runs {
		for i := range run.events {
			e := &run.events[i]
			ev, err := p.upcast(*e)
			if err != nil {
				return 0, nil, err
			}
			events = append(events, ev)
			if last == nil || mongostore.PositionOf(*last).Before(mongostore.PositionOf(*e)) {
				last = e
			}
		}
	}
	if len(events) == 0 {
		return 0, nil, nil
	}
	writes := &Writes{tx: tx, models: map[string][]mongo.WriteModel{}, events: map[string][]mongostore.Event{}}
	hc, span := w.startHandleBatch(sc, events)
	err := p.BatchHandler(hc, writes, events)
	endSpan(span, err)
	if err == nil {
		err = writes.flush(sc)
	}
	if err != nil {
		var ee *eventError
		if errors.As(err, &ee) {
			return 0, nil, handlerError(p, ee.ev, ee.err)
		}
		return 0, nil, handlerError(p, events[0], err)
	}
	return len(events), last, nil
}

// handlerError is the HandlerError of p failing on ev.
func handlerError(p *Projection, ev mongostore.Event, err error) *HandlerError {
	return &HandlerError{Projection: p.Name, EventID: ev.ID, EventName: ev.Name, Stream: ev.Stream, Version: ev.Version, Err: err}
}
