package subscriptions

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/256dpi/lungo"
	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/annalsdb/annals/mongostore"
)

// outboxMessage reads a message of the outbox.
func outboxMessage(t *testing.T, store *mongostore.Store, id uuid.UUID) outboxDoc {
	t.Helper()
	var m outboxDoc
	err := store.Database().Collection(CollectionOutbox).FindOne(context.Background(),
		bson.D{{Key: "_id", Value: mongostore.UUIDValue(id)}}).Decode(&m)
	if err != nil {
		t.Fatalf("outbox message %s: %v", id, err)
	}
	return m
}

// TestOutboxPutsBackAMessageOutOfTime: a pass that reaches its first
// message after the deadline its take set (the take ran late) does not
// hand it to the handler with a context already over: it puts it back
// uncounted, so that a message never delivered is not parked for it, and
// the next pass in time delivers it.
func TestOutboxPutsBackAMessageOutOfTime(t *testing.T) {
	ctx := context.Background()
	store := outboxStore(t)
	clk := &clock{}
	late := true
	d := NewDispatcher(store)
	// While late, each reading of the clock is two minutes after the one
	// before: past the deadline of a take one reading earlier.
	d.clock = func() time.Time {
		now := clk.now()
		if late {
			clk.advance(2 * time.Minute)
		}
		return now
	}
	d.Settings = Settings{MaxAttempts: 1, AckTimeout: time.Minute}
	var calls []int
	d.Handle("pay", func(ctx context.Context, m Delivered) error {
		calls = append(calls, m.Attempt)
		return ctx.Err()
	})
	id := uuid.New()
	if err := Enqueue(ctx, store, OutboxMessage{ID: id, Topic: "pay"}); err != nil {
		t.Fatal(err)
	}
	if n, err := d.dispatch(ctx); err != nil || n != 1 {
		t.Fatalf("dispatch took %d (%v), want 1", n, err)
	}
	if len(calls) != 0 {
		t.Errorf("handler called at attempts %v past the deadline, want not called", calls)
	}
	if m := outboxMessage(t, store, id); m.State != stateReady || m.Attempts != 0 {
		t.Errorf("message %s with %d attempts, want %s with 0", m.State, m.Attempts, stateReady)
	}
	late = false
	drain(t, d)
	if len(calls) != 1 || calls[0] != 1 {
		t.Errorf("handler called at attempts %v, want [1]", calls)
	}
}

// TestWebhookPutsBackAnEventOutOfTime: a webhook batch whose first
// event's deadline has passed sends no request with a context already
// over: the event goes back uncounted, with no attempt logged.
func TestWebhookPutsBackAnEventOutOfTime(t *testing.T) {
	ctx := context.Background()
	svc, store, clk := newService(t, "memory:")
	var requests atomic.Int32
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer receiver.Close()
	if _, err := svc.Create(ctx, Subscription{Name: "pull",
		Settings: Settings{AckTimeout: time.Minute, MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond}}); err != nil {
		t.Fatal(err)
	}
	appendEvents(t, store, uuid.New(), "", "E1")
	batch := fetchN(t, svc, "pull", "pusher", 1)
	clk.advance(2 * time.Minute) // the batch was fetched, then its pusher stalled past its deadline
	d, err := svc.definition(ctx, "pull")
	if err != nil {
		t.Fatal(err)
	}
	secret, err := newSecret()
	if err != nil {
		t.Fatal(err)
	}
	w := Webhook{URL: receiver.URL, Secret: secret, Timeout: 5 * time.Second}
	client := webhookClient(w.Timeout, true)
	defer client.CloseIdleConnections()
	svc.pushBatch(ctx, d, w, client, "pusher", batch)
	if n := requests.Load(); n != 0 {
		t.Errorf("%d requests sent past the deadline, want 0", n)
	}
	log, err := svc.WebhookLog(ctx, "pull", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(log) != 0 {
		t.Errorf("attempts logged %+v, want none", log)
	}
	if again := fetchN(t, svc, "pull", "next", 1); again[0].Attempt != 1 {
		t.Errorf("fetched again at attempt %d, want 1 (the late batch not counted)", again[0].Attempt)
	}
}

// failingDeletes wraps a client so that the next DeleteOne fails once
// fail is set.
type failingDeletes struct {
	lungo.IClient
	fail *atomic.Bool
}

func (c failingDeletes) Unwrap() lungo.IClient { return c.IClient }

func (c failingDeletes) Database(name string, opts ...*options.DatabaseOptions) lungo.IDatabase {
	return failingDeletesDB{IDatabase: c.IClient.Database(name, opts...), fail: c.fail}
}

type failingDeletesDB struct {
	lungo.IDatabase
	fail *atomic.Bool
}

func (d failingDeletesDB) Collection(name string, opts ...*options.CollectionOptions) lungo.ICollection {
	return failingDeletesColl{ICollection: d.IDatabase.Collection(name, opts...), fail: d.fail}
}

type failingDeletesColl struct {
	lungo.ICollection
	fail *atomic.Bool
}

func (c failingDeletesColl) DeleteOne(ctx context.Context, filter any, opts ...*options.DeleteOptions) (*mongo.DeleteResult, error) {
	if c.fail.CompareAndSwap(true, false) {
		return nil, errors.New("simulated store failure")
	}
	return c.ICollection.DeleteOne(ctx, filter, opts...)
}

// TestOutboxPutsBackWhenSettleFails: when recording a delivery fails, the
// pass still puts back the messages it set aside untried, uncounted,
// instead of leaving them held until their deadline.
func TestOutboxPutsBackWhenSettleFails(t *testing.T) {
	ctx := context.Background()
	inner := outboxStore(t)
	fail := &atomic.Bool{}
	store, err := mongostore.New(ctx, failingDeletes{IClient: inner.Client(), fail: fail})
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{}
	d := NewDispatcher(store)
	d.clock = clk.now
	d.Settings = Settings{AckTimeout: time.Minute}
	var delivered []uuid.UUID
	d.Handle("pay", func(_ context.Context, m Delivered) error {
		delivered = append(delivered, m.ID)
		clk.advance(40 * time.Second) // the next message has 20 s left: less than it needs
		return nil
	})
	sent := []uuid.UUID{uuid.New(), uuid.New()}
	for _, id := range sent {
		if err := Enqueue(ctx, store, OutboxMessage{ID: id, Topic: "pay"}); err != nil {
			t.Fatal(err)
		}
	}
	fail.Store(true) // removing the delivered message fails
	if _, err := d.dispatch(ctx); err == nil {
		t.Fatal("dispatch: no error, want the failed delete's")
	}
	if len(delivered) != 1 {
		t.Fatalf("delivered %v, want one message", delivered)
	}
	for _, id := range sent {
		if id == delivered[0] {
			continue
		}
		if m := outboxMessage(t, store, id); m.State != stateReady || m.Attempts != 0 {
			t.Errorf("message set aside: %s with %d attempts, want %s with 0", m.State, m.Attempts, stateReady)
		}
	}
}

// TestOutboxPutsBackWhenStopping: a pass stopped while delivering puts
// back, uncounted, the messages it had not reached; the one in flight
// goes out again after its deadline.
func TestOutboxPutsBackWhenStopping(t *testing.T) {
	store, sent, delivered := dispatchStopping(t, func(ctx context.Context) error {
		<-ctx.Done()
		return ctx.Err()
	})
	for _, id := range sent {
		m := outboxMessage(t, store, id)
		switch {
		case id == delivered && (m.State != stateInFlight || m.Attempts != 1):
			t.Errorf("message in flight: %s with %d attempts, want %s with 1", m.State, m.Attempts, stateInFlight)
		case id != delivered && (m.State != stateReady || m.Attempts != 0):
			t.Errorf("message not reached: %s with %d attempts, want %s with 0", m.State, m.Attempts, stateReady)
		}
	}
}

// dispatchStopping enqueues two messages and runs one dispatch pass whose
// handler stops the pass at the first message, then answers with
// answer(its ctx). It returns the store, the messages, and the one
// delivered.
func dispatchStopping(t *testing.T, answer func(ctx context.Context) error) (*mongostore.Store, []uuid.UUID, uuid.UUID) {
	t.Helper()
	ctx := context.Background()
	store := outboxStore(t)
	d := NewDispatcher(store)
	d.Settings = Settings{AckTimeout: time.Minute}
	dctx, stop := context.WithCancel(ctx)
	defer stop()
	var delivered []uuid.UUID
	d.Handle("pay", func(ctx context.Context, m Delivered) error {
		delivered = append(delivered, m.ID)
		stop()
		return answer(ctx)
	})
	sent := []uuid.UUID{uuid.New(), uuid.New()}
	for _, id := range sent {
		if err := Enqueue(ctx, store, OutboxMessage{ID: id, Topic: "pay"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := d.dispatch(dctx); err != nil {
		t.Fatal(err)
	}
	if len(delivered) != 1 {
		t.Fatalf("delivered %v, want one message", delivered)
	}
	return store, sent, delivered[0]
}

// queuedMessage reads the queued message of a subscription's event; ok is
// false once it is gone (acknowledged).
func queuedMessage(t *testing.T, svc *Service, sub string, event uuid.UUID) (m message, ok bool) {
	t.Helper()
	ctx := context.Background()
	d, err := svc.definition(ctx, sub)
	if err != nil {
		t.Fatal(err)
	}
	err = svc.messages().FindOne(ctx, bson.D{{Key: "_id", Value: messageID(d.Feed, event)}}).Decode(&m)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return m, false
	}
	if err != nil {
		t.Fatalf("queued message of %s: %v", event, err)
	}
	return m, true
}

// TestWebhookBatchRecordsWhatItDidWhenStopping: a service stopped while
// a webhook batch is under way still acknowledges and logs what the
// batch sent, and puts back, uncounted, the events it never sent; the
// event whose request the stop cut short goes out again after its ack
// timeout.
func TestWebhookBatchRecordsWhatItDidWhenStopping(t *testing.T) {
	ctx := context.Background()
	store, err := mongostore.Open(ctx, "memory:")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := store.Close(context.Background()); err != nil {
			t.Error(err)
		}
	})
	svc := New(store)
	svc.Poll, svc.Refresh = 10*time.Millisecond, 50*time.Millisecond
	svc.AllowPrivateWebhooks = true
	stop := sync.OnceFunc(run(t, svc))
	t.Cleanup(stop)
	var requests atomic.Int32
	cut := make(chan struct{})     // the second request arrived
	stopped := make(chan struct{}) // the test stopped the service
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if requests.Add(1) == 1 {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		close(cut)
		<-stopped
	}))
	defer receiver.Close()
	release := sync.OnceFunc(func() { close(stopped) })
	defer release()
	if _, err := svc.Create(ctx, Subscription{Name: "hook", Webhook: &Webhook{URL: receiver.URL}}); err != nil {
		t.Fatal(err)
	}
	// Queued together, so that one batch holds all three.
	evs := appendEvents(t, store, uuid.New(), "", "E1", "E2", "E3")
	select {
	case <-cut:
	case <-time.After(20 * time.Second):
		t.Fatalf("%d requests reached the receiver, want 2", requests.Load())
	}
	stop()
	release()
	if n := requests.Load(); n != 2 {
		t.Errorf("%d requests, want 2", n)
	}
	if m, ok := queuedMessage(t, svc, "hook", evs[0]); ok {
		t.Errorf("answered E1: %s with %d attempts, want acknowledged", m.State, m.Attempts)
	}
	if m, ok := queuedMessage(t, svc, "hook", evs[1]); !ok || m.State != stateInFlight || m.Attempts != 1 {
		t.Errorf("E2, cut short: %s with %d attempts (queued: %v), want %s with 1", m.State, m.Attempts, ok, stateInFlight)
	}
	if m, ok := queuedMessage(t, svc, "hook", evs[2]); !ok || m.State != stateReady || m.Attempts != 0 {
		t.Errorf("E3, never sent: %s with %d attempts (queued: %v), want %s with 0", m.State, m.Attempts, ok, stateReady)
	}
	log, err := svc.WebhookLog(ctx, "hook", 0)
	if err != nil {
		t.Fatal(err)
	}
	logged := map[uuid.UUID]int{} // event → status
	for _, a := range log {
		logged[a.Event] = a.Status
	}
	want := map[uuid.UUID]int{evs[0]: http.StatusNoContent, evs[1]: 0}
	if !maps.Equal(logged, want) || len(log) != 2 {
		t.Errorf("log %+v, want E1 answered %d and E2 unanswered", log, http.StatusNoContent)
	}
}

// TestOutboxSettlesADeliveryDoneAsItStops: a message its handler accepted
// just as the dispatcher stops is settled, not delivered again after its
// deadline; the message the pass never reached goes back unattempted.
func TestOutboxSettlesADeliveryDoneAsItStops(t *testing.T) {
	store, sent, delivered := dispatchStopping(t, func(context.Context) error { return nil })
	n, err := store.Database().Collection(CollectionOutbox).CountDocuments(context.Background(), bson.D{{Key: "_id", Value: mongostore.UUIDValue(delivered)}})
	if err != nil || n != 0 {
		t.Errorf("the accepted message is still queued (%d, %v), want it settled", n, err)
	}
	for _, id := range sent {
		if id == delivered {
			continue
		}
		if m := outboxMessage(t, store, id); m.State != stateReady || m.Attempts != 0 {
			t.Errorf("message not reached: %s with %d attempts, want %s with 0", m.State, m.Attempts, stateReady)
		}
	}
}
