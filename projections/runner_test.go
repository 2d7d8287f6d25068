package projections_test

import (
	"testing"

	"github.com/annalsdb/annals/projections"
)

func TestCatchUpThenLive(t *testing.T) {
	s := openStore(t)
	b := &bank{t: t, s: s}
	b.open(5)
	b.activity(300)
	r := fast(projections.NewRunner(s, accountsProjection()))
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
