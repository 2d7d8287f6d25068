package server

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/annalsdb/annals/projections"
	"github.com/prometheus/client_golang/prometheus"
)

// countingStatuser counts the statuses asked of it.
type countingStatuser struct {
	mu    sync.Mutex
	calls int
}

func (c *countingStatuser) Statuses(context.Context) ([]projections.Status, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	return []projections.Status{{Name: "p", State: projections.StateLive}}, nil
}

// Scrapes within statusTTL of the last, concurrent ones included, share
// one computation of the statuses; a later scrape computes them again.
func TestProjectionMetricsShareStatuses(t *testing.T) {
	src := &countingStatuser{}
	now := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	var clockMu sync.Mutex
	c := &projectionCollector{runner: src, now: func() time.Time { clockMu.Lock(); defer clockMu.Unlock(); return now }}
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, err := reg.Gather(); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if src.calls != 1 {
		t.Fatalf("8 scrapes within %s computed the statuses %d times, want 1", statusTTL, src.calls)
	}
	clockMu.Lock()
	now = now.Add(statusTTL)
	clockMu.Unlock()
	if _, err := reg.Gather(); err != nil {
		t.Fatal(err)
	}
	if src.calls != 2 {
		t.Errorf("a scrape %s later reused the statuses (%d computations, want 2)", statusTTL, src.calls)
	}
}
