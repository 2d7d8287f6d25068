package projections_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/256dpi/lungo"
	"github.com/annalsdb/annals/mongostore"
	"github.com/annalsdb/annals/projections"
	"go.mongodb.org/mongo-driver/bson"
)

// crashLease leaves the projection's checkpoint as a crashed process
// leaves it: state live, owned by a runner that no longer renews, under a
// lease that runs for another hour. leaseStore is the store open it took
// the lease through ("" leaves the field out, as checkpoints written
// before it existed do).
func crashLease(t *testing.T, s *mongostore.Store, name, owner, leaseStore string) {
	t.Helper()
	set := bson.D{{Key: "owner", Value: owner}, {Key: "lease_until", Value: time.Now().Add(time.Hour)}, {Key: "state", Value: projections.StateLive}}
	update := bson.D{{Key: "$set", Value: append(set, bson.E{Key: "lease_store", Value: leaseStore})}}
	if leaseStore == "" {
		update = bson.D{{Key: "$set", Value: set}, {Key: "$unset", Value: bson.D{{Key: "lease_store", Value: ""}}}}
	}
	res, err := s.Database().Collection(projections.CollectionCheckpoints).UpdateOne(context.Background(),
		bson.D{{Key: "_id", Value: name}}, update)
	if err != nil || res.MatchedCount != 1 {
		t.Fatalf("crash the lease: %v (matched %d)", err, res.MatchedCount)
	}
}

// TestCrashedLeaseTakenOverOnExclusiveStore: on a file: store the store's
// lock proves the process that took a lease through an earlier open gone,
// so a runner on the next open takes the projection over at once instead
// of waiting out the lease (an hour here).
func TestCrashedLeaseTakenOverOnExclusiveStore(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "annals.db")
	for i, leaseStore := range []string{"0123456789abcdef", ""} {
		s, err := mongostore.Open(ctx, "file:"+path)
		if err != nil {
			t.Fatal(err)
		}
		if s.ExclusiveID() == "" {
			t.Fatal("a file: store has no ExclusiveID")
		}
		b := &bank{t: t, s: s}
		b.open(3)
		r := fast(projections.NewRunner(s, accountsProjection()))
		r.LeaseTTL = time.Hour // a dead lease would stall the test for an hour
		stop := start(t, r)
		waitLive(t, r, "accounts")
		stop()
		crashLease(t, s, "accounts", "crashed-host/1/dead", leaseStore)
		b.activity(20)

		r2 := projections.NewRunner(s, accountsProjection())
		r2.LeaseTTL = time.Hour
		stop2 := start(t, r2)
		wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		st, err := r2.WaitLive(wctx, "accounts")
		cancel()
		if err != nil {
			t.Fatalf("round %d: the crashed owner's lease was not taken over: %v (status %+v)", i, err, st)
		}
		if st.Owner != projections.Owner(r2) || st.WaitingForLease != nil {
			t.Errorf("round %d: owner %q waiting %+v, want %q and no wait", i, st.Owner, st.WaitingForLease, projections.Owner(r2))
		}
		checkTruth(t, s, r2)
		stop2()
		if err := s.Close(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

// TestStatusSaysWhoseLeaseItWaitsFor: while another owner holds the lease
// — a live runner in this process, or a crashed one on a store others may
// share (MongoDB; here a store built with New, which is not exclusive) —
// the waiting runner's status names that owner and when its lease ends,
// and a shared store's foreign lease is not taken over early.
func TestStatusSaysWhoseLeaseItWaitsFor(t *testing.T) {
	ctx := context.Background()
	t.Run("LiveOwner", func(t *testing.T) {
		s := openEmbedded(t)
		r1 := fast(projections.NewRunner(s, accountsProjection()))
		r1.LeaseTTL = time.Hour
		start(t, r1)
		waitLive(t, r1, "accounts")
		r2 := fast(projections.NewRunner(s, accountsProjection()))
		r2.LeaseTTL = time.Hour
		start(t, r2)
		st := waitForLeaseWait(t, r2, "accounts")
		if st.WaitingForLease.Owner != projections.Owner(r1) || !st.WaitingForLease.Until.After(time.Now()) {
			t.Errorf("waiting for %+v, want owner %s with a lease in the future", st.WaitingForLease, projections.Owner(r1))
		}
		own, err := r1.Status(ctx, "accounts")
		if err != nil {
			t.Fatal(err)
		}
		if own.WaitingForLease != nil || own.Owner != projections.Owner(r1) || own.LeaseUntil.IsZero() {
			t.Errorf("the owner's status: owner %q until %v waiting %+v", own.Owner, own.LeaseUntil, own.WaitingForLease)
		}
	})
	t.Run("SharedStore", func(t *testing.T) {
		client, eng, err := lungo.Open(ctx, lungo.Options{Store: lungo.NewMemoryStore()})
		if err != nil {
			t.Fatal(err)
		}
		defer eng.Close()
		s, err := mongostore.New(ctx, client)
		if err != nil {
			t.Fatal(err)
		}
		if s.ExclusiveID() != "" {
			t.Fatalf("a store built with New says it is exclusive (%q)", s.ExclusiveID())
		}
		r1 := fast(projections.NewRunner(s, accountsProjection()))
		stop := start(t, r1)
		waitLive(t, r1, "accounts")
		stop()
		crashLease(t, s, "accounts", "other-host/7/alive", "")
		r2 := fast(projections.NewRunner(s, accountsProjection()))
		start(t, r2)
		st := waitForLeaseWait(t, r2, "accounts")
		if st.WaitingForLease.Owner != "other-host/7/alive" || st.Owner != "other-host/7/alive" {
			t.Errorf("status: owner %q waiting %+v, want both other-host/7/alive", st.Owner, st.WaitingForLease)
		}
	})
}

// waitForLeaseWait polls the status until it reports a lease wait.
func waitForLeaseWait(t *testing.T, r *projections.Runner, name string) projections.Status {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		st, err := r.Status(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if st.WaitingForLease != nil {
			return st
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the status never said the runner waits for a lease: %+v", st)
		case <-tick.C:
		}
	}
}
