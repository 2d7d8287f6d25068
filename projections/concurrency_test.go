package projections_test

import (
	"context"
	"fmt"
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
	for form, projection := range accountForms {
		t.Run(form, func(t *testing.T) { testConcurrentRunners(t, projection) })
	}
}

func testConcurrentRunners(t *testing.T, projection func() *projections.Projection) {
	s := openStore(t)
	b := &bank{t: t, s: s}
	b.open(6)
	b.activity(100)
	r1 := fast(projections.NewRunner(s, projection()))
	r2 := fast(projections.NewRunner(s, projection()))
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

// TestDeposedRunnerWritesNothing: while another owner holds the lease (a
// runner that crashed without releasing it), this runner applies nothing,
// even though its transactions run; when the lease expires, it takes over
// and catches up exactly.
func TestDeposedRunnerWritesNothing(t *testing.T) {
	s := openStore(t)
	b := &bank{t: t, s: s}
	b.open(3)
	r := fast(projections.NewRunner(s, accountsProjection()))
	var attempts, commits atomic.Int64
	projections.SetHook(r, func(_ context.Context, p int, _, _ string) error {
		switch p {
		case projections.HookBeforeBatch:
			attempts.Add(1)
		case projections.HookAfterCommit:
			commits.Add(1)
		}
		return nil
	})
	start(t, r)
	waitLive(t, r, "accounts")
	before := readModel(t, r)
	checkpoints := s.Database().Collection(projections.CollectionCheckpoints)
	setOwner := func(owner string, until time.Time) {
		t.Helper()
		if _, err := checkpoints.UpdateOne(context.Background(), bson.D{{Key: "_id", Value: "accounts"}},
			bson.D{{Key: "$set", Value: bson.D{{Key: "owner", Value: owner}, {Key: "lease_until", Value: until}}}}); err != nil {
			t.Fatal(err)
		}
	}
	setOwner("ghost", time.Now().Add(time.Hour))
	committed := commits.Load()
	tried := attempts.Load()
	b.activity(20)
	deadline := time.Now().Add(30 * time.Second)
	for attempts.Load() == tried {
		if time.Now().After(deadline) {
			t.Fatal("the runner never tried to apply the new events")
		}
		time.Sleep(2 * time.Millisecond)
	}
	if commits.Load() != committed {
		t.Fatalf("a runner without the lease committed %d batches", commits.Load()-committed)
	}
	if got := readModel(t, r); fmt.Sprint(got) != fmt.Sprint(before) {
		t.Fatalf("the read model changed while another owner held the lease")
	}
	setOwner("ghost", time.Unix(0, 0)) // the ghost's lease runs out
	waitLive(t, r, "accounts")
	checkTruth(t, s, r)
}
