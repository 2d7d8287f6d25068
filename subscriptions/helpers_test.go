package subscriptions

import (
	"bytes"
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/annalsdb/annals/mongostore"
	"github.com/annalsdb/annals/projections"
)

// clock is the service's clock in tests: real time plus an offset the
// test moves forward (never behind: events carry real recorded times).
type clock struct{ offset atomic.Int64 }

func (c *clock) now() time.Time              { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *clock) advance(d time.Duration)     { c.offset.Add(int64(d)) }
func (c *clock) install(s *Service) *Service { s.clock = c.now; return s }

// newService opens uri, returns a service over it with a test clock, and
// runs its feeds until the test ends.
func newService(t *testing.T, uri string) (*Service, *mongostore.Store, *clock) {
	t.Helper()
	ctx := context.Background()
	store, err := mongostore.Open(ctx, uri)
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{}
	svc := c.install(New(store))
	svc.Poll = 10 * time.Millisecond
	svc.Refresh = 50 * time.Millisecond
	svc.Runner = func(r *projections.Runner) { r.LeaseTTL = time.Second }
	stop := run(t, svc)
	t.Cleanup(func() {
		stop()
		if err := store.Close(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return svc, store, c
}

// run runs svc until the returned stop is called.
func run(t *testing.T, svc *Service) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
}

// appendEvents appends names to stream (of type typ) and returns their ids.
func appendEvents(t *testing.T, store *mongostore.Store, stream uuid.UUID, typ string, names ...string) []uuid.UUID {
	t.Helper()
	evs := make([]mongostore.EventData, len(names))
	for i, n := range names {
		evs[i] = mongostore.EventData{Name: n, Data: map[string]any{"i": i}}
	}
	res, err := store.AppendStreams(context.Background(), mongostore.StreamAppend{Stream: stream, Type: typ, Expected: mongostore.Any, Events: evs})
	if err != nil {
		t.Fatal(err)
	}
	return res[0].IDs
}

// fetchN fetches for consumer until n events arrived (or fails the test
// after a generous wait), acknowledging none.
func fetchN(t *testing.T, svc *Service, sub, consumer string, n int) []Delivery {
	t.Helper()
	var out []Delivery
	deadline := time.Now().Add(20 * time.Second)
	for len(out) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%s got %d of %d events", consumer, len(out), n)
		}
		got, err := svc.Fetch(context.Background(), sub, consumer, n-len(out), time.Second)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, got...)
	}
	return out
}

func ids(ds []Delivery) []uuid.UUID {
	out := make([]uuid.UUID, len(ds))
	for i, d := range ds {
		out[i] = d.Event.ID
	}
	return out
}

func notHeld(err error) []uuid.UUID {
	var nh *NotHeldError
	if errors.As(err, &nh) {
		return nh.Events
	}
	return nil
}

func errorsIs(err, target error) bool { return errors.Is(err, target) }

func containsLine(out []byte, line string) bool {
	for l := range bytes.Lines(out) {
		if string(bytes.TrimSpace(l)) == line {
			return true
		}
	}
	return false
}
