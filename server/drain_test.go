package server_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/annalsdb/annals/server"
	"github.com/google/uuid"
)

// TestCloseLiveFeeds: CloseLiveFeeds ends open live feeds and refuses new
// ones with 503, while appends and reads go on (so that a shutdown can
// wait for in-flight requests without waiting for feeds forever).
func TestCloseLiveFeeds(t *testing.T) {
	e := newEnv(t, server.Options{})
	f := e.openFeed("", nil)
	e.srv.CloseLiveFeeds()
	ended := time.After(sseDeadline)
	for open := true; open; {
		select {
		case _, open = <-f.events:
		case <-ended:
			t.Fatal("the live feed is still open after CloseLiveFeeds")
		}
	}
	p := e.get("/v1/events/live").wantProblem(t, http.StatusServiceUnavailable, "shutting down")
	if p.Type != "https://annals.dev/problems/unavailable" {
		t.Errorf("type %s", p.Type)
	}
	stream := uuid.New()
	e.appendOK(stream, "no_stream", "", event{Name: "Noted"})
	e.get(streamPath(stream)).want(t, http.StatusOK)
}

// TestDrain: in the lame-duck phase readiness is 503 naming the drain,
// requests are still served, and every response closes its connection
// (so no keep-alive connection is left idle for the shutdown to cut).
func TestDrain(t *testing.T) {
	e := newEnv(t, server.Options{})
	e.get("/readyz").want(t, http.StatusOK)
	e.srv.Drain()
	r := e.get("/readyz").want(t, http.StatusServiceUnavailable)
	if !strings.Contains(string(r.body), `"draining":true`) {
		t.Errorf("readyz while draining: %s", r.body)
	}
	stream := uuid.New()
	res, err := e.http.Client().Post(e.http.URL+streamPath(stream), "application/json",
		strings.NewReader(appendBody(t, nil, "no_stream", event{Name: "Noted"})))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusCreated || !res.Close {
		t.Errorf("append while draining: %d, connection closed %v; want 201 and Connection: close", res.StatusCode, res.Close)
	}
	e.get("/v1/events/live").wantProblem(t, http.StatusServiceUnavailable, "shutting down")
}

// TestFetchWhileDraining: a long-poll fetch with nothing to deliver is
// sent away with 503 and Retry-After while the server drains, rather than
// answered at once with an empty batch that has the consumer fetch again
// in a loop for the whole drain delay.
func TestFetchWhileDraining(t *testing.T) {
	e, _ := newSubsEnv(t, server.Options{})
	e.post("/v1/subscriptions", `{"name": "audit"}`).want(t, http.StatusCreated)
	e.srv.Drain()
	r := e.do(request{method: http.MethodPost, path: subPath("audit", "/fetch"),
		body: jsonBody(t, map[string]any{"consumer": "c1", "wait_ms": 5000})})
	r.wantProblem(t, http.StatusServiceUnavailable, "shutting down")
	if got := r.header.Get("Retry-After"); got != "1" {
		t.Errorf("Retry-After %q, want 1", got)
	}
}
