// Package storetest is the conformance suite every annals engine must
// pass. It is exported so that any deployment can be checked with the same
// rules annals is tested with:
//
//	func TestMyDeployment(t *testing.T) {
//		storetest.Run(t, func(tb testing.TB, opts ...mongostore.Option) *mongostore.Store {
//			s, err := mongostore.Open(context.Background(), uri, append(opts, mongostore.WithDatabase(fresh()))...)
//			if err != nil {
//				tb.Fatal(err)
//			}
//			tb.Cleanup(func() { s.Close(context.Background()) })
//			return s
//		})
//	}
//
// Each case asks the opener for a fresh, empty store and leaves cleanup to
// it.
package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/annalsdb/annals/mongostore"
	"github.com/google/uuid"
)

// Opener returns a fresh, empty store configured with opts, and arranges
// its cleanup with tb.Cleanup.
type Opener func(tb testing.TB, opts ...mongostore.Option) *mongostore.Store

// Run runs every conformance case against stores from open.
func Run(t *testing.T, open Opener) {
	t.Run("Append", func(t *testing.T) { runAppend(t, open) })
	t.Run("Validation", func(t *testing.T) { runValidation(t, open) })
	t.Run("Atomicity", func(t *testing.T) { runAtomicity(t, open) })
	t.Run("Idempotency", func(t *testing.T) { runIdempotency(t, open) })
	t.Run("Load", func(t *testing.T) { runLoad(t, open) })
	t.Run("Scan", func(t *testing.T) { runScan(t, open) })
	t.Run("Encoding", func(t *testing.T) { runEncoding(t, open) })
	t.Run("DataModel", func(t *testing.T) { runDataModel(t, open) })
	t.Run("Races", func(t *testing.T) { runRaces(t, open) })
	t.Run("Lifecycle", func(t *testing.T) { runLifecycle(t, open) })
}

func ctxFor(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// ev builds an event with a payload.
func ev(name string, data any) mongostore.EventData {
	return mongostore.EventData{Name: name, Data: data}
}

// mustAppend appends or fails the test.
func mustAppend(t testing.TB, s *mongostore.Store, stream uuid.UUID, exp mongostore.ExpectedVersion, events ...mongostore.EventData) mongostore.AppendResult {
	t.Helper()
	res, err := s.Append(ctxFor(t), stream, exp, events...)
	if err != nil {
		t.Fatalf("append to %s (%s): %v", stream, exp, err)
	}
	return res
}

// versions returns the versions of a stream's events, or nil when the
// stream does not exist.
func versions(t testing.TB, s *mongostore.Store, stream uuid.UUID) []int64 {
	t.Helper()
	var out []int64
	for e, err := range s.Events(ctxFor(t), stream, mongostore.ReadQuery{}) {
		if err != nil {
			t.Fatalf("read %s: %v", stream, err)
		}
		out = append(out, e.Version)
	}
	return out
}

// countAll counts every event in the store.
func countAll(t testing.TB, s *mongostore.Store) int64 {
	t.Helper()
	n, err := s.EventsCollection().CountDocuments(ctxFor(t), map[string]any{})
	if err != nil {
		t.Fatalf("count events: %v", err)
	}
	return n
}

// checkContiguous fails unless vs is exactly 1..len(vs).
func checkContiguous(t testing.TB, vs []int64) {
	t.Helper()
	for i, v := range vs {
		if v != int64(i+1) {
			t.Fatalf("versions not contiguous at index %d: got %d, want %d (all: %v)", i, v, i+1, vs)
		}
	}
}
