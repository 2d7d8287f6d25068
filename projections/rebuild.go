package projections

import (
	"context"
	"errors"
	"fmt"

	"github.com/annalsdb/annals/mongostore"
	"go.mongodb.org/mongo-driver/bson"
)

// RebuildMode says how Rebuild replaces a projection's read models.
type RebuildMode int

const (
	// BlueGreen builds a new generation into new collections while the
	// current ones keep serving and stay current; the new generation takes
	// over when it has caught up, and the old collections are dropped.
	BlueGreen RebuildMode = iota
	// DropAndReplay drops the read models at once and replays every event
	// into empty collections; readers see them fill up.
	DropAndReplay
)

// Rebuild replays a projection from the first event. It returns once the
// rebuild is recorded; the runner that owns the projection carries it out,
// and Status shows its progress. A failed projection can be rebuilt too;
// asking for a blue/green build while one is under way changes nothing.
// Errors: ErrUnknownProjection; ErrBuildFailed for a blue/green build while
// the previous build has failed (Retry it, or rebuild with DropAndReplay).
func (r *Runner) Rebuild(ctx context.Context, name string, mode RebuildMode) error {
	p, ok := r.byName[name]
	if !ok {
		return fmt.Errorf("%w: %s", ErrUnknownProjection, name)
	}
	if err := r.ensureState(ctx); err != nil {
		return err
	}
	cp, err := r.loadCheckpoint(ctx, name)
	if err != nil {
		return err
	}
	if cp == nil {
		return nil // never ran: its first run is a full replay anyway
	}
	if mode == BlueGreen {
		if err := r.startBuild(ctx, p, cp); err != nil {
			return err
		}
		r.wake()
		return nil
	}
	return r.Reset(ctx, name)
}

// Reset drops a projection's read models and replays every event into new,
// empty collections (DropAndReplay). A blue/green build under way is
// abandoned. Errors: ErrUnknownProjection.
func (r *Runner) Reset(ctx context.Context, name string) error {
	p, ok := r.byName[name]
	if !ok {
		return fmt.Errorf("%w: %s", ErrUnknownProjection, name)
	}
	if err := r.ensureState(ctx); err != nil {
		return err
	}
	var old []int64
	err := r.store.Transaction(ctx, func(sc context.Context) error {
		old = old[:0]
		cp, err := r.loadCheckpoint(sc, name)
		if err != nil || cp == nil {
			return err
		}
		next, err := r.loadCheckpoint(sc, name+nextSuffix)
		if err != nil {
			return err
		}
		gen := cp.Generation + 1
		old = append(old, cp.Generation)
		if next != nil {
			old = append(old, next.Generation)
			gen = max(gen, next.Generation+1)
			if _, err := r.checkpoints().DeleteOne(sc, bson.D{{Key: "_id", Value: next.ID}}); err != nil {
				return err
			}
		}
		_, err = r.checkpoints().ReplaceOne(sc, bson.D{{Key: "_id", Value: name}}, checkpoint{
			ID: name, Projection: name, Generation: gen, CodeVersion: p.version(), State: StateCatchingUp,
			Owner: cp.Owner, LeaseUntil: cp.LeaseUntil, HistoryLost: cp.HistoryLost, UpdatedAt: r.now(),
		})
		return err
	})
	if err != nil {
		return fmt.Errorf("projections: reset %s: %w", name, err)
	}
	r.Logger.Info("projection reset; replaying", logKeyProjection, name)
	r.wake()
	return r.dropGenerations(ctx, p, old...)
}

// Retry puts a failed projection back to work from its checkpoint: the
// event that failed is applied again. A failed blue/green build is put
// back to work too, both at once when both failed. Errors:
// ErrUnknownProjection, ErrNotFailed.
func (r *Runner) Retry(ctx context.Context, name string) error {
	if _, ok := r.byName[name]; !ok {
		return fmt.Errorf("%w: %s", ErrUnknownProjection, name)
	}
	if err := r.ensureState(ctx); err != nil {
		return err
	}
	res, err := r.checkpoints().UpdateMany(ctx,
		bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: bson.A{name, name + nextSuffix}}}}, {Key: "state", Value: StateFailed}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "state", Value: StateCatchingUp}, {Key: "updated_at", Value: r.now()}}},
			{Key: "$unset", Value: bson.D{{Key: "failure", Value: ""}}}})
	if err != nil {
		return fmt.Errorf("projections: retry %s: %w", name, err)
	}
	if res.MatchedCount == 0 {
		return fmt.Errorf("%w: %s", ErrNotFailed, name)
	}
	r.Logger.Info("projection retried", logKeyProjection, name)
	r.wake()
	return nil
}

// startBuild records a blue/green build of the generation after the one
// served now, unless a build is under way. It reads the serving generation
// in the same transaction, so a build can never target a generation that
// is (or was) already served.
func (r *Runner) startBuild(ctx context.Context, p *Projection, _ *checkpoint) error {
	var gen int64
	err := r.store.Transaction(ctx, func(sc context.Context) error {
		cur, err := r.loadCheckpoint(sc, p.Name)
		if err != nil {
			return err
		}
		if cur == nil {
			return errors.New("the serving checkpoint is gone")
		}
		gen = cur.Generation + 1
		next, err := r.loadCheckpoint(sc, p.Name+nextSuffix)
		switch {
		case err != nil:
			return err
		case next != nil && next.State == StateFailed:
			return ErrBuildFailed
		case next != nil:
			return nil // a build is under way already
		}
		_, err = r.checkpoints().InsertOne(sc, checkpoint{
			ID: p.Name + nextSuffix, Projection: p.Name, Generation: gen,
			CodeVersion: p.version(), State: StateCatchingUp, UpdatedAt: r.now(),
		})
		return err
	})
	if errors.Is(err, ErrBuildFailed) {
		return fmt.Errorf("%w: %s: retry it, or reset the projection", ErrBuildFailed, p.Name)
	}
	if err != nil && !mongostore.IsDuplicate(err) {
		return fmt.Errorf("projections: start a build of %s: %w", p.Name, err)
	}
	return r.ensureGeneration(ctx, p, gen)
}

// switchGeneration makes a caught-up build the serving generation: the
// serving checkpoint takes the build's generation and position in one
// transaction, then the old generation's collections are dropped. The
// worker serving the old generation sees its checkpoint move and follows.
func (r *Runner) switchGeneration(ctx context.Context, p *Projection, build *checkpoint, token bson.Raw) error {
	var old int64
	err := r.store.Transaction(ctx, func(sc context.Context) error {
		cur, err := r.loadCheckpoint(sc, p.Name)
		if err != nil {
			return err
		}
		if cur == nil {
			return errors.New("the serving checkpoint is gone")
		}
		res, err := r.checkpoints().DeleteOne(sc, r.fence(build))
		if err != nil {
			return err
		}
		if res.DeletedCount == 0 {
			return errLeaseLost
		}
		if build.Generation <= cur.Generation {
			// A stale build (its generation is served already, or was):
			// abandon it and drop nothing.
			old = 0
			return nil
		}
		old = cur.Generation
		next := *cur
		next.Generation, next.CodeVersion, next.State = build.Generation, build.CodeVersion, StateCatchingUp
		next.Token, next.Position, next.Last, next.Applied = token, build.Position, build.Last, build.Applied
		next.Failure, next.UpdatedAt = nil, r.now()
		if token != nil {
			next.State = StateLive
		}
		_, err = r.checkpoints().ReplaceOne(sc, bson.D{{Key: "_id", Value: p.Name}}, next)
		return err
	})
	if err != nil {
		return fmt.Errorf("switch %s to generation %d: %w", p.Name, build.Generation, err)
	}
	if old == 0 {
		r.Logger.Warn("stale blue/green build abandoned", logKeyProjection, p.Name, logKeyGeneration, build.Generation)
		return errIdle
	}
	r.Logger.Info("blue/green build caught up; switched", logKeyProjection, p.Name, logKeyGeneration, build.Generation)
	r.wake() // the serving worker follows at once
	if err := r.dropGenerations(ctx, p, old); err != nil {
		return err
	}
	return errIdle
}

// dropGenerations drops the collections and positions of generations no
// longer served.
func (r *Runner) dropGenerations(ctx context.Context, p *Projection, generations ...int64) error {
	for _, g := range generations {
		for _, c := range p.collections() {
			if err := r.store.Database().Collection(physicalName(c, g)).Drop(ctx); err != nil {
				return fmt.Errorf("drop %s: %w", physicalName(c, g), err)
			}
		}
		if err := r.dropPositions(ctx, p.Name, g); err != nil {
			return err
		}
	}
	return nil
}

// ensureState creates the runner's own collections, for operator calls
// made without Run.
func (r *Runner) ensureState(ctx context.Context) error {
	for _, name := range []string{CollectionCheckpoints, CollectionPositions} {
		if err := r.store.EnsureCollection(ctx, name); err != nil {
			return err
		}
	}
	return nil
}
