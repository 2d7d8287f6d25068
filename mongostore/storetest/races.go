package storetest

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/annalsdb/annals/mongostore"
	"github.com/google/uuid"
)

// Race sizes.
const (
	raceWorkers  = 8
	raceAttempts = 100
)

// forEachWorker runs fn on raceWorkers goroutines and waits for them.
func forEachWorker(fn func(worker int)) {
	var wg sync.WaitGroup
	for w := range raceWorkers {
		wg.Go(func() { fn(w) })
	}
	wg.Wait()
}

func runRaces(t *testing.T, open Opener) {
	t.Run("ExactAppenders", func(t *testing.T) {
		s := open(t)
		id := uuid.New()
		var successes, conflicts atomic.Int64
		errs := make(chan error, raceWorkers*raceAttempts)
		forEachWorker(func(w int) {
			for range raceAttempts {
				var version int64
				st, err := s.Load(ctxFor(t), id)
				switch {
				case errors.Is(err, mongostore.ErrStreamNotFound):
				case err != nil:
					errs <- err
					return
				default:
					version = st.Version
				}
				_, err = s.Append(ctxFor(t), id, mongostore.Exact(version), ev("Incremented", map[string]any{"worker": w}))
				switch {
				case err == nil:
					successes.Add(1)
				case errors.Is(err, mongostore.ErrConcurrency):
					conflicts.Add(1)
				default:
					errs <- err
				}
			}
		})
		close(errs)
		for err := range errs {
			t.Errorf("an attempt failed with something other than ErrConcurrency: %v", err)
		}
		vs := versions(t, s, id)
		checkContiguous(t, vs)
		if int64(len(vs)) != successes.Load() {
			t.Errorf("stream has %d events, %d appends succeeded", len(vs), successes.Load())
		}
		if successes.Load()+conflicts.Load() != raceWorkers*raceAttempts {
			t.Errorf("%d successes + %d conflicts != %d attempts", successes.Load(), conflicts.Load(), raceWorkers*raceAttempts)
		}
		t.Logf("%d successes, %d conflicts", successes.Load(), conflicts.Load())
	})

	t.Run("AnyAppenders", func(t *testing.T) {
		s := open(t)
		id := uuid.New()
		const each = 25
		forEachWorker(func(int) {
			for range each {
				if _, err := s.Append(ctxFor(t), id, mongostore.Any, ev("Incremented", nil), ev("Incremented", nil)); err != nil {
					t.Errorf("any append: %v", err)
				}
			}
		})
		vs := versions(t, s, id)
		checkContiguous(t, vs)
		if len(vs) != raceWorkers*each*2 {
			t.Errorf("got %d events, want %d", len(vs), raceWorkers*each*2)
		}
	})

	t.Run("Transfers", func(t *testing.T) {
		s := open(t)
		accounts := make([]uuid.UUID, 4)
		for i := range accounts {
			accounts[i] = uuid.New()
			mustAppend(t, s, accounts[i], mongostore.NoStream, ev("AccountOpened", nil))
		}
		const each = 20
		var done atomic.Int64
		forEachWorker(func(w int) {
			for i := range each {
				from, to := accounts[(w+i)%4], accounts[(w+i+1)%4]
				vf, vt := int64(len(versions(t, s, from))), int64(len(versions(t, s, to)))
				_, err := s.AppendStreams(ctxFor(t),
					mongostore.StreamAppend{Stream: from, Expected: mongostore.Exact(vf), Events: []mongostore.EventData{ev("Withdrawn", nil)}},
					mongostore.StreamAppend{Stream: to, Expected: mongostore.Exact(vt), Events: []mongostore.EventData{ev("Deposited", nil)}},
				)
				switch {
				case err == nil:
					done.Add(1)
				case !errors.Is(err, mongostore.ErrConcurrency):
					t.Errorf("transfer: %v", err)
				}
			}
		})
		var withdrawn, deposited int
		for _, a := range accounts {
			st, err := s.Load(ctxFor(t), a)
			if err != nil {
				t.Fatal(err)
			}
			for i, e := range st.Events {
				if e.Version != int64(i+1) {
					t.Fatalf("account %s not contiguous at %d", a, i)
				}
				switch e.Name {
				case "Withdrawn":
					withdrawn++
				case "Deposited":
					deposited++
				}
			}
		}
		if withdrawn != deposited || int64(withdrawn) != done.Load() {
			t.Errorf("%d withdrawals, %d deposits, %d transfers succeeded: a transfer was half-written", withdrawn, deposited, done.Load())
		}
	})

	t.Run("SameIdsRetriedConcurrently", func(t *testing.T) {
		s := open(t)
		id := uuid.New()
		mustAppend(t, s, id, mongostore.NoStream, ev("Opened", nil))
		events := withIDs(ev("Deposited", nil), ev("Deposited", nil))
		var fresh atomic.Int64
		forEachWorker(func(int) {
			res, err := s.Append(ctxFor(t), id, mongostore.Any, events...)
			if err != nil {
				t.Errorf("retry: %v", err)
				return
			}
			if res.FromVersion != 2 || res.ToVersion != 3 {
				t.Errorf("got versions %d..%d, want 2..3", res.FromVersion, res.ToVersion)
			}
			if !res.Replayed {
				fresh.Add(1)
			}
		})
		if fresh.Load() != 1 {
			t.Errorf("%d appends stored the events, want exactly 1", fresh.Load())
		}
		if vs := versions(t, s, id); len(vs) != 3 {
			t.Errorf("got versions %v, want 1..3", vs)
		}
	})
}
