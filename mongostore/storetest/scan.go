package storetest

import (
	"testing"

	"github.com/annalsdb/annals/mongostore"
	"github.com/google/uuid"
)

func runScan(t *testing.T, open Opener) {
	s := open(t)
	streams := make([]uuid.UUID, 5)
	for i := range streams {
		streams[i] = uuid.New()
	}
	total := 0
	for round := range 6 {
		for i, id := range streams {
			events := []mongostore.EventData{ev("Ticked", nil)}
			if (round+i)%3 == 0 {
				events = append(events, ev("Tocked", nil), ev("Ticked", nil))
			}
			// caller-chosen random ids: scan order must not depend on them
			mustAppend(t, s, id, mongostore.Any, withIDs(events...)...)
			total += len(events)
		}
	}

	t.Run("PagesSeeEveryEventOnceInStreamOrder", func(t *testing.T) {
		for _, page := range []int64{1, 3, 7, 1000} {
			seen := map[uuid.UUID]int64{}
			var after mongostore.Position
			n := 0
			for {
				got := 0
				for e, err := range s.Scan(ctxFor(t), mongostore.ScanQuery{After: after, Limit: page}) {
					if err != nil {
						t.Fatal(err)
					}
					if !after.Before(mongostore.PositionOf(e)) {
						t.Fatalf("page %d: event at %+v is not after %+v", page, mongostore.PositionOf(e), after)
					}
					if e.Version != seen[e.Stream]+1 {
						t.Fatalf("page %d: stream %s version %d after %d", page, e.Stream, e.Version, seen[e.Stream])
					}
					seen[e.Stream] = e.Version
					after = mongostore.PositionOf(e)
					got++
					n++
				}
				if got == 0 {
					break
				}
			}
			if n != total {
				t.Errorf("page %d: scanned %d events, want %d", page, n, total)
			}
		}
	})

	t.Run("Names", func(t *testing.T) {
		n := 0
		for e, err := range s.Scan(ctxFor(t), mongostore.ScanQuery{Names: []string{"Tocked"}}) {
			if err != nil {
				t.Fatal(err)
			}
			if e.Name != "Tocked" {
				t.Fatalf("got %s", e.Name)
			}
			n++
		}
		count, err := s.CountAfter(ctxFor(t), mongostore.Position{}, []string{"Tocked"})
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 || int64(n) != count {
			t.Errorf("scanned %d Tocked events, CountAfter says %d", n, count)
		}
	})

	t.Run("CountAfter", func(t *testing.T) {
		var third mongostore.Position
		i := 0
		for e, err := range s.Scan(ctxFor(t), mongostore.ScanQuery{Limit: 3}) {
			if err != nil {
				t.Fatal(err)
			}
			third = mongostore.PositionOf(e)
			i++
		}
		n, err := s.CountAfter(ctxFor(t), third, nil)
		if err != nil {
			t.Fatal(err)
		}
		if n != int64(total-3) {
			t.Errorf("got %d events after the third, want %d", n, total-3)
		}
	})
}
