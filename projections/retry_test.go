package projections_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/annalsdb/annals/mongostore"
	"github.com/annalsdb/annals/projections"
	"github.com/google/uuid"
)

// One Retry puts back to work both a failed projection and its failed
// blue/green build: the build then completes and takes over.
func TestRetryServingAndBuild(t *testing.T) {
	ctx := context.Background()
	s := openEmbedded(t)
	var broken atomic.Bool
	broken.Store(true)
	p := projections.New("audit", []string{"Audited"}, func(ctx context.Context, tx *projections.Tx, ev mongostore.Event) error {
		if broken.Load() {
			return errors.New("auditor unavailable")
		}
		_, err := tx.Collection().InsertOne(ctx, map[string]any{"_id": ev.ID.String()})
		return err
	})
	r := fast(projections.NewRunner(s, p))
	start(t, r)
	if _, err := s.Append(ctx, uuid.New(), mongostore.NoStream, mongostore.EventData{Name: "Audited"}); err != nil {
		t.Fatal(err)
	}
	waitState(t, r, "audit", projections.StateFailed)
	if err := r.Rebuild(ctx, "audit", projections.BlueGreen); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := r.Status(ctx, "audit")
		if err != nil {
			t.Fatal(err)
		}
		if st.Build != nil && st.Build.State == projections.StateFailed {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the build did not fail: %+v", st.Build)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := r.Rebuild(ctx, "audit", projections.BlueGreen); !errors.Is(err, projections.ErrBuildFailed) {
		t.Fatalf("a blue/green rebuild over a failed build: %v, want ErrBuildFailed", err)
	}
	broken.Store(false)
	if err := r.Retry(ctx, "audit"); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	st, err := r.WaitLive(wctx, "audit")
	if err != nil {
		t.Fatalf("after one Retry: %v (state %s, build %+v)", err, st.State, st.Build)
	}
	if st.Generation != 2 {
		t.Errorf("generation %d after the build, want 2", st.Generation)
	}
}
