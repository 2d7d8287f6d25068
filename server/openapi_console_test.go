package server_test

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/annalsdb/annals/mongostore"
	"github.com/annalsdb/annals/projections"
	"github.com/annalsdb/annals/server"
	"github.com/google/uuid"
)

const oaFlaky = "oa_flaky"

// oaFlakyProjection fails while failing is set.
func oaFlakyProjection(failing *atomic.Bool) *projections.Projection {
	return projections.New(oaFlaky, []string{projections.AllEvents}, func(context.Context, *projections.Tx, mongostore.Event) error {
		if failing.Load() {
			return errors.New("flaky: failing on purpose")
		}
		return nil
	})
}

// TestOpenAPIRetry: POST /v1/projections/{name}/retry puts a failed
// projection back to work; it refuses projections that have not failed
// (409), unknown ones (404) and read-only tokens (403).
func TestOpenAPIRetry(t *testing.T) {
	var failing atomic.Bool
	failing.Store(true)
	e := newOAEnv(t, server.Options{Tokens: []server.Token{{Secret: oaWriter}, {Secret: oaReader, Access: server.ReadOnly}}},
		projections.Streams(), oaFlakyProjection(&failing))
	e.waitLive(t, projections.StreamsProjection)
	e.call(t, oaCall{method: http.MethodPost, target: oaEventsPath(uuid.NewString()), token: oaWriter, contentType: "application/json",
		body: []byte(`{"events": [{"name": "Happened"}]}`), want: 201})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := e.runner.WaitLive(ctx, oaFlaky); err == nil {
		t.Fatalf("%s went live; want it failed", oaFlaky)
	}
	retry := func(name string) string { return "/v1/projections/" + name + "/retry" }
	post := func(name, target, token string, want int, problem string) oaCall {
		return oaCall{name: name, method: http.MethodPost, target: target, token: token, want: want, problem: problem}
	}
	e.runCalls(t, []oaCall{
		post("a read-only token", retry(oaFlaky), oaReader, 403, "forbidden"),
		{name: "no token", method: http.MethodPost, target: retry(oaFlaky), want: 401, problem: "unauthorized", specRejects: true},
		post("an unknown projection", retry("nope"), oaWriter, 404, "projection-not-found"),
		post("a projection that has not failed", retry(projections.StreamsProjection), oaWriter, 409, "projection-not-failed"),
		post("an unknown parameter", retry(oaFlaky)+oaQuery("now", "1"), oaWriter, 400, "invalid-input"),
	})
	if st, err := e.runner.Status(ctx, oaFlaky); err != nil || st.State != projections.StateFailed {
		t.Fatalf("after refused retries: %+v %v, want still failed", st.State, err)
	}
	failing.Store(false)
	res := e.call(t, post("", retry(oaFlaky), oaWriter, 202, ""))
	if loc := res.header.Get("Location"); loc != "/v1/projections/"+oaFlaky {
		t.Errorf("Location %q", loc)
	}
	var view struct {
		State string `json:"state"`
	}
	res.decode(t, &view)
	if view.State == projections.StateFailed {
		t.Errorf("state after retry %q, want it back at work", view.State)
	}
	if _, err := e.runner.WaitLive(ctx, oaFlaky); err != nil {
		t.Fatalf("after the retry: %v, want live", err)
	}
	e.call(t, post("again, once live", retry(oaFlaky), oaWriter, 409, "projection-not-failed"))
}

// TestOpenAPIRebuildOverFailedBuild: a blue/green rebuild while the
// previous build has failed is 409 build-failed, not a 202 that does
// nothing; a drop-and-replay rebuild is still accepted.
func TestOpenAPIRebuildOverFailedBuild(t *testing.T) {
	var failing atomic.Bool
	e := newOAEnv(t, server.Options{Tokens: []server.Token{{Secret: oaWriter}}}, projections.Streams(), oaFlakyProjection(&failing))
	e.waitLive(t, oaFlaky)
	e.call(t, oaCall{method: http.MethodPost, target: oaEventsPath(uuid.NewString()), token: oaWriter, contentType: "application/json",
		body: []byte(`{"events": [{"name": "Happened"}]}`), want: 201})
	e.waitLive(t, oaFlaky)
	failing.Store(true)
	rebuild := "/v1/projections/" + oaFlaky + "/rebuild"
	e.call(t, oaCall{method: http.MethodPost, target: rebuild, token: oaWriter, want: 202})
	ctx := context.Background()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		st, err := e.runner.Status(ctx, oaFlaky)
		if err != nil {
			t.Fatal(err)
		}
		if st.Build != nil && st.Build.State == projections.StateFailed {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the build did not fail: %+v", st.Build)
		}
	}
	e.runCalls(t, []oaCall{
		{name: "blue/green over a failed build", method: http.MethodPost, target: rebuild, token: oaWriter, want: 409, problem: "build-failed"},
		{name: "drop and replay", method: http.MethodPost, target: rebuild + oaQuery("mode", "drop"), token: oaWriter, want: 202},
	})
}

// TestOpenAPIInfo: GET /v1/info tells the caller's access, and never the
// store's password.
func TestOpenAPIInfo(t *testing.T) {
	const uri = "mongodb://annals:hunter2@db1:27017/annals?replicaSet=rs0"
	type info struct {
		Version, Engine, Store, Access string
		Projections                    []string
	}
	for _, c := range []struct {
		name   string
		tokens []server.Token
		token  string
		want   string
	}{
		{"a read-write token", []server.Token{{Secret: oaWriter}, {Secret: oaReader, Access: server.ReadOnly}}, oaWriter, "read-write"},
		{"a read-only token", []server.Token{{Secret: oaWriter}, {Secret: oaReader, Access: server.ReadOnly}}, oaReader, "read-only"},
		{"no tokens configured", nil, "any", "open"},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newOAEnv(t, server.Options{Tokens: c.tokens, Version: "v1.2.3", StoreURI: uri}, projections.Streams())
			var got info
			e.call(t, oaCall{method: http.MethodGet, target: "/v1/info", token: c.token, want: 200}).decode(t, &got)
			want := info{Version: "v1.2.3", Engine: "memory", Store: "mongodb://annals:***@db1:27017/annals?replicaSet=rs0",
				Access: c.want, Projections: []string{projections.StreamsProjection}}
			if got.Version != want.Version || got.Engine != want.Engine || got.Store != want.Store || got.Access != want.Access ||
				len(got.Projections) != 1 || got.Projections[0] != want.Projections[0] {
				t.Errorf("info %+v, want %+v", got, want)
			}
			if c.tokens != nil {
				e.runCalls(t, []oaCall{
					{name: "no token", method: http.MethodGet, target: "/v1/info", want: 401, problem: "unauthorized", specRejects: true},
					{name: "a bad token", method: http.MethodGet, target: "/v1/info", token: "wrong", want: 401, problem: "unauthorized"},
				})
			}
		})
	}
}
