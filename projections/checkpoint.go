package projections

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/annalsdb/annals/mongostore"
	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
)

// Collections the runner keeps its own state in.
const (
	// CollectionCheckpoints holds one checkpoint per projection (and one
	// more while a blue/green rebuild builds the next generation).
	CollectionCheckpoints = "projection_checkpoints"
	// CollectionPositions holds, per projection generation and aggregate,
	// the last version applied: what makes catch-up and handoff idempotent.
	CollectionPositions = "projection_positions"
)

var reservedCollections = []string{mongostore.CollectionEvents, CollectionCheckpoints, CollectionPositions, "snapshots"}

// States a projection can be in.
const (
	// StateCatchingUp: reading history from the events collection.
	StateCatchingUp = "catching_up"
	// StateLive: following the change stream.
	StateLive = "live"
	// StateFailed: a handler refused an event; see Status.Failure.
	StateFailed = "failed"
	// StateWaiting: the projection's logic changed and the new version is
	// building blue/green; the old collections keep serving, unchanged.
	StateWaiting = "waiting"
)

// nextSuffix marks the checkpoint of a generation being built blue/green.
const nextSuffix = "#next"

// checkpoint is a projection's persisted state.
type checkpoint struct {
	ID          string         `bson:"_id"`
	Projection  string         `bson:"projection"`
	Generation  int64          `bson:"generation"`
	CodeVersion int            `bson:"code_version"`
	State       string         `bson:"state"`
	Owner       string         `bson:"owner"`
	LeaseUntil  time.Time      `bson:"lease_until"`
	Token       bson.Raw       `bson:"resume_token,omitempty"`
	Position    storedPosition `bson:"position"`
	Last        *storedEvent   `bson:"last_event,omitempty"`
	Applied     int64          `bson:"applied"`
	HistoryLost int64          `bson:"history_lost"`
	Failure     *storedFailure `bson:"failure,omitempty"`
	UpdatedAt   time.Time      `bson:"updated_at"`
	// LeaseStore is the ExclusiveID of the store open the owner took the
	// lease through ("" on shared stores): on an exclusive store, a lease
	// taken through another open is void.
	LeaseStore string `bson:"lease_store,omitempty"`

	// known holds streams' positions this session of the worker read or
	// committed, so that a batch need not read them again: one round trip
	// less per batch. Only the lease holder writes positions, and every
	// batch's transaction checks the lease, so they stay true while this
	// checkpoint (one session) lasts; a failed batch drops them, since its
	// commit may have happened.
	known map[uuid.UUID]int64 `bson:"-"`
}

// maxKnownPositions bounds checkpoint.known: beyond it the cache starts
// over, so a projection over millions of streams stays small in memory.
const maxKnownPositions = 100_000

// remember records positions after a committed batch.
func (cp *checkpoint) remember(positions ...map[uuid.UUID]int64) {
	for _, m := range positions {
		if cp.known == nil || len(cp.known)+len(m) > maxKnownPositions {
			cp.known = make(map[uuid.UUID]int64, len(m))
		}
		for s, v := range m {
			cp.known[s] = v
		}
	}
}

type storedPosition struct {
	RecordedAt time.Time        `bson:"recorded_at"`
	Stream     primitive.Binary `bson:"aggregate_uuid"`
	Version    int64            `bson:"version"`
}

func toStoredPosition(p mongostore.Position) storedPosition {
	return storedPosition{RecordedAt: p.RecordedAt, Stream: mongostore.UUIDValue(p.Stream), Version: p.Version}
}

func (p storedPosition) position() mongostore.Position {
	var id uuid.UUID
	if len(p.Stream.Data) == 16 {
		id = uuid.UUID(p.Stream.Data)
	}
	return mongostore.Position{RecordedAt: p.RecordedAt.UTC(), Stream: id, Version: p.Version}
}

type storedEvent struct {
	ID         primitive.Binary `bson:"id"`
	Stream     primitive.Binary `bson:"aggregate_uuid"`
	Version    int64            `bson:"version"`
	Name       string           `bson:"name"`
	RecordedAt time.Time        `bson:"recorded_at"`
}

func toStoredEvent(e mongostore.Event) *storedEvent {
	return &storedEvent{ID: mongostore.UUIDValue(e.ID), Stream: mongostore.UUIDValue(e.Stream), Version: e.Version, Name: e.Name, RecordedAt: e.RecordedAt}
}

type storedFailure struct {
	EventID   primitive.Binary `bson:"event_id"`
	EventName string           `bson:"event_name"`
	Stream    primitive.Binary `bson:"aggregate_uuid"`
	Version   int64            `bson:"version"`
	Error     string           `bson:"error"`
	At        time.Time        `bson:"at"`
}

// loadCheckpoint reads a checkpoint, or nil when there is none.
func (r *Runner) loadCheckpoint(ctx context.Context, id string) (*checkpoint, error) {
	var cp checkpoint
	err := r.checkpoints().FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&cp)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load checkpoint %s: %w", id, err)
	}
	return &cp, nil
}

// createCheckpoint inserts a checkpoint unless one exists.
func (r *Runner) createCheckpoint(ctx context.Context, cp checkpoint) error {
	cp.UpdatedAt = r.now()
	_, err := r.checkpoints().UpdateOne(ctx, bson.D{{Key: "_id", Value: cp.ID}},
		bson.D{{Key: "$setOnInsert", Value: cp}}, options.Update().SetUpsert(true))
	if err != nil && !mongostore.IsDuplicate(err) {
		return fmt.Errorf("create checkpoint %s: %w", cp.ID, err)
	}
	return nil
}

// acquire takes or renews the lease on a checkpoint for owner. It reports
// whether owner holds the lease afterwards.
//
// The lease is free when nobody holds it, when it has expired, and, on a
// store this process holds exclusively (file:, memory:), when it was
// taken through another open of the store: that open is closed or its
// process is gone (the store's lock says so), so a restart after a crash
// takes over at once instead of waiting for the dead lease to expire.
func (r *Runner) acquire(ctx context.Context, id string) (bool, error) {
	now := r.now()
	free := bson.A{
		bson.D{{Key: "owner", Value: r.owner}},
		bson.D{{Key: "owner", Value: ""}},
		bson.D{{Key: "lease_until", Value: bson.D{{Key: "$lt", Value: now}}}},
	}
	excl := r.store.ExclusiveID()
	if excl != "" {
		free = append(free, bson.D{{Key: "lease_store", Value: bson.D{{Key: "$ne", Value: excl}}}})
	}
	res, err := r.checkpoints().UpdateOne(ctx, bson.D{
		{Key: "_id", Value: id},
		{Key: "$or", Value: free},
	}, bson.D{{Key: "$set", Value: bson.D{{Key: "owner", Value: r.owner}, {Key: "lease_until", Value: now.Add(r.LeaseTTL)},
		{Key: "lease_store", Value: excl}}}})
	if err != nil {
		return false, fmt.Errorf("acquire lease on %s: %w", id, err)
	}
	return res.MatchedCount == 1, nil
}

// leaseHeld reports whether cp's lease binds other runners now: it has
// an owner, has not expired and, on an exclusive store, was taken through
// this open of it.
func (r *Runner) leaseHeld(cp *checkpoint) bool {
	if cp.Owner == "" || !cp.LeaseUntil.After(r.now()) {
		return false
	}
	excl := r.store.ExclusiveID()
	return excl == "" || cp.LeaseStore == excl
}

// fence is the filter that matches a checkpoint only while this runner
// owns it at the generation it works on.
func (r *Runner) fence(cp *checkpoint) bson.D {
	return bson.D{{Key: "_id", Value: cp.ID}, {Key: "owner", Value: r.owner}, {Key: "generation", Value: cp.Generation}}
}

// update applies set (and inc) to a checkpoint this runner owns, renewing
// the lease; errLeaseLost when it no longer owns it. Inside a batch's
// transaction the write may still fail at commit: it does not clear a
// stall (see worker.renew).
func (r *Runner) update(ctx context.Context, cp *checkpoint, set bson.D, inc bson.D) error {
	now := r.now()
	set = append(set, bson.E{Key: "lease_until", Value: now.Add(r.LeaseTTL)}, bson.E{Key: "updated_at", Value: now})
	upd := bson.D{{Key: "$set", Value: set}}
	if len(inc) > 0 {
		upd = append(upd, bson.E{Key: "$inc", Value: inc})
	}
	res, err := r.checkpoints().UpdateOne(ctx, r.fence(cp), upd)
	if err != nil {
		return fmt.Errorf("update checkpoint %s: %w", cp.ID, err)
	}
	if res.MatchedCount == 0 {
		return errLeaseLost
	}
	return nil
}

// release gives up the lease so another runner can take over at once.
func (r *Runner) release(ctx context.Context, id string) {
	_, err := r.checkpoints().UpdateOne(ctx, bson.D{{Key: "_id", Value: id}, {Key: "owner", Value: r.owner}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "owner", Value: ""}, {Key: "lease_until", Value: time.Time{}}}}})
	if err != nil {
		r.Logger.Warn("release projection lease", logKeyCheckpoint, id, logKeyError, err)
	}
}
