package subscriptions

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/bson"

	"github.com/annalsdb/annals/mongostore"
	"github.com/annalsdb/annals/projections"
)

func TestDefinitions(t *testing.T) {
	ctx := context.Background()
	svc, _, _ := newService(t, "memory:")
	created, err := svc.Create(ctx, Subscription{Name: "billing", Events: []string{"OrderPlaced"}, Settings: Settings{MaxAttempts: 3}})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := created.Settings, (Settings{BatchSize: DefaultBatchSize, AckTimeout: DefaultAckTimeout, MaxAttempts: 3, MinBackoff: DefaultMinBackoff, MaxBackoff: DefaultMaxBackoff}); got != want {
		t.Errorf("settings: got %+v, want %+v", got, want)
	}
	if _, err := svc.Create(ctx, Subscription{Name: "billing"}); !errors.Is(err, ErrExists) {
		t.Errorf("second create: got %v, want ErrExists", err)
	}
	for name, bad := range map[string]Subscription{
		"empty name":         {},
		"control character":  {Name: "a\nb"},
		"now and a position": {Name: "x", Start: Start{Now: true, After: created.Start.After}, Settings: Settings{BatchSize: -1}},
		"short ack timeout":  {Name: "x", Settings: Settings{AckTimeout: time.Millisecond}},
		"backoff bounds":     {Name: "x", Settings: Settings{MinBackoff: time.Minute, MaxBackoff: time.Second}},
	} {
		if _, err := svc.Create(ctx, bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: got %v, want ErrInvalid", name, err)
		}
	}
	if _, err := svc.Create(ctx, Subscription{Name: "audit"}); err != nil {
		t.Fatal(err)
	}
	list, err := svc.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range list {
		names = append(names, s.Name)
	}
	if want := []string{"audit", "billing"}; !slices.Equal(names, want) {
		t.Errorf("list: got %v, want %v", names, want)
	}
	if err := svc.Delete(ctx, "billing"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Get(ctx, "billing"); !errors.Is(err, ErrNotFound) {
		t.Errorf("get after delete: got %v, want ErrNotFound", err)
	}
	if err := svc.Delete(ctx, "billing"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second delete: got %v, want ErrNotFound", err)
	}
	if _, err := svc.Fetch(ctx, "billing", "c", 1, 0); !errors.Is(err, ErrNotFound) {
		t.Errorf("fetch after delete: got %v, want ErrNotFound", err)
	}
}

// TestFilterOrderAndAck: a subscription gets the events its filter keeps,
// each stream's in version order, and acknowledged events never come back.
func TestFilterOrderAndAck(t *testing.T) {
	ctx := context.Background()
	svc, store, _ := newService(t, "memory:")
	a, b, c := uuid.New(), uuid.New(), uuid.New()
	want := map[uuid.UUID]bool{}
	keep := func(evs []uuid.UUID) {
		for _, id := range evs {
			want[id] = true
		}
	}
	keep(appendEvents(t, store, a, "Order", "OrderPlaced", "OrderPaid", "OrderShipped"))
	keep(appendEvents(t, store, b, "Order", "OrderPlaced", "OrderShipped"))
	appendEvents(t, store, b, "Order", "OrderCancelled") // another name
	appendEvents(t, store, c, "Customer", "OrderPlaced") // another aggregate type
	keep(appendEvents(t, store, a, "Order", "OrderPaid"))
	if _, err := svc.Create(ctx, Subscription{Name: "s", Events: []string{"OrderPlaced", "OrderPaid", "OrderShipped"}, AggregateTypes: []string{"Order"}}); err != nil {
		t.Fatal(err)
	}
	got := fetchN(t, svc, "s", "c1", len(want))
	last := map[uuid.UUID]int64{}
	for _, d := range got {
		if !want[d.Event.ID] {
			t.Errorf("delivered %s %s of stream %s, which the filter drops or was delivered twice", d.Event.Name, d.Event.ID, d.Event.Stream)
		}
		delete(want, d.Event.ID)
		if d.Event.Version <= last[d.Event.Stream] {
			t.Errorf("stream %s: version %d after %d", d.Event.Stream, d.Event.Version, last[d.Event.Stream])
		}
		last[d.Event.Stream] = d.Event.Version
		if d.Attempt != 1 {
			t.Errorf("first delivery: attempt %d", d.Attempt)
		}
	}
	if err := svc.Ack(ctx, "s", "c1", ids(got)...); err != nil {
		t.Fatal(err)
	}
	if more, err := svc.Fetch(ctx, "s", "c1", 0, 200*time.Millisecond); err != nil || len(more) != 0 {
		t.Errorf("after acking everything: %d more (%v)", len(more), err)
	}
	if err := svc.Ack(ctx, "s", "c1", got[0].Event.ID); !errors.Is(err, ErrNotHeld) {
		t.Errorf("second ack: got %v, want ErrNotHeld", err)
	}
}

// TestStartNow: a subscription starting now gets only what is appended
// after it was created.
func TestStartNow(t *testing.T) {
	ctx := context.Background()
	svc, store, _ := newService(t, "memory:")
	s := uuid.New()
	appendEvents(t, store, s, "", "Before")
	time.Sleep(2 * time.Millisecond) // recorded_at has millisecond precision
	if _, err := svc.Create(ctx, Subscription{Name: "now", Start: StartNow}); err != nil {
		t.Fatal(err)
	}
	after := appendEvents(t, store, s, "", "After")
	got := fetchN(t, svc, "now", "c", 1)
	if got[0].Event.ID != after[0] {
		t.Errorf("got %s (%s), want the event appended after creation", got[0].Event.Name, got[0].Event.ID)
	}
	if more, _ := svc.Fetch(ctx, "now", "c", 0, 200*time.Millisecond); len(more) != 0 {
		t.Errorf("%d more events", len(more))
	}
}

// TestCompetingConsumers: while one consumer holds a stream's event, no
// other consumer gets that stream's next events; other streams go to
// whoever asks.
func TestCompetingConsumers(t *testing.T) {
	ctx := context.Background()
	svc, store, _ := newService(t, "memory:")
	if _, err := svc.Create(ctx, Subscription{Name: "s", Settings: Settings{BatchSize: 1}}); err != nil {
		t.Fatal(err)
	}
	a, b := uuid.New(), uuid.New()
	ea := appendEvents(t, store, a, "", "A1", "A2")
	time.Sleep(2 * time.Millisecond)
	eb := appendEvents(t, store, b, "", "B1")
	first := fetchN(t, svc, "s", "c1", 1)
	if first[0].Event.ID != ea[0] {
		t.Fatalf("c1 got %s, want A1", first[0].Event.Name)
	}
	second := fetchN(t, svc, "s", "c2", 1)
	if second[0].Event.ID != eb[0] {
		t.Fatalf("c2 got %s while c1 holds A1, want B1", second[0].Event.Name)
	}
	if more, _ := svc.Fetch(ctx, "s", "c2", 1, 100*time.Millisecond); len(more) != 0 {
		t.Fatalf("c2 got %s while c1 holds A1", more[0].Event.Name)
	}
	if err := svc.Ack(ctx, "s", "c2", first[0].Event.ID); !errors.Is(err, ErrNotHeld) {
		t.Errorf("c2 acking c1's event: got %v, want ErrNotHeld", err)
	}
	if err := svc.Ack(ctx, "s", "c1", first[0].Event.ID); err != nil {
		t.Fatal(err)
	}
	third := fetchN(t, svc, "s", "c2", 1)
	if third[0].Event.ID != ea[1] {
		t.Errorf("after A1's ack c2 got %s, want A2", third[0].Event.Name)
	}
}

// TestCompetingConsumersDeliverEachEventOnceInOrder: consumers racing on
// one subscription together acknowledge every event exactly once, each
// stream's in version order: an event is handed out only after its
// predecessor's ack has been sent, so no two consumers hold events of one
// stream at once.
func TestCompetingConsumersDeliverEachEventOnceInOrder(t *testing.T) {
	ctx := context.Background()
	svc, store, _ := newService(t, "memory:")
	if _, err := svc.Create(ctx, Subscription{Name: "s", Settings: Settings{BatchSize: 7}}); err != nil {
		t.Fatal(err)
	}
	want := map[uuid.UUID]bool{}
	var streams []uuid.UUID
	for range 20 {
		stream := uuid.New()
		streams = append(streams, stream)
		for _, id := range appendEvents(t, store, stream, "", "E1", "E2", "E3", "E4", "E5") {
			want[id] = true
		}
	}
	var mu sync.Mutex
	acking := map[uuid.UUID]int64{} // stream → the last version whose ack was sent
	// inOrder checks a consumer's batch: each stream's events in version
	// order, the first right after the last acknowledged, and notes them
	// as acknowledged before the consumer sends the ack.
	inOrder := func(consumer string, got []Delivery) {
		mu.Lock()
		defer mu.Unlock()
		next := map[uuid.UUID]int64{}
		for _, dl := range got {
			s := dl.Event.Stream
			want, ok := next[s]
			if !ok {
				want = acking[s] + 1
			}
			if dl.Event.Version != want {
				t.Errorf("%s got version %d of stream %s, want version %d", consumer, dl.Event.Version, s, want)
			}
			next[s] = dl.Event.Version + 1
		}
		for s, v := range next {
			acking[s] = v - 1
		}
	}
	type result struct {
		acked []uuid.UUID
		err   error
	}
	results := make(chan result, 4)
	stop := time.Now().Add(30 * time.Second)
	var total atomic.Int64 // acknowledged by all consumers
	for c := range 4 {
		consumer := string(rune('a' + c))
		go func() {
			var r result
			for total.Load() < int64(len(want)) && time.Now().Before(stop) {
				got, err := svc.Fetch(ctx, "s", consumer, 0, 100*time.Millisecond)
				if err != nil {
					r.err = err
					break
				}
				if len(got) == 0 {
					continue
				}
				inOrder(consumer, got)
				if err := svc.Ack(ctx, "s", consumer, ids(got)...); err != nil {
					r.err = err
					break
				}
				r.acked = append(r.acked, ids(got)...)
				total.Add(int64(len(got)))
			}
			results <- r
		}()
	}
	seen := map[uuid.UUID]int{}
	for range 4 {
		r := <-results
		if r.err != nil {
			t.Error(r.err)
		}
		for _, id := range r.acked {
			seen[id]++
		}
	}
	for id := range want {
		if seen[id] != 1 {
			t.Errorf("event %s acknowledged %d times", id, seen[id])
		}
	}
	if len(seen) != len(want) {
		t.Errorf("acknowledged %d distinct events, want %d", len(seen), len(want))
	}
	for _, s := range streams {
		if acking[s] != 5 {
			t.Errorf("stream %s acknowledged up to version %d, want 5", s, acking[s])
		}
	}
}

// TestRedeliveryAfterAckTimeout: an event not acknowledged in time goes
// to the next consumer that asks, and the first consumer's late ack is
// refused.
func TestRedeliveryAfterAckTimeout(t *testing.T) {
	ctx := context.Background()
	svc, store, clk := newService(t, "memory:")
	if _, err := svc.Create(ctx, Subscription{Name: "s", Settings: Settings{AckTimeout: 10 * time.Second}}); err != nil {
		t.Fatal(err)
	}
	id := appendEvents(t, store, uuid.New(), "", "E")[0]
	fetchN(t, svc, "s", "slow", 1)
	if more, _ := svc.Fetch(ctx, "s", "fast", 0, 50*time.Millisecond); len(more) != 0 {
		t.Fatal("delivered again before the ack timeout")
	}
	clk.advance(11 * time.Second)
	again := fetchN(t, svc, "s", "fast", 1)
	if again[0].Event.ID != id || again[0].Attempt != 2 {
		t.Errorf("redelivery: %s attempt %d, want %s attempt 2", again[0].Event.ID, again[0].Attempt, id)
	}
	if err := svc.Ack(ctx, "s", "slow", id); !errors.Is(err, ErrNotHeld) || !slices.Equal(notHeld(err), []uuid.UUID{id}) {
		t.Errorf("late ack: got %v, want ErrNotHeld naming %s", err, id)
	}
	if err := svc.Ack(ctx, "s", "fast", id); err != nil {
		t.Errorf("ack of the redelivery: %v", err)
	}
}

// TestNackRetryParkAndReplay: a retried event waits out its backoff; one
// that uses up its attempts is parked, listed, and delivered again when
// replayed.
func TestNackRetryParkAndReplay(t *testing.T) {
	ctx := context.Background()
	svc, store, clk := newService(t, "memory:")
	if _, err := svc.Create(ctx, Subscription{Name: "s", Settings: Settings{MaxAttempts: 2, MinBackoff: time.Minute, MaxBackoff: time.Hour}}); err != nil {
		t.Fatal(err)
	}
	stream := uuid.New()
	evs := appendEvents(t, store, stream, "", "E1", "E2")
	first := fetchN(t, svc, "s", "c", 2)
	if err := svc.Nack(ctx, "s", "c", Retry, "payment API down", first[0].Event.ID); err != nil {
		t.Fatal(err)
	}
	if err := svc.Nack(ctx, "s", "c", Park, "cannot parse", first[1].Event.ID); err != nil {
		t.Fatal(err)
	}
	if more, _ := svc.Fetch(ctx, "s", "c", 0, 50*time.Millisecond); len(more) != 0 {
		t.Fatalf("%s delivered during its backoff", more[0].Event.Name)
	}
	clk.advance(61 * time.Second)
	retried := fetchN(t, svc, "s", "c", 1)
	if retried[0].Event.ID != evs[0] || retried[0].Attempt != 2 {
		t.Fatalf("after the backoff: %s attempt %d, want E1 attempt 2", retried[0].Event.Name, retried[0].Attempt)
	}
	// Its second attempt times out: it has used up its attempts.
	clk.advance(DefaultAckTimeout + time.Second)
	if more, _ := svc.Fetch(ctx, "s", "c", 0, 50*time.Millisecond); len(more) != 0 {
		t.Fatalf("%s delivered after its last attempt", more[0].Event.Name)
	}
	parked, err := svc.Parked(ctx, "s", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(parked) != 2 || parked[0].Event != evs[0] || parked[1].Event != evs[1] || parked[1].Reason != "cannot parse" {
		t.Fatalf("parked: %+v", parked)
	}
	n, err := svc.Replay(ctx, "s", evs[1])
	if err != nil || n != 1 {
		t.Fatalf("replay: %d (%v)", n, err)
	}
	again := fetchN(t, svc, "s", "c", 1)
	if again[0].Event.ID != evs[1] || again[0].Attempt != 1 {
		t.Errorf("replayed: %s attempt %d, want E2 attempt 1", again[0].Event.Name, again[0].Attempt)
	}
}

// TestRestartDeliversWhatWasNotAcknowledged: the queue and the in-flight
// state survive closing and reopening a file: store.
func TestRestartDeliversWhatWasNotAcknowledged(t *testing.T) {
	ctx := context.Background()
	uri := "file:" + t.TempDir() + "/annals.db"
	open := func() (*Service, *mongostore.Store, func()) {
		store, err := mongostore.Open(ctx, uri)
		if err != nil {
			t.Fatal(err)
		}
		svc := New(store)
		svc.Poll, svc.Refresh = 10*time.Millisecond, 50*time.Millisecond
		stop := run(t, svc)
		return svc, store, func() {
			stop()
			if err := store.Close(ctx); err != nil {
				t.Error(err)
			}
		}
	}
	svc, store, closeFirst := open()
	if _, err := svc.Create(ctx, Subscription{Name: "s", Settings: Settings{AckTimeout: time.Second}}); err != nil {
		closeFirst()
		t.Fatal(err)
	}
	evs := appendEvents(t, store, uuid.New(), "", "E1", "E2", "E3")
	got := fetchN(t, svc, "s", "c", 3)
	if err := svc.Ack(ctx, "s", "c", got[0].Event.ID); err != nil {
		t.Fatal(err)
	}
	closeFirst()

	svc2, _, closeSecond := open()
	defer closeSecond()
	clk := &clock{}
	clk.install(svc2)
	clk.advance(2 * time.Second) // past the ack timeout
	again := fetchN(t, svc2, "s", "c2", 2)
	if !slices.Equal(ids(again), evs[1:]) {
		t.Errorf("after restart: %v, want %v", ids(again), evs[1:])
	}
	for _, d := range again {
		if d.Attempt != 2 {
			t.Errorf("%s: attempt %d, want 2", d.Event.Name, d.Attempt)
		}
	}
}

// TestDeleteDropsTheQueue: deleting a subscription drops its queue and its
// feed; one created again under the same name starts afresh.
func TestDeleteDropsTheQueue(t *testing.T) {
	ctx := context.Background()
	svc, store, _ := newService(t, "memory:")
	if _, err := svc.Create(ctx, Subscription{Name: "s"}); err != nil {
		t.Fatal(err)
	}
	evs := appendEvents(t, store, uuid.New(), "", "E1", "E2")
	fetchN(t, svc, "s", "c", 2)
	if err := svc.Delete(ctx, "s"); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		n, err := svc.messages().CountDocuments(ctx, bson.D{})
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d messages left after delete", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := svc.Create(ctx, Subscription{Name: "s"}); err != nil {
		t.Fatal(err)
	}
	again := fetchN(t, svc, "s", "c", 2)
	if !slices.Equal(ids(again), evs) {
		t.Errorf("recreated: %v, want %v", ids(again), evs)
	}
	for _, d := range again {
		if d.Attempt != 1 {
			t.Errorf("recreated: attempt %d, want 1", d.Attempt)
		}
	}
}

// TestFetchWokenByItsFeed: a fetch waiting on a subscription whose feed
// runs in the same service is woken when the feed queues an event, not
// at its next poll.
func TestFetchWokenByItsFeed(t *testing.T) {
	ctx := context.Background()
	svc, store, _ := newService(t, "memory:")
	svc.Poll = time.Hour
	if _, err := svc.Create(ctx, Subscription{Name: "s"}); err != nil {
		t.Fatal(err)
	}
	got := make(chan []Delivery, 1)
	errs := make(chan error, 1)
	go func() {
		ds, err := svc.Fetch(ctx, "s", "c", 0, time.Minute)
		errs <- err
		got <- ds
	}()
	// Let the fetch find nothing and start waiting (if it has not, the
	// test passes without proving the wake-up; it cannot pass wrongly).
	time.Sleep(200 * time.Millisecond)
	id := appendEvents(t, store, uuid.New(), "", "E")[0]
	select {
	case err := <-errs:
		if ds := <-got; err != nil || len(ds) != 1 || ds[0].Event.ID != id {
			t.Fatalf("fetch: %v (%v), want the appended event", ds, err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the fetch was not woken by its feed (its poll is an hour)")
	}
}

// TestStatus: a subscription's status counts its queue by state and shows
// its feed, and a feed that fails says so.
func TestStatus(t *testing.T) {
	ctx := context.Background()
	svc, store, _ := newService(t, "memory:")
	if _, err := svc.Create(ctx, Subscription{Name: "s"}); err != nil {
		t.Fatal(err)
	}
	appendEvents(t, store, uuid.New(), "", "E1", "E2")
	appendEvents(t, store, uuid.New(), "", "F1")
	got := fetchN(t, svc, "s", "c", 3)
	if err := svc.Nack(ctx, "s", "c", Park, "bad", got[0].Event.ID); err != nil {
		t.Fatal(err)
	}
	if err := svc.Nack(ctx, "s", "c", Retry, "later", got[1].Event.ID); err != nil {
		t.Fatal(err)
	}
	st, err := svc.Status(ctx, "s")
	if err != nil {
		t.Fatal(err)
	}
	if st.Ready != 1 || st.InFlight != 1 || st.Parked != 1 || st.Capped {
		t.Errorf("queue: ready %d, in flight %d, parked %d (capped %v), want 1, 1, 1", st.Ready, st.InFlight, st.Parked, st.Capped)
	}
	if st.Feed.Name == "" || st.Feed.State == projections.StateFailed {
		t.Errorf("feed: %+v", st.Feed)
	}
	if _, err := svc.Status(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("status of an unknown subscription: %v, want ErrNotFound", err)
	}
}
