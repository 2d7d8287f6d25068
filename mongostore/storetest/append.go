package storetest

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/annalsdb/annals/mongostore"
	"github.com/google/uuid"
)

func runAppend(t *testing.T, open Opener) {
	t.Run("ExpectedVersions", func(t *testing.T) {
		s := open(t)
		existing := uuid.New()
		mustAppend(t, s, existing, mongostore.NoStream, ev("Opened", nil), ev("Deposited", nil))
		cases := []struct {
			name     string
			stream   uuid.UUID
			expected mongostore.ExpectedVersion
			events   int
			wantErr  bool
			actual   int64
		}{
			{"no stream on a new stream", uuid.New(), mongostore.NoStream, 1, false, 0},
			{"no stream on an existing stream", existing, mongostore.NoStream, 1, true, 2},
			{"no stream batch on an existing stream", existing, mongostore.NoStream, 3, true, 2},
			{"exact 0 on a new stream", uuid.New(), mongostore.Exact(0), 2, false, 0},
			{"exact on a new stream", uuid.New(), mongostore.Exact(1), 1, true, 0},
			{"exact match", existing, mongostore.Exact(2), 1, false, 0},
			{"exact behind", existing, mongostore.Exact(1), 1, true, 3},
			{"exact behind batch", existing, mongostore.Exact(2), 2, true, 3},
			{"exact gap", existing, mongostore.Exact(5), 1, true, 3},
			{"exact gap batch", existing, mongostore.Exact(7), 2, true, 3},
			{"stream exists on a new stream", uuid.New(), mongostore.StreamExists, 1, true, 0},
			{"stream exists", existing, mongostore.StreamExists, 2, false, 0},
			{"any on a new stream", uuid.New(), mongostore.Any, 1, false, 0},
			{"any on an existing stream", existing, mongostore.Any, 2, false, 0},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				before := versions(t, s, c.stream)
				events := make([]mongostore.EventData, c.events)
				for i := range events {
					events[i] = ev("Happened", map[string]any{"i": i})
				}
				res, err := s.Append(ctxFor(t), c.stream, c.expected, events...)
				after := versions(t, s, c.stream)
				if c.wantErr {
					var ce *mongostore.ConcurrencyError
					if !errors.Is(err, mongostore.ErrConcurrency) || !errors.As(err, &ce) {
						t.Fatalf("got error %v, want a *ConcurrencyError", err)
					}
					if ce.Actual != c.actual || ce.Expected != c.expected || ce.Stream != c.stream {
						t.Errorf("got conflict %+v, want stream %s expected %s actual %d", ce, c.stream, c.expected, c.actual)
					}
					if len(after) != len(before) {
						t.Errorf("a refused append wrote: versions %v, then %v", before, after)
					}
					return
				}
				if err != nil {
					t.Fatalf("append: %v", err)
				}
				from := int64(len(before)) + 1
				if res.FromVersion != from || res.ToVersion != from+int64(c.events)-1 {
					t.Errorf("got versions %d..%d, want %d..%d", res.FromVersion, res.ToVersion, from, from+int64(c.events)-1)
				}
				if len(res.IDs) != c.events || res.Replayed || res.Stream != c.stream {
					t.Errorf("got result %+v", res)
				}
				checkContiguous(t, after)
				if len(after) != len(before)+c.events {
					t.Errorf("got %d events, want %d", len(after), len(before)+c.events)
				}
			})
		}
	})

	t.Run("NegativeExact", func(t *testing.T) {
		s := open(t)
		_, err := s.Append(ctxFor(t), uuid.New(), mongostore.Exact(-1), ev("Happened", nil))
		if !errors.Is(err, mongostore.ErrInvalidInput) {
			t.Fatalf("got %v, want ErrInvalidInput", err)
		}
	})

	t.Run("MultiStream", func(t *testing.T) {
		s := open(t)
		from, to := uuid.New(), uuid.New()
		mustAppend(t, s, from, mongostore.NoStream, ev("AccountOpened", nil), ev("Deposited", map[string]any{"amount": 100}))
		mustAppend(t, s, to, mongostore.NoStream, ev("AccountOpened", nil))
		res, err := s.AppendStreams(ctxFor(t),
			mongostore.StreamAppend{Stream: from, Expected: mongostore.Exact(2), Events: []mongostore.EventData{ev("Withdrawn", map[string]any{"amount": 30})}},
			mongostore.StreamAppend{Stream: to, Expected: mongostore.Exact(1), Events: []mongostore.EventData{ev("Deposited", map[string]any{"amount": 30})}},
		)
		if err != nil {
			t.Fatalf("transfer: %v", err)
		}
		if len(res) != 2 || res[0].Stream != from || res[0].FromVersion != 3 || res[1].Stream != to || res[1].FromVersion != 2 {
			t.Fatalf("got results %+v", res)
		}
		if !res[0].RecordedAt.Equal(res[1].RecordedAt) {
			t.Errorf("one append recorded at two times: %v and %v", res[0].RecordedAt, res[1].RecordedAt)
		}
		checkContiguous(t, versions(t, s, from))
		checkContiguous(t, versions(t, s, to))
		if got := len(versions(t, s, from)); got != 3 {
			t.Errorf("got %d events in the debited stream, want 3", got)
		}
	})

	t.Run("MultiStreamSameStreamTwice", func(t *testing.T) {
		s := open(t)
		id := uuid.New()
		_, err := s.AppendStreams(ctxFor(t),
			mongostore.StreamAppend{Stream: id, Expected: mongostore.Any, Events: []mongostore.EventData{ev("A", nil)}},
			mongostore.StreamAppend{Stream: id, Expected: mongostore.Any, Events: []mongostore.EventData{ev("B", nil)}},
		)
		if !errors.Is(err, mongostore.ErrInvalidInput) {
			t.Fatalf("got %v, want ErrInvalidInput", err)
		}
	})

	t.Run("AggregateType", func(t *testing.T) {
		s := open(t)
		id := uuid.New()
		if _, err := s.AppendStreams(ctxFor(t), mongostore.StreamAppend{Stream: id, Type: "Order", Expected: mongostore.NoStream,
			Events: []mongostore.EventData{ev("OrderCreated", nil)}}); err != nil {
			t.Fatal(err)
		}
		mustAppend(t, s, id, mongostore.Exact(1), ev("OrderConfirmed", nil))
		st, err := s.Load(ctxFor(t), id)
		if err != nil {
			t.Fatal(err)
		}
		if st.Type != "Order" {
			t.Errorf("got stream type %q, want Order", st.Type)
		}
		for _, e := range st.Events {
			if e.StreamType != "Order" {
				t.Errorf("event %d has type %q, want the stream's type Order", e.Version, e.StreamType)
			}
		}
		_, err = s.AppendStreams(ctxFor(t), mongostore.StreamAppend{Stream: id, Type: "Invoice", Expected: mongostore.Any,
			Events: []mongostore.EventData{ev("InvoiceSent", nil)}})
		if !errors.Is(err, mongostore.ErrInvalidInput) {
			t.Fatalf("appending with another aggregate type: got %v, want ErrInvalidInput", err)
		}
		if got := len(versions(t, s, id)); got != 2 {
			t.Errorf("got %d events after a refused append, want 2", got)
		}
	})

	t.Run("RecordedAtNeverDecreases", func(t *testing.T) {
		// Writers whose clocks disagree: one an hour ahead, then one on
		// time. The later events are recorded no earlier than the earlier
		// ones, so reading a stream as of a time gives a prefix of it.
		var skew atomic.Int64
		clock := func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
		s := open(t, mongostore.WithClock(clock))
		for _, batch := range []int{1, 3} {
			id := uuid.New()
			skew.Store(int64(time.Hour))
			first := mustAppend(t, s, id, mongostore.NoStream, ev("Ticked", nil))
			skew.Store(0)
			var last mongostore.AppendResult
			for i := range 5 {
				events := make([]mongostore.EventData, batch)
				for j := range events {
					events[j] = ev("Ticked", nil)
				}
				last = mustAppend(t, s, id, mongostore.Exact(first.ToVersion+int64(i*batch)), events...)
				if last.RecordedAt.Before(first.RecordedAt) {
					t.Fatalf("batch of %d: recorded at %v, before the stream's earlier event at %v", batch, last.RecordedAt, first.RecordedAt)
				}
			}
			st, err := s.Read(ctxFor(t), id, mongostore.ReadQuery{AsOf: first.RecordedAt})
			if err != nil {
				t.Fatal(err)
			}
			if st.Version != last.ToVersion {
				t.Errorf("as of the skewed first event: version %d, want all %d (recorded at the same time or later)", st.Version, last.ToVersion)
			}
		}
	})
}
