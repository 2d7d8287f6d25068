package server_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"testing"

	"github.com/annalsdb/annals/mongostore"
	"github.com/annalsdb/annals/projections"
	"github.com/annalsdb/annals/server"
	"github.com/google/uuid"
)

// forgedCursors are cursors the server never issued, shaped like its own:
// values the engine must never see ($minKey and $maxKey crashed it, $where
// and other operator documents are not values).
func forgedCursors(t testing.TB) map[string]string {
	t.Helper()
	v := func(x any) map[string]any { return map[string]any{"v": x} }
	return map[string]string{
		"$minKey id":       cursorOf(t, map[string]any{"i": v(map[string]any{"$minKey": 1})}),
		"$maxKey id":       cursorOf(t, map[string]any{"i": v(map[string]any{"$maxKey": 1})}),
		"$minKey sort":     cursorOf(t, map[string]any{"i": v(""), "s": v(map[string]any{"$minKey": 1}), "f": "owner"}),
		"$maxKey sort":     cursorOf(t, map[string]any{"i": v(""), "s": v(map[string]any{"$maxKey": 1}), "f": "owner"}),
		"$where id":        cursorOf(t, map[string]any{"i": map[string]any{"$where": "1"}}),
		"$where in value":  cursorOf(t, map[string]any{"i": v(map[string]any{"$where": "1"})}),
		"$code":            cursorOf(t, map[string]any{"i": v(map[string]any{"$code": "1"})}),
		"plain string id":  cursorOf(t, map[string]any{"i": v("alice")}),
		"$undefined value": cursorOf(t, map[string]any{"i": v(map[string]any{"$undefined": true})}),
	}
}

// TestCursorsAreTamperEvident: a cursor the server issued pages on; any
// edit of it, any cursor forged in its shape, and a cursor issued for
// another listing are 400 invalid-input, never 500.
func TestCursorsAreTamperEvident(t *testing.T) {
	e := newEnv(t, server.Options{})
	for _, o := range []string{"alice", "bob", "carol"} {
		e.openAccount(o, 1, 5)
	}
	e.waitLive()
	const docs = "/v1/projections/accounts/documents"
	var page documents
	e.get(docs+"?sort=owner&limit=1").want(t, http.StatusOK).decode(t, &page)
	if page.NextCursor == "" {
		t.Fatal("no cursor issued")
	}
	var next documents
	e.get(docs+"?sort=owner&limit=1&cursor="+page.NextCursor).want(t, http.StatusOK).decode(t, &next)
	if len(next.Documents) != 1 || next.Documents[0]["owner"] != "bob" {
		t.Fatalf("page after alice: %v, want bob", next.Documents)
	}

	t.Run("every edited byte", func(t *testing.T) {
		e := e.with(t)
		raw, err := base64.RawURLEncoding.DecodeString(page.NextCursor)
		if err != nil {
			t.Fatal(err)
		}
		for i := range raw {
			edited := slices.Clone(raw)
			edited[i] ^= 0x01
			cur := base64.RawURLEncoding.EncodeToString(edited)
			p := e.get(docs+"?sort=owner&limit=1&cursor="+cur).wantProblem(t, http.StatusBadRequest, "cursor")
			if p.Type != "https://annals.dev/problems/invalid-input" {
				t.Errorf("byte %d edited: type %s", i, p.Type)
			}
		}
		// Cut short or lengthened.
		e.get(docs+"?sort=owner&limit=1&cursor="+page.NextCursor[:len(page.NextCursor)-1]).wantProblem(t, http.StatusBadRequest, "cursor")
		e.get(docs+"?sort=owner&limit=1&cursor="+page.NextCursor+"A").wantProblem(t, http.StatusBadRequest, "cursor")
	})
	t.Run("forged", func(t *testing.T) {
		for _, cur := range forgedCursors(t) {
			for _, path := range []string{docs + "?cursor=" + cur, docs + "?sort=owner&cursor=" + cur, "/v1/streams?cursor=" + cur} {
				e.with(t).get(path).wantProblem(t, http.StatusBadRequest, "cursor")
			}
		}
	})
	t.Run("issued for another listing", func(t *testing.T) {
		e := e.with(t)
		var streams struct {
			NextCursor string `json:"next_cursor"`
		}
		e.get("/v1/streams?limit=1").want(t, http.StatusOK).decode(t, &streams)
		if streams.NextCursor == "" {
			t.Fatal("no streams cursor")
		}
		e.get(docs+"?cursor="+streams.NextCursor).wantProblem(t, http.StatusBadRequest, "cursor")
		var byID documents
		e.get(docs+"?limit=1").want(t, http.StatusOK).decode(t, &byID)
		e.get("/v1/streams?cursor="+byID.NextCursor).wantProblem(t, http.StatusBadRequest, "cursor")
		e.get(docs+"?collection=ledger&cursor="+byID.NextCursor).wantProblem(t, http.StatusBadRequest, "cursor")
		e.get("/v1/projections/event_counts/documents?cursor="+byID.NextCursor).wantProblem(t, http.StatusBadRequest, "cursor")
	})
}

// TestCursorKeySurvivesRestart: the cursor key is kept in the store, so a
// cursor issued before a restart pages on after it; a server on another
// store refuses it.
func TestCursorKeySurvivesRestart(t *testing.T) {
	ctx := context.Background()
	uri := "file:" + filepath.Join(t.TempDir(), "annals.db")
	// serve runs a server with the streams projection on the store at uri
	// until fn returns.
	serve := func(uri string, fn func(e *env)) {
		store, err := mongostore.Open(ctx, uri)
		if err != nil {
			t.Fatal(err)
		}
		runner := projections.NewRunner(store, projections.Streams())
		srv, err := server.New(store, runner, server.Options{})
		if err != nil {
			t.Fatal(err)
		}
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- runner.Run(runCtx) }()
		hs := httptest.NewServer(srv)
		fn(&env{t: t, store: store, runner: runner, srv: srv, http: hs})
		hs.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("runner.Run: %v", err)
		}
		if err := store.Close(ctx); err != nil {
			t.Fatal(err)
		}
	}
	type streamsPage struct {
		Streams []struct {
			ID string `json:"_id"`
		} `json:"streams"`
		NextCursor string `json:"next_cursor"`
	}
	var first, want streamsPage
	serve(uri, func(e *env) {
		for range 3 {
			e.appendOK(uuid.New(), nil, "Thing", event{Name: "Made"})
		}
		e.waitLive()
		e.get("/v1/streams?limit=1").want(t, http.StatusOK).decode(t, &first)
		e.get("/v1/streams?limit=1&cursor="+first.NextCursor).want(t, http.StatusOK).decode(t, &want)
	})
	if first.NextCursor == "" || len(want.Streams) != 1 {
		t.Fatalf("first pages: %+v, %+v", first, want)
	}
	serve(uri, func(e *env) {
		var got streamsPage
		e.get("/v1/streams?limit=1&cursor="+first.NextCursor).want(t, http.StatusOK).decode(t, &got)
		if len(got.Streams) != 1 || got.Streams[0].ID != want.Streams[0].ID {
			t.Errorf("after a restart the cursor gives %+v, want %+v", got.Streams, want.Streams)
		}
	})
	serve("memory:", func(e *env) {
		e.get("/v1/streams?limit=1&cursor="+first.NextCursor).wantProblem(t, http.StatusBadRequest, "cursor")
	})
}
