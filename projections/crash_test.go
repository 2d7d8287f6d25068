package projections_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/annalsdb/annals/projections"
)

// TestCrashes stops the runner at every stage of applying a batch — before
// the transaction, with effects and checkpoint written but not committed,
// and just after the commit — during catch-up and during live operation,
// then restarts a fresh runner. The read model must equal the ground truth.
func TestCrashes(t *testing.T) {
	points := map[string]int{
		"before apply":                 projections.HookBeforeBatch,
		"between apply and checkpoint": projections.HookBeforeCommit,
		"after commit":                 projections.HookAfterCommit,
	}
	for form, projection := range accountForms {
		for name, point := range points {
			for _, nth := range []int{1, 4} {
				for _, phase := range []string{"catch-up", "live"} {
					t.Run(fmt.Sprintf("%s/%s/%s/batch %d", form, name, phase, nth), func(t *testing.T) {
						t.Parallel()
						s := openStore(t)
						b := &bank{t: t, s: s}
						b.open(4)
						if phase == "catch-up" {
							b.activity(200)
						}
						ctx, crash := context.WithCancel(context.Background())
						defer crash()
						r := fast(projections.NewRunner(s, projection()))
						var calls atomic.Int64
						crashed := make(chan struct{})
						want := projections.StateCatchingUp
						if phase == "live" {
							want = projections.StateLive
						}
						projections.SetHook(r, func(_ context.Context, p int, _, state string) error {
							if p != point || state != want || calls.Add(1) != int64(nth) {
								return nil
							}
							crash()
							close(crashed)
							return errCrash
						})
						done := make(chan error, 1)
						go func() { done <- r.Run(ctx) }()
						if phase == "live" {
							// Append until the crash comes: however the runner
							// batches, it reaches its nth live batch. Each round
							// waits for the runner to apply what came before, so
							// appends faster than the runner cannot starve it.
							var wg sync.WaitGroup
							wg.Go(func() {
								for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); {
									select {
									case <-crashed:
										return
									default:
										b.activity(1)
									}
									wctx, cancel := context.WithTimeout(context.Background(), time.Second)
									_, _ = r.WaitLive(wctx, "accounts")
									cancel()
								}
							})
							wg.Wait()
						}
						select {
						case <-crashed:
						case <-time.After(time.Minute):
							t.Fatal("the runner never reached the crash point")
						}
						if err := <-done; err != nil {
							t.Fatalf("run: %v", err)
						}
						// More events while it is down.
						b.activity(50)
						r2 := fast(projections.NewRunner(s, projection()))
						start(t, r2)
						waitLive(t, r2, "accounts")
						checkTruth(t, s, r2)
					})
				}
			}
		}
	}
}
