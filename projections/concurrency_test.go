package projections_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/annalsdb/annals/projections"
	"go.mongodb.org/mongo-driver/bson"
)

// TestConcurrentRunners runs two runners of the same projection while
// several goroutines append, and keeps stealing the lease from whichever
// owns it. The read model must equal the ground truth: no event applied
// twice (the read model records every version applied) and none missed.
func TestConcurrentRunners(t *testing.T) {
	s := openStore(t)
	b := &bank{t: t, s: s}
	b.open(6)
	b.activity(100)
	r1 := fast(projections.NewRunner(s, accountsProjection()))
	r2 := fast(projections.NewRunner(s, accountsProjection()))
	var applied [2]atomic.Int64
	for i, r := range []*projections.Runner{r1, r2} {
		projections.SetHook(r, func(_ context.Context, p int, _, _ string) error {
			if p == projections.HookAfterCommit {
				applied[i].Add(1)
			}
			return nil
		})
	}
	start(t, r1)
	start(t, r2)

	stealing, stopStealing := context.WithCancel(context.Background())
	var steals sync.WaitGroup
	steals.Go(func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stealing.Done():
				return
			case <-tick.C:
			}
			// Expire the lease: the other runner may take over at once.
			_, err := s.Database().Collection(projections.CollectionCheckpoints).UpdateOne(context.Background(),
				bson.D{{Key: "_id", Value: "accounts"}}, bson.D{{Key: "$set", Value: bson.D{{Key: "lease_until", Value: time.Unix(0, 0)}}}})
			if err != nil {
				t.Error(err)
			}
		}
	})
	var writers sync.WaitGroup
	for range 4 {
		writers.Go(func() { b.activity(150) })
	}
	writers.Wait()
	stopStealing()
	steals.Wait()
	waitLive(t, r1, "accounts")
	checkTruth(t, s, r1)
	if applied[0].Load() == 0 || applied[1].Load() == 0 {
		t.Logf("batches committed per runner: %d and %d (the lease never changed hands)", applied[0].Load(), applied[1].Load())
	}
}
