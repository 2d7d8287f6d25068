package projections_test

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"github.com/annalsdb/annals/mongostore"
	"github.com/annalsdb/annals/mongostore/mongotest"
	"github.com/annalsdb/annals/projections"
	"github.com/google/uuid"
)

// TestHistoryLoss stops the runner, appends while the tiny oplog rolls past
// its resume token, and restarts it: it must notice, count it, catch up
// from the events collection and reach the ground truth. It runs on the
// embedded engine, whose oplog can be made tiny; a MongoDB oplog cannot be
// shrunk below 990 MB, so the same path is reached there only by running
// out of history for real.
func TestHistoryLoss(t *testing.T) {
	s := openEmbedded(t, mongostore.WithEngineOptions(mongostore.EngineOptions{OplogEntries: 10}))
	b := &bank{t: t, s: s}
	b.open(3)
	r := fast(projections.NewRunner(s, accountsProjection()))
	stop := start(t, r)
	waitLive(t, r, "accounts")
	b.activity(20) // applied from the change stream: a resume token
	st := waitLive(t, r, "accounts")
	if st.Checkpoint.ResumeToken == nil {
		t.Fatal("no resume token recorded while live")
	}
	stop()

	b.activity(60) // far more changes than the change log keeps

	r2 := fast(projections.NewRunner(s, accountsProjection()))
	start(t, r2)
	st = waitLive(t, r2, "accounts")
	checkTruth(t, s, r2)
	if st.HistoryLost < 1 {
		t.Errorf("history loss not counted: %+v", st)
	}
}

// TestSkippedEventsAdvanceTheResumeToken: a projection that handles few of
// the events still records the change stream's progress past the others,
// so a restart does not replay them and an idle projection does not fall
// out of the oplog window.
func TestSkippedEventsAdvanceTheResumeToken(t *testing.T) {
	s := openStore(t)
	b := &bank{t: t, s: s}
	b.open(2)
	r := fast(projections.NewRunner(s, accountsProjection()))
	start(t, r)
	waitLive(t, r, "accounts")
	b.activity(1) // a handled event: the checkpoint gets a token
	before := waitLive(t, r, "accounts").Checkpoint.ResumeToken
	for range 5 {
		if _, err := s.Append(context.Background(), uuid.New(), mongostore.Any, mongostore.EventData{Name: "Unrelated"}); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := r.Status(context.Background(), "accounts")
		if err != nil {
			t.Fatal(err)
		}
		if st.Checkpoint.ResumeToken != nil && !bytes.Equal(st.Checkpoint.ResumeToken, before) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the resume token never moved past events the projection skips")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestLateCommitAtHandoff: an append whose recorded_at is older than where
// the catch-up's first pass ended (a writer's clock behind, or a slow
// transaction), committed after that pass and before the change stream
// opens, is in neither. The second pass, from CatchUpMargin before the
// position, must find it. It runs on the embedded engine and, whenever
// one answers, on MongoDB (see mongotest), where the stream's start is a
// majority read's operation time rather than the engine's change log.
func TestLateCommitAtHandoff(t *testing.T) {
	engines := []struct {
		name string
		open func(testing.TB) *mongostore.Store
	}{
		{"embedded", func(t testing.TB) *mongostore.Store { return openEmbedded(t) }},
		{"mongodb", func(t testing.TB) *mongostore.Store { return mongotest.OpenMongo(t) }},
	}
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) { lateCommitAtHandoff(t, e.open(t)) })
	}
}

func lateCommitAtHandoff(t *testing.T, s *mongostore.Store) {
	b := &bank{t: t, s: s}
	b.open(3)
	b.activity(30)
	late, err := mongostore.New(context.Background(), s.Client(), mongostore.WithDatabase(s.Database().Name()),
		mongostore.WithClock(func() time.Time { return time.Now().Add(-time.Minute) }))
	if err != nil {
		t.Fatal(err)
	}
	lateAccount := uuid.New()
	r := fast(projections.NewRunner(s, accountsProjection()))
	var once sync.Once
	projections.SetHook(r, func(ctx context.Context, point int, _, _ string) error {
		if point != projections.HookBeforeHandoff {
			return nil
		}
		var err error
		once.Do(func() {
			_, err = late.Append(ctx, lateAccount, mongostore.NoStream,
				mongostore.EventData{Name: "AccountOpened", Data: map[string]any{"owner": "late"}})
		})
		return err
	})
	start(t, r)
	waitLive(t, r, "accounts")
	checkTruth(t, s, r)
	if _, ok := readModel(t, r)[lateAccount]; !ok {
		t.Error("the late-committed account is missing from the read model")
	}
}
