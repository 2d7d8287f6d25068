package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/annalsdb/annals/mongostore"
	"github.com/annalsdb/annals/server"
	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
)

// TestTailServer follows the live feed: events appended after tail
// started come out one line each, and --count ends it with exit code 0.
func TestTailServer(t *testing.T) {
	api := startAPI(t)
	ctx := context.Background()
	for _, asJSON := range []bool{false, true} {
		var out bytes.Buffer
		errOut := &watcher{}
		following := errOut.when("following")
		args := []string{"tail", "--count", "2"}
		if asJSON {
			args = append(args, "--json")
		}
		exit := background(ctx, api.env(), &out, errOut, args...)
		wait(t, following, "tail to connect")
		id := uuid.New()
		if _, err := api.store.Append(ctx, id, mongostore.NoStream,
			mongostore.EventData{Name: "Opened", Data: map[string]any{"by": "ana"}},
			mongostore.EventData{Name: "Closed"}); err != nil {
			t.Fatal(err)
		}
		if code := exit(); code != exitOK {
			t.Fatalf("tail exit code %d, want 0\nstdout:\n%s\nstderr:\n%s", code, out.String(), errOut)
		}
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		if len(lines) != 2 {
			t.Fatalf("tail printed %d lines, want 2:\n%s", len(lines), out.String())
		}
		if asJSON {
			var e eventView
			if err := json.Unmarshal([]byte(lines[0]), &e); err != nil || e.AggregateUUID != id.String() || e.Version != 1 || e.Name != "Opened" {
				t.Errorf("tail --json line %q: %+v, %v", lines[0], e, err)
			}
		} else if !strings.Contains(lines[0], id.String()+"  v1  Opened  {\"by\":\"ana\"}") || !strings.Contains(lines[1], "v2  Closed  {}") {
			t.Errorf("tail printed:\n%s", out.String())
		}
	}
}

// TestTailReconnects: when the connection drops, tail reconnects after
// the last event it printed, missing none and repeating none.
func TestTailReconnects(t *testing.T) {
	api := startAPI(t)
	ctx := context.Background()
	out, errOut := &watcher{}, &watcher{}
	following := errOut.when("following")
	exit := background(ctx, api.env(), out, errOut, "tail", "--count", "3")
	wait(t, following, "tail to connect")
	id := uuid.New()
	appendOne := func(v int64) {
		t.Helper()
		if _, err := api.store.Append(ctx, id, mongostore.Exact(v-1), mongostore.EventData{Name: "Ticked"}); err != nil {
			t.Fatal(err)
		}
	}
	printed := out.when("v1  Ticked")
	appendOne(1)
	wait(t, printed, "the first event")
	reconnected := errOut.when("reconnected")
	api.srv.CloseClientConnections()
	appendOne(2) // while tail is away
	wait(t, reconnected, "tail to reconnect")
	appendOne(3)
	if code := exit(); code != exitOK {
		t.Fatalf("exit code %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	got := out.String()
	for _, v := range []string{"v1  Ticked", "v2  Ticked", "v3  Ticked"} {
		if strings.Count(got, v) != 1 {
			t.Errorf("%q printed %d times, want once:\n%s", v, strings.Count(got, v), got)
		}
	}
}

// TestTailStopsOnInterrupt: tail runs until its context ends (Ctrl-C)
// and then exits 0, through a server and on the embedded engine.
func TestTailStopsOnInterrupt(t *testing.T) {
	api := startAPI(t)
	for _, c := range []struct {
		name    string
		environ map[string]string
		started string
	}{
		{"server", api.env(), "following"},
		{"store", map[string]string{"ANNALS_STORE": fileStore(t)}, "prefer --server"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var out bytes.Buffer
			errOut := &watcher{}
			started := errOut.when(c.started)
			exit := background(ctx, c.environ, &out, errOut, "tail")
			wait(t, started, "tail to start")
			cancel()
			if code := exit(); code != exitOK {
				t.Errorf("exit code %d after interrupt, want 0\nstderr:\n%s", code, errOut)
			}
		})
	}
}

func TestTailErrors(t *testing.T) {
	api := startAPI(t)
	cli(t, map[string]string{"ANNALS_SERVER": api.url}, "tail").expect(t, exitError, "401")
	cli(t, nil, "tail", "--server", "http://127.0.0.1:1").expect(t, exitError, "reach the server")
	cli(t, api.env(), "tail", "--count", "-1").expect(t, exitUsage, "--count")
	cli(t, api.env(), "tail", "extra").expect(t, exitUsage, "no arguments")
}

// TestTailHistoryLost: when tail reconnects after a drop and the feed
// answers 410 Gone (its place left the change log while tail was away),
// tail stops with an error telling the user to read the streams, rather
// than retrying the same id forever. The server here is a stand-in that
// serves one event, drops the connection, and answers the resume with the
// problem the real server sends.
func TestTailHistoryLost(t *testing.T) {
	emptyDoc, _ := bson.Marshal(bson.D{})
	view, err := server.RenderEvent(mongostore.Event{ID: uuid.New(), Stream: uuid.New(), Version: 1, Name: "Opened",
		SchemaVersion: 1, RecordedAt: time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC), Data: emptyDoc})
	if err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(view)
	var mu sync.Mutex
	var resumedFrom []string
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/events/live" {
			http.NotFound(w, r)
			return
		}
		last := r.Header.Get("Last-Event-ID")
		if last == "" {
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprintf(w, ": annals live feed\n\nid: token-1\nevent: Opened\ndata: %s\n\n", data)
			return // the connection ends: tail reconnects
		}
		mu.Lock()
		resumedFrom = append(resumedFrom, last)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusGone)
		fmt.Fprintf(w, `{"type":"https://annals.dev/problems/history-lost","title":"History no longer available","status":410,"detail":"the feed no longer holds events after %s"}`, last)
	}))
	t.Cleanup(hs.Close)
	r := cli(t, map[string]string{"ANNALS_SERVER": hs.URL}, "tail")
	r.expect(t, exitError, "lost its place", "read the streams")
	if !strings.Contains(r.stdout, "v1  Opened") {
		t.Errorf("the event before the drop was not printed:\n%s", r.stdout)
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(resumedFrom, []string{"token-1"}) {
		t.Errorf("tail resumed from %q, want once from token-1", resumedFrom)
	}
}

// changeOf is the change event MongoDB sends for the insert of event
// version v of stream, with resume token data.
func changeOf(stream uuid.UUID, v int64, data string) bson.D {
	id := mongostore.UUIDValue(uuid.New())
	return bson.D{
		{Key: "_id", Value: bson.D{{Key: "_data", Value: data}}},
		{Key: "operationType", Value: "insert"},
		{Key: "ns", Value: bson.D{{Key: "db", Value: "annals"}, {Key: "coll", Value: "events"}}},
		{Key: "documentKey", Value: bson.D{{Key: "_id", Value: id}}},
		{Key: "fullDocument", Value: bson.D{
			{Key: "_id", Value: id},
			{Key: "aggregate_uuid", Value: mongostore.UUIDValue(stream)},
			{Key: "aggregate_type", Value: "Account"},
			{Key: "version", Value: v},
			{Key: "name", Value: "Ticked"},
			{Key: "schema_version", Value: int32(1)},
			{Key: "data", Value: bson.D{}},
			{Key: "metadata", Value: bson.D{}},
			{Key: "recorded_at", Value: primitive.NewDateTimeFromTime(time.Date(2026, 12, 2, 8, 0, 0, int(v), time.UTC))},
		}},
	}
}

// TestTailStoreResumesAfterNetworkError: tail --store on MongoDB follows
// the change stream through a dropped connection. The wire fake answers
// the first aggregate with one event and closes the connection on the
// getMore that follows; the driver must open the stream again with
// resumeAfter the last token it saw, so the next event comes out and
// none is missed or printed twice. What the fake cannot show: that a real
// server resumes at that token (the second aggregate's reply is scripted).
func TestTailStoreResumesAfterNetworkError(t *testing.T) {
	f := startFakeMongo(t, "rs0")
	stream := uuid.New()
	f.mu.Lock()
	f.changes = [][]bson.D{
		{changeOf(stream, 1, "82000001")},
		{changeOf(stream, 2, "82000002")},
	}
	f.mu.Unlock()
	r := cli(t, nil, "tail", "--store", f.uri(), "--count", "2")
	r.expect(t, exitOK, "following the store")
	for _, v := range []string{"v1  Ticked", "v2  Ticked"} {
		if n := strings.Count(r.stdout, v); n != 1 {
			t.Errorf("%q printed %d times, want once:\n%s", v, n, r.stdout)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.aggregates) != 2 {
		t.Fatalf("%d change stream aggregates, want 2 (the open and the resume)", len(f.aggregates))
	}
	open, resume := f.aggregates[0], f.aggregates[1]
	if _, err := open.LookupErr("pipeline", "0", "$changeStream", "resumeAfter"); err == nil {
		t.Errorf("the first aggregate resumes already: %s", open.Lookup("pipeline"))
	}
	token, err := resume.LookupErr("pipeline", "0", "$changeStream", "resumeAfter", "_data")
	if err != nil || token.StringValue() != "82000001" {
		t.Errorf("the resume's $changeStream %s, want resumeAfter the last token, 82000001", resume.Lookup("pipeline"))
	}
}
