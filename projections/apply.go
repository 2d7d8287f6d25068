package projections

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/annalsdb/annals/mongostore"
	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/bson"
)

// batch is a run of events to apply together, with where the projection
// stands once they are applied.
type batch struct {
	events []mongostore.Event
	// token is the change stream's resume token after the batch, when the
	// batch came from the change stream.
	token bson.Raw
	// state is the projection's state after the batch.
	state string
	// rescan marks a batch of the catch-up's second pass, which mostly
	// finds events already applied: it is checked before a transaction is
	// opened for it.
	rescan bool
}

// streamRun is one stream's events in a batch, in version order.
type streamRun struct {
	stream uuid.UUID
	events []mongostore.Event
}

// runs groups the handled events of a batch by stream, streams in order of
// first appearance.
func (p *Projection) runs(events []mongostore.Event) []*streamRun {
	var out []*streamRun
	index := map[uuid.UUID]*streamRun{}
	for _, e := range events {
		if !p.handles(e.Name) {
			continue
		}
		r := index[e.Stream]
		if r == nil {
			r = &streamRun{stream: e.Stream}
			index[e.Stream] = r
			out = append(out, r)
		}
		r.events = append(r.events, e)
	}
	return out
}

// applyBatch applies the events the projection handles and records the
// checkpoint, all in one transaction. Per stream it applies exactly the
// versions after the stream's recorded position, in order: versions seen
// before are skipped, and versions a scan passed over (they committed
// after it read their place) are read from the events collection first. It
// returns how many events the handler applied.
func (w *worker) applyBatch(ctx context.Context, cp *checkpoint, b batch) (int, error) {
	if b.rescan {
		if seen, err := w.allApplied(ctx, cp, b.events); err != nil || seen {
			return 0, err
		}
	}
	ctx, span := w.startBatch(ctx, cp.Generation, b)
	applied, err := w.commitBatch(ctx, cp, b)
	endBatch(span, applied, err)
	return applied, err
}

// commitBatch is applyBatch once the batch is known to hold events to
// apply.
func (w *worker) commitBatch(ctx context.Context, cp *checkpoint, b batch) (int, error) {
	r, p := w.r, w.p
	if err := r.hooks.call(ctx, hookBeforeBatch, p.Name, b.state); err != nil {
		return 0, err
	}
	maxPos := cp.Position.position()
	for _, e := range b.events {
		if pos := mongostore.PositionOf(e); maxPos.Before(pos) {
			maxPos = pos
		}
	}
	var applied int
	var last *mongostore.Event
	var read, done map[uuid.UUID]int64
	tx := &Tx{db: r.store.Database(), projection: p, generation: cp.Generation}
	err := r.store.Transaction(ctx, func(sc context.Context) error {
		start := r.batchClock()
		read, done = map[uuid.UUID]int64{}, map[uuid.UUID]int64{}
		var err error
		applied, last, err = w.applyIn(sc, start, cp, b, maxPos, tx, read, done)
		if elapsed := r.batchClock().Sub(start); err != nil && !errors.Is(err, errBatchTooLong) && elapsed > r.MaxBatchDuration {
			// Most likely MongoDB aborted the transaction for its lifetime
			// (NoSuchTransaction, labelled transient): the driver would
			// run the same batch again, as slowly. The cause is kept as
			// text only, so that its label does not reach the driver.
			return fmt.Errorf("%w: failed after %s: %v", errBatchTooLong, elapsed.Round(time.Millisecond), err)
		}
		return err
	})
	if err != nil {
		cp.known = nil
		var he *HandlerError
		if errors.As(err, &he) {
			return 0, he
		}
		return 0, fmt.Errorf("apply %d events: %w", len(b.events), err)
	}
	cp.remember(read, done)
	cp.Position = toStoredPosition(maxPos)
	cp.State = b.state
	if b.token != nil {
		cp.Token = b.token
	}
	if last != nil {
		cp.Last = toStoredEvent(*last)
	}
	cp.Applied += int64(applied)
	return applied, r.hooks.call(ctx, hookAfterCommit, p.Name, b.state)
}

// applyIn is the body of a batch's transaction, begun at start: it
// applies the batch's events, records the positions and the checkpoint,
// and gives up with errBatchTooLong once the transaction has run
// MaxBatchDuration. It returns how many events it applied and the last in
// position order, and fills read with the positions it read and done with
// those it writes.
func (w *worker) applyIn(sc context.Context, start time.Time, cp *checkpoint, b batch, maxPos mongostore.Position, tx *Tx,
	read, done map[uuid.UUID]int64) (applied int, last *mongostore.Event, err error) {
	r, p := w.r, w.p
	runs, err := w.complete(sc, cp, p.runs(b.events), read)
	if err != nil {
		return 0, nil, err
	}
	for _, run := range runs {
		if n := len(run.events); n > 0 {
			done[run.stream] = run.events[n-1].Version
		}
	}
	if p.BatchHandler != nil {
		if applied, last, err = w.applyBatchHandler(sc, tx, runs); err != nil {
			return 0, nil, err
		}
		if elapsed := r.batchClock().Sub(start); elapsed > r.MaxBatchDuration {
			return 0, nil, fmt.Errorf("%w: %d events took %s", errBatchTooLong, applied, elapsed.Round(time.Millisecond))
		}
		return applied, last, w.record(sc, cp, b, maxPos, done, applied, last)
	}
	for _, run := range runs {
		for i := range run.events {
			e := &run.events[i]
			ev, err := p.upcast(*e)
			if err != nil {
				return 0, nil, err
			}
			hc, span := w.startHandle(sc, ev)
			err = p.Handler(hc, tx, ev)
			endSpan(span, err)
			if err != nil {
				return 0, nil, handlerError(p, *e, err)
			}
			applied++
			if last == nil || mongostore.PositionOf(*last).Before(mongostore.PositionOf(*e)) {
				last = e
			}
			if elapsed := r.batchClock().Sub(start); elapsed > r.MaxBatchDuration {
				return 0, nil, fmt.Errorf("%w: %d of %d events took %s", errBatchTooLong, applied, len(b.events), elapsed.Round(time.Millisecond))
			}
		}
	}
	return applied, last, w.record(sc, cp, b, maxPos, done, applied, last)
}

// record writes, in the batch's transaction, the streams' positions and
// the checkpoint after the batch.
func (w *worker) record(sc context.Context, cp *checkpoint, b batch, maxPos mongostore.Position, done map[uuid.UUID]int64, applied int, last *mongostore.Event) error {
	r, p := w.r, w.p
	if err := r.writePositions(sc, p.Name, cp.Generation, done); err != nil {
		return err
	}
	set := bson.D{{Key: "position", Value: toStoredPosition(maxPos)}, {Key: "state", Value: b.state}}
	if b.token != nil {
		set = append(set, bson.E{Key: "resume_token", Value: b.token})
	}
	if last != nil {
		set = append(set, bson.E{Key: "last_event", Value: toStoredEvent(*last)})
	}
	if err := r.update(sc, cp, set, bson.D{{Key: "applied", Value: applied}}); err != nil {
		return err
	}
	return r.hooks.call(sc, hookBeforeCommit, p.Name, b.state)
}

// complete turns each stream's run into exactly the handled versions after
// the stream's position, up to the run's last version: it drops versions
// already applied and reads the ones missing, in one query for the batch.
// Positions the session knows (cp.known) are not read again; those read
// are added to read.
func (w *worker) complete(ctx context.Context, cp *checkpoint, runs []*streamRun, read map[uuid.UUID]int64) ([]*streamRun, error) {
	if len(runs) == 0 {
		return nil, nil
	}
	applied := make(map[uuid.UUID]int64, len(runs))
	for _, run := range runs {
		if v, ok := cp.known[run.stream]; ok {
			applied[run.stream] = v
		} else {
			read[run.stream] = 0
		}
	}
	if len(read) > 0 {
		if err := w.r.readPositions(ctx, w.p.Name, cp.Generation, read); err != nil {
			return nil, err
		}
		for s, v := range read {
			applied[s] = v
		}
	}
	var gaps []mongostore.StreamRange
	byStream := map[uuid.UUID]*streamRun{}
	out := runs[:0]
	for _, run := range runs {
		at := applied[run.stream]
		fresh := run.events[:0]
		for _, e := range run.events {
			if e.Version > at && (len(fresh) == 0 || e.Version > fresh[len(fresh)-1].Version) {
				fresh = append(fresh, e)
			}
		}
		if len(fresh) == 0 {
			continue // all applied before: a handoff overlap or a replay
		}
		run.events = fresh
		out = append(out, run)
		if !contiguous(at, fresh) {
			gaps = append(gaps, mongostore.StreamRange{Stream: run.stream, After: at, Through: fresh[len(fresh)-1].Version})
			byStream[run.stream] = run
			run.events = nil
		}
	}
	for e, err := range w.r.store.ReadRanges(ctx, gaps, w.p.names()) {
		if err != nil {
			return nil, err
		}
		run := byStream[e.Stream]
		run.events = append(run.events, e)
	}
	return out, nil
}

// contiguous reports whether events are exactly versions after+1,
// after+2, …: no version between is missing. A projection that handles
// only some event names sees gaps that are not missing events; the read of
// the range then simply finds the same events.
func contiguous(after int64, events []mongostore.Event) bool {
	for i, e := range events {
		if e.Version != after+1+int64(i) {
			return false
		}
	}
	return true
}

// allApplied reports whether every handled event of a batch is at or
// before its stream's position, outside any transaction.
func (w *worker) allApplied(ctx context.Context, cp *checkpoint, events []mongostore.Event) (bool, error) {
	applied := map[uuid.UUID]int64{}
	for _, e := range events {
		if w.p.handles(e.Name) {
			applied[e.Stream] = 0
		}
	}
	if len(applied) == 0 {
		return true, nil
	}
	if err := w.r.readPositions(ctx, w.p.Name, cp.Generation, applied); err != nil {
		return false, err
	}
	for _, e := range events {
		if w.p.handles(e.Name) && e.Version > applied[e.Stream] {
			return false, nil
		}
	}
	return true, nil
}
