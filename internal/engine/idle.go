package engine

import (
	"context"
	"time"
)

// idlePoll is how often WaitIdle looks at the store's background work,
// and idleQuiet how many looks in a row must find none.
const (
	idlePoll  = 5 * time.Millisecond
	idleQuiet = 3
)

// WaitIdle waits until the store has no flush or compaction running: the
// work Pebble does in the background after writes, which takes a core
// and the disk from whatever runs beside it. It returns when idleQuiet
// looks in a row, idlePoll apart, found none; one compaction is usually
// scheduled as the previous one ends, so a single look could fall between
// them. Writes during the wait start more work and prolong it.
//
// Benchmarks use it so that a timed operation does not pay for work left
// by seeding or by another store of the same process.
//
// Errors: ErrClosed; the context's error.
func (e *Engine) WaitIdle(ctx context.Context) error {
	if err := e.enter(); err != nil {
		return err
	}
	defer e.inflight.Done()
	t := time.NewTicker(idlePoll)
	defer t.Stop()
	for quiet := 0; ; {
		if m := e.db.Metrics(); m.Flush.NumInProgress == 0 && m.Compact.NumInProgress == 0 {
			if quiet++; quiet == idleQuiet {
				return nil
			}
		} else {
			quiet = 0
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-e.done:
			return ErrClosed
		case <-t.C:
		}
	}
}
