package server_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"syscall"
	"testing"

	"github.com/annalsdb/annals/internal/engine"
	"github.com/annalsdb/annals/mongostore"
	"github.com/annalsdb/annals/projections"
	"github.com/annalsdb/annals/server"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
	"github.com/google/uuid"
)

// TestDiskFull runs the server on the embedded engine over a file system
// that runs out of space on demand: once writes fail with ENOSPC, an
// append is 507 insufficient-storage with a detail that says so (not a
// generic 500), readiness is 503 naming the full disk, and the projection
// status endpoints report the same problem.
func TestDiskFull(t *testing.T) {
	ctx := context.Background()
	full := &errorfs.Toggle{Injector: errorfs.InjectorFunc(func(op errorfs.Op) error {
		switch op.Kind {
		case errorfs.OpFileWrite, errorfs.OpFileWriteAt, errorfs.OpFileSync, errorfs.OpFileSyncData, errorfs.OpFileSyncTo, errorfs.OpCreate:
			return fmt.Errorf("injected: write %s: %w", op.Path, syscall.ENOSPC)
		}
		return nil
	})}
	eng, err := engine.Open(ctx, engine.Options{Path: "store", FS: errorfs.Wrap(vfs.NewMem(), full)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	store, err := mongostore.New(ctx, eng.Client())
	if err != nil {
		t.Fatal(err)
	}
	runner := projections.NewRunner(store, projections.Streams(), projections.EventCounts())
	srv, err := server.New(store, runner, server.Options{})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- runner.Run(runCtx) }()
	t.Cleanup(func() { cancel(); <-done })
	e := &env{t: t, store: store, runner: runner, srv: srv, http: newHTTPServer(t, srv)}

	stream := uuid.New()
	e.appendOK(stream, "no_stream", "Thing", event{Name: "Made"})
	e.waitLive()
	e.get("/readyz").want(t, http.StatusOK)

	full.On()
	for i := range 2 { // the append that met the full disk, and one after
		res := e.post(streamPath(stream), appendBody(t, nil, "", event{Name: "Changed"}))
		t.Logf("append %d on a full disk: %d %s", i+1, res.status, res.body)
		p := res.wantProblem(t, http.StatusInsufficientStorage, "disk")
		if p.Type != "https://annals.dev/problems/insufficient-storage" {
			t.Errorf("type %s", p.Type)
		}
	}
	r := e.get("/readyz")
	t.Logf("readyz on a full disk: %d %s", r.status, r.body)
	r.want(t, http.StatusServiceUnavailable)
	if !strings.Contains(string(r.body), "disk") {
		t.Errorf("readyz does not name the full disk: %s", r.body)
	}
	for _, path := range []string{"/v1/projections", "/v1/projections/streams"} {
		res := e.get(path)
		t.Logf("%s on a full disk: %d %s", path, res.status, res.body)
		p := res.wantProblem(t, http.StatusInsufficientStorage, "disk")
		if p.Type != "https://annals.dev/problems/insufficient-storage" {
			t.Errorf("%s: type %s", path, p.Type)
		}
	}
}
