package projections_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/annalsdb/annals/mongostore"
	"github.com/annalsdb/annals/projections"
	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/mongo"
)

// TestStatusShowsStall: while a projection's batches keep failing with an
// error the runner retries, Status says it is stalled (reason error, the
// attempts counted from the first failure) and the projection neither
// fails nor moves; the stall clears once a batch commits. (A full disk is
// reason disk_full: server's TestDiskFullOnMongoDB.)
func TestStatusShowsStall(t *testing.T) {
	ctx := context.Background()
	s := openEmbedded(t)
	var broken atomic.Bool
	broken.Store(true)
	p := projections.New("audit", []string{"Audited"}, func(ctx context.Context, tx *projections.Tx, ev mongostore.Event) error {
		if broken.Load() {
			return mongo.CommandError{Code: 112, Name: "WriteConflict"} // transient: retried
		}
		_, err := tx.Collection().InsertOne(ctx, map[string]any{"_id": ev.ID.String()})
		return err
	})
	r := fast(projections.NewRunner(s, p))
	start(t, r)
	if _, err := s.Append(ctx, uuid.New(), mongostore.NoStream, mongostore.EventData{Name: "Audited"}); err != nil {
		t.Fatal(err)
	}
	st := waitStatus(t, r, "audit", func(st projections.Status) bool { return st.Stalled != nil && st.Stalled.Attempts >= 2 })
	if got := st.Stalled; got.Reason != projections.StallError || got.Error == "" || got.Since.IsZero() {
		t.Errorf("stalled %+v, want reason %q with the error and since", got, projections.StallError)
	}
	if st.State == projections.StateFailed || st.Behind != 1 {
		t.Errorf("state %s, %d behind; want not failed, 1 behind", st.State, st.Behind)
	}
	broken.Store(false)
	waitStatus(t, r, "audit", func(st projections.Status) bool {
		return st.Stalled == nil && st.State == projections.StateLive && st.Behind == 0
	})
}

// waitStatus polls a projection's status until ok holds of it.
func waitStatus(t *testing.T, r *projections.Runner, name string, ok func(projections.Status) bool) projections.Status {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := r.Status(context.Background(), name)
		if err != nil {
			t.Fatal(err)
		}
		if ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never reached the awaited status: %+v", name, st)
		}
		time.Sleep(5 * time.Millisecond) // polling the status, not synchronising goroutines
	}
}
