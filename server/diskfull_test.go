package server_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/256dpi/lungo"

	"github.com/annalsdb/annals/internal/engine"
	"github.com/annalsdb/annals/mongostore"
	"github.com/annalsdb/annals/projections"
	"github.com/annalsdb/annals/server"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
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

// TestDiskFullOnMongoDB shapes the failure as MongoDB reports it: every
// write fails with OutOfDiskSpace (14031) while the deployment still
// answers pings and reads. An append is 507; /readyz turns 503 naming the
// disk; the projections, which cannot renew their leases or commit, show
// stalled with reason disk_full while their state stays live. Once space
// is freed, /readyz recovers by itself (a probe write, no append needed),
// the stall clears and appends succeed. (It runs on the embedded engine
// through a client wrapper that fails the writes: no MongoDB here.)
func TestDiskFullOnMongoDB(t *testing.T) {
	ctx := context.Background()
	inner, err := mongostore.Open(ctx, "memory:")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { inner.Close(ctx) })
	full := &atomic.Bool{}
	store, err := mongostore.New(ctx, fullClient{IClient: inner.Client(), full: full})
	if err != nil {
		t.Fatal(err)
	}
	runner := projections.NewRunner(store, projections.EventCounts())
	runner.LeaseTTL = 300 * time.Millisecond // renewals, which meet the full disk, every 100 ms
	srv, err := server.New(store, runner, server.Options{DiskFullProbeInterval: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- runner.Run(runCtx) }()
	t.Cleanup(func() { cancel(); <-done })
	e := &env{t: t, store: store, runner: runner, srv: srv, http: newHTTPServer(t, srv)}
	stream := uuid.New()
	e.appendOK(stream, "no_stream", "", event{Name: "Made"})
	e.waitLive()
	e.get("/readyz").want(t, http.StatusOK)

	full.Store(true)
	for _, body := range []string{
		appendBody(t, nil, "", event{Name: "Changed"}),                         // one event: InsertOne
		appendBody(t, nil, "", event{Name: "Changed"}, event{Name: "Changed"}), // a batch: InsertMany
	} {
		p := e.post(streamPath(stream), body).wantProblem(t, http.StatusInsufficientStorage, "disk is full")
		if p.Type != "https://annals.dev/problems/insufficient-storage" {
			t.Errorf("type %s", p.Type)
		}
	}
	r := e.get("/readyz").want(t, http.StatusServiceUnavailable)
	if !strings.Contains(string(r.body), `"disk_full":true`) {
		t.Errorf("readyz does not name the full disk: %s", r.body)
	}
	stalled := e.waitProjection("event_counts", func(v server.ProjectionView) bool { return v.Stalled != nil })
	t.Logf("event_counts on a full disk: state %s, stalled %+v", stalled.State, *stalled.Stalled)
	if s := stalled.Stalled; s.Reason != projections.StallDiskFull || !strings.Contains(s.Detail, "disk is full") || s.Attempts < 1 {
		t.Errorf("stalled = %+v, want reason disk_full", *s)
	}
	if stalled.State != projections.StateLive {
		t.Errorf("state %s, want live (the last state recorded)", stalled.State)
	}

	full.Store(false)
	e.get("/readyz").want(t, http.StatusOK) // no append in between
	e.waitProjection("event_counts", func(v server.ProjectionView) bool { return v.Stalled == nil })
	e.appendOK(stream, nil, "", event{Name: "Changed"})
	if n := e.eventCount(); n != 2 {
		t.Errorf("%d events stored, want 2", n)
	}
}

// waitProjection polls GET /v1/projections/{name} until ok holds of it.
func (e *env) waitProjection(name string, ok func(server.ProjectionView) bool) server.ProjectionView {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var v server.ProjectionView
		e.get("/v1/projections/"+name).want(e.t, http.StatusOK).decode(e.t, &v)
		if ok(v) {
			return v
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("projection %s never reached the awaited status: %+v", name, v)
		}
		time.Sleep(10 * time.Millisecond) // polling the API, not synchronising goroutines
	}
}

// fullClient fails every write with MongoDB's OutOfDiskSpace while full
// is set; reads go on.
type fullClient struct {
	lungo.IClient
	full *atomic.Bool
}

func (c fullClient) Unwrap() lungo.IClient { return c.IClient }

func (c fullClient) Database(name string, opts ...*options.DatabaseOptions) lungo.IDatabase {
	return fullDatabase{IDatabase: c.IClient.Database(name, opts...), full: c.full}
}

type fullDatabase struct {
	lungo.IDatabase
	full *atomic.Bool
}

func (d fullDatabase) Collection(name string, opts ...*options.CollectionOptions) lungo.ICollection {
	return fullCollection{ICollection: d.IDatabase.Collection(name, opts...), full: d.full}
}

type fullCollection struct {
	lungo.ICollection
	full *atomic.Bool
}

var errOutOfDiskSpace = mongo.WriteError{Code: 14031, Message: "Both data and log files are too large: /data/db"}

// failed is the error of a write while the disk is full.
func (c fullCollection) failed() error {
	if c.full.Load() {
		return mongo.WriteException{WriteErrors: []mongo.WriteError{errOutOfDiskSpace}}
	}
	return nil
}

func (c fullCollection) InsertOne(ctx context.Context, doc any, opts ...*options.InsertOneOptions) (*mongo.InsertOneResult, error) {
	if err := c.failed(); err != nil {
		return nil, err
	}
	return c.ICollection.InsertOne(ctx, doc, opts...)
}

func (c fullCollection) InsertMany(ctx context.Context, docs []any, opts ...*options.InsertManyOptions) (*mongo.InsertManyResult, error) {
	if c.full.Load() {
		return nil, mongo.BulkWriteException{WriteErrors: []mongo.BulkWriteError{{WriteError: errOutOfDiskSpace}}}
	}
	return c.ICollection.InsertMany(ctx, docs, opts...)
}

func (c fullCollection) UpdateOne(ctx context.Context, filter, update any, opts ...*options.UpdateOptions) (*mongo.UpdateResult, error) {
	if err := c.failed(); err != nil {
		return nil, err
	}
	return c.ICollection.UpdateOne(ctx, filter, update, opts...)
}

func (c fullCollection) UpdateMany(ctx context.Context, filter, update any, opts ...*options.UpdateOptions) (*mongo.UpdateResult, error) {
	if err := c.failed(); err != nil {
		return nil, err
	}
	return c.ICollection.UpdateMany(ctx, filter, update, opts...)
}

func (c fullCollection) ReplaceOne(ctx context.Context, filter, doc any, opts ...*options.ReplaceOptions) (*mongo.UpdateResult, error) {
	if err := c.failed(); err != nil {
		return nil, err
	}
	return c.ICollection.ReplaceOne(ctx, filter, doc, opts...)
}

func (c fullCollection) BulkWrite(ctx context.Context, models []mongo.WriteModel, opts ...*options.BulkWriteOptions) (*mongo.BulkWriteResult, error) {
	if c.full.Load() {
		return nil, mongo.BulkWriteException{WriteErrors: []mongo.BulkWriteError{{WriteError: errOutOfDiskSpace}}}
	}
	return c.ICollection.BulkWrite(ctx, models, opts...)
}
