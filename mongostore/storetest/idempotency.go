package storetest

import (
	"errors"
	"testing"

	"github.com/annalsdb/annals/mongostore"
	"github.com/google/uuid"
)

func withIDs(events ...mongostore.EventData) []mongostore.EventData {
	for i := range events {
		events[i].ID = uuid.New()
	}
	return events
}

func runIdempotency(t *testing.T, open Opener) {
	cases := []struct {
		name     string
		events   int
		expected func(version int64) mongostore.ExpectedVersion
	}{
		{"single event exact", 1, mongostore.Exact},
		{"batch exact", 4, mongostore.Exact},
		{"single event any", 1, func(int64) mongostore.ExpectedVersion { return mongostore.Any }},
		{"batch any", 3, func(int64) mongostore.ExpectedVersion { return mongostore.Any }},
		{"single event stream exists", 1, func(int64) mongostore.ExpectedVersion { return mongostore.StreamExists }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := open(t)
			id := uuid.New()
			mustAppend(t, s, id, mongostore.NoStream, ev("Opened", nil), ev("Deposited", nil))
			events := make([]mongostore.EventData, c.events)
			for i := range events {
				events[i] = ev("Deposited", map[string]any{"i": i})
			}
			events = withIDs(events...)
			first := mustAppend(t, s, id, c.expected(2), events...)
			// The caller never learned the outcome and retries, perhaps
			// after others appended too.
			mustAppend(t, s, id, mongostore.Any, ev("Withdrawn", nil))
			again, err := s.Append(ctxFor(t), id, c.expected(2), events...)
			if err != nil {
				t.Fatalf("retry: %v", err)
			}
			if !again.Replayed || again.FromVersion != first.FromVersion || again.ToVersion != first.ToVersion {
				t.Errorf("retry got %+v, want a replay of versions %d..%d", again, first.FromVersion, first.ToVersion)
			}
			if !again.RecordedAt.Equal(first.RecordedAt) {
				t.Errorf("retry reports recorded at %v, first append %v", again.RecordedAt, first.RecordedAt)
			}
			vs := versions(t, s, id)
			checkContiguous(t, vs)
			if want := 2 + c.events + 1; len(vs) != want {
				t.Errorf("got %d events, want %d: the retry stored something twice", len(vs), want)
			}
		})
	}

	t.Run("NewStreamRetry", func(t *testing.T) {
		s := open(t)
		id := uuid.New()
		events := withIDs(ev("Opened", nil))
		mustAppend(t, s, id, mongostore.NoStream, events...)
		res, err := s.Append(ctxFor(t), id, mongostore.NoStream, events...)
		if err != nil || !res.Replayed || res.FromVersion != 1 {
			t.Fatalf("got %+v, %v; want a replay at version 1", res, err)
		}
	})

	t.Run("MultiStreamRetry", func(t *testing.T) {
		s := open(t)
		a, b := uuid.New(), uuid.New()
		appends := []mongostore.StreamAppend{
			{Stream: a, Expected: mongostore.NoStream, Events: withIDs(ev("Opened", nil), ev("Deposited", nil))},
			{Stream: b, Expected: mongostore.NoStream, Events: withIDs(ev("Opened", nil))},
		}
		if _, err := s.AppendStreams(ctxFor(t), appends...); err != nil {
			t.Fatal(err)
		}
		res, err := s.AppendStreams(ctxFor(t), appends...)
		if err != nil {
			t.Fatalf("retry: %v", err)
		}
		if !res[0].Replayed || res[0].ToVersion != 2 || !res[1].Replayed || res[1].ToVersion != 1 {
			t.Errorf("got %+v, want replays", res)
		}
		if n := countAll(t, s); n != 3 {
			t.Errorf("got %d events, want 3", n)
		}
	})

	conflicts := []struct {
		name  string
		retry func(stored []mongostore.EventData) (uuid.UUID, []mongostore.EventData)
	}{
		{"id in another stream", func(stored []mongostore.EventData) (uuid.UUID, []mongostore.EventData) {
			return uuid.New(), []mongostore.EventData{stored[0]}
		}},
		{"id under another name", func(stored []mongostore.EventData) (uuid.UUID, []mongostore.EventData) {
			e := stored[0]
			e.Name = "Renamed"
			return uuid.Nil, []mongostore.EventData{e}
		}},
		{"batch partly stored", func(stored []mongostore.EventData) (uuid.UUID, []mongostore.EventData) {
			return uuid.Nil, append([]mongostore.EventData{stored[0]}, withIDs(ev("Deposited", nil))...)
		}},
		{"stored in another order", func(stored []mongostore.EventData) (uuid.UUID, []mongostore.EventData) {
			return uuid.Nil, []mongostore.EventData{stored[1], stored[0]}
		}},
	}
	for _, c := range conflicts {
		t.Run("Conflict/"+c.name, func(t *testing.T) {
			s := open(t)
			id := uuid.New()
			stored := withIDs(ev("Opened", nil), ev("Opened", nil))
			mustAppend(t, s, id, mongostore.NoStream, stored...)
			stream, retry := c.retry(stored)
			if stream == uuid.Nil {
				stream = id
			}
			before := countAll(t, s)
			_, err := s.Append(ctxFor(t), stream, mongostore.Any, retry...)
			var ice *mongostore.EventIDConflictError
			if !errors.Is(err, mongostore.ErrEventIDConflict) || !errors.As(err, &ice) {
				t.Fatalf("got %v, want an *EventIDConflictError", err)
			}
			if ice.ID != stored[0].ID && ice.ID != stored[1].ID {
				t.Errorf("error names id %s, not a reused one", ice.ID)
			}
			if after := countAll(t, s); after != before {
				t.Errorf("a refused append wrote %d events", after-before)
			}
		})
	}
}
