package projections_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/annalsdb/annals/mongostore"
	"github.com/annalsdb/annals/projections"
	"go.mongodb.org/mongo-driver/bson"
)

func collectionNames(t testing.TB, s *mongostore.Store) []string {
	t.Helper()
	names, err := s.Database().ListCollectionNames(context.Background(), bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// gate blocks batches applied in the catching-up state until opened:
// during a rebuild only the build catches up, so it holds the build back
// while the serving generation goes on.
type gate struct{ open chan struct{} }

func newGate(r *projections.Runner) *gate {
	g := &gate{open: make(chan struct{})}
	projections.SetHook(r, func(ctx context.Context, point int, _, state string) error {
		if point == projections.HookBeforeBatch && state == projections.StateCatchingUp {
			select {
			case <-g.open:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	})
	return g
}

func TestDropAndReplay(t *testing.T) {
	s := openStore(t)
	b := &bank{t: t, s: s}
	b.open(4)
	b.activity(80)
	r := fast(projections.NewRunner(s, accountsProjection()))
	start(t, r)
	waitLive(t, r, "accounts")
	if err := r.Rebuild(context.Background(), "accounts", projections.DropAndReplay); err != nil {
		t.Fatal(err)
	}
	b.activity(40)
	st := waitLive(t, r, "accounts")
	if st.Generation != 2 {
		t.Errorf("generation %d after a rebuild, want 2", st.Generation)
	}
	checkTruth(t, s, r)
	names := collectionNames(t, s)
	if slices.Contains(names, "accounts") || !slices.Contains(names, "accounts_g2") {
		t.Errorf("collections after the rebuild: %v; want accounts_g2 and no accounts", names)
	}
}

func TestBlueGreenRebuild(t *testing.T) {
	s := openStore(t)
	b := &bank{t: t, s: s}
	b.open(4)
	b.activity(80)
	r := fast(projections.NewRunner(s, accountsProjection()))
	start(t, r)
	waitLive(t, r, "accounts")
	g := newGate(r)
	if err := r.Rebuild(context.Background(), "accounts", projections.BlueGreen); err != nil {
		t.Fatal(err)
	}
	// While the build is held back, the serving generation stays current.
	for range 3 {
		b.activity(20)
		st := waitServing(t, r)
		if st.Generation != 1 || st.Build == nil {
			t.Fatalf("during the build: %+v", st)
		}
		checkTruth(t, s, r)
	}
	close(g.open)
	st := waitLive(t, r, "accounts")
	if st.Generation != 2 || st.Build != nil {
		t.Fatalf("after the build: generation %d, build %+v", st.Generation, st.Build)
	}
	checkTruth(t, s, r)
	b.activity(20)
	waitLive(t, r, "accounts")
	checkTruth(t, s, r)
	if names := collectionNames(t, s); slices.Contains(names, "accounts") {
		t.Errorf("the old generation's collection survived the switch: %v", names)
	}
}

// waitServing waits until the serving generation has nothing left to
// apply, ignoring a build under way.
func waitServing(t *testing.T, r *projections.Runner) projections.Status {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		st, err := r.Status(context.Background(), "accounts")
		if err != nil {
			t.Fatal(err)
		}
		if st.State == projections.StateLive && st.Behind == 0 {
			return st
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("the serving generation did not catch up")
	return projections.Status{}
}

// TestVersionChange: raising a projection's Version rebuilds it blue/green
// with the new logic; until the new version has caught up, the old
// collections keep serving what the old version built.
func TestVersionChange(t *testing.T) {
	s := openStore(t)
	b := &bank{t: t, s: s}
	b.open(3)
	b.activity(60)
	r1 := fast(projections.NewRunner(s, accountsProjection()))
	stop := start(t, r1)
	waitLive(t, r1, "accounts")
	stop()
	before := readModel(t, r1)

	// Version 2 keeps balances in cents.
	v2 := accountsProjection()
	v2.Version = 2
	v2.Handler = func(ctx context.Context, tx *projections.Tx, ev mongostore.Event) error {
		if ev.Name == "Deposited" || ev.Name == "Withdrawn" {
			var d amount
			if err := ev.Decode(&d); err != nil {
				return err
			}
			d.Amount *= 100
			raw, _ := bson.Marshal(d)
			ev.Data = raw
		}
		return handleAccounts(ctx, tx, ev)
	}
	r2 := fast(projections.NewRunner(s, v2))
	g := newGate(r2)
	start(t, r2)
	waitState(t, r2, "accounts", projections.StateWaiting)
	if got := readModel(t, r2); len(got) != len(before) {
		t.Fatalf("the old version stopped serving: %d accounts, had %d", len(got), len(before))
	}
	close(g.open)
	st := waitLive(t, r2, "accounts")
	if st.Generation != 2 || st.Version != 2 {
		t.Fatalf("after the switch: %+v", st)
	}
	want := truth(t, s)
	for id, a := range readModel(t, r2) {
		if a.Balance != want[id].Balance*100 {
			t.Errorf("account %s: balance %d, want %d cents", id, a.Balance, want[id].Balance*100)
		}
	}
}

// TestStaleBuildDropsNothing: a build whose generation is already served
// (left by a race between two rebuilds) is abandoned when it catches up;
// it must not drop the serving collections.
func TestStaleBuildDropsNothing(t *testing.T) {
	s := openStore(t)
	b := &bank{t: t, s: s}
	b.open(4)
	b.activity(40)
	r := fast(projections.NewRunner(s, accountsProjection()))
	start(t, r)
	waitLive(t, r, "accounts")
	_, err := s.Database().Collection(projections.CollectionCheckpoints).InsertOne(context.Background(), bson.D{
		{Key: "_id", Value: "accounts#next"}, {Key: "projection", Value: "accounts"}, {Key: "generation", Value: int64(1)},
		{Key: "code_version", Value: 1}, {Key: "state", Value: projections.StateCatchingUp}, {Key: "owner", Value: ""},
		{Key: "lease_until", Value: time.Unix(0, 0)}, {Key: "position", Value: bson.D{}},
	})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := r.Status(context.Background(), "accounts")
		if err != nil {
			t.Fatal(err)
		}
		if st.Build == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the stale build never finished: %+v", st.Build)
		}
		time.Sleep(5 * time.Millisecond)
	}
	st := waitLive(t, r, "accounts")
	if st.Generation != 1 {
		t.Errorf("generation %d, want 1", st.Generation)
	}
	checkTruth(t, s, r)
}
