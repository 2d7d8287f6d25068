package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/annalsdb/annals/mongostore"
	"github.com/annalsdb/annals/projections"
	"github.com/annalsdb/annals/server"
	"github.com/google/uuid"
)

// seed appends n events to each of streams new streams.
func seed(t *testing.T, s *mongostore.Store, streams, n int) {
	t.Helper()
	for range streams {
		events := make([]mongostore.EventData, n)
		for i := range events {
			events[i] = mongostore.EventData{Name: "Counted", Data: map[string]any{"i": i}}
		}
		if _, err := s.Append(context.Background(), uuid.New(), mongostore.NoStream, events...); err != nil {
			t.Fatal(err)
		}
	}
}

// TestProjectionsStore manages the built-in projections of a file: store:
// rebuild and reset run a runner in the process until the projection is
// live again, printing plain progress lines off a terminal.
func TestProjectionsStore(t *testing.T) {
	uri := fileStore(t)
	s := openStore(t, uri)
	seed(t, s, 3, 4)
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	environ := map[string]string{"ANNALS_STORE": uri}

	cli(t, environ, "projections", "list").expect(t, exitOK, "NAME", "streams       new", "event_counts  new")
	r := cli(t, environ, "projections", "rebuild", "streams")
	r.expect(t, exitOK, "rebuild streams: 12/12 events (100%)", "rebuild of streams done", "generation 1 is live with 12 events applied")
	cli(t, environ, "projections", "rebuild", "streams", "--mode", "blue_green").expect(t, exitOK, "generation 2 is live with 12 events applied")
	cli(t, environ, "projections", "reset", "streams").expect(t, exitOK, "generation 3 is live with 12 events applied")
	cli(t, environ, "projections", "rebuild", "streams", "--mode", "drop", "--wait=false").expect(t, exitOK, "recorded")

	r = cli(t, environ, "projections", "status", "streams", "--json")
	r.expect(t, exitOK)
	var v projectionView
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
		t.Fatalf("status --json: %v\n%s", err, r.stdout)
	}
	if v.Name != "streams" || v.Generation != 4 || v.Behind != 12 || v.State != projections.StateCatchingUp {
		t.Errorf("after a rebuild nobody carried out, status is %+v; want generation 4 catching up, 12 behind", v)
	}
	// The runner of the rebuilds kept the other projection current too.
	cli(t, environ, "projections", "status", "event_counts").expect(t, exitOK, "name:        event_counts", "state:       live", "applied:     12")
}

// TestProjectionsServer manages a server's projections through the API;
// on a terminal the rebuild shows a progress bar.
func TestProjectionsServer(t *testing.T) {
	api := startAPI(t)
	seed(t, api.store, 2, 5)
	environ := api.env()

	r := cli(t, environ, "projections", "list", "--json")
	r.expect(t, exitOK)
	var list struct {
		Projections []projectionView `json:"projections"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil || len(list.Projections) != 2 {
		t.Fatalf("list --json: %v\n%s", err, r.stdout)
	}
	cli(t, environ, "projections", "rebuild", "event_counts", "--interval", "20ms").expect(t, exitOK, "rebuild of event_counts done", "10 events applied")
	r = cli(t, environ, "projections", "reset", "event_counts", "--interval", "20ms")
	r.expect(t, exitOK, "reset of event_counts done", "10 events applied")
	if strings.Contains(r.stdout+r.stderr, "rebuild") {
		t.Errorf("reset calls itself a rebuild:\n%s%s", r.stdout, r.stderr)
	}
	cli(t, environ, "projections", "status", "streams").expect(t, exitOK, "state:       live", "collections: streams")
	cli(t, environ, "projections", "list").expect(t, exitOK, "streams       live")

	asTerminal(t)
	r = cli(t, environ, "projections", "rebuild", "streams", "--interval", "20ms")
	r.expect(t, exitOK, "rebuild streams", "10/10", "events/s", "rebuild of streams done")
	if !strings.Contains(r.stdout, "100%") || !strings.Contains(r.stdout, "|") {
		t.Errorf("no progress bar on a terminal:\n%q", r.stdout)
	}
}

func TestProjectionsErrors(t *testing.T) {
	api := startAPI(t)
	store := map[string]string{"ANNALS_STORE": fileStore(t)}
	cases := []struct {
		name    string
		environ map[string]string
		args    []string
		code    int
		want    string
	}{
		{"no subcommand", store, []string{"projections"}, exitUsage, "list|status|rebuild|reset"},
		{"unknown subcommand", store, []string{"projections", "frob", "--store", "memory:"}, exitUsage, `unknown projections command "frob"`},
		{"status needs a name", store, []string{"projections", "status"}, exitUsage, "one argument"},
		{"unknown projection in the store", store, []string{"projections", "status", "nope"}, exitError, "unknown projection"},
		{"unknown projection on the server", api.env(), []string{"projections", "rebuild", "nope"}, exitError, "404"},
		{"bad mode", store, []string{"projections", "rebuild", "streams", "--mode", "fast"}, exitUsage, "--mode"},
		{"reset has no mode", store, []string{"projections", "reset", "streams", "--mode", "drop"}, exitUsage, "unknown flag"},
		{"bad interval", store, []string{"projections", "reset", "streams", "--interval", "0s"}, exitUsage, "--interval"},
		{"read-only without token", map[string]string{"ANNALS_SERVER": api.url}, []string{"projections", "list"}, exitError, "401"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cli(t, c.environ, c.args...).expect(t, c.code, c.want)
		})
	}
}

// TestStatusShowsStall: `projections status` and `list` say when the
// runner cannot make progress on a projection, and why.
func TestStatusShowsStall(t *testing.T) {
	since := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	v := projectionView{Name: "streams", State: "live",
		Stalled: &server.StallView{Reason: "disk_full", Detail: "the store's disk is full", Since: since, Attempts: 7}}
	var status, list strings.Builder
	printStatus(&status, v)
	if err := printProjections(&list, []projectionView{v}); err != nil {
		t.Fatal(err)
	}
	if want := "disk_full since 2026-01-02T03:04:05"; !strings.Contains(status.String(), want) || !strings.Contains(status.String(), "7 attempts") {
		t.Errorf("status lacks %q and the attempts:\n%s", want, status.String())
	}
	if want := "live (stalled: disk full)"; !strings.Contains(list.String(), want) {
		t.Errorf("list lacks %q:\n%s", want, list.String())
	}
}
