package projections

import (
	"context"
	"time"

	"github.com/annalsdb/annals/mongostore"
	"go.mongodb.org/mongo-driver/bson/primitive"
)

// Hook points, for tests in package projections_test.
const (
	HookBeforeBatch   = int(hookBeforeBatch)
	HookBeforeCommit  = int(hookBeforeCommit)
	HookAfterCommit   = int(hookAfterCommit)
	HookBeforeHandoff = int(hookBeforeHandoff)
)

// SetHook makes the runner call fn at each hook point.
func SetHook(r *Runner, fn func(ctx context.Context, point int, projection, state string) error) {
	r.hooks = hooks{fn: func(ctx context.Context, h hook, projection, state string) error {
		return fn(ctx, int(h), projection, state)
	}}
}

// Owner returns the runner's lease owner id.
func Owner(r *Runner) string { return r.owner }

// MajorityTime exposes Runner.majorityTime.
var MajorityTime = (*Runner).majorityTime

// SetClock sets where the runner reads the time.
func SetClock(r *Runner, now func() time.Time) { r.clock = now }

// WatchFirst opens the runner's change stream for p (starting at startAt
// when not nil), returns the first event it delivers, and closes it.
func WatchFirst(ctx context.Context, r *Runner, p *Projection, startAt *primitive.Timestamp) (mongostore.Event, error) {
	s, err := r.watch(ctx, p, nil, startAt)
	if err != nil {
		return mongostore.Event{}, err
	}
	defer s.close()
	for {
		select {
		case it := <-s.items:
			if !it.tokenOnly {
				return it.event, nil
			}
		case err := <-s.done:
			// The reader queues its items before it reports an error: take
			// an event it delivered before failing.
			for {
				select {
				case it := <-s.items:
					if !it.tokenOnly {
						return it.event, nil
					}
					continue
				default:
				}
				return mongostore.Event{}, err
			}
		case <-ctx.Done():
			return mongostore.Event{}, ctx.Err()
		}
	}
}

// SetBatchClock sets the clock batch transactions are timed with.
func SetBatchClock(r *Runner, now func() time.Time) { r.batchClock = now }

// ApplyCatchUpBatch applies events to p as one catch-up batch of a worker
// that holds p's generation-1 lease, and returns how many the handler
// applied: the unit of work whose commands the mock-deployment tests
// check.
func ApplyCatchUpBatch(ctx context.Context, r *Runner, p *Projection, events []mongostore.Event) (int, error) {
	w := &worker{r: r, p: p, id: p.Name, log: r.Logger}
	cp := &checkpoint{ID: p.Name, Projection: p.Name, Generation: 1, Owner: r.owner, State: StateCatchingUp}
	return w.applyBatch(ctx, cp, batch{events: events, state: StateCatchingUp})
}

// WatchAndClose opens the runner's change stream for p with ctx, runs
// between (the worker's life), and closes the stream, as a worker
// tearing down does.
func WatchAndClose(ctx context.Context, r *Runner, p *Projection, between func()) error {
	s, err := r.watch(ctx, p, nil, nil)
	if err != nil {
		return err
	}
	between()
	s.close()
	return nil
}
