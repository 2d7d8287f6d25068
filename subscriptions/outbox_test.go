package subscriptions

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/bson"

	"github.com/annalsdb/annals/mongostore"
	"github.com/annalsdb/annals/projections"
)

// outboxStore opens a memory: store with its outbox collection, closed
// when the test ends.
func outboxStore(t *testing.T) *mongostore.Store {
	t.Helper()
	ctx := context.Background()
	store, err := mongostore.Open(ctx, "memory:")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close(context.Background()) })
	if err := store.EnsureCollection(ctx, CollectionOutbox); err != nil {
		t.Fatal(err)
	}
	return store
}

// drain runs dispatch passes until one takes nothing, so that any due
// message has been delivered (or failed) when it returns.
func drain(t *testing.T, d *Dispatcher) {
	t.Helper()
	for range 1000 {
		n, err := d.dispatch(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
	}
	t.Fatal("the outbox never emptied")
}

// TestOutboxFollowsTheHandlersBatch: a message a projection handler
// enqueues is sent if its batch commits and never if it rolls back.
func TestOutboxFollowsTheHandlersBatch(t *testing.T) {
	ctx := context.Background()
	store := outboxStore(t)
	mail := projections.New("mail", []string{"Ordered", "Broken"}, func(ctx context.Context, _ *projections.Tx, ev mongostore.Event) error {
		if err := Enqueue(ctx, store, OutboxMessage{ID: ev.ID, Topic: "email", Payload: bson.D{{Key: "event", Value: ev.Name}}}); err != nil {
			return err
		}
		if ev.Name == "Broken" {
			return errors.New("the template is missing")
		}
		return nil
	})
	runner := projections.NewRunner(store, mail)
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- runner.Run(rctx) }()
	defer func() { stop(); <-done }()

	var mu sync.Mutex
	sent := map[uuid.UUID]int{}
	d := NewDispatcher(store)
	d.Handle("email", func(_ context.Context, m Delivered) error {
		mu.Lock()
		defer mu.Unlock()
		sent[m.ID]++
		return nil
	})
	ok := appendEvents(t, store, uuid.New(), "", "Ordered", "Ordered")
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		st, err := runner.Status(ctx, "mail")
		if err == nil && st.Behind == 0 && st.LastEvent != nil && st.LastEvent.ID == ok[1] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the projection did not apply the events: %+v (%v)", st, err)
		}
	}
	broken := appendEvents(t, store, uuid.New(), "", "Broken")
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		st, err := runner.Status(ctx, "mail")
		if err == nil && st.State == projections.StateFailed {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the projection did not fail: %+v (%v)", st, err)
		}
	}
	drain(t, d)
	mu.Lock()
	defer mu.Unlock()
	for _, id := range ok {
		if sent[id] != 1 {
			t.Errorf("message of a committed batch sent %d times, want 1", sent[id])
		}
	}
	if sent[broken[0]] != 0 {
		t.Errorf("message of a rolled-back batch sent %d times", sent[broken[0]])
	}
	if n, _ := store.Database().Collection(CollectionOutbox).CountDocuments(ctx, bson.D{}); n != 0 {
		t.Errorf("%d messages left in the outbox", n)
	}
}

// TestOutboxRetriesParksAndRedelivers: a failing delivery is retried
// after its backoff and parked after MaxAttempts; replaying delivers it; a
// delivery cut off by a crash goes out again after its ack timeout; a
// message id enqueued twice is sent once.
func TestOutboxRetriesParksAndRedelivers(t *testing.T) {
	ctx := context.Background()
	store := outboxStore(t)
	clk := &clock{}
	d := NewDispatcher(store)
	d.clock = clk.now
	d.Settings = Settings{MaxAttempts: 3, MinBackoff: time.Minute, MaxBackoff: time.Hour, AckTimeout: time.Minute}
	fail := true
	attempts := map[uuid.UUID][]int{}
	d.Handle("pay", func(_ context.Context, m Delivered) error {
		attempts[m.ID] = append(attempts[m.ID], m.Attempt)
		if fail {
			return errors.New("payment API down")
		}
		return nil
	})
	id := uuid.New()
	for range 2 {
		if err := Enqueue(ctx, store, OutboxMessage{ID: id, Topic: "pay", Payload: map[string]any{"amount": 10}}); err != nil {
			t.Fatal(err)
		}
	}
	drain(t, d)
	drain(t, d) // within the backoff: nothing
	if got := attempts[id]; len(got) != 1 {
		t.Fatalf("attempts before the backoff: %v, want [1]", got)
	}
	for range 3 {
		clk.advance(time.Hour)
		drain(t, d)
	}
	if got := attempts[id]; len(got) != 3 {
		t.Fatalf("attempts: %v, want 3 before parking", got)
	}
	parked, err := d.Parked(ctx, "pay", 0)
	if err != nil || len(parked) != 1 || parked[0].ID != id || parked[0].Reason != "payment API down" {
		t.Fatalf("parked: %+v (%v)", parked, err)
	}
	fail = false
	if n, err := d.Replay(ctx, "pay"); err != nil || n != 1 {
		t.Fatalf("replay: %d (%v)", n, err)
	}
	drain(t, d)
	if got := attempts[id]; len(got) != 4 || got[3] != 1 {
		t.Fatalf("after replay: attempts %v, want a fourth delivery, attempt 1", got)
	}
	if parked, _ := d.Parked(ctx, "", 0); len(parked) != 0 {
		t.Errorf("still parked: %+v", parked)
	}

	// A dispatcher that dies while delivering: the message goes out again
	// once its deadline passes.
	cut := uuid.New()
	if err := Enqueue(ctx, store, OutboxMessage{ID: cut, Topic: "pay"}); err != nil {
		t.Fatal(err)
	}
	dead := NewDispatcher(store)
	dead.clock = clk.now
	dead.Settings = d.Settings
	dctx, kill := context.WithCancel(ctx)
	dead.Handle("pay", func(ctx context.Context, m Delivered) error { kill(); <-ctx.Done(); return ctx.Err() })
	if _, err := dead.dispatch(dctx); err != nil {
		t.Fatal(err)
	}
	drain(t, d)
	if len(attempts[cut]) != 0 {
		t.Fatal("delivered again before the deadline")
	}
	clk.advance(2 * time.Minute)
	drain(t, d)
	if got := attempts[cut]; len(got) != 1 || got[0] != 2 {
		t.Errorf("after the deadline: attempts %v, want [2]", got)
	}
}

// TestOutboxWebhook: a topic routed to a webhook is POSTed, signed, with
// the message id as webhook-id; a webhook that is private, or whose
// request timeout is not shorter than the ack timeout, is refused.
func TestOutboxWebhook(t *testing.T) {
	ctx := context.Background()
	store := outboxStore(t)
	secret, err := newSecret()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		verify(t, secret, r, body)
		got = append(got, r.Header.Get("webhook-id"))
	}))
	defer receiver.Close()
	d := NewDispatcher(store)
	if err := d.Webhook(ctx, "notify", Webhook{URL: receiver.URL, Secret: secret}); !errors.Is(err, ErrInvalid) {
		t.Errorf("loopback webhook: got %v, want ErrInvalid", err)
	}
	d.AllowPrivateWebhooks = true
	d.Settings.AckTimeout = 5 * time.Second
	if err := d.Webhook(ctx, "notify", Webhook{URL: receiver.URL, Secret: secret}); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "ack_timeout") {
		t.Errorf("an ack timeout within the default request timeout: got %v, want ErrInvalid about ack_timeout", err)
	}
	d.Settings.AckTimeout = 0
	if err := d.Webhook(ctx, "notify", Webhook{URL: receiver.URL, Secret: secret}); err != nil {
		t.Fatal(err)
	}
	id := uuid.New()
	if err := Enqueue(ctx, store, OutboxMessage{ID: id, Topic: "notify", Payload: map[string]any{"to": "a@example.com"}}); err != nil {
		t.Fatal(err)
	}
	drain(t, d)
	if len(got) != 1 || got[0] != id.String() {
		t.Errorf("webhook got %v, want [%s]", got, id)
	}
}

// TestOutboxWebhookReusesItsConnections: a topic's webhook requests share
// one client, so they reuse a connection rather than open one each, and
// the dispatcher closes it when it stops.
func TestOutboxWebhookReusesItsConnections(t *testing.T) {
	ctx := context.Background()
	store := outboxStore(t)
	secret, err := newSecret()
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	opened := 0
	closed := make(chan struct{}, 100)
	receiver := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	receiver.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		switch state {
		case http.StateNew:
			mu.Lock()
			opened++
			mu.Unlock()
		case http.StateClosed:
			closed <- struct{}{}
		}
	}
	receiver.Start()
	defer receiver.Close()
	d := NewDispatcher(store)
	d.AllowPrivateWebhooks = true
	if err := d.Webhook(ctx, "notify", Webhook{URL: receiver.URL, Secret: secret}); err != nil {
		t.Fatal(err)
	}
	const n = 5
	for range n {
		if err := Enqueue(ctx, store, OutboxMessage{Topic: "notify"}); err != nil {
			t.Fatal(err)
		}
	}
	drain(t, d)
	if left, _ := store.Database().Collection(CollectionOutbox).CountDocuments(ctx, bson.D{}); left != 0 {
		t.Fatalf("%d of %d messages not delivered", left, n)
	}
	mu.Lock()
	if opened != 1 {
		t.Errorf("%d messages opened %d connections, want 1", n, opened)
	}
	mu.Unlock()
	stopped, stop := context.WithCancel(ctx)
	stop()
	if err := d.Run(stopped); err != nil {
		t.Fatal(err)
	}
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Error("the dispatcher stopped with its webhook connection left open")
	}
}

// TestOutboxMessageGoesToOneDispatcherAtATime: a pass's messages share a
// deadline; one the pass reaches too late to deliver within it goes back
// to the queue instead of being delivered while another dispatcher, for
// which its deadline has passed, takes it too.
func TestOutboxMessageGoesToOneDispatcherAtATime(t *testing.T) {
	ctx := context.Background()
	store := outboxStore(t)
	clk := &clock{}
	busy := map[uuid.UUID]string{} // message → the dispatcher delivering it
	delivered := map[uuid.UUID][]int{}
	var other *Dispatcher
	dispatcher := func(name string, slow bool) *Dispatcher {
		d := NewDispatcher(store)
		d.clock = clk.now
		d.Settings = Settings{AckTimeout: time.Minute}
		d.Handle("pay", func(_ context.Context, m Delivered) error {
			if holder, ok := busy[m.ID]; ok {
				t.Errorf("%s got message %s while %s delivers it", name, m.ID, holder)
			}
			busy[m.ID] = name
			defer delete(busy, m.ID)
			delivered[m.ID] = append(delivered[m.ID], m.Attempt)
			if slow {
				// 40 s pass; meanwhile the other dispatcher looks for
				// messages whose deadline has passed.
				clk.advance(40 * time.Second)
				if _, err := other.dispatch(ctx); err != nil {
					t.Error(err)
				}
			}
			return nil
		})
		return d
	}
	slow := dispatcher("slow", true)
	other = dispatcher("other", false)
	var sent []uuid.UUID
	for range 3 {
		id := uuid.New()
		sent = append(sent, id)
		if err := Enqueue(ctx, store, OutboxMessage{ID: id, Topic: "pay"}); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := slow.dispatch(ctx); err != nil || n != 3 {
		t.Fatalf("the slow dispatcher took %d messages (%v), want 3", n, err)
	}
	drain(t, other)
	for _, id := range sent {
		if got := delivered[id]; len(got) != 1 || got[0] != 1 {
			t.Errorf("message %s delivered at attempts %v, want once, at attempt 1", id, got)
		}
	}
}

// TestOutboxQueriesUseIndexes asks the embedded engine how it runs the
// outbox's queries: each walks an index bounded by all it filters on and
// in the order asked for, never the whole outbox, so that a pass and the
// parked listing cost the same however many messages wait.
func TestOutboxQueriesUseIndexes(t *testing.T) {
	ctx := context.Background()
	d := NewDispatcher(outboxStore(t))
	if err := d.ensureSchema(ctx); err != nil {
		t.Fatal(err)
	}
	explainer, ok := d.outbox().(interface {
		Explain(ctx context.Context, filter, sort any) (string, error)
	})
	if !ok {
		t.Fatalf("the embedded outbox collection (%T) cannot explain its plans", d.outbox())
	}
	topics := []string{"email", "pay"}
	now := time.Now()
	cases := []struct {
		name         string
		filter, sort any
		want         string
	}{
		{"due ready messages", dueFilter(topics, now), nil, "IXSCAN topic_1_state_1_visible_at_1"},
		{"in-flight messages past their deadline", expiredFilter(topics, now), nil, "IXSCAN topic_1_state_1_deadline_1"},
		{"parked messages", parkedFilter(""), parkedOrder, "IXSCAN state_1_topic_1__id_1"},
		{"parked messages of a topic", parkedFilter("pay"), parkedOrder, "IXSCAN state_1_topic_1__id_1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := explainer.Explain(ctx, c.filter, c.sort)
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Errorf("plan %q, want %q", got, c.want)
			}
		})
	}
}

// TestOutboxSettingsAreValidated: a Dispatcher refuses settings a
// subscription would refuse, naming each problem, instead of running with
// them.
func TestOutboxSettingsAreValidated(t *testing.T) {
	d := NewDispatcher(outboxStore(t))
	d.Settings = Settings{BatchSize: -1, MaxAttempts: -2, MinBackoff: time.Minute, MaxBackoff: time.Second}
	err := d.Run(context.Background())
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("Run: %v, want ErrInvalid", err)
	}
	for _, want := range []string{"batch_size -1", "max_attempts -2", "backoff bounds"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Run: %v, want it to name %q", err, want)
		}
	}
}
