package projections_test

import (
	"sync/atomic"
	"testing"

	"github.com/annalsdb/annals/mongostore"
	"github.com/annalsdb/annals/projections"
	"github.com/google/uuid"
)

// A status counts no further than StatusCountLimit, so its cost is bounded
// however far behind the projection is, and says when it stopped.
func TestStatusBehindIsCapped(t *testing.T) {
	ctx := t.Context()
	store, err := mongostore.Open(ctx, "memory:")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close(ctx) })
	const perStream = 1000
	total := 0
	for total <= projections.StatusCountLimit {
		evs := make([]mongostore.EventData, perStream)
		for i := range evs {
			evs[i] = mongostore.EventData{Name: "Deposited"}
		}
		if _, err := store.Append(ctx, uuid.New(), mongostore.NoStream, evs...); err != nil {
			t.Fatal(err)
		}
		total += perStream
	}
	runner := projections.NewRunner(store, projections.EventCounts())
	st, err := runner.Status(ctx, projections.EventCounts().Name)
	if err != nil {
		t.Fatal(err)
	}
	if st.Behind != projections.StatusCountLimit || !st.BehindCapped {
		t.Fatalf("Behind = %d, capped %v with %d events waiting; want %d, capped",
			st.Behind, st.BehindCapped, total, projections.StatusCountLimit)
	}
	if st.Lag <= 0 {
		t.Errorf("Lag = %s, want the age of the oldest waiting event", st.Lag)
	}
}

// A status read while batches commit never hides waiting events: every
// event appended before Status was called is either applied (counted in
// Applied) or counted in Behind. Live batches here split multi-stream
// transactions, so a checkpoint read before a commit and streams'
// positions read after it would show too little.
func TestStatusDuringBatchesCountsEveryEvent(t *testing.T) {
	ctx := t.Context()
	store := openEmbedded(t)
	r := fast(projections.NewRunner(store, depositCounts(true)))
	r.BatchSize = 7
	start(t, r)
	waitLive(t, r, "deposits")
	streams := make([]uuid.UUID, 8)
	for i := range streams {
		streams[i] = uuid.New()
	}
	var appended atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for round := int64(0); round < 150; round++ {
			var appends []mongostore.StreamAppend
			for _, s := range streams {
				appends = append(appends, mongostore.StreamAppend{Stream: s, Expected: mongostore.Exact(round),
					Events: []mongostore.EventData{{Name: "Deposited"}}})
			}
			if _, err := store.AppendStreams(ctx, appends...); err != nil {
				t.Error(err)
				return
			}
			appended.Add(int64(len(streams)))
		}
	}()
	checks := 0
	for running := true; running; checks++ {
		select {
		case <-done:
			running = false
		default:
		}
		before := appended.Load()
		st, err := r.Status(ctx, "deposits")
		if err != nil {
			t.Fatal(err)
		}
		if st.Applied+st.Behind < before {
			t.Fatalf("status after %d appended events: applied %d + behind %d hides %d", before, st.Applied, st.Behind, before-st.Applied-st.Behind)
		}
	}
	t.Logf("%d statuses checked", checks)
}
