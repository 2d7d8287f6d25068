package projections

import (
	"context"
	"errors"
	"fmt"

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
}

// applyBatch applies the events the projection handles, skipping those
// already applied, and records the checkpoint, all in one transaction. It
// returns how many events the handler applied.
func (w *worker) applyBatch(ctx context.Context, cp *checkpoint, b batch) (int, error) {
	r, p := w.r, w.p
	if err := r.hooks.call(ctx, hookBeforeBatch, p.Name); err != nil {
		return 0, err
	}
	streams := map[uuid.UUID]int64{}
	for _, e := range b.events {
		if p.handles(e.Name) {
			streams[e.Stream] = 0
		}
	}
	maxPos := cp.Position.position()
	for _, e := range b.events {
		if pos := mongostore.PositionOf(e); maxPos.Before(pos) {
			maxPos = pos
		}
	}
	var applied int
	var last *mongostore.Event
	tx := &Tx{db: r.store.Database(), projection: p, generation: cp.Generation}
	err := r.store.Transaction(ctx, func(sc context.Context) error {
		applied, last = 0, nil
		if len(streams) > 0 {
			if err := r.readPositions(sc, p.Name, cp.Generation, streams); err != nil {
				return err
			}
		}
		done := map[uuid.UUID]int64{}
		for i := range b.events {
			e := &b.events[i]
			if !p.handles(e.Name) {
				continue
			}
			at := streams[e.Stream]
			if v, ok := done[e.Stream]; ok {
				at = v
			}
			if e.Version <= at {
				continue // applied before: a handoff overlap or a replay
			}
			if err := p.Handler(sc, tx, *e); err != nil {
				return &HandlerError{Projection: p.Name, EventID: e.ID, EventName: e.Name, Stream: e.Stream, Version: e.Version, Err: err}
			}
			done[e.Stream] = e.Version
			applied++
			last = e
		}
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
		return r.hooks.call(sc, hookBeforeCommit, p.Name)
	})
	if err != nil {
		var he *HandlerError
		if errors.As(err, &he) {
			return 0, he
		}
		return 0, fmt.Errorf("apply %d events: %w", len(b.events), err)
	}
	cp.Position = toStoredPosition(maxPos)
	cp.State = b.state
	if b.token != nil {
		cp.Token = b.token
	}
	if last != nil {
		cp.Last = toStoredEvent(*last)
	}
	cp.Applied += int64(applied)
	return applied, r.hooks.call(ctx, hookAfterCommit, p.Name)
}
