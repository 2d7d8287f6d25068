package mongostore_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/annalsdb/annals/mongostore"
	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/bson"
)

// A small order domain for the repository tests.

type OrderPlaced struct {
	Customer string `bson:"customer"`
	Total    int64  `bson:"total_cents"` // v1 stored "total" in whole units
}
type OrderConfirmedEv struct{ By string }
type OrderCancelledEv struct{ Reason string }
type LineAdded struct{ Cents int64 }

var errAlreadyDecided = errors.New("order already confirmed or cancelled")

type order struct {
	Customer  string `bson:"customer"`
	Total     int64  `bson:"total"`
	Lines     int    `bson:"lines"`
	Confirmed bool   `bson:"confirmed"`
	Cancelled bool   `bson:"cancelled"`
}

func (o *order) Apply(e any) error {
	switch e := e.(type) {
	case OrderPlaced:
		o.Customer, o.Total = e.Customer, e.Total
	case LineAdded:
		o.Total += e.Cents
		o.Lines++
	case OrderConfirmedEv:
		o.Confirmed = true
	case OrderCancelledEv:
		o.Cancelled = true
	default:
		return fmt.Errorf("order: unexpected event %T", e)
	}
	return nil
}

func confirm(root *mongostore.Root[*order]) error {
	if root.State.Confirmed || root.State.Cancelled {
		return errAlreadyDecided
	}
	return root.Record(OrderConfirmedEv{By: "ana"})
}

func cancel(root *mongostore.Root[*order]) error {
	if root.State.Confirmed || root.State.Cancelled {
		return errAlreadyDecided
	}
	return root.Record(OrderCancelledEv{Reason: "changed mind"})
}

func orderRegistry() *mongostore.Registry {
	reg := mongostore.NewRegistry()
	mongostore.Register[OrderPlaced](reg, "OrderPlaced", 2)
	mongostore.Register[LineAdded](reg, "LineAdded", 1)
	mongostore.Register[OrderConfirmedEv](reg, "OrderConfirmed", 1)
	mongostore.Register[OrderCancelledEv](reg, "OrderCancelled", 1)
	// v1 had "total" in whole units; v2 has "total_cents".
	reg.Upcast("OrderPlaced", 1, func(d bson.M) (bson.M, error) {
		total, ok := d["total"].(int32)
		if !ok {
			return nil, fmt.Errorf("v1 total is %T", d["total"])
		}
		delete(d, "total")
		d["total_cents"] = int64(total) * 100
		return d, nil
	})
	return reg
}

func newOrders(t testing.TB) (*mongostore.Store, *mongostore.Repository[*order]) {
	s := openURI(t, "memory:")
	return s, mongostore.NewRepository(s, orderRegistry(), "Order", func() *order { return &order{} })
}

func TestRepositoryUpcastsStoredOldShapes(t *testing.T) {
	s, repo := newOrders(t)
	ctx := context.Background()
	id := uuid.New()
	// An OrderPlaced stored years ago, in the v1 shape.
	if _, err := s.Append(ctx, id, mongostore.NoStream,
		mongostore.EventData{Name: "OrderPlaced", SchemaVersion: 1, Data: bson.M{"customer": "ana", "total": int32(12)}},
		mongostore.EventData{Name: "LineAdded", Data: LineAdded{Cents: 50}}); err != nil {
		t.Fatal(err)
	}
	root, err := repo.Load(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if root.State.Total != 1250 || root.State.Customer != "ana" || root.Version != 2 {
		t.Fatalf("got %+v at version %d, want total 1250 cents at version 2", root.State, root.Version)
	}
}

func TestRegistryErrors(t *testing.T) {
	reg := orderRegistry()
	_, err := reg.Decode(mongostore.Event{Name: "OrderShipped", Data: bson.Raw{5, 0, 0, 0, 0}})
	var ue *mongostore.UnknownEventError
	if !errors.As(err, &ue) || ue.Name != "OrderShipped" || !errors.Is(err, mongostore.ErrUnknownEvent) {
		t.Errorf("unknown event: got %v", err)
	}
	_, err = reg.Decode(mongostore.Event{Name: "OrderPlaced", SchemaVersion: 3, Data: bson.Raw{5, 0, 0, 0, 0}})
	if !errors.Is(err, mongostore.ErrUpcast) {
		t.Errorf("newer schema: got %v", err)
	}
	_, err = reg.Decode(mongostore.Event{Name: "OrderPlaced", SchemaVersion: 1, Data: mustRaw(t, bson.M{"total": "twelve"})})
	if !errors.Is(err, mongostore.ErrUpcast) {
		t.Errorf("failing upcaster: got %v", err)
	}
	if _, err := reg.EventData(struct{ X int }{}); !errors.Is(err, mongostore.ErrUnknownEvent) {
		t.Errorf("unregistered payload: got %v", err)
	}
}

func TestRegistryChainsUpcasters(t *testing.T) {
	type V3 struct {
		Amount int64  `bson:"amount"`
		Unit   string `bson:"unit"`
	}
	reg := mongostore.NewRegistry()
	mongostore.Register[V3](reg, "Paid", 3)
	reg.Upcast("Paid", 1, func(d bson.M) (bson.M, error) { d["amount"] = d["sum"]; delete(d, "sum"); return d, nil })
	reg.Upcast("Paid", 2, func(d bson.M) (bson.M, error) { d["unit"] = "EUR"; return d, nil })
	got, err := reg.Decode(mongostore.Event{Name: "Paid", SchemaVersion: 1, Data: mustRaw(t, bson.M{"sum": int64(7)})})
	if err != nil {
		t.Fatal(err)
	}
	if got != (V3{Amount: 7, Unit: "EUR"}) {
		t.Errorf("got %+v", got)
	}
}

func mustRaw(t testing.TB, v any) bson.Raw {
	raw, err := bson.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestRepositoryCreateUpdateAndBusinessRules(t *testing.T) {
	_, repo := newOrders(t)
	ctx := context.Background()
	id := uuid.New()
	if err := repo.Create(ctx, id, func(r *mongostore.Root[*order]) error {
		return r.Record(OrderPlaced{Customer: "bo", Total: 100})
	}); err != nil {
		t.Fatal(err)
	}
	if err := repo.Create(ctx, id, func(r *mongostore.Root[*order]) error {
		return r.Record(OrderPlaced{Customer: "bo", Total: 100})
	}); !errors.Is(err, mongostore.ErrConcurrency) {
		t.Errorf("creating twice: got %v, want ErrConcurrency", err)
	}
	if err := repo.Update(ctx, id, confirm); err != nil {
		t.Fatal(err)
	}
	if err := repo.Update(ctx, id, cancel); !errors.Is(err, errAlreadyDecided) {
		t.Errorf("cancelling a confirmed order: got %v, want the business rule", err)
	}
	if _, err := repo.Load(ctx, uuid.New()); !errors.Is(err, mongostore.ErrStreamNotFound) {
		t.Errorf("unknown aggregate: got %v", err)
	}
	root, err := repo.Load(ctx, id)
	if err != nil || root.Version != 2 || !root.State.Confirmed || root.State.Cancelled {
		t.Fatalf("got %+v version %d, %v", root.State, root.Version, err)
	}
}

// TestRepositoryConfirmRacesCancel: two operators decide on the same order
// at once. The loser retries from a fresh load and gets the business rule;
// the order is never both confirmed and cancelled.
func TestRepositoryConfirmRacesCancel(t *testing.T) {
	_, repo := newOrders(t)
	repo.MaxAttempts = 10
	ctx := context.Background()
	for round := range 20 {
		id := uuid.New()
		if err := repo.Create(ctx, id, func(r *mongostore.Root[*order]) error {
			return r.Record(OrderPlaced{Customer: "cy", Total: 1})
		}); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var wins, rules atomic.Int32
		start := make(chan struct{})
		for _, decide := range []func(*mongostore.Root[*order]) error{confirm, cancel} {
			wg.Go(func() {
				<-start
				switch err := repo.Update(ctx, id, decide); {
				case err == nil:
					wins.Add(1)
				case errors.Is(err, errAlreadyDecided):
					rules.Add(1)
				default:
					t.Errorf("round %d: %v", round, err)
				}
			})
		}
		close(start)
		wg.Wait()
		root, err := repo.Load(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if wins.Load() != 1 || rules.Load() != 1 || root.Version != 2 || root.State.Confirmed == root.State.Cancelled {
			t.Fatalf("round %d: %d wins, %d refusals, order %+v at version %d", round, wins.Load(), rules.Load(), root.State, root.Version)
		}
	}
}

func TestRepositoryUpdateGivesUpAfterMaxAttempts(t *testing.T) {
	s, repo := newOrders(t)
	repo.MaxAttempts = 3
	ctx := context.Background()
	id := uuid.New()
	if err := repo.Create(ctx, id, func(r *mongostore.Root[*order]) error { return r.Record(OrderPlaced{}) }); err != nil {
		t.Fatal(err)
	}
	attempts := 0
	err := repo.Update(ctx, id, func(r *mongostore.Root[*order]) error {
		attempts++
		// Someone else always saves in between.
		if _, err := s.Append(ctx, id, mongostore.Any, mongostore.EventData{Name: "LineAdded", Data: LineAdded{Cents: 1}}); err != nil {
			return err
		}
		return r.Record(LineAdded{Cents: 2})
	})
	if !errors.Is(err, mongostore.ErrConcurrency) || attempts != 3 {
		t.Fatalf("got %v after %d attempts, want ErrConcurrency after 3", err, attempts)
	}
}

func TestSnapshots(t *testing.T) {
	s, repo := newOrders(t)
	repo.Snapshots = mongostore.EveryN(10)
	repo.SnapshotSchema = 1
	ctx := context.Background()
	id := uuid.New()
	if err := repo.Create(ctx, id, func(r *mongostore.Root[*order]) error { return r.Record(OrderPlaced{Customer: "di"}) }); err != nil {
		t.Fatal(err)
	}
	for i := range 34 {
		if err := repo.Update(ctx, id, func(r *mongostore.Root[*order]) error { return r.Record(LineAdded{Cents: int64(i)}) }); err != nil {
			t.Fatal(err)
		}
	}
	var snap struct {
		Version int64 `bson:"version"`
	}
	if err := s.Database().Collection(mongostore.CollectionSnapshots).FindOne(ctx, bson.M{"_id": id.String()}).Decode(&snap); err != nil {
		t.Fatal(err)
	}
	if snap.Version != 30 {
		t.Errorf("snapshot at version %d, want 30 (every 10 events)", snap.Version)
	}
	withSnap, err := repo.Load(ctx, id)
	if err != nil {
		t.Fatal(err)
	}

	// A snapshot of an outdated shape is ignored: full replay.
	outdated := mongostore.NewRepository(s, orderRegistry(), "Order", func() *order { return &order{} })
	outdated.Snapshots, outdated.SnapshotSchema = mongostore.EveryN(10), 2
	fromOutdated, err := outdated.Load(ctx, id)
	if err != nil {
		t.Fatal(err)
	}

	if err := s.DeleteSnapshots(ctx); err != nil {
		t.Fatal(err)
	}
	without, err := repo.Load(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	for name, got := range map[string]*mongostore.Root[*order]{"after deleting snapshots": without, "with an outdated snapshot": fromOutdated} {
		if *got.State != *withSnap.State || got.Version != withSnap.Version {
			t.Errorf("%s: %+v at %d; with the snapshot: %+v at %d", name, got.State, got.Version, withSnap.State, withSnap.Version)
		}
	}
	if withSnap.Version != 35 || withSnap.State.Lines != 34 {
		t.Errorf("got %+v at version %d", withSnap.State, withSnap.Version)
	}
}

func TestLoadAt(t *testing.T) {
	_, repo := newOrders(t)
	repo.Snapshots, repo.SnapshotSchema = mongostore.EveryN(2), 1
	ctx := context.Background()
	id := uuid.New()
	if err := repo.Create(ctx, id, func(r *mongostore.Root[*order]) error { return r.Record(OrderPlaced{Customer: "ed", Total: 5}) }); err != nil {
		t.Fatal(err)
	}
	for range 4 {
		if err := repo.Update(ctx, id, func(r *mongostore.Root[*order]) error { return r.Record(LineAdded{Cents: 10}) }); err != nil {
			t.Fatal(err)
		}
	}
	past, err := repo.LoadAt(ctx, id, mongostore.ReadQuery{ToVersion: 2})
	if err != nil {
		t.Fatal(err)
	}
	if past.Version != 2 || past.State.Total != 15 || past.State.Lines != 1 {
		t.Errorf("as of version 2: %+v at %d", past.State, past.Version)
	}
}

func TestCache(t *testing.T) {
	s, repo := newOrders(t)
	repo.Cache = mongostore.NewCache(2)
	ctx := context.Background()
	ids := []uuid.UUID{uuid.New(), uuid.New(), uuid.New()}
	for _, id := range ids {
		if err := repo.Create(ctx, id, func(r *mongostore.Root[*order]) error { return r.Record(OrderPlaced{Customer: "fi"}) }); err != nil {
			t.Fatal(err)
		}
	}
	if n := repo.Cache.Len(); n != 2 {
		t.Errorf("cache holds %d aggregates, bound is 2", n)
	}
	// Another writer appends behind the cache's back: the load still sees it.
	if _, err := s.Append(ctx, ids[2], mongostore.Exact(1), mongostore.EventData{Name: "LineAdded", Data: LineAdded{Cents: 7}}); err != nil {
		t.Fatal(err)
	}
	root, err := repo.Load(ctx, ids[2])
	if err != nil || root.Version != 2 || root.State.Total != 7 {
		t.Fatalf("got %+v at %d (%v)", root.State, root.Version, err)
	}
	// A save that loses a race forgets the cached aggregate.
	before := repo.Cache.Len()
	stale := repo.New(ids[2])
	stale.Version = 1
	stale.Record(LineAdded{Cents: 1})
	if err := repo.Save(ctx, stale); !errors.Is(err, mongostore.ErrConcurrency) {
		t.Fatalf("got %v", err)
	}
	if after := repo.Cache.Len(); after != before-1 {
		t.Errorf("cache held %d aggregates before the conflict and %d after; the loser was not forgotten", before, after)
	}
	root, err = repo.Load(ctx, ids[2])
	if err != nil || root.Version != 2 {
		t.Fatalf("after the conflict: version %d (%v)", root.Version, err)
	}
}

func TestUpdateAllAndRecordWithID(t *testing.T) {
	s, repo := newOrders(t)
	ctx := context.Background()
	a, b := uuid.New(), uuid.New()
	for _, id := range []uuid.UUID{a, b} {
		if err := repo.Create(ctx, id, func(r *mongostore.Root[*order]) error { return r.Record(OrderPlaced{Customer: "gi"}) }); err != nil {
			t.Fatal(err)
		}
	}
	lineA, lineB := uuid.New(), uuid.New()
	move := func(roots []*mongostore.Root[*order]) error {
		if err := roots[0].RecordWithID(lineA, LineAdded{Cents: -5}); err != nil {
			return err
		}
		return roots[1].RecordWithID(lineB, LineAdded{Cents: 5})
	}
	if err := repo.UpdateAll(ctx, []uuid.UUID{a, b}, move); err != nil {
		t.Fatal(err)
	}
	// Sent again (an unknown outcome): the same ids store nothing twice.
	root, err := repo.Load(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, a, mongostore.Exact(1), mongostore.EventData{ID: lineA, Name: "LineAdded", Data: LineAdded{Cents: -5}}); err != nil {
		t.Fatalf("replaying the recorded event: %v", err)
	}
	again, err := repo.Load(ctx, a)
	if err != nil || again.Version != root.Version || root.State.Total != -5 {
		t.Fatalf("after the replay: %+v at %d (was %d), %v", again.State, again.Version, root.Version, err)
	}
	if err := repo.UpdateAll(ctx, []uuid.UUID{a, b}, func([]*mongostore.Root[*order]) error { return errAlreadyDecided }); !errors.Is(err, errAlreadyDecided) {
		t.Errorf("a business rule: got %v", err)
	}
}
