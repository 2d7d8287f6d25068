package main

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// newConnGrace is how long a new connection that has sent nothing yet is
// waited for at shutdown; net/http's own Shutdown gives it the same.
const newConnGrace = 5 * time.Second

// connTracker follows an http.Server's connections (set Track as its
// ConnState) so that a shutdown can wait for every connection that may
// carry a request not yet answered.
//
// http.Server.Shutdown alone cuts such requests: a connection accepted
// before Shutdown whose request is read after it starts is closed
// unanswered (net/http's conn.serve returns once shuttingDown), and an
// idle keep-alive connection is closed even if the client has just sent a
// request on it. Serve's drain therefore stops accepting itself, waits
// here until every connection is idle or closed (responses close their
// connection while the server drains, see server.Server.Drain), and only
// then calls Shutdown, which has nothing left to cut. What remains is
// HTTP/1.1's own race: a keep-alive connection left idle through the
// whole drain delay is closed, and a request its client sends at that
// very moment gets no answer (nothing of it was processed; Go's client
// retries such a request when it is idempotent).
type connTracker struct {
	mu    sync.Mutex
	conns map[net.Conn]connState
}

type connState struct {
	state http.ConnState
	since time.Time
}

// Track records a connection's state change; it is an
// http.Server.ConnState hook.
func (t *connTracker) Track(c net.Conn, st http.ConnState) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.conns == nil {
		t.conns = map[net.Conn]connState{}
	}
	switch st {
	case http.StateClosed, http.StateHijacked:
		delete(t.conns, c)
	default:
		t.conns[c] = connState{state: st, since: time.Now()}
	}
}

// busy counts the connections that may carry a request not yet answered:
// active ones, and new ones that may still be sending their first request.
func (t *connTracker) busy() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, c := range t.conns {
		if c.state == http.StateActive || c.state == http.StateNew && time.Since(c.since) < newConnGrace {
			n++
		}
	}
	return n
}

// Quiesce waits until no connection is busy, polling as http.Server's
// Shutdown does. It returns ctx's error if ctx ends first.
func (t *connTracker) Quiesce(ctx context.Context) error {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for t.busy() > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
	return nil
}

// lameDuck waits out the drain delay, or less when second closes (a
// second SIGINT or SIGTERM: an operator pressing Ctrl-C again wants the
// server gone now, in-flight requests still answered). It reports whether
// the signal ended it.
func lameDuck(delay time.Duration, second <-chan struct{}, log *slog.Logger) (signalled bool) {
	t := time.NewTimer(delay)
	defer t.Stop()
	select {
	case <-t.C:
		return false
	case <-second:
		log.Info("second signal: ending the drain delay early")
		return true
	}
}
