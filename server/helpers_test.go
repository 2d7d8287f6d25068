package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/annalsdb/annals/mongostore"
	"github.com/annalsdb/annals/projections"
	"github.com/annalsdb/annals/server"
	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo/options"
)

// The test domain: bank accounts. The accounts projection keeps one
// document per account in "accounts" (owner, tier, balance, opened) and
// one per movement in "ledger".

const (
	accountsProjection = "accounts"
	fragileProjection  = "fragile"
	poisonEvent        = "Poison"
)

func accountsHandler(ctx context.Context, tx *projections.Tx, ev mongostore.Event) error {
	id := ev.Stream.String() // the embedded engine cannot update binary _ids
	switch ev.Name {
	case "AccountOpened":
		var d struct {
			Owner string `bson:"owner"`
			Tier  int64  `bson:"tier"`
		}
		if err := ev.Decode(&d); err != nil {
			return err
		}
		_, err := tx.Collection("accounts").InsertOne(ctx, bson.D{
			{Key: "_id", Value: id}, {Key: "owner", Value: d.Owner}, {Key: "tier", Value: d.Tier},
			{Key: "balance", Value: int64(0)}, {Key: "opened", Value: ev.RecordedAt},
		})
		return err
	case "Deposited":
		var d struct {
			Amount int64 `bson:"amount"`
		}
		if err := ev.Decode(&d); err != nil {
			return err
		}
		res, err := tx.Collection("accounts").UpdateOne(ctx, bson.D{{Key: "_id", Value: id}},
			bson.D{{Key: "$inc", Value: bson.D{{Key: "balance", Value: d.Amount}}}})
		if err != nil {
			return err
		}
		if res.MatchedCount == 0 {
			return fmt.Errorf("deposit to unopened account %s", id)
		}
		_, err = tx.Collection("ledger").InsertOne(ctx, bson.D{
			{Key: "_id", Value: ev.ID.String()}, {Key: "account", Value: id}, {Key: "amount", Value: d.Amount},
		})
		return err
	}
	return fmt.Errorf("unexpected event %s", ev.Name)
}

func accounts() *projections.Projection {
	p := projections.New(accountsProjection, []string{"AccountOpened", "Deposited"}, accountsHandler)
	p.Collections = []string{"accounts", "ledger"}
	return p
}

// fragile fails on every Poison event.
func fragile() *projections.Projection {
	return projections.New(fragileProjection, []string{poisonEvent},
		func(context.Context, *projections.Tx, mongostore.Event) error {
			return errors.New("poisoned")
		})
}

// env is a server over the embedded engine with the built-in projections,
// the accounts projection and any extra ones, all running.
type env struct {
	t      testing.TB
	store  *mongostore.Store
	runner *projections.Runner
	srv    *server.Server
	http   *httptest.Server
	// token is sent as the bearer token when set.
	token string
}

func newEnv(t testing.TB, opts server.Options, extra ...*projections.Projection) *env {
	t.Helper()
	return newEnvWith(t, opts, nil, extra...)
}

// newEnvWith is newEnv with configure, when not nil, called with the
// store before the server is built.
func newEnvWith(t testing.TB, opts server.Options, configure func(*mongostore.Store, *server.Options), extra ...*projections.Projection) *env {
	t.Helper()
	ctx := context.Background()
	store, err := mongostore.Open(ctx, "memory:")
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	if configure != nil {
		configure(store, &opts)
	}
	ps := append([]*projections.Projection{projections.Streams(), projections.EventCounts(), accounts()}, extra...)
	runner := projections.NewRunner(store, ps...)
	runner.LeaseTTL = 300 * time.Millisecond
	runner.MinBackoff, runner.MaxBackoff = 10*time.Millisecond, 100*time.Millisecond
	srv, err := server.New(store, runner, opts)
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- runner.Run(runCtx) }()
	hs := httptest.NewServer(srv)
	t.Cleanup(func() {
		hs.CloseClientConnections()
		// Close waits for every handler; a stuck one must fail the test,
		// not hang it.
		closed := make(chan struct{})
		go func() { hs.Close(); close(closed) }()
		select {
		case <-closed:
		case <-time.After(15 * time.Second):
			t.Errorf("the HTTP server did not close: a handler is stuck")
			cancel()
			return
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("runner.Run: %v", err)
		}
		if err := store.Close(context.Background()); err != nil {
			t.Errorf("store.Close: %v", err)
		}
	})
	return &env{t: t, store: store, runner: runner, srv: srv, http: hs}
}

// response is a finished HTTP exchange.
type response struct {
	status int
	header http.Header
	body   []byte
}

// request is what do sends.
type request struct {
	method string
	path   string
	body   io.Reader
	// contentType defaults to application/json when there is a body;
	// "-" sends none.
	contentType string
	header      map[string]string
}

func (e *env) do(r request) response {
	e.t.Helper()
	req, err := http.NewRequest(r.method, e.http.URL+r.path, r.body)
	if err != nil {
		e.t.Fatalf("%s %s: %v", r.method, r.path, err)
	}
	switch {
	case r.contentType == "-":
	case r.contentType != "":
		req.Header.Set("Content-Type", r.contentType)
	case r.body != nil:
		req.Header.Set("Content-Type", "application/json")
	}
	if e.token != "" {
		req.Header.Set("Authorization", "Bearer "+e.token)
	}
	for k, v := range r.header {
		req.Header.Set(k, v)
	}
	res, err := e.http.Client().Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", r.method, r.path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatalf("%s %s: read body: %v", r.method, r.path, err)
	}
	return response{status: res.StatusCode, header: res.Header, body: b}
}

func (e *env) get(path string) response {
	e.t.Helper()
	return e.do(request{method: http.MethodGet, path: path})
}

func (e *env) post(path, body string) response {
	e.t.Helper()
	return e.do(request{method: http.MethodPost, path: path, body: strings.NewReader(body)})
}

// want fails unless the response has the status.
func (r response) want(t testing.TB, status int) response {
	t.Helper()
	if r.status != status {
		t.Fatalf("status: got %d, want %d; body: %s", r.status, status, truncate(r.body))
	}
	return r
}

// decode unmarshals the body into v.
func (r response) decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", truncate(r.body), err)
	}
}

func truncate(b []byte) string {
	if len(b) > 500 {
		return string(b[:500]) + "…"
	}
	return string(b)
}

// problem is the error body.
type problem struct {
	Type            string `json:"type"`
	Title           string `json:"title"`
	Status          int    `json:"status"`
	Detail          string `json:"detail"`
	ExpectedVersion any    `json:"expected_version"`
	ActualVersion   *int64 `json:"actual_version"`
	Field           string `json:"field"`
	Index           *int   `json:"index"`
}

// wantProblem fails unless the response is a problem with the status
// whose detail contains detail (case-insensitively).
func (r response) wantProblem(t testing.TB, status int, detail string) problem {
	t.Helper()
	r.want(t, status)
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("Content-Type: got %q, want application/problem+json", ct)
	}
	var p problem
	r.decode(t, &p)
	if p.Status != status {
		t.Errorf("problem status: got %d, want %d", p.Status, status)
	}
	if p.Type == "" || p.Title == "" {
		t.Errorf("problem %s lacks a type or title", r.body)
	}
	if !strings.Contains(strings.ToLower(p.Detail), strings.ToLower(detail)) {
		t.Errorf("problem detail: got %q, want it to contain %q", p.Detail, detail)
	}
	return p
}

// eventCount is the number of events stored.
func (e *env) eventCount() int64 {
	e.t.Helper()
	n, err := e.store.EventsCollection().CountDocuments(context.Background(), bson.D{})
	if err != nil {
		e.t.Fatalf("count events: %v", err)
	}
	return n
}

// appended is the 201 body.
type appended struct {
	AggregateUUID string `json:"aggregate_uuid"`
	FromVersion   int64  `json:"from_version"`
	ToVersion     int64  `json:"to_version"`
	Events        []struct {
		ID      string `json:"id"`
		Version int64  `json:"version"`
	} `json:"events"`
	RecordedAt time.Time `json:"recorded_at"`
	Replayed   bool      `json:"replayed"`
}

// event is an event in a request body.
type event struct {
	ID            string `json:"id,omitempty"`
	Name          string `json:"name"`
	SchemaVersion int32  `json:"schema_version,omitempty"`
	Data          any    `json:"data,omitempty"`
	Metadata      any    `json:"metadata,omitempty"`
}

// appendBody renders an append request body.
func appendBody(t testing.TB, expected any, typ string, events ...event) string {
	t.Helper()
	body := map[string]any{"events": events}
	if expected != nil {
		body["expected_version"] = expected
	}
	if typ != "" {
		body["aggregate_type"] = typ
	}
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func streamPath(id uuid.UUID) string { return "/v1/streams/" + id.String() + "/events" }

// appendOK appends over HTTP and fails unless it is a 201.
func (e *env) appendOK(stream uuid.UUID, expected any, typ string, events ...event) appended {
	e.t.Helper()
	var out appended
	e.post(streamPath(stream), appendBody(e.t, expected, typ, events...)).want(e.t, http.StatusCreated).decode(e.t, &out)
	return out
}

// openAccount appends an AccountOpened event through the store.
func (e *env) openAccount(owner string, tier int64, deposits ...int64) uuid.UUID {
	e.t.Helper()
	id := uuid.New()
	evs := []mongostore.EventData{{Name: "AccountOpened", Data: bson.D{{Key: "owner", Value: owner}, {Key: "tier", Value: tier}}}}
	for _, d := range deposits {
		evs = append(evs, mongostore.EventData{Name: "Deposited", Data: bson.D{{Key: "amount", Value: d}}})
	}
	if _, err := e.store.AppendStreams(context.Background(), mongostore.StreamAppend{
		Stream: id, Type: "Account", Expected: mongostore.NoStream, Events: evs,
	}); err != nil {
		e.t.Fatalf("open account: %v", err)
	}
	return id
}

// waitLive waits until every named projection (all when none is named)
// has applied every event.
func (e *env) waitLive(names ...string) {
	e.t.Helper()
	if len(names) == 0 {
		for _, p := range e.runner.Projections() {
			names = append(names, p.Name)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, n := range names {
		if _, err := e.runner.WaitLive(ctx, n); err != nil {
			e.t.Fatalf("wait for %s: %v", n, err)
		}
	}
}

// documents is a page of read-model documents.
type documents struct {
	Documents  []map[string]any `json:"documents"`
	NextCursor string           `json:"next_cursor"`
}

// readModelCount counts a projection collection's documents directly.
func (e *env) readModelCount(projection, collection string, filter bson.D) int64 {
	e.t.Helper()
	coll, err := e.runner.Collection(context.Background(), projection, collection)
	if err != nil {
		e.t.Fatal(err)
	}
	if filter == nil {
		filter = bson.D{}
	}
	n, err := coll.CountDocuments(context.Background(), filter, options.Count())
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

// jsonBody marshals v.
func jsonBody(t testing.TB, v any) *bytes.Reader {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.NewReader(b)
}

// newHTTPServer serves h until the test ends.
func newHTTPServer(t testing.TB, h http.Handler) *httptest.Server {
	t.Helper()
	hs := httptest.NewServer(h)
	t.Cleanup(hs.Close)
	return hs
}

// with returns the env reporting to t, for use inside subtests: a
// subtest must not fail its parent with Fatal.
func (e *env) with(t testing.TB) *env {
	c := *e
	c.t = t
	return &c
}
