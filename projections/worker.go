package projections

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/annalsdb/annals/mongostore"
	"go.mongodb.org/mongo-driver/bson"
)

// worker runs one checkpoint of one projection: the serving generation, or
// (build) the next generation of a blue/green rebuild.
type worker struct {
	r     *Runner
	p     *Projection
	id    string
	build bool
	log   *slog.Logger
	// setupDone is the generation Setup last ran for.
	setupDone int64
	// batchFailing is set while the last batch the worker tried failed:
	// its stall lasts until a batch commits, whatever else succeeds.
	batchFailing bool
}

var (
	// errIdle means there is nothing for this worker to do now: another
	// runner holds the lease, the projection failed, or no build exists.
	errIdle = errors.New("idle")
	// errReload means the checkpoint changed under the worker.
	errReload = errors.New("reload")
)

// run works on the checkpoint until ctx ends.
func (w *worker) run(ctx context.Context) {
	bo := w.r.backoff()
	for ctx.Err() == nil {
		err := w.session(ctx)
		var wait time.Duration
		switch {
		case ctx.Err() != nil:
		case err == nil, errors.Is(err, errReload), errors.Is(err, errLeaseLost):
			bo.reset()
			w.unstall()
		case errors.Is(err, errIdle):
			bo.reset()
			w.unstall()
			wait = w.r.pollInterval()
		default:
			wait = bo.next()
			w.r.setStalled(w.id, err)
			w.log.Warn("projection interrupted; retrying", logKeyError, err, logKeyBackoff, wait)
		}
		if wait > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(wait):
			case <-w.r.wakeup():
			}
		}
	}
	w.r.clearWaiting(w.id)
	w.r.clearStalled(w.id)
	release, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	w.r.release(release, w.id)
}

// session acquires the checkpoint and works on it until something changes.
func (w *worker) session(ctx context.Context) error {
	cp, err := w.prepare(ctx)
	if err != nil {
		return err
	}
	ok, err := w.r.acquire(ctx, w.id)
	if err != nil {
		return err
	}
	if !ok {
		// Another owner holds the lease: say whose, for Status.
		if held, err := w.r.loadCheckpoint(ctx, w.id); err == nil && held != nil && held.Owner != "" {
			w.r.setWaiting(w.id, held)
		}
		return errIdle
	}
	w.r.clearWaiting(w.id)
	if cp, err = w.r.loadCheckpoint(ctx, w.id); err != nil || cp == nil {
		if err == nil {
			err = errReload
		}
		return err
	}
	switch {
	case cp.State == StateFailed:
		return w.hold(ctx, cp)
	case !w.build && cp.CodeVersion != w.p.version():
		return w.startBlueGreen(ctx, cp)
	}
	if err := w.setup(ctx, cp); err != nil {
		return err
	}
	stream, err := w.resume(ctx, cp)
	if err != nil {
		return err
	}
	if stream == nil {
		if stream, err = w.catchUp(ctx, cp); err != nil {
			return err
		}
		if w.build {
			stream.close()
			return w.r.switchGeneration(ctx, w.p, cp, stream.initial)
		}
	}
	return w.live(ctx, cp, stream)
}

// prepare makes sure the checkpoint exists.
func (w *worker) prepare(ctx context.Context) (*checkpoint, error) {
	cp, err := w.r.loadCheckpoint(ctx, w.id)
	if err != nil || cp != nil {
		return cp, err
	}
	if w.build {
		return nil, errIdle // no blue/green build under way
	}
	err = w.r.createCheckpoint(ctx, checkpoint{
		ID: w.id, Projection: w.p.Name, Generation: 1, CodeVersion: w.p.version(), State: StateCatchingUp,
	})
	if err != nil {
		return nil, err
	}
	return w.r.loadCheckpoint(ctx, w.id)
}

// hold keeps the lease of a failed projection without applying anything,
// until an operator retries or resets it.
func (w *worker) hold(ctx context.Context, cp *checkpoint) error {
	return w.wait(ctx, cp, func(now *checkpoint) bool { return now.State != StateFailed })
}

// wait renews the lease every poll interval until changed reports true or
// the checkpoint moves to another generation or owner.
func (w *worker) wait(ctx context.Context, cp *checkpoint, changed func(*checkpoint) bool) error {
	t := time.NewTicker(w.r.pollInterval())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		case <-w.r.wakeup():
		}
		if err := w.renew(ctx, cp, bson.D{}, nil); err != nil {
			return err
		}
		now, err := w.r.loadCheckpoint(ctx, w.id)
		if err != nil {
			return err
		}
		if now == nil || now.Generation != cp.Generation || changed(now) {
			return errReload
		}
	}
}

// setup creates a generation's collections and runs the projection's
// Setup, once per generation.
func (w *worker) setup(ctx context.Context, cp *checkpoint) error {
	if w.setupDone == cp.Generation {
		return nil
	}
	if err := w.r.ensureGeneration(ctx, w.p, cp.Generation); err != nil {
		return err
	}
	if w.p.Setup == nil {
		w.setupDone = cp.Generation
		return nil
	}
	tx := &Tx{db: w.r.store.Database(), projection: w.p, generation: cp.Generation}
	if err := w.p.Setup(ctx, tx); err != nil {
		return fmt.Errorf("set up %s: %w", w.p.Name, err)
	}
	w.setupDone = cp.Generation
	return nil
}

// resume reopens the change stream after the checkpoint's resume token. It
// returns nil when there is no token or the history behind it is gone;
// catch-up then takes over.
func (w *worker) resume(ctx context.Context, cp *checkpoint) (*changeStream, error) {
	if len(cp.Token) == 0 {
		// No token, or the null a history loss recorded: catch up.
		return nil, nil
	}
	stream, err := w.r.watch(ctx, w.p, cp.Token, nil)
	if err == nil {
		return stream, nil
	}
	if !mongostore.IsHistoryLost(err) && !mongostore.IsChangeTooLarge(err) {
		return nil, err
	}
	return nil, w.historyLost(ctx, cp, err)
}

// historyLost records that the change stream cannot resume (its history
// is gone, or the next change is too large to return), so that the next
// catch-up starts from the checkpoint's position.
func (w *worker) historyLost(ctx context.Context, cp *checkpoint, cause error) error {
	w.log.Warn("change stream history lost; catching up from the events collection",
		logKeyError, cause, logKeyPosition, cp.Position.position().RecordedAt)
	cp.Token = nil
	return w.renew(ctx, cp, bson.D{{Key: "resume_token", Value: nil}, {Key: "state", Value: StateCatchingUp}},
		bson.D{{Key: "history_lost", Value: 1}})
}

// failed puts the projection in the failed state naming the event.
func (w *worker) failed(ctx context.Context, cp *checkpoint, he *HandlerError) error {
	w.log.Error("projection failed", logKeyEvent, he.EventID, logKeyEventName, he.EventName, logKeyError, he.Err)
	return w.renew(ctx, cp, bson.D{
		{Key: "state", Value: StateFailed},
		{Key: "failure", Value: storedFailure{
			EventID: uuidValue(he.EventID), EventName: he.EventName, Stream: uuidValue(he.Stream),
			Version: he.Version, Error: he.Err.Error(), At: w.r.now(),
		}},
	}, nil)
}

// corrupt puts the projection in the failed state when err is a stored
// document that is not a well-formed event: retrying cannot help.
func (w *worker) corrupt(ctx context.Context, cp *checkpoint, err error) error {
	var de *mongostore.DecodeError
	if !errors.As(err, &de) {
		return err
	}
	if ferr := w.failed(ctx, cp, &HandlerError{Projection: w.p.Name, EventID: de.ID, EventName: "(unreadable)", Err: de}); ferr != nil {
		return ferr
	}
	return errReload
}

// apply applies a batch and turns a handler error into the failed state.
// Only a batch that commits ends a stall: a batch's transaction can fail
// at commit after every write in it succeeded (MongoDB reports a full
// disk there), and retrying it is one stall, counted from its first
// attempt.
func (w *worker) apply(ctx context.Context, cp *checkpoint, b batch) error {
	_, err := w.applyBatch(ctx, cp, b)
	if err == nil {
		w.unstall()
		return nil
	}
	if errors.Is(err, mongostore.ErrCorruptEvent) {
		return w.corrupt(ctx, cp, err)
	}
	var he *HandlerError
	if errors.As(err, &he) && !isTransient(he.Err) {
		if ferr := w.failed(ctx, cp, he); ferr != nil {
			return ferr
		}
		return errReload
	}
	w.batchFailing = true
	return err
}

// renew writes set and inc to the checkpoint outside any batch, renewing
// the lease. Once it succeeds, a stall no batch caused (a renewal, a read
// or the change stream failed) is over; one a failing batch caused lasts
// until a batch commits.
func (w *worker) renew(ctx context.Context, cp *checkpoint, set, inc bson.D) error {
	if err := w.r.update(ctx, cp, set, inc); err != nil {
		return err
	}
	if !w.batchFailing {
		w.r.clearStalled(w.id)
	}
	return nil
}

// unstall records that the worker made progress, or has none to make:
// its stall, if any, is over.
func (w *worker) unstall() {
	w.batchFailing = false
	w.r.clearStalled(w.id)
}

// catchUp reads history from the events collection, then opens the change
// stream and reads again from a margin before where it stopped, so that
// events committed around the handoff are seen; the positions skip those
// seen twice.
func (w *worker) catchUp(ctx context.Context, cp *checkpoint) (*changeStream, error) {
	from := w.r.marginBefore(cp.Position.position())
	if err := w.scan(ctx, cp, from, false, w.r.scanBound()); err != nil {
		return nil, err
	}
	if err := w.r.hooks.call(ctx, hookBeforeHandoff, w.p.Name, StateCatchingUp); err != nil {
		return nil, err
	}
	// On MongoDB the stream starts at a majority-committed time read
	// before the second pass: an append committed on the primary but not
	// yet on a majority is then in the stream even if the pass's majority
	// reads miss it.
	startAt, err := w.r.majorityTime(ctx)
	if err != nil {
		return nil, err
	}
	stream, err := w.r.watch(ctx, w.p, nil, startAt)
	if err != nil {
		return nil, err
	}
	// Events recorded after the stream opened (give or take the clocks'
	// skew) committed after it too and come through the stream: the
	// second pass stops there, so a writer faster than the catch-up cannot
	// keep it from going live.
	if err := w.scan(ctx, cp, w.r.marginBefore(cp.Position.position()), true, w.r.scanBound()); err != nil {
		stream.close()
		return nil, err
	}
	return stream, nil
}

// scan applies events from the events collection after from, in batches,
// until none are left or they were recorded after until.
//
// A batch whose transaction runs longer than MaxBatchDuration writes
// nothing; the scan then reads it again in batches half as large, down to
// one event, and grows them back after each batch that commits.
func (w *worker) scan(ctx context.Context, cp *checkpoint, from mongostore.Position, rescan bool, until time.Time) error {
	after := from
	limit := w.r.BatchSize
	renewed := time.Now()
	for {
		start := after
		// Batches that apply nothing write nothing: renew the lease anyway,
		// or a long catch-up would lose the projection to another runner.
		if time.Since(renewed) > w.r.pollInterval() {
			if err := w.renew(ctx, cp, bson.D{}, nil); err != nil {
				return err
			}
			renewed = time.Now()
		}
		b := batch{state: StateCatchingUp, rescan: rescan}
		size, done := 0, false
		for e, err := range w.r.store.Scan(ctx, mongostore.ScanQuery{After: after, Names: w.p.names(), Limit: int64(limit)}) {
			if err != nil {
				return w.corrupt(ctx, cp, err)
			}
			if e.RecordedAt.After(until) {
				done = true
				break
			}
			b.events = append(b.events, e)
			after = mongostore.PositionOf(e)
			if size += len(e.Data); size >= w.r.MaxBatchBytes {
				break
			}
		}
		if len(b.events) == 0 {
			return nil
		}
		err := w.apply(ctx, cp, b)
		if errors.Is(err, errBatchTooLong) && len(b.events) > 1 {
			limit = max(1, len(b.events)/2)
			w.log.Warn("batch transaction ran too long; retrying with smaller batches",
				logKeyError, err, logKeyBatchSize, limit)
			after = start
			continue
		}
		if err != nil {
			return err
		}
		if done {
			return nil
		}
		limit = min(w.r.BatchSize, limit*2)
	}
}

// live applies events from the change stream as they come, a batch at a
// time, and renews the lease while idle.
func (w *worker) live(ctx context.Context, cp *checkpoint, stream *changeStream) error {
	defer stream.close()
	if cp.State != StateLive {
		if err := w.renew(ctx, cp, bson.D{{Key: "state", Value: StateLive}}, nil); err != nil {
			return err
		}
		cp.State = StateLive
	}
	tick := time.NewTicker(w.r.pollInterval())
	defer tick.Stop()
	var pending bson.Raw // token of skipped events not yet recorded
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-stream.done:
			// A change too large to return cannot be resumed past either:
			// catching up reads it from the events collection, and the
			// stream reopens after it.
			if mongostore.IsHistoryLost(err) || mongostore.IsChangeTooLarge(err) {
				return w.historyLost(ctx, cp, err)
			}
			if errors.Is(err, mongostore.ErrCorruptEvent) {
				return w.corrupt(ctx, cp, err)
			}
			return fmt.Errorf("change stream: %w", err)
		case <-w.r.wakeup():
			// An operator call in this process (reset, rebuild): the fenced
			// update below fails if the checkpoint moved on.
			if err := w.renew(ctx, cp, bson.D{}, nil); err != nil {
				return err
			}
		case <-tick.C:
			set := bson.D{}
			if pending != nil {
				set = append(set, bson.E{Key: "resume_token", Value: pending})
			}
			if err := w.renew(ctx, cp, set, nil); err != nil {
				return err
			}
			if pending != nil {
				cp.Token, pending = pending, nil
			}
		case first := <-stream.items:
			b := batch{state: StateLive, token: first.token}
			handled := w.take(&b, first)
		drain:
			for len(b.events) < w.r.BatchSize {
				select {
				case it := <-stream.items:
					b.token = it.token
					if w.take(&b, it) {
						handled = true
					}
				default:
					break drain
				}
			}
			if !handled {
				pending = b.token
				continue
			}
			pending = nil
			if err := w.apply(ctx, cp, b); err != nil {
				return err
			}
		}
	}
}

// take adds a change stream item to a batch and reports whether the
// projection handles it.
func (w *worker) take(b *batch, it streamItem) bool {
	if it.tokenOnly || !w.p.handles(it.event.Name) {
		return false
	}
	b.events = append(b.events, it.event)
	return true
}

// startBlueGreen begins building the projection's new version into new
// collections; the serving generation waits, unchanged, until the build
// takes over.
func (w *worker) startBlueGreen(ctx context.Context, cp *checkpoint) error {
	if err := w.r.startBuild(ctx, w.p, cp); err != nil {
		return err
	}
	if cp.State != StateWaiting {
		if err := w.renew(ctx, cp, bson.D{{Key: "state", Value: StateWaiting}}, nil); err != nil {
			return err
		}
	}
	w.log.Info("projection version changed; building the new version blue/green",
		logKeyGeneration, cp.Generation+1, logKeyVersion, w.p.version())
	return w.wait(ctx, cp, func(now *checkpoint) bool { return now.CodeVersion == w.p.version() })
}
