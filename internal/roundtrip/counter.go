package roundtrip

import (
	"context"
	"maps"
	"sync"
	"sync/atomic"
)

// Names of counted operations that are not the name of the method called.
const (
	// OpGetMore is a further batch fetched by a cursor or change stream.
	OpGetMore = "GetMore"
	// OpKillCursors is closing a cursor still open on the server.
	OpKillCursors = "KillCursors"
	// OpCommitTransaction is a commit, explicit or by WithTransaction.
	OpCommitTransaction = "CommitTransaction"
	// OpAbortTransaction is an abort, explicit or by WithTransaction.
	OpAbortTransaction = "AbortTransaction"
)

// counter holds the counts shared by everything reached through one Wrap.
type counter struct {
	mu    sync.Mutex
	total int64
	ops   map[string]int64
}

// add counts n round trips of op made with ctx, and notes them on the
// transaction attempt ctx belongs to, if any.
func (c *counter) add(ctx context.Context, op string, n int64) {
	if n <= 0 {
		return
	}
	if ctx != nil {
		if a, ok := ctx.Value(attemptKey{}).(*attempt); ok {
			a.ops.Add(n)
		}
	}
	c.mu.Lock()
	c.total += n
	if c.ops == nil {
		c.ops = make(map[string]int64)
	}
	c.ops[op] += n
	c.mu.Unlock()
}

func (c *counter) count() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.total
}

func (c *counter) snapshot() map[string]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.ops)
}

func (c *counter) reset() {
	c.mu.Lock()
	c.total = 0
	clear(c.ops)
	c.mu.Unlock()
}

// attemptKey marks the context of one WithTransaction callback attempt.
type attemptKey struct{}

// attempt counts the operations one transaction attempt sent, which
// decides whether its commit or abort reaches the server.
type attempt struct {
	ops atomic.Int64
}
