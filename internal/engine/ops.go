package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
	"go.mongodb.org/mongo-driver/bson"
)

// write runs fn in the transaction of ctx's session, or in a transaction of
// its own that commits when fn succeeds and returns once it is durable.
func (e *Engine) write(ctx context.Context, fn func(t *txn) error) error {
	return e.writePartial(ctx, func(t *txn) (bool, error) {
		err := fn(t)
		return false, err
	})
}

// writePartial is write for operations that keep what they did before an
// error outside transactions (ordered inserts, updates of many documents):
// when fn returns keep, the transaction commits and fn's error is returned
// after it.
func (e *Engine) writePartial(ctx context.Context, fn func(t *txn) (keep bool, err error)) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if s := sessionFrom(ctx); s != nil && s.inTxn() {
		return s.withTxn(ctx, true, func(t *txn) error {
			_, err := fn(t)
			return err
		})
	}
	t, err := e.begin(ctx)
	if err != nil {
		return err
	}
	keep, err := fn(t)
	if err != nil && !keep {
		t.abort()
		// A write refused because of what other commits wrote (a
		// duplicate key) is an answer about them: it waits until they are
		// durable, as an acknowledgment would.
		return errors.Join(err, e.waitDurable(context.WithoutCancel(ctx)))
	}
	if cerr := t.commit(context.WithoutCancel(ctx)); cerr != nil {
		return cerr
	}
	if s := sessionFrom(ctx); s != nil {
		s.observe()
	}
	return err
}

// view runs fn on what a read sees: ctx's session transaction, or a
// snapshot of the store. Outside transactions it returns only once the
// commits fn's answer depends on, as told to obs, are durable: a read never
// shows a commit a crash could still take away (as MongoDB's majority read
// concern). In transactions obs is nil: the commit answers for the reads.
func (e *Engine) view(ctx context.Context, fn func(r pebble.Reader, obs *observer, cat *catalog) error) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if s := sessionFrom(ctx); s != nil && s.inTxn() {
		return s.withTxn(ctx, false, func(t *txn) error { return fn(t.b, nil, t.cat) })
	}
	if err := e.enter(); err != nil {
		return err
	}
	defer e.inflight.Done()
	if s := snapshotSession(ctx); s != nil {
		p, err := s.pinned()
		if err != nil {
			return err
		}
		obs := p.observer(e)
		if err := fn(p.snap, obs, p.cat); err != nil {
			return wrapRead(err)
		}
		return obs.wait(ctx)
	}
	cat := e.cat.Load()
	snap := e.db.NewSnapshot()
	obs := e.observe()
	err := fn(snap, obs, cat)
	_ = snap.Close()
	if err != nil {
		return wrapRead(err)
	}
	return obs.wait(ctx)
}

// read runs fn on the catalog a read sees.
func (e *Engine) read(ctx context.Context, fn func(cat *catalog) error) error {
	return e.view(ctx, func(_ pebble.Reader, obs *observer, cat *catalog) error {
		obs.everything()
		return fn(cat)
	})
}

// wrapRead marks errors from the storage layer (checksums) as corruption.
func wrapRead(err error) error {
	if pebbleCorrupt(err) {
		return fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	return err
}

// command answers the few commands a deployment is asked about itself.
func (e *Engine) command(ctx context.Context, db string, cmd any) (bson.Raw, error) {
	if err := e.enter(); err != nil {
		return nil, err
	}
	defer e.inflight.Done()
	d, err := toDoc(cmd)
	if err != nil {
		return nil, err
	}
	if len(d) == 0 {
		return nil, commandError(codeBadValue, "BadValue", "empty command")
	}
	ts := tsValue(e.applied.Load())
	switch d[0].Key {
	case "ping":
		return mustMarshal(bson.D{{Key: "ok", Value: 1.0}}), nil
	case "hello", "isMaster", "ismaster":
		return mustMarshal(bson.D{
			{Key: "isWritablePrimary", Value: true},
			{Key: "ismaster", Value: true},
			{Key: "maxBsonObjectSize", Value: int32(maxDocumentSize)},
			{Key: "maxWriteBatchSize", Value: int32(100000)},
			{Key: "operationTime", Value: ts},
			{Key: "msg", Value: "annals embedded engine"},
			{Key: "ok", Value: 1.0},
		}), nil
	case "buildInfo", "buildinfo":
		return mustMarshal(bson.D{{Key: "version", Value: "annals-embedded"}, {Key: "ok", Value: 1.0}}), nil
	}
	return nil, unsupported("command %q", d[0].Key)
}

// maxDocumentSize is MongoDB's document size limit, enforced alike.
const maxDocumentSize = 16 * 1024 * 1024

// toDoc turns a filter, update or command (bson.D, bson.M, a struct,
// bson.Raw, nil) into a bson.D with the canonical value types the query
// language works on.
func toDoc(v any) (bson.D, error) {
	switch x := v.(type) {
	case nil:
		return bson.D{}, nil
	case bson.Raw:
		var d bson.D
		if err := bson.Unmarshal(x, &d); err != nil {
			return nil, err
		}
		return d, nil
	case bson.D:
		if d, ok := canonicalDoc(x); ok {
			return d, nil
		}
	}
	raw, err := bson.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	var d bson.D
	if err := bson.Unmarshal(raw, &d); err != nil {
		return nil, err
	}
	return d, nil
}
