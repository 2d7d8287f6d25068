package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"regexp"
	"testing"
	"time"

	"github.com/annalsdb/annals/mongostore"
	"github.com/annalsdb/annals/projections"
	"github.com/annalsdb/annals/server"
	"github.com/annalsdb/annals/subscriptions"
	"github.com/google/uuid"
)

const testReadToken = "r3ad"

// startSubsAPI is startAPI with a subscriptions service, configured by
// configure before it runs, and a read-only token.
func startSubsAPI(t *testing.T, configure ...func(*subscriptions.Service)) *testAPI {
	t.Helper()
	store := openStore(t, "memory:")
	runner := projections.NewRunner(store, projections.Streams())
	svc := subscriptions.New(store)
	svc.Poll, svc.Refresh = 10*time.Millisecond, 50*time.Millisecond
	for _, f := range configure {
		f(svc)
	}
	api, err := server.New(store, runner, server.Options{Subscriptions: svc, Tokens: []server.Token{
		{Secret: testToken, Access: server.ReadWrite}, {Secret: testReadToken, Access: server.ReadOnly}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	runnerDone, subsDone := make(chan error, 1), make(chan error, 1)
	go func() { runnerDone <- runner.Run(ctx) }()
	go func() { subsDone <- svc.Run(ctx) }()
	srv := httptest.NewServer(api)
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
		cancel()
		for _, done := range []chan error{runnerDone, subsDone} {
			if err := <-done; err != nil {
				t.Errorf("run: %v", err)
			}
		}
	})
	return &testAPI{url: srv.URL, srv: srv, store: store}
}

// depositN appends n Deposited events to a new stream and returns their ids.
func depositN(t *testing.T, s *mongostore.Store, n int) []string {
	t.Helper()
	evs := make([]mongostore.EventData, n)
	for i := range evs {
		evs[i] = mongostore.EventData{Name: "Deposited", Data: map[string]any{"i": i}}
	}
	res, err := s.Append(context.Background(), uuid.New(), mongostore.NoStream, evs...)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(res.IDs))
	for i, id := range res.IDs {
		out[i] = id.String()
	}
	return out
}

// fetchJSON fetches with --json and returns the deliveries.
func fetchJSON(t *testing.T, environ map[string]string, args ...string) []server.DeliveryView {
	t.Helper()
	r := cli(t, environ, append([]string{"subscriptions", "fetch", "--json"}, args...)...)
	r.expect(t, exitOK)
	var res server.FetchResponse
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatalf("fetch --json: %v\n%s", err, r.stdout)
	}
	return res.Deliveries
}

// TestSubscriptionsCLI drives a subscription from the command line:
// create, list, get, fetch, ack, nack, parked, replay, delete.
func TestSubscriptionsCLI(t *testing.T) {
	api := startSubsAPI(t)
	environ := api.env()
	cli(t, environ, "subscriptions", "create", "billing", "--events", "Deposited", "--ack-timeout", "1m", "--max-attempts", "3", "--min-backoff", "100ms", "--max-backoff", "100ms").
		expect(t, exitOK, "created subscription billing", "events:          Deposited", "ack timeout:     1m0s", "max attempts:    3", "backoff:         100ms to 100ms")
	cli(t, environ, "subscriptions", "create", "billing").expect(t, exitError, "409", "already exists")
	cli(t, environ, "subscriptions", "create", "later", "--start", "now").expect(t, exitOK, "start:           now (")
	cli(t, environ, "subscriptions", "list").expect(t, exitOK, "NAME", "billing  Deposited", "beginning", "later")
	r := cli(t, environ, "subscriptions", "get", "billing", "--json")
	r.expect(t, exitOK)
	var v server.SubscriptionView
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil || v.Name != "billing" || v.Settings.AckTimeoutMS != 60000 || v.Settings.BatchSize != 100 {
		t.Fatalf("get --json: %v %+v\n%s", err, v, r.stdout)
	}

	ids := depositN(t, api.store, 3)
	got := fetchJSON(t, environ, "billing", "--consumer", "w1", "--max", "2", "--wait", "10s")
	for len(got) < 2 {
		got = append(got, fetchJSON(t, environ, "billing", "--consumer", "w1", "--max", "1", "--wait", "10s")...)
	}
	if got[0].Event.ID != ids[0] || got[1].Event.ID != ids[1] || got[0].Attempt != 1 {
		t.Fatalf("fetched %+v, want %v first", got, ids[:2])
	}
	cli(t, environ, "subscriptions", "ack", "billing", "--consumer", "w1", ids[0]).expect(t, exitOK, "acknowledged 1 events")
	cli(t, environ, "subscriptions", "ack", "billing", "--consumer", "w1", ids[0]).expect(t, exitError, "409", "not held", ids[0])
	cli(t, environ, "subscriptions", "nack", "billing", "--consumer", "w1", "--action", "park", "--reason", "bad data", ids[1]).expect(t, exitOK, "parked 1 events")
	// The third event, in a table.
	r = cli(t, environ, "subscriptions", "fetch", "billing", "--consumer", "w2", "--wait", "10s")
	r.expect(t, exitOK, "EVENT ID", ids[2], "Deposited", `{"i":2}`)
	cli(t, environ, "subscriptions", "nack", "billing", "--consumer", "w2", ids[2]).expect(t, exitOK, "refused 1 events")
	back := fetchJSON(t, environ, "billing", "--consumer", "w3", "--wait", "10s")
	if len(back) != 1 || back[0].Event.ID != ids[2] || back[0].Attempt != 2 {
		t.Fatalf("after a retry nack fetched %+v, want %s at attempt 2", back, ids[2])
	}
	cli(t, environ, "subscriptions", "ack", "billing", "--consumer", "w3", ids[2]).expect(t, exitOK)

	cli(t, environ, "subscriptions", "parked", "billing").expect(t, exitOK, "REASON", ids[1], "bad data")
	cli(t, environ, "subscriptions", "status", "billing").expect(t, exitOK, "feed:", "1 parked")
	cli(t, environ, "subscriptions", "replay", "billing", ids[1]).expect(t, exitOK, "replayed 1 parked events")
	cli(t, environ, "subscriptions", "replay", "billing").expect(t, exitOK, "replayed 0 parked events")
	again := fetchJSON(t, environ, "billing", "--consumer", "w1", "--wait", "10s")
	if len(again) != 1 || again[0].Event.ID != ids[1] {
		t.Fatalf("after replay fetched %+v, want %s", again, ids[1])
	}
	cli(t, environ, "subscriptions", "fetch", "later", "--consumer", "w1", "--wait", "10s").expect(t, exitOK, ids[0])
	cli(t, environ, "subscriptions", "create", "fresh", "--start", "now").expect(t, exitOK)
	cli(t, environ, "subscriptions", "fetch", "fresh", "--consumer", "w1", "--wait", "50ms").expect(t, exitOK, "no events")
	cli(t, environ, "subscriptions", "delete", "billing").expect(t, exitOK, "deleted subscription billing")
	cli(t, environ, "subscriptions", "get", "billing").expect(t, exitError, "404", "subscription not found")
}

func TestSubscriptionsCLIErrors(t *testing.T) {
	api := startSubsAPI(t)
	environ := api.env()
	reader := map[string]string{"ANNALS_SERVER": api.url, "ANNALS_TOKEN": testReadToken}
	cli(t, environ, "subscriptions", "create", "s").expect(t, exitOK)
	id := uuid.NewString()
	cases := []struct {
		name    string
		environ map[string]string
		args    []string
		code    int
		want    string
	}{
		{"no subcommand", environ, []string{"subscriptions"}, exitUsage, "create|list|get"},
		{"unknown subcommand", environ, []string{"subscriptions", "frob"}, exitUsage, `unknown subscriptions command "frob"`},
		{"no server", nil, []string{"subscriptions", "list"}, exitUsage, "--server"},
		{"no --store mode", environ, []string{"subscriptions", "list", "--store", "memory:"}, exitUsage, "unknown flag"},
		{"create needs a name", environ, []string{"subscriptions", "create"}, exitUsage, "one argument"},
		{"bad start", environ, []string{"subscriptions", "create", "x", "--start", "tomorrow"}, exitUsage, "--start"},
		{"sub-millisecond timeout", environ, []string{"subscriptions", "create", "x", "--ack-timeout", "1500us"}, exitUsage, "--ack-timeout"},
		{"refused definition", environ, []string{"subscriptions", "create", "x", "--ack-timeout", "1ms"}, exitError, "400"},
		{"fetch needs a consumer", environ, []string{"subscriptions", "fetch", "s"}, exitUsage, "--consumer"},
		{"fetch waits at most 30s", environ, []string{"subscriptions", "fetch", "s", "--consumer", "c", "--wait", "31s"}, exitError, "wait_ms"},
		{"ack needs ids", environ, []string{"subscriptions", "ack", "s", "--consumer", "c"}, exitUsage, "event ids"},
		{"ack a bad id", environ, []string{"subscriptions", "ack", "s", "--consumer", "c", "nope"}, exitError, "not a UUID"},
		{"nack a bad action", environ, []string{"subscriptions", "nack", "s", "--consumer", "c", "--action", "later", id}, exitUsage, "--action"},
		{"an unknown subscription", environ, []string{"subscriptions", "parked", "nope"}, exitError, "404"},
		{"a read-only token cannot fetch", reader, []string{"subscriptions", "fetch", "s", "--consumer", "c"}, exitError, "403"},
		{"a read-only token cannot create", reader, []string{"subscriptions", "create", "y"}, exitError, "read-only"},
		{"a read-only token cannot delete", reader, []string{"subscriptions", "delete", "s"}, exitError, "403"},
		{"no token", map[string]string{"ANNALS_SERVER": api.url}, []string{"subscriptions", "list"}, exitError, "401"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cli(t, c.environ, c.args...).expect(t, c.code, c.want)
		})
	}
	cli(t, reader, "subscriptions", "list", "--json").expect(t, exitOK, `"name": "s"`)
	r := cli(t, environ, "subscriptions", "list", "--json")
	var list struct {
		Subscriptions []server.SubscriptionView `json:"subscriptions"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil || len(list.Subscriptions) != 1 {
		t.Errorf("after refused commands the subscriptions are %s (%v), want s only", r.stdout, err)
	}
}

// TestServeRunsSubscriptions: 'annals serve' serves subscriptions and
// feeds their queues, and stops cleanly with them running. (That a
// waiting fetch ends at shutdown is TestSubscriptionsShutdownEndsFetch in
// package server: from outside the process a test cannot know that the
// server has accepted the request before it stops listening.)
func TestServeRunsSubscriptions(t *testing.T) {
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	logs := &watcher{}
	wait := background(ctx, nil, &bytes.Buffer{}, logs, "serve", "--store", "memory:", "--addr", "127.0.0.1:0", "--log-format", "json", "--token", testToken)
	<-logs.when("annals listening")
	m := regexp.MustCompile(`"addr":"(http://[^"]+)"`).FindStringSubmatch(logs.String())
	if m == nil {
		t.Fatalf("no address in the logs:\n%s", logs)
	}
	environ := map[string]string{"ANNALS_SERVER": m[1], "ANNALS_TOKEN": testToken}
	cli(t, environ, "subscriptions", "create", "s", "--json").expect(t, exitOK)
	stream := uuid.NewString()
	cli(t, environ, "append", stream, "--name", "Happened").expect(t, exitOK)
	got := fetchJSON(t, environ, "s", "--consumer", "c", "--wait", "10s")
	if len(got) != 1 || got[0].Event.AggregateUUID != stream {
		t.Fatalf("fetched %+v, want the event of %s", got, stream)
	}

	stop()
	if code := wait(); code != exitOK {
		t.Fatalf("serve exited %d, want 0\n%s", code, logs)
	}
}

// TestSubscriptionsHelp: the commands say they need a server.
func TestSubscriptionsHelp(t *testing.T) {
	cli(t, nil, "--help").expect(t, exitOK, "subscriptions")
	cli(t, nil, "subscriptions", "--help").expect(t, exitOK, "create", "fetch", "nack", "replay", "ANNALS_SERVER", "no --store mode")
	cli(t, nil, "subscriptions", "fetch", "--help").expect(t, exitOK, "--consumer", "--wait", "--max", "running server")
	cli(t, nil, "subscriptions", "nack", "--help").expect(t, exitOK, "--action", "retry", "park", "--reason")
}
