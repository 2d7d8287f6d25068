package projections_test

import (
	"context"
	"testing"

	"github.com/annalsdb/annals/projections"
)

func TestCatchUpThenLive(t *testing.T) {
	for form, projection := range accountForms {
		t.Run(form, func(t *testing.T) { testCatchUpThenLive(t, projection) })
	}
}

func testCatchUpThenLive(t *testing.T, projection func() *projections.Projection) {
	s := openStore(t)
	b := &bank{t: t, s: s}
	b.open(5)
	b.activity(300)
	r := fast(projections.NewRunner(s, projection()))
	start(t, r)
	st := waitLive(t, r, "accounts")
	checkTruth(t, s, r)
	b.activity(100)
	st = waitLive(t, r, "accounts")
	checkTruth(t, s, r)
	if st.LastEvent == nil || st.Applied == 0 || st.Generation != 1 {
		t.Errorf("status %+v", st)
	}
}

// TestRunStoppedWhileStarting: a runner whose context ends before or while
// it starts returns nil, as when it ends later.
func TestRunStoppedWhileStarting(t *testing.T) {
	s := openStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := projections.NewRunner(s, accountsProjection()).Run(ctx); err != nil {
		t.Fatalf("Run with an ended context: %v", err)
	}
}
