package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/annalsdb/annals/mongostore"
	"github.com/google/uuid"
)

// tickPast waits until the clock has moved past t by more than a
// millisecond, so that later appends get a later recorded_at.
func tickPast(t time.Time) {
	for !time.Now().After(t.Add(2 * time.Millisecond)) {
		time.Sleep(time.Millisecond)
	}
}

func runLoad(t *testing.T, open Opener) {
	s := open(t)
	id := uuid.New()
	first := mustAppend(t, s, id, mongostore.NoStream, ev("E", map[string]any{"n": 1}), ev("E", map[string]any{"n": 2}), ev("E", map[string]any{"n": 3}))
	tickPast(first.RecordedAt)
	second := mustAppend(t, s, id, mongostore.Exact(3), ev("E", map[string]any{"n": 4}), ev("E", map[string]any{"n": 5}))
	tickPast(second.RecordedAt)
	mustAppend(t, s, id, mongostore.Exact(5), ev("E", map[string]any{"n": 6}))

	cases := []struct {
		name        string
		q           mongostore.ReadQuery
		wantFrom    int64
		wantTo      int64 // 0: no events
		wantVersion int64
	}{
		{"whole stream", mongostore.ReadQuery{}, 1, 6, 6},
		{"from", mongostore.ReadQuery{FromVersion: 4}, 4, 6, 6},
		{"range", mongostore.ReadQuery{FromVersion: 2, ToVersion: 4}, 2, 4, 4},
		{"as of version", mongostore.ReadQuery{ToVersion: 3}, 1, 3, 3},
		{"to beyond the end", mongostore.ReadQuery{ToVersion: 100}, 1, 6, 6},
		{"from beyond the end", mongostore.ReadQuery{FromVersion: 9}, 0, 0, 6},
		{"limit", mongostore.ReadQuery{FromVersion: 2, Limit: 2}, 2, 3, 6},
		{"as of the first append", mongostore.ReadQuery{AsOf: first.RecordedAt}, 1, 3, 3},
		{"as of just after the second", mongostore.ReadQuery{AsOf: second.RecordedAt.Add(time.Microsecond)}, 1, 5, 5},
		{"as of now", mongostore.ReadQuery{AsOf: time.Now().Add(time.Hour)}, 1, 6, 6},
		{"as of with a range", mongostore.ReadQuery{FromVersion: 3, AsOf: second.RecordedAt}, 3, 5, 5},
		{"as of time and version", mongostore.ReadQuery{ToVersion: 2, AsOf: second.RecordedAt}, 1, 2, 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st, err := s.Read(ctxFor(t), id, c.q)
			if err != nil {
				t.Fatal(err)
			}
			if st.Version != c.wantVersion {
				t.Errorf("got stream version %d, want %d", st.Version, c.wantVersion)
			}
			if c.wantTo == 0 {
				if len(st.Events) != 0 {
					t.Errorf("got %d events, want none", len(st.Events))
				}
				return
			}
			if n := int64(len(st.Events)); n != c.wantTo-c.wantFrom+1 {
				t.Fatalf("got %d events, want %d..%d", n, c.wantFrom, c.wantTo)
			}
			for i, e := range st.Events {
				want := c.wantFrom + int64(i)
				var payload struct{ N int64 }
				if err := e.Decode(&payload); err != nil {
					t.Fatal(err)
				}
				if e.Version != want || payload.N != want {
					t.Errorf("event %d: got version %d payload %d, want %d", i, e.Version, payload.N, want)
				}
			}
		})
	}

	t.Run("Unknown stream", func(t *testing.T) {
		unknown := uuid.New()
		for _, q := range []mongostore.ReadQuery{{}, {FromVersion: 2}, {ToVersion: 3}, {AsOf: time.Now()}} {
			if _, err := s.Read(ctxFor(t), unknown, q); !errors.Is(err, mongostore.ErrStreamNotFound) {
				t.Errorf("read %+v: got %v, want ErrStreamNotFound", q, err)
			}
		}
		if _, err := s.Load(ctxFor(t), unknown); !errors.Is(err, mongostore.ErrStreamNotFound) {
			t.Errorf("load: got %v, want ErrStreamNotFound", err)
		}
		for _, err := range s.Events(ctxFor(t), unknown, mongostore.ReadQuery{}) {
			t.Fatalf("iterating an unknown stream yielded something (err %v)", err)
		}
	})

	t.Run("Before the stream existed", func(t *testing.T) {
		_, err := s.Read(ctxFor(t), id, mongostore.ReadQuery{AsOf: first.RecordedAt.Add(-time.Second)})
		if !errors.Is(err, mongostore.ErrStreamNotFound) {
			t.Fatalf("got %v, want ErrStreamNotFound", err)
		}
	})

	t.Run("Bad queries", func(t *testing.T) {
		for _, q := range []mongostore.ReadQuery{{FromVersion: -1}, {ToVersion: -1}, {FromVersion: 5, ToVersion: 2}, {Limit: -1}} {
			if _, err := s.Read(ctxFor(t), id, q); !errors.Is(err, mongostore.ErrInvalidInput) {
				t.Errorf("read %+v: got %v, want ErrInvalidInput", q, err)
			}
		}
		if _, err := s.Load(ctxFor(t), uuid.Nil); !errors.Is(err, mongostore.ErrInvalidInput) {
			t.Errorf("load of the nil UUID: got %v, want ErrInvalidInput", err)
		}
	})

	t.Run("Iterator stops early", func(t *testing.T) {
		n := 0
		for e, err := range s.Events(ctxFor(t), id, mongostore.ReadQuery{}) {
			if err != nil {
				t.Fatal(err)
			}
			n++
			if e.Version == 2 {
				break
			}
		}
		if n != 2 {
			t.Errorf("got %d events before break, want 2", n)
		}
	})

	t.Run("Long stream through the cursor", func(t *testing.T) {
		long := uuid.New()
		const total = 2500
		batch := make([]mongostore.EventData, 500)
		for i := range batch {
			batch[i] = ev("Ticked", nil)
		}
		for v := int64(0); v < total; v += int64(len(batch)) {
			mustAppend(t, s, long, mongostore.Exact(v), batch...)
		}
		var want int64 = 1
		for e, err := range s.Events(ctxFor(t), long, mongostore.ReadQuery{}) {
			if err != nil {
				t.Fatal(err)
			}
			if e.Version != want {
				t.Fatalf("got version %d, want %d", e.Version, want)
			}
			want++
		}
		if want != total+1 {
			t.Fatalf("iterated %d events, want %d", want-1, total)
		}
	})
}
