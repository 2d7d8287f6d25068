package engine

import (
	"context"
	"errors"

	"github.com/cockroachdb/pebble/v2"
)

// Snapshot sessions (options.Session().SetSnapshot(true)) read every
// operation at one point in time, the one of the session's first read, as
// MongoDB's snapshot reads do: a caller that reads several collections
// sees them as one commit left them, without a transaction and without
// holding the writer lock. Like MongoDB, a snapshot session cannot run a
// transaction. Its reads wait, as other reads do, until what they show is
// durable.

// pin is a snapshot session's point in time.
type pin struct {
	snap *pebble.Snapshot
	cat  *catalog
	// visible is the last commit the snapshot can show.
	visible uint64
	// released is set, under the engine's mu, once snap is closed.
	released bool
}

// errSnapshotTxn refuses a transaction in a snapshot session.
var errSnapshotTxn = commandError(codeInvalidOptions, "InvalidOptions", "transactions are not supported in snapshot sessions")

// pinned returns the point in time a snapshot session reads at, taking it
// at the first read. The caller has entered the engine.
func (s *Session) pinned() (*pin, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return nil, errors.New("engine: session ended")
	}
	if s.pin != nil {
		return s.pin, nil
	}
	e := s.client.e
	p := &pin{cat: e.cat.Load(), snap: e.db.NewSnapshot()}
	p.visible = e.latest.Load()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cursorsClosed {
		_ = p.snap.Close()
		return nil, ErrClosed
	}
	if e.pins == nil {
		e.pins = map[*pin]struct{}{}
	}
	e.pins[p] = struct{}{}
	s.pin = p
	return p, nil
}

// release closes a pin unless Close already has.
func (e *Engine) release(p *pin) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if p.released {
		return
	}
	p.released = true
	delete(e.pins, p)
	_ = p.snap.Close()
}

// releasePins closes the pins of sessions still open when the engine
// closes; no read is in progress then.
func (e *Engine) releasePins() {
	e.mu.Lock()
	pins := make([]*pin, 0, len(e.pins))
	for p := range e.pins {
		pins = append(pins, p)
	}
	e.mu.Unlock()
	for _, p := range pins {
		e.release(p)
	}
}

// snapshotSession returns ctx's session if it is a snapshot session.
func snapshotSession(ctx context.Context) *Session {
	if s := sessionFrom(ctx); s != nil && s.snapshot {
		return s
	}
	return nil
}

// observer returns the observer of a read at the pin: it depends on every
// commit the pin shows, which a snapshot session's reads wait for once.
func (p *pin) observer(e *Engine) *observer {
	return &observer{e: e, visible: p.visible, need: p.visible}
}
