package subscriptions

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"
)

// TestBackoff: the wait after a retry nack of attempt n is MinBackoff
// doubled n-1 times, capped at MaxBackoff.
func TestBackoff(t *testing.T) {
	s := time.Second
	cases := []struct {
		name string
		st   Settings
		want []time.Duration // after attempts 1, 2, …
	}{
		{"defaults", Settings{}.withDefaults(), []time.Duration{s, 2 * s, 4 * s, 8 * s, 16 * s, 32 * s, time.Minute, time.Minute}},
		{"a cap between two doublings", Settings{MinBackoff: 3 * s, MaxBackoff: 10 * s}, []time.Duration{3 * s, 6 * s, 10 * s, 10 * s}},
		{"no room to grow", Settings{MinBackoff: 5 * s, MaxBackoff: 5 * s}, []time.Duration{5 * s, 5 * s, 5 * s}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got []time.Duration
			for attempt := 1; attempt <= len(c.want); attempt++ {
				got = append(got, c.st.backoff(attempt))
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("backoffs %v, want %v", got, c.want)
			}
		})
	}
	if got := (Settings{MinBackoff: time.Nanosecond, MaxBackoff: time.Hour}).backoff(1000); got != time.Hour {
		t.Errorf("after 1000 attempts: %s, want the cap, 1h", got)
	}
}

// TestJitter: a retry waits half its backoff plus a random part, drawn
// below the other half: between half and all of the backoff.
func TestJitter(t *testing.T) {
	const d = 10 * time.Second
	for _, c := range []struct {
		name string
		draw func(time.Duration) time.Duration
		want time.Duration
	}{
		{"the least draw", func(time.Duration) time.Duration { return 0 }, d / 2},
		{"the greatest draw", func(x time.Duration) time.Duration { return x - 1 }, d - 1},
		{"a draw between", func(x time.Duration) time.Duration { return x / 5 }, 6 * time.Second},
	} {
		t.Run(c.name, func(t *testing.T) {
			var drawn []time.Duration
			got := jitter(d, func(x time.Duration) time.Duration { drawn = append(drawn, x); return c.draw(x) })
			if got != c.want {
				t.Errorf("jitter(%s) = %s, want %s", d, got, c.want)
			}
			if !slices.Equal(drawn, []time.Duration{d / 2}) {
				t.Errorf("drew below %v, want once below %s", drawn, d/2)
			}
		})
	}
	for _, short := range []time.Duration{0, 1} {
		got := jitter(short, func(time.Duration) time.Duration { t.Errorf("jitter(%s) drew", short); return 0 })
		if got != short {
			t.Errorf("jitter(%s) = %s, want it as is", short, got)
		}
	}
	seen := map[time.Duration]bool{}
	for range 1000 {
		got := jitter(d, rand.N[time.Duration])
		if got < d/2 || got >= d {
			t.Fatalf("jitter(%s) = %s, want from %s up to %s", d, got, d/2, d)
		}
		seen[got] = true
	}
	if len(seen) < 2 {
		t.Errorf("1000 jittered waits are all %v", seen)
	}
}

// TestRefuseUpdate: a retry nack makes the message visible again after
// its jittered backoff; a park, or a retry of the last attempt, parks it.
func TestRefuseUpdate(t *testing.T) {
	st := Settings{MaxAttempts: 5, MinBackoff: time.Minute, MaxBackoff: time.Hour}
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	set := func(u bson.D) bson.D {
		for _, e := range u {
			if e.Key == "$set" {
				return e.Value.(bson.D)
			}
		}
		t.Fatalf("update %v has no $set", u)
		return nil
	}
	field := func(d bson.D, key string) any {
		for _, e := range d {
			if e.Key == key {
				return e.Value
			}
		}
		return nil
	}
	for range 100 {
		u := set(refuseUpdate(st, 3, true, "down", now))
		at, _ := field(u, "visible_at").(time.Time)
		if field(u, "state") != stateReady || at.Before(now.Add(2*time.Minute)) || !at.Before(now.Add(4*time.Minute)) {
			t.Fatalf("retry of attempt 3 (backoff 4m): %v, want ready, visible from 2m to 4m after now", u)
		}
	}
	for name, u := range map[string]bson.D{
		"park":                      refuseUpdate(st, 1, false, "bad", now),
		"retry of the last attempt": refuseUpdate(st, 5, true, "down", now),
	} {
		if s := set(u); field(s, "state") != stateParked || field(s, "visible_at") != nil {
			t.Errorf("%s: %v, want parked", name, s)
		}
	}
}
