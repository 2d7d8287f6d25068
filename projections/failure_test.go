package projections_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/annalsdb/annals/mongostore"
	"github.com/annalsdb/annals/projections"
	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
)

// TestFailure: a handler error puts its projection in the failed state
// naming the event, the other projection keeps running, and Retry resumes
// from the failed event once the cause is fixed.
func TestFailure(t *testing.T) {
	s := openStore(t)
	b := &bank{t: t, s: s}
	b.open(3)
	b.activity(30)
	poison := uuid.New()
	var broken atomic.Bool
	broken.Store(true)
	audit := projections.New("audit", []string{"Deposited", "Audited"}, func(ctx context.Context, tx *projections.Tx, ev mongostore.Event) error {
		if ev.Name == "Audited" && broken.Load() {
			return errors.New("auditor unavailable")
		}
		_, err := tx.Collection().InsertOne(ctx, map[string]any{"_id": ev.ID.String()})
		return err
	})
	r := fast(projections.NewRunner(s, accountsProjection(), audit))
	start(t, r)
	waitLive(t, r, "accounts")
	if _, err := s.Append(context.Background(), uuid.New(), mongostore.NoStream, mongostore.EventData{ID: poison, Name: "Audited"}); err != nil {
		t.Fatal(err)
	}
	b.activity(30)

	st := waitState(t, r, "audit", projections.StateFailed)
	if st.Failure == nil || st.Failure.EventID != poison || st.Failure.EventName != "Audited" || st.Failure.Error != "auditor unavailable" {
		t.Fatalf("failure %+v does not name the event and the error", st.Failure)
	}
	if _, err := r.WaitLive(context.Background(), "audit"); err == nil {
		t.Error("WaitLive on a failed projection returned no error")
	}
	// The other projection is unaffected.
	waitLive(t, r, "accounts")
	checkTruth(t, s, r)

	if err := r.Retry(context.Background(), "accounts"); !errors.Is(err, projections.ErrNotFailed) {
		t.Errorf("retrying a healthy projection: got %v, want ErrNotFailed", err)
	}
	broken.Store(false)
	if err := r.Retry(context.Background(), "audit"); err != nil {
		t.Fatal(err)
	}
	st = waitLive(t, r, "audit")
	if st.Failure != nil {
		t.Errorf("failure still reported after recovery: %+v", st.Failure)
	}
	coll, err := r.Collection(context.Background(), "audit", "")
	if err != nil {
		t.Fatal(err)
	}
	n, err := coll.CountDocuments(context.Background(), map[string]any{})
	if err != nil {
		t.Fatal(err)
	}
	want, err := s.CountAfter(context.Background(), mongostore.Position{}, []string{"Deposited", "Audited"})
	if err != nil {
		t.Fatal(err)
	}
	if n != want {
		t.Errorf("audit has %d documents, want %d: events lost or doubled around the failure", n, want)
	}
}

// TestUndecodableEvent: an event whose payload the handler cannot decode
// fails the projection, naming it.
func TestUndecodableEvent(t *testing.T) {
	s := openStore(t)
	b := &bank{t: t, s: s}
	b.open(1)
	bad := uuid.New()
	if _, err := s.Append(context.Background(), b.accts[0], mongostore.Any,
		mongostore.EventData{ID: bad, Name: "Deposited", Data: map[string]any{"amount": "a lot"}}); err != nil {
		t.Fatal(err)
	}
	r := fast(projections.NewRunner(s, accountsProjection()))
	start(t, r)
	st := waitState(t, r, "accounts", projections.StateFailed)
	if st.Failure.EventID != bad {
		t.Errorf("failure names event %s, want %s", st.Failure.EventID, bad)
	}
}

func TestUnknownProjection(t *testing.T) {
	s := openStore(t)
	r := projections.NewRunner(s, accountsProjection())
	ctx := context.Background()
	for name, err := range map[string]error{
		"status":  func() error { _, err := r.Status(ctx, "nope"); return err }(),
		"retry":   r.Retry(ctx, "nope"),
		"reset":   r.Reset(ctx, "nope"),
		"rebuild": r.Rebuild(ctx, "nope", projections.BlueGreen),
		"collection": func() error {
			_, err := r.Collection(ctx, "nope", "")
			return err
		}(),
	} {
		if !errors.Is(err, projections.ErrUnknownProjection) {
			t.Errorf("%s: got %v, want ErrUnknownProjection", name, err)
		}
	}
	if _, err := r.Collection(ctx, "accounts", "other"); !errors.Is(err, projections.ErrUnknownCollection) {
		t.Errorf("got %v, want ErrUnknownCollection", err)
	}
}

func TestInvalidConfiguration(t *testing.T) {
	s := openStore(t)
	r := projections.NewRunner(s,
		projections.New("", []string{"A"}, handleAccounts),
		projections.New("x", nil, handleAccounts),
		projections.New("y", []string{"A"}, nil),
		accountsProjection(), accountsProjection(),
	)
	r.BatchSize = 0
	err := r.Run(context.Background())
	if err == nil {
		t.Fatal("Run accepted invalid projections")
	}
	for _, want := range []string{`name ""`, "x handles no events", "y has no handler", "two projections named accounts", "BatchSize"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not report %q", err, want)
		}
	}
}

// TestRegistryUpcastsAndRefusesUnknown: with a registry, handlers see
// upcast payloads, and an event the registry does not know fails the
// projection loudly.
func TestRegistryUpcastsAndRefusesUnknown(t *testing.T) {
	s := openStore(t)
	type Renamed struct {
		Owner string `bson:"owner"`
	}
	reg := mongostore.NewRegistry()
	mongostore.Register[Renamed](reg, "AccountRenamed", 2)
	reg.Upcast("AccountRenamed", 1, func(d bson.M) (bson.M, error) { d["owner"] = d["name"]; delete(d, "name"); return d, nil })
	var got []string
	p := projections.New("owners", []string{"AccountRenamed", "AccountClosed"}, func(_ context.Context, _ *projections.Tx, ev mongostore.Event) error {
		var r Renamed
		if err := ev.Decode(&r); err != nil {
			return err
		}
		got = append(got, r.Owner)
		return nil
	})
	p.Registry = reg
	id := uuid.New()
	if _, err := s.Append(context.Background(), id, mongostore.NoStream,
		mongostore.EventData{Name: "AccountRenamed", SchemaVersion: 1, Data: bson.M{"name": "old shape"}},
		mongostore.EventData{Name: "AccountRenamed", SchemaVersion: 2, Data: bson.M{"owner": "new shape"}},
		mongostore.EventData{Name: "AccountClosed"}); err != nil {
		t.Fatal(err)
	}
	r := fast(projections.NewRunner(s, p))
	start(t, r)
	st := waitState(t, r, "owners", projections.StateFailed)
	if st.Failure.EventName != "AccountClosed" || !strings.Contains(st.Failure.Error, "unknown event type") {
		t.Errorf("failure %+v, want the unregistered AccountClosed", st.Failure)
	}
	if strings.Join(got, ",") != "old shape,new shape" {
		t.Errorf("handler saw %v", got)
	}
}

// TestCorruptStoredEvent: a document in the events collection that is not
// a well-formed event (written around the store) fails the projections
// that reach it, naming it, instead of stalling them in retries.
func TestCorruptStoredEvent(t *testing.T) {
	s := openStore(t)
	b := &bank{t: t, s: s}
	b.open(2)
	bad := uuid.New()
	_, err := s.EventsCollection().InsertOne(context.Background(), bson.D{
		{Key: "_id", Value: mongostore.UUIDValue(bad)},
		{Key: "aggregate_uuid", Value: primitive.Binary{Subtype: 0, Data: []byte("not a uuid")}},
		{Key: "aggregate_type", Value: "Account"}, {Key: "version", Value: int64(1)}, {Key: "name", Value: "Deposited"},
		{Key: "schema_version", Value: int32(1)}, {Key: "data", Value: bson.D{}}, {Key: "metadata", Value: bson.D{}},
		{Key: "recorded_at", Value: time.Now()},
	})
	if err != nil {
		t.Fatal(err)
	}
	r := fast(projections.NewRunner(s, accountsProjection(), projections.EventCounts()))
	start(t, r)
	for _, name := range []string{"accounts", projections.EventCountsProjection} {
		st := waitState(t, r, name, projections.StateFailed)
		if st.Failure.EventID != bad || !strings.Contains(st.Failure.Error, "not well-formed") {
			t.Errorf("%s: failure %+v does not name the corrupt event %s", name, st.Failure, bad)
		}
	}
}
