package projections_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/annalsdb/annals/mongostore"
	"github.com/annalsdb/annals/mongostore/mongotest"
	"github.com/annalsdb/annals/projections"
	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
)

// The test domain: bank accounts. The read model keeps each account's
// balance and the versions applied, in order, so that an event applied
// twice or out of order shows.

type amount struct {
	Amount int64 `bson:"amount"`
}

type account struct {
	Owner   string  `bson:"owner"`
	Balance int64   `bson:"balance"`
	Applied []int64 `bson:"applied"`
}

var accountEvents = []string{"AccountOpened", "Deposited", "Withdrawn"}

func handleAccounts(ctx context.Context, tx *projections.Tx, ev mongostore.Event) error {
	id := bson.D{{Key: "_id", Value: ev.Stream.String()}} // lungo cannot update binary _ids
	switch ev.Name {
	case "AccountOpened":
		var d struct {
			Owner string `bson:"owner"`
		}
		if err := ev.Decode(&d); err != nil {
			return err
		}
		// An insert, not an upsert: applying it twice fails loudly.
		_, err := tx.Collection().InsertOne(ctx, bson.D{id[0], {Key: "owner", Value: d.Owner}, {Key: "balance", Value: int64(0)}, {Key: "applied", Value: bson.A{ev.Version}}})
		return err
	case "Deposited", "Withdrawn":
		var d amount
		if err := ev.Decode(&d); err != nil {
			return err
		}
		if ev.Name == "Withdrawn" {
			d.Amount = -d.Amount
		}
		res, err := tx.Collection().UpdateOne(ctx, id, bson.D{
			{Key: "$inc", Value: bson.D{{Key: "balance", Value: d.Amount}}},
			{Key: "$push", Value: bson.D{{Key: "applied", Value: ev.Version}}},
		})
		if err == nil && res.MatchedCount == 0 {
			err = fmt.Errorf("account %s not opened before version %d", ev.Stream, ev.Version)
		}
		return err
	}
	return fmt.Errorf("unknown event %s", ev.Name)
}

func accountsProjection() *projections.Projection {
	return projections.New("accounts", accountEvents, handleAccounts)
}

// truth computes the accounts read model from the events collection.
func truth(t testing.TB, s *mongostore.Store) map[uuid.UUID]account {
	t.Helper()
	out := map[uuid.UUID]account{}
	for e, err := range s.Scan(context.Background(), mongostore.ScanQuery{Names: accountEvents}) {
		if err != nil {
			t.Fatal(err)
		}
		a := out[e.Stream]
		var d struct {
			Owner  string `bson:"owner"`
			Amount int64  `bson:"amount"`
		}
		if err := e.Decode(&d); err != nil {
			t.Fatal(err)
		}
		switch e.Name {
		case "AccountOpened":
			a.Owner = d.Owner
		case "Deposited":
			a.Balance += d.Amount
		case "Withdrawn":
			a.Balance -= d.Amount
		}
		a.Applied = append(a.Applied, e.Version)
		out[e.Stream] = a
	}
	return out
}

// readModel reads the accounts read model the runner serves.
func readModel(t testing.TB, r *projections.Runner) map[uuid.UUID]account {
	t.Helper()
	coll, err := r.Collection(context.Background(), "accounts", "")
	if err != nil {
		t.Fatal(err)
	}
	cur, err := coll.Find(context.Background(), bson.D{}, options.Find())
	if err != nil {
		t.Fatal(err)
	}
	out := map[uuid.UUID]account{}
	for cur.Next(context.Background()) {
		var d struct {
			ID      string  `bson:"_id"`
			Owner   string  `bson:"owner"`
			Balance int64   `bson:"balance"`
			Applied []int64 `bson:"applied"`
		}
		if err := cur.Decode(&d); err != nil {
			t.Fatal(err)
		}
		out[uuid.MustParse(d.ID)] = account{Owner: d.Owner, Balance: d.Balance, Applied: d.Applied}
	}
	return out
}

// checkTruth fails unless the read model equals the ground truth.
func checkTruth(t testing.TB, s *mongostore.Store, r *projections.Runner) {
	t.Helper()
	want, got := truth(t, s), readModel(t, r)
	if len(got) != len(want) {
		t.Errorf("read model has %d accounts, events say %d", len(got), len(want))
	}
	for id, w := range want {
		g, ok := got[id]
		if !ok {
			t.Errorf("account %s missing from the read model", id)
			continue
		}
		if g.Owner != w.Owner || g.Balance != w.Balance || fmt.Sprint(g.Applied) != fmt.Sprint(w.Applied) {
			t.Errorf("account %s: read model %+v, events say %+v", id, g, w)
		}
	}
}

// bank appends account activity.
type bank struct {
	t     testing.TB
	s     *mongostore.Store
	mu    sync.Mutex
	accts []uuid.UUID
}

func (b *bank) open(n int) {
	for range n {
		id := uuid.New()
		if _, err := b.s.AppendStreams(context.Background(), mongostore.StreamAppend{Stream: id, Type: "Account", Expected: mongostore.NoStream,
			Events: []mongostore.EventData{{Name: "AccountOpened", Data: map[string]any{"owner": id.String()[:8]}}}}); err != nil {
			b.t.Fatal(err)
		}
		b.mu.Lock()
		b.accts = append(b.accts, id)
		b.mu.Unlock()
	}
}

// activity appends n deposits or withdrawals spread over the accounts,
// with some noise events the projection does not handle.
func (b *bank) activity(n int) {
	for i := range n {
		b.mu.Lock()
		id := b.accts[i%len(b.accts)]
		b.mu.Unlock()
		events := []mongostore.EventData{{Name: "Deposited", Data: amount{Amount: int64(i%7 + 1)}}}
		switch i % 5 {
		case 1:
			events = append(events, mongostore.EventData{Name: "Withdrawn", Data: amount{Amount: 1}})
		case 3:
			events = append(events, mongostore.EventData{Name: "StatementSent"})
		}
		if _, err := b.s.Append(context.Background(), id, mongostore.Any, events...); err != nil {
			b.t.Error(err)
			return
		}
	}
}

// start runs a runner until the test ends or stop is called, and returns
// stop, which waits for Run to return.
func start(t testing.TB, r *projections.Runner) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// fast tunes a runner for tests: small batches, short leases and waits.
func fast(r *projections.Runner) *projections.Runner {
	r.BatchSize = 25
	r.LeaseTTL = 300 * time.Millisecond
	r.MinBackoff = 5 * time.Millisecond
	r.MaxBackoff = 50 * time.Millisecond
	return r
}

func waitLive(t testing.TB, r *projections.Runner, name string) projections.Status {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	st, err := r.WaitLive(ctx, name)
	if err != nil {
		t.Fatalf("wait for %s: %v", name, err)
	}
	return st
}

// openStore opens a fresh store on MongoDB when one is available (see
// mongotest), else on the embedded engine.
func openStore(t testing.TB, opts ...mongostore.Option) *mongostore.Store {
	t.Helper()
	return mongotest.Open(t, opts...)
}

// openEmbedded opens a fresh store on the embedded engine, for what only
// it can do (a tiny oplog).
func openEmbedded(t testing.TB, opts ...mongostore.Option) *mongostore.Store {
	t.Helper()
	s, err := mongostore.Open(context.Background(), "memory:", opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return s
}

var errCrash = errors.New("simulated crash")

// waitState polls a projection's status until it reaches state.
func waitState(t testing.TB, r *projections.Runner, name, state string) projections.Status {
	t.Helper()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(30 * time.Second)
	for {
		st, err := r.Status(context.Background(), name)
		if err != nil {
			t.Fatal(err)
		}
		if st.State == state {
			return st
		}
		select {
		case <-deadline:
			t.Fatalf("%s stayed %s, never %s", name, st.State, state)
		case <-tick.C:
		}
	}
}

// handleAccountsBatch is handleAccounts as a batch handler: one queued
// write per event, sent as one bulk write. An account opened twice still
// fails loudly (the insert); a movement applied twice or missed shows in
// the read model's applied versions.
func handleAccountsBatch(ctx context.Context, w *projections.Writes, events []mongostore.Event) error {
	for _, ev := range events {
		id := bson.D{{Key: "_id", Value: ev.Stream.String()}}
		switch ev.Name {
		case "AccountOpened":
			var d struct {
				Owner string `bson:"owner"`
			}
			if err := ev.Decode(&d); err != nil {
				return projections.FailedOn(ev, err)
			}
			w.Queue(ev, "", mongo.NewInsertOneModel().SetDocument(bson.D{id[0], {Key: "owner", Value: d.Owner}, {Key: "balance", Value: int64(0)}, {Key: "applied", Value: bson.A{ev.Version}}}))
		case "Deposited", "Withdrawn":
			var d amount
			if err := ev.Decode(&d); err != nil {
				return projections.FailedOn(ev, err)
			}
			if ev.Name == "Withdrawn" {
				d.Amount = -d.Amount
			}
			w.Queue(ev, "", mongo.NewUpdateOneModel().SetFilter(id).SetUpdate(bson.D{
				{Key: "$inc", Value: bson.D{{Key: "balance", Value: d.Amount}}},
				{Key: "$push", Value: bson.D{{Key: "applied", Value: ev.Version}}},
			}))
		default:
			return projections.FailedOn(ev, fmt.Errorf("unknown event %s", ev.Name))
		}
	}
	return nil
}

func accountsBatchProjection() *projections.Projection {
	return projections.NewBatch("accounts", accountEvents, handleAccountsBatch)
}

// accountForms are the accounts projection in both handler forms, for the
// tests that every form must pass (crashes, concurrent runners).
var accountForms = map[string]func() *projections.Projection{
	"per-event": accountsProjection,
	"batch":     accountsBatchProjection,
}
