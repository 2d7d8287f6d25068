package mongostore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/bson"
)

// Defaults for Repository.
const (
	// DefaultMaxAttempts is how many times Update tries a load-decide-save
	// that keeps losing races.
	DefaultMaxAttempts = 5
	// DefaultRetryBackoff is the base of Update's jittered backoff.
	DefaultRetryBackoff = 5 * time.Millisecond
)

// Repository loads and saves aggregates of one type: from the latest
// snapshot plus the events after it, with optimistic locking on save.
// Set the exported fields before use.
type Repository[A Aggregate] struct {
	// Snapshots decides when to take a snapshot after a save; nil takes
	// none (and loads skip looking for one).
	Snapshots SnapshotPolicy
	// SnapshotSchema is the version of A's snapshot shape. A snapshot of
	// another version is ignored and the aggregate replayed in full: raise
	// it whenever A's stored fields change.
	SnapshotSchema int32
	// MaxAttempts bounds Update's retries (default DefaultMaxAttempts).
	MaxAttempts int
	// RetryBackoff is the base of Update's jittered, doubling backoff
	// (default DefaultRetryBackoff).
	RetryBackoff time.Duration
	// Cache, when set, keeps recently used aggregates in memory; off by
	// default.
	Cache *Cache

	store    *Store
	reg      *Registry
	typ      string
	newState func() A
}

// NewRepository returns a repository of aggregates of type aggregateType,
// whose zero state newState returns, decoding events through reg.
func NewRepository[A Aggregate](store *Store, reg *Registry, aggregateType string, newState func() A) *Repository[A] {
	return &Repository[A]{store: store, reg: reg, typ: aggregateType, newState: newState,
		MaxAttempts: DefaultMaxAttempts, RetryBackoff: DefaultRetryBackoff}
}

// New returns a root for an aggregate that does not exist yet; saving it
// requires that its stream does not exist.
func (r *Repository[A]) New(id uuid.UUID) *Root[A] {
	return &Root[A]{ID: id, State: r.newState(), reg: r.reg}
}

// Load rebuilds an aggregate from its latest usable snapshot (or the
// cache) and the events after it. Errors: ErrStreamNotFound,
// *UnknownEventError, ErrUpcast, or Apply's error.
func (r *Repository[A]) Load(ctx context.Context, id uuid.UUID) (*Root[A], error) {
	root := r.New(id)
	if r.Cache != nil {
		if v, state, ok := r.Cache.get(id); ok {
			if err := bson.Unmarshal(state, root.State); err == nil {
				root.Version = v
			} else {
				root = r.New(id)
			}
		}
	}
	if root.Version == 0 && r.Snapshots != nil {
		snap, ok, err := r.store.loadSnapshot(ctx, id)
		if err != nil {
			return nil, err
		}
		if ok && snap.SchemaVersion == r.SnapshotSchema {
			if err := bson.Unmarshal(snap.State, root.State); err != nil {
				root = r.New(id) // an unreadable snapshot is no snapshot
			} else {
				root.Version = snap.Version
			}
		}
	}
	if err := r.replay(ctx, root, ReadQuery{FromVersion: root.Version + 1}); err != nil {
		return nil, err
	}
	if root.Version == 0 {
		return nil, fmt.Errorf("%w: %s", ErrStreamNotFound, id)
	}
	r.remember(root)
	return root, nil
}

// LoadAt rebuilds an aggregate as it was at q.ToVersion or q.AsOf, from
// its events (snapshots are not used). Errors as Load.
func (r *Repository[A]) LoadAt(ctx context.Context, id uuid.UUID, q ReadQuery) (*Root[A], error) {
	q.FromVersion, q.Limit = 0, 0
	root := r.New(id)
	if err := r.replay(ctx, root, q); err != nil {
		return nil, err
	}
	if root.Version == 0 {
		return nil, fmt.Errorf("%w: %s", ErrStreamNotFound, id)
	}
	return root, nil
}

func (r *Repository[A]) replay(ctx context.Context, root *Root[A], q ReadQuery) error {
	for e, err := range r.store.Events(ctx, root.ID, q) {
		if err != nil {
			return err
		}
		payload, err := r.reg.Decode(e)
		if err != nil {
			return err
		}
		if err := root.State.Apply(payload); err != nil {
			return fmt.Errorf("mongostore: apply %s version %d to %s: %w", e.Name, e.Version, root.ID, err)
		}
		root.Version = e.Version
	}
	return nil
}

// Save appends the root's pending events with its loaded version as the
// expected version, then takes a snapshot if the policy says so. Nothing
// pending is a no-op. Errors: those of Append (a *ConcurrencyError when
// someone saved first).
func (r *Repository[A]) Save(ctx context.Context, root *Root[A]) error {
	return r.SaveAll(ctx, root)
}

// SaveAll saves several roots of this repository atomically, in one
// transaction: a transfer between two accounts, say.
func (r *Repository[A]) SaveAll(ctx context.Context, roots ...*Root[A]) error {
	var appends []StreamAppend
	var saving []*Root[A]
	for _, root := range roots {
		if len(root.pending) == 0 {
			continue
		}
		appends = append(appends, StreamAppend{Stream: root.ID, Type: r.typ, Expected: Exact(root.Version), Events: root.pending})
		saving = append(saving, root)
	}
	if len(appends) == 0 {
		return nil
	}
	res, err := r.store.AppendStreams(ctx, appends...)
	if err != nil {
		if errors.Is(err, ErrConcurrency) && r.Cache != nil {
			for _, root := range saving {
				r.Cache.forget(root.ID)
			}
		}
		return err
	}
	for i, root := range saving {
		before := root.Version
		root.Version, root.pending = res[i].ToVersion, nil
		r.remember(root)
		if r.Snapshots != nil && r.Snapshots(before, root.Version) {
			if err := r.snapshot(ctx, root); err != nil {
				// The events are saved; a missing snapshot only costs time.
				r.store.log.Warn("snapshot not saved", "aggregate", root.ID, "error", err)
			}
		}
	}
	return nil
}

func (r *Repository[A]) snapshot(ctx context.Context, root *Root[A]) error {
	state, err := bson.Marshal(root.State)
	if err != nil {
		return fmt.Errorf("mongostore: encode snapshot of %s: %w", root.ID, err)
	}
	return r.store.saveSnapshot(ctx, snapshotDoc{ID: root.ID.String(), Stream: UUIDValue(root.ID), Type: r.typ,
		Version: root.Version, SchemaVersion: r.SnapshotSchema, State: state, TakenAt: time.Now().UTC()})
}

func (r *Repository[A]) remember(root *Root[A]) {
	if r.Cache == nil || len(root.pending) > 0 {
		return
	}
	if state, err := bson.Marshal(root.State); err == nil {
		r.Cache.put(root.ID, root.Version, state)
	}
}

// Update loads an aggregate, lets decide record events on it, and saves
// them; when someone else saved first it starts again from a fresh load,
// up to MaxAttempts times with jittered backoff. An error from decide (a
// business rule) is returned at once, without retrying, and nothing is
// saved. Errors: decide's, Load's, or the last *ConcurrencyError.
func (r *Repository[A]) Update(ctx context.Context, id uuid.UUID, decide func(*Root[A]) error) error {
	return r.retry(ctx, func() error {
		root, err := r.Load(ctx, id)
		if err != nil {
			return err
		}
		if err := decide(root); err != nil {
			return permanent{err}
		}
		return r.Save(ctx, root)
	})
}

// UpdateAll is Update for several aggregates saved atomically (SaveAll): a
// transfer between two accounts, say. decide gets the roots in the order
// of ids.
func (r *Repository[A]) UpdateAll(ctx context.Context, ids []uuid.UUID, decide func(roots []*Root[A]) error) error {
	return r.retry(ctx, func() error {
		roots := make([]*Root[A], len(ids))
		for i, id := range ids {
			root, err := r.Load(ctx, id)
			if err != nil {
				return err
			}
			roots[i] = root
		}
		if err := decide(roots); err != nil {
			return permanent{err}
		}
		return r.SaveAll(ctx, roots...)
	})
}

// Create records the events of a new aggregate and saves them; it fails
// with a *ConcurrencyError if the aggregate exists.
func (r *Repository[A]) Create(ctx context.Context, id uuid.UUID, decide func(*Root[A]) error) error {
	root := r.New(id)
	if err := decide(root); err != nil {
		return err
	}
	return r.Save(ctx, root)
}

type permanent struct{ err error }

func (p permanent) Error() string { return p.err.Error() }

func (r *Repository[A]) retry(ctx context.Context, attempt func() error) error {
	attempts := max(r.MaxAttempts, 1)
	wait := r.RetryBackoff
	var err error
	for i := range attempts {
		err = attempt()
		var p permanent
		if errors.As(err, &p) {
			return p.err
		}
		if !errors.Is(err, ErrConcurrency) || i == attempts-1 {
			return err
		}
		jitter := time.Duration(rand.Int64N(int64(wait) + 1))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait/2 + jitter/2):
		}
		wait *= 2
	}
	return err
}
