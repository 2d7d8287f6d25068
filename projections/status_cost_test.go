package projections_test

import (
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
