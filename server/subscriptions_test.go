package server_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/annalsdb/annals/mongostore"
	"github.com/annalsdb/annals/projections"
	"github.com/annalsdb/annals/server"
	"github.com/annalsdb/annals/subscriptions"
	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/bson"
)

// newSubsEnv is newEnv with a subscriptions service, configured by
// configure before it runs, run until the test ends.
func newSubsEnv(t testing.TB, opts server.Options, configure ...func(*subscriptions.Service)) (*env, *subscriptions.Service) {
	t.Helper()
	var svc *subscriptions.Service
	e := newEnvWith(t, opts, func(store *mongostore.Store, o *server.Options) {
		svc = subscriptions.New(store)
		svc.Poll = 10 * time.Millisecond
		svc.Refresh = 50 * time.Millisecond
		svc.Runner = func(r *projections.Runner) { r.LeaseTTL = time.Second }
		for _, f := range configure {
			f(svc)
		}
		o.Subscriptions = svc
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	// Cleanups run last first: this stops the service before newEnv's
	// cleanup closes the store.
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("subscriptions Run: %v", err)
		}
	})
	return e, svc
}

// subscription is a subscription's JSON.
type subscription struct {
	Name           string   `json:"name"`
	Events         []string `json:"events"`
	AggregateTypes []string `json:"aggregate_types"`
	Start          struct {
		Now   bool `json:"now"`
		After *struct {
			RecordedAt    time.Time `json:"recorded_at"`
			AggregateUUID string    `json:"aggregate_uuid"`
			Version       int64     `json:"version"`
		} `json:"after"`
	} `json:"start"`
	Settings struct {
		BatchSize    int   `json:"batch_size"`
		AckTimeoutMS int64 `json:"ack_timeout_ms"`
		MaxAttempts  int   `json:"max_attempts"`
		MinBackoffMS int64 `json:"min_backoff_ms"`
		MaxBackoffMS int64 `json:"max_backoff_ms"`
	} `json:"settings"`
	CreatedAt time.Time `json:"created_at"`
}

// delivery is one fetched event's JSON.
type delivery struct {
	Event struct {
		ID            string `json:"id"`
		AggregateUUID string `json:"aggregate_uuid"`
		Version       int64  `json:"version"`
		Name          string `json:"name"`
		Data          map[string]any
	} `json:"event"`
	Attempt  int       `json:"attempt"`
	Deadline time.Time `json:"deadline"`
}

type parkedList struct {
	Parked []struct {
		EventID       string `json:"event_id"`
		AggregateUUID string `json:"aggregate_uuid"`
		Version       int64  `json:"version"`
		Name          string `json:"name"`
		Attempts      int    `json:"attempts"`
		Reason        string `json:"reason"`
	} `json:"parked"`
}

func subPath(name string, rest ...string) string {
	return "/v1/subscriptions/" + url.PathEscape(name) + strings.Join(rest, "")
}

// fetch fetches a batch and fails unless it is a 200.
func (e *env) fetch(name, consumer string, max int, waitMS int64) []delivery {
	e.t.Helper()
	var out struct {
		Deliveries []delivery `json:"deliveries"`
	}
	e.do(request{method: http.MethodPost, path: subPath(name, "/fetch"),
		body: jsonBody(e.t, map[string]any{"consumer": consumer, "max": max, "wait_ms": waitMS})}).want(e.t, http.StatusOK).decode(e.t, &out)
	return out.Deliveries
}

func (e *env) settle(name, verb string, body map[string]any) response {
	e.t.Helper()
	return e.do(request{method: http.MethodPost, path: subPath(name, "/"+verb), body: jsonBody(e.t, body)})
}

func (e *env) deposit(stream uuid.UUID, amount int64) string {
	e.t.Helper()
	res := e.appendOK(stream, nil, "Account", event{Name: "Deposited", Data: map[string]any{"amount": amount}})
	return res.Events[0].ID
}

func ids(ds []delivery) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.Event.ID
	}
	return out
}

// TestSubscriptionsHTTP drives a consumer group end to end over HTTP:
// create, long-poll fetch, ack, nack (retry and park), parked, replay,
// delete.
func TestSubscriptionsHTTP(t *testing.T) {
	e, _ := newSubsEnv(t, server.Options{})
	const name = "billing"
	var created subscription
	res := e.post("/v1/subscriptions", `{"name": "billing", "events": ["Deposited"], "aggregate_types": ["Account"],
		"settings": {"max_attempts": 3, "min_backoff_ms": 100, "max_backoff_ms": 100}}`).want(t, http.StatusCreated)
	res.decode(t, &created)
	if loc := res.header.Get("Location"); loc != subPath(name) {
		t.Errorf("Location %q, want %q", loc, subPath(name))
	}
	st := created.Settings
	if created.Name != name || !slices.Equal(created.Events, []string{"Deposited"}) || st.BatchSize != subscriptions.DefaultBatchSize ||
		st.AckTimeoutMS != subscriptions.DefaultAckTimeout.Milliseconds() || st.MaxAttempts != 3 || st.MinBackoffMS != 100 || created.CreatedAt.IsZero() {
		t.Errorf("created %+v, want the definition with its defaults filled in", created)
	}
	e.post("/v1/subscriptions", `{"name": "billing"}`).wantProblem(t, http.StatusConflict, "already exists")
	var got subscription
	e.get(subPath(name)).want(t, http.StatusOK).decode(t, &got)
	if got.Name != name || got.Settings != created.Settings {
		t.Errorf("get %+v, want %+v", got, created)
	}
	e.get(subPath("nope")).wantProblem(t, http.StatusNotFound, "not found")

	// Nothing queued: an empty batch, after the wait.
	start := time.Now()
	if got := e.fetch(name, "w1", 10, 200); len(got) != 0 {
		t.Fatalf("fetched %v from an empty subscription", got)
	}
	if waited := time.Since(start); waited < 200*time.Millisecond {
		t.Errorf("an empty fetch with wait_ms 200 answered after %s; it must wait", waited)
	}

	// A long-poll waiting when the events are appended gets them.
	polled := make(chan []delivery, 1)
	go func() { polled <- e.with(t).fetch(name, "w1", 10, 20000) }()
	a, b, c := uuid.New(), uuid.New(), uuid.New()
	e.appendOK(a, nil, "Account", event{Name: "AccountOpened", Data: map[string]any{"owner": "a"}})
	idA, idB := e.deposit(a, 1), e.deposit(b, 2)
	first := <-polled
	for len(first) < 2 { // the feed may queue the two in separate batches
		first = append(first, e.fetch(name, "w1", 10, 5000)...)
	}
	// Two streams: no order between them (events recorded in the same
	// millisecond come in stream id order).
	if got := ids(first); !slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values([]string{idA, idB}))) {
		t.Fatalf("fetched %v, want %v (the Deposited events)", got, []string{idA, idB})
	}
	if first[0].Event.AggregateUUID != a.String() {
		first[0], first[1] = first[1], first[0]
	}
	if d := first[0]; d.Attempt != 1 || d.Deadline.IsZero() || d.Event.Name != "Deposited" || d.Event.AggregateUUID != a.String() || d.Event.Version != 2 {
		t.Errorf("delivery %+v, want attempt 1 of Deposited, a's version 2, with a deadline", d)
	}

	// Ack one; a second ack of it is not held.
	e.settle(name, "ack", map[string]any{"consumer": "w1", "event_ids": []string{idA}}).want(t, http.StatusNoContent)
	res = e.settle(name, "ack", map[string]any{"consumer": "w1", "event_ids": []string{idA}})
	res.wantProblem(t, http.StatusConflict, "not held")
	var nh struct {
		Type     string   `json:"type"`
		EventIDs []string `json:"event_ids"`
	}
	res.decode(t, &nh)
	if nh.Type != "https://annals.dev/problems/not-held" || !slices.Equal(nh.EventIDs, []string{idA}) {
		t.Errorf("problem %s, want not-held naming %s", res.body, idA)
	}
	// Another consumer cannot ack what w1 holds.
	e.settle(name, "ack", map[string]any{"consumer": "w2", "event_ids": []string{idB}}).wantProblem(t, http.StatusConflict, "not held")

	// Park b's deposit, then a retry nack of a new one comes back.
	e.settle(name, "nack", map[string]any{"consumer": "w1", "event_ids": []string{idB}, "action": "park", "reason": "bad amount"}).want(t, http.StatusNoContent)
	idC := e.deposit(c, 3)
	got1 := e.fetch(name, "w2", 10, 10000)
	if !slices.Equal(ids(got1), []string{idC}) {
		t.Fatalf("fetched %v, want %v", ids(got1), idC)
	}
	e.settle(name, "nack", map[string]any{"consumer": "w2", "event_ids": []string{idC}, "action": "retry"}).want(t, http.StatusNoContent)
	again := e.fetch(name, "w3", 10, 10000)
	if len(again) != 1 || again[0].Event.ID != idC || again[0].Attempt != 2 {
		t.Fatalf("after a retry nack fetched %+v, want %s at attempt 2", again, idC)
	}
	e.settle(name, "ack", map[string]any{"consumer": "w3", "event_ids": []string{idC}}).want(t, http.StatusNoContent)

	var parked parkedList
	e.get(subPath(name, "/parked")).want(t, http.StatusOK).decode(t, &parked)
	if len(parked.Parked) != 1 || parked.Parked[0].EventID != idB || parked.Parked[0].Reason != "bad amount" ||
		parked.Parked[0].AggregateUUID != b.String() || parked.Parked[0].Attempts != 1 || parked.Parked[0].Name != "Deposited" {
		t.Fatalf("parked %+v, want %s with its reason", parked, idB)
	}
	var replayed struct {
		Replayed int64 `json:"replayed"`
	}
	e.post(subPath(name, "/parked/replay"), `{}`).want(t, http.StatusOK).decode(t, &replayed)
	if replayed.Replayed != 1 {
		t.Errorf("replayed %d, want 1", replayed.Replayed)
	}
	back := e.fetch(name, "w1", 10, 10000)
	if len(back) != 1 || back[0].Event.ID != idB || back[0].Attempt != 1 {
		t.Fatalf("after replay fetched %+v, want %s at attempt 1", back, idB)
	}
	e.settle(name, "ack", map[string]any{"consumer": "w1", "event_ids": []string{idB}}).want(t, http.StatusNoContent)
	e.get(subPath(name, "/parked")).want(t, http.StatusOK).decode(t, &parked)
	if len(parked.Parked) != 0 {
		t.Errorf("parked after replay and ack: %+v", parked)
	}

	// Five deliveries (a, b, c, c again, b replayed); settled: three acks
	// (refused ones not counted), one retry, one park.
	metrics := string(e.get("/metrics").want(t, http.StatusOK).body)
	for _, want := range []string{
		"annals_subscription_delivered_events_total 5",
		`annals_subscription_settled_events_total{result="ack"} 3`,
		`annals_subscription_settled_events_total{result="retry"} 1`,
		`annals_subscription_settled_events_total{result="park"} 1`,
	} {
		if !strings.Contains(metrics, want+"\n") {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	var list struct {
		Subscriptions []subscription `json:"subscriptions"`
	}
	e.get("/v1/subscriptions").want(t, http.StatusOK).decode(t, &list)
	if len(list.Subscriptions) != 1 || list.Subscriptions[0].Name != name {
		t.Errorf("list %+v, want billing", list)
	}
	e.do(request{method: http.MethodDelete, path: subPath(name)}).want(t, http.StatusNoContent)
	e.get(subPath(name)).wantProblem(t, http.StatusNotFound, "not found")
	e.do(request{method: http.MethodDelete, path: subPath(name)}).wantProblem(t, http.StatusNotFound, "not found")
	e.post(subPath(name, "/fetch"), `{"consumer": "w1"}`).wantProblem(t, http.StatusNotFound, "not found")
}

// TestSubscriptionsStart: start now skips what is stored; start after a
// position delivers what follows it; a name holding '/' is reached as
// %2F.
func TestSubscriptionsStart(t *testing.T) {
	e, _ := newSubsEnv(t, server.Options{})
	s := uuid.New()
	first := e.appendOK(s, nil, "Account", event{Name: "Deposited"}, event{Name: "Deposited"})
	// Start now begins at the millisecond the subscription is created in
	// (recorded_at holds no finer time) and delivers what was recorded in
	// it: let the clock leave the one the first events were recorded in.
	for !time.Now().UTC().Truncate(time.Millisecond).After(first.RecordedAt) {
		runtime.Gosched()
	}
	after := map[string]any{"recorded_at": first.RecordedAt, "aggregate_uuid": s.String(), "version": 1}
	e.do(request{method: http.MethodPost, path: "/v1/subscriptions", body: jsonBody(t, map[string]any{"name": "team/after", "start": map[string]any{"after": after}})}).want(t, http.StatusCreated)
	e.post("/v1/subscriptions", `{"name": "now", "start": {"now": true}}`).want(t, http.StatusCreated)
	var v subscription
	e.get(subPath("team/after")).want(t, http.StatusOK).decode(t, &v)
	if v.Start.After == nil || v.Start.After.AggregateUUID != s.String() || v.Start.After.Version != 1 || !v.Start.After.RecordedAt.Equal(first.RecordedAt) {
		t.Errorf("start %+v, want after %s v1", v.Start, s)
	}
	later := e.appendOK(s, nil, "", event{Name: "Deposited"})
	if got := e.fetch("team/after", "w", 10, 10000); len(got) == 0 || got[0].Event.ID != first.Events[1].ID {
		t.Errorf("after v1 fetched %v, want %s first", ids(got), first.Events[1].ID)
	}
	if got := e.fetch("now", "w", 10, 10000); !slices.Equal(ids(got), []string{later.Events[0].ID}) {
		t.Errorf("start now fetched %v, want only %s", ids(got), later.Events[0].ID)
	}
}

// TestSubscriptionsAuth: fetch, ack, nack, create, delete and replay need
// a read-write token; a read-only one may list, get and see parked.
func TestSubscriptionsAuth(t *testing.T) {
	const writer, reader = "w-token", "r-token"
	e, svc := newSubsEnv(t, server.Options{Tokens: []server.Token{{Secret: writer}, {Secret: reader, Access: server.ReadOnly}}})
	e.token = writer
	e.post("/v1/subscriptions", `{"name": "s"}`).want(t, http.StatusCreated)
	id := uuid.NewString()
	writes := []request{
		{method: http.MethodPost, path: "/v1/subscriptions", body: strings.NewReader(`{"name": "t"}`)},
		{method: http.MethodDelete, path: subPath("s")},
		{method: http.MethodPost, path: subPath("s", "/fetch"), body: strings.NewReader(`{"consumer": "c"}`)},
		{method: http.MethodPost, path: subPath("s", "/ack"), body: strings.NewReader(`{"consumer": "c", "event_ids": ["` + id + `"]}`)},
		{method: http.MethodPost, path: subPath("s", "/nack"), body: strings.NewReader(`{"consumer": "c", "event_ids": ["` + id + `"], "action": "park"}`)},
		{method: http.MethodPost, path: subPath("s", "/parked/replay"), body: strings.NewReader(`{}`)},
	}
	reads := []string{"/v1/subscriptions", subPath("s"), subPath("s", "/parked")}
	e.token = reader
	for _, r := range writes {
		t.Run("read-only "+r.method+" "+r.path, func(t *testing.T) {
			e.with(t).do(r).wantProblem(t, http.StatusForbidden, "read-only")
		})
	}
	for _, p := range reads {
		t.Run("read-only GET "+p, func(t *testing.T) { e.with(t).get(p).want(t, http.StatusOK) })
	}
	e.token = ""
	for _, p := range reads {
		t.Run("no token GET "+p, func(t *testing.T) { e.with(t).get(p).wantProblem(t, http.StatusUnauthorized, "bearer token") })
	}
	subs, err := svc.List(context.Background())
	if err != nil || len(subs) != 1 || subs[0].Name != "s" {
		t.Errorf("subscriptions after refused writes: %+v, %v; want s only", subs, err)
	}
}

// TestSubscriptionsBadInput: every malformed request is 400 and changes
// nothing.
func TestSubscriptionsBadInput(t *testing.T) {
	e, svc := newSubsEnv(t, server.Options{})
	e.post("/v1/subscriptions", `{"name": "s", "settings": {"ack_timeout_ms": 60000}}`).want(t, http.StatusCreated)
	stream := uuid.New()
	id := e.deposit(stream, 1)
	held := e.fetch("s", "c", 10, 10000)
	if len(held) != 1 || held[0].Event.ID != id {
		t.Fatalf("fetched %v, want %s", ids(held), id)
	}
	long := strings.Repeat("x", 101)
	creates := map[string]string{
		"malformed":                   `{"name": "x"`,
		"an unknown field":            `{"name": "x", "filter": []}`,
		"a field in another case":     `{"Name": "x"}`,
		"a duplicate key":             `{"name": "x", "name": "y"}`,
		"an unknown settings field":   `{"name": "x", "settings": {"ack_timeout": 5}}`,
		"an unknown start field":      `{"name": "x", "start": {"from": "now"}}`,
		"an unknown position field":   `{"name": "x", "start": {"after": {"position": 1}}}`,
		"no name":                     `{"events": ["A"]}`,
		"a long name":                 `{"name": "` + long + `"}`,
		"an empty event name":         `{"name": "x", "events": [""]}`,
		"now and after":               `{"name": "x", "start": {"now": true, "after": {"recorded_at": "2026-01-01T00:00:00Z", "version": 1}}}`,
		"a bad start stream":          `{"name": "x", "start": {"after": {"aggregate_uuid": "nope", "version": 1}}}`,
		"a negative batch size":       `{"name": "x", "settings": {"batch_size": -1}}`,
		"a fractional batch size":     `{"name": "x", "settings": {"batch_size": 1.5}}`,
		"a short ack timeout":         `{"name": "x", "settings": {"ack_timeout_ms": 5}}`,
		"an ack timeout beyond range": `{"name": "x", "settings": {"ack_timeout_ms": 9223372036854775807}}`,
		"decreasing backoff":          `{"name": "x", "settings": {"min_backoff_ms": 2000, "max_backoff_ms": 1000}}`,
		"a reserved name":             `{"name": "subscription-feed.x"}`,
	}
	for name, body := range creates {
		t.Run("create "+name, func(t *testing.T) {
			e.with(t).post("/v1/subscriptions", body).wantProblem(t, http.StatusBadRequest, "")
		})
	}
	t.Run("create without JSON", func(t *testing.T) {
		e.with(t).do(request{method: http.MethodPost, path: "/v1/subscriptions", body: strings.NewReader(`{"name": "x"}`), contentType: "text/plain"}).
			wantProblem(t, http.StatusUnsupportedMediaType, "application/json")
	})
	calls := []struct{ name, path, body string }{
		{"fetch without consumer", "/fetch", `{}`},
		{"fetch with a negative max", "/fetch", `{"consumer": "c", "max": -1}`},
		{"fetch waiting too long", "/fetch", `{"consumer": "c", "wait_ms": 30001}`},
		{"fetch with an unknown field", "/fetch", `{"consumer": "c", "wait": 5}`},
		{"ack without events", "/ack", `{"consumer": "c", "event_ids": []}`},
		{"ack with a bad id", "/ack", `{"consumer": "c", "event_ids": ["` + id + `", "nope"]}`},
		{"ack with an action", "/ack", `{"consumer": "c", "event_ids": ["` + id + `"], "action": "park"}`},
		{"nack without action", "/nack", `{"consumer": "c", "event_ids": ["` + id + `"]}`},
		{"nack with an unknown action", "/nack", `{"consumer": "c", "event_ids": ["` + id + `"], "action": "later"}`},
		{"nack with a long reason", "/nack", `{"consumer": "c", "event_ids": ["` + id + `"], "action": "park", "reason": "` + strings.Repeat("r", 1001) + `"}`},
		{"nack with a consumer holding a control character", "/nack", `{"consumer": "c\u0007", "event_ids": ["` + id + `"], "action": "park"}`},
		{"replay with a bad id", "/parked/replay", `{"event_ids": ["nope"]}`},
		{"replay with data after the body", "/parked/replay", `{} {}`},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			e.with(t).post(subPath("s", c.path), c.body).wantProblem(t, http.StatusBadRequest, "")
		})
	}
	t.Run("parked with a bad limit", func(t *testing.T) {
		e.with(t).get(subPath("s", "/parked?limit=0")).wantProblem(t, http.StatusBadRequest, "limit")
		e.with(t).get(subPath("s", "/parked?from=1")).wantProblem(t, http.StatusBadRequest, "unknown query parameter")
	})

	subs, err := svc.List(context.Background())
	if err != nil || len(subs) != 1 {
		t.Fatalf("subscriptions after refused creates: %+v, %v; want s only", subs, err)
	}
	var parked parkedList
	e.get(subPath("s", "/parked")).want(t, http.StatusOK).decode(t, &parked)
	if len(parked.Parked) != 0 {
		t.Errorf("refused requests parked %+v", parked)
	}
	// The event is still held by c: none of the refused calls settled it.
	e.settle("s", "ack", map[string]any{"consumer": "c", "event_ids": []string{id}}).want(t, http.StatusNoContent)
	n, err := e.store.Database().Collection(subscriptions.CollectionMessages).CountDocuments(context.Background(), bson.D{})
	if err != nil || n != 0 {
		t.Errorf("%d queued messages after the ack (%v), want 0", n, err)
	}
}

// TestSubscriptionsShutdownEndsFetch: CloseLiveFeeds ends a waiting fetch
// at once with 503 and Retry-After (it took nothing), and a server without
// subscriptions answers 404.
func TestSubscriptionsShutdownEndsFetch(t *testing.T) {
	e, _ := newSubsEnv(t, server.Options{})
	e.post("/v1/subscriptions", `{"name": "s"}`).want(t, http.StatusCreated)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	type result struct {
		status int
		body   string
		err    error
	}
	done := make(chan result, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, e.http.URL+subPath("s", "/fetch"), strings.NewReader(`{"consumer": "c", "wait_ms": 30000}`))
		req.Header.Set("Content-Type", "application/json")
		resp, err := e.http.Client().Do(req)
		if err != nil {
			done <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		done <- result{status: resp.StatusCode, body: string(b) + " Retry-After: " + resp.Header.Get("Retry-After"), err: err}
	}()
	e.srv.CloseLiveFeeds()
	r := <-done
	if r.err != nil || r.status != http.StatusServiceUnavailable || !strings.Contains(r.body, "Retry-After: 1") {
		t.Fatalf("a fetch waiting at shutdown: status %d, body %s, %v; want 503 with Retry-After before the client's 10 s timeout", r.status, r.body, r.err)
	}

	plain := newEnv(t, server.Options{})
	plain.get("/v1/subscriptions").wantProblem(t, http.StatusNotFound, "does not serve subscriptions")
}

// TestSubscriptionsFetchWokenByFeed: a long-polling fetch on the server
// that runs the subscription's feed gets an event appended while it waits
// without waiting for its poll interval (here an hour).
func TestSubscriptionsFetchWokenByFeed(t *testing.T) {
	e, _ := newSubsEnv(t, server.Options{}, func(svc *subscriptions.Service) { svc.Poll = time.Hour })
	e.post("/v1/subscriptions", `{"name": "woken"}`).want(t, http.StatusCreated)
	polled := make(chan []delivery, 1)
	go func() { polled <- e.with(t).fetch("woken", "w", 10, 20000) }()
	// Let the fetch find nothing and start waiting (if it has not, the
	// test passes without proving the wake-up; it cannot pass wrongly).
	time.Sleep(200 * time.Millisecond)
	stream := uuid.New()
	e.appendOK(stream, nil, "", event{Name: "Noted"})
	select {
	case got := <-polled:
		if len(got) != 1 || got[0].Event.AggregateUUID != stream.String() {
			t.Fatalf("fetched %v, want the event appended during the wait", got)
		}
	case <-time.After(10 * time.Second): // the fetch waits 20 s unless woken
		t.Fatal("the fetch was not woken by its feed")
	}
}

// TestSubscriptionStatusHTTP: the status endpoint counts the queue by
// state and shows the feed.
func TestSubscriptionStatusHTTP(t *testing.T) {
	e, _ := newSubsEnv(t, server.Options{})
	e.post("/v1/subscriptions", `{"name": "st"}`).want(t, http.StatusCreated)
	e.appendOK(uuid.New(), nil, "", event{Name: "A"})
	e.appendOK(uuid.New(), nil, "", event{Name: "B"})
	var got []delivery
	for deadline := time.Now().Add(20 * time.Second); len(got) < 2 && time.Now().Before(deadline); {
		got = append(got, e.fetch("st", "w", 10, 1000)...)
	}
	if len(got) != 2 {
		t.Fatalf("fetched %d events, want 2", len(got))
	}
	e.settle("st", "nack", map[string]any{"consumer": "w", "event_ids": []string{got[0].Event.ID}, "action": "park", "reason": "x"}).want(t, http.StatusNoContent)
	var st server.SubscriptionStatusView
	e.get(subPath("st", "/status")).want(t, http.StatusOK).decode(t, &st)
	if st.Parked != 1 || st.InFlight != 1 || st.Ready != 0 || st.FeedState == "" || st.FeedState == "failed" {
		t.Errorf("status %+v, want 1 parked, 1 in flight, a working feed", st)
	}
	e.get(subPath("nope", "/status")).wantProblem(t, http.StatusNotFound, "not found")
}
