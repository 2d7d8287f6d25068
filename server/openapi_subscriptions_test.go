package server_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/annalsdb/annals/mongostore"
	"github.com/annalsdb/annals/server"
	"github.com/annalsdb/annals/subscriptions"
	"github.com/google/uuid"
)

// TestOpenAPISubscriptions holds the subscriptions endpoints to the spec:
// requests the spec accepts or refuses, and every answer's shape.
func TestOpenAPISubscriptions(t *testing.T) {
	var svc *subscriptions.Service
	e := newOAEnvWith(t, server.Options{Tokens: []server.Token{{Secret: oaWriter}, {Secret: oaReader, Access: server.ReadOnly}}},
		func(store *mongostore.Store, o *server.Options) {
			svc = subscriptions.New(store)
			svc.Poll, svc.Refresh = 10*time.Millisecond, 50*time.Millisecond
			svc.AllowPrivateWebhooks = true
			o.Subscriptions = svc
		})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("subscriptions Run: %v", err)
		}
	})
	call := func(name, method, target, token, body string, want int, problem string, rejects bool) oaCall {
		c := oaCall{name: name, method: method, target: target, token: token, want: want, problem: problem, specRejects: rejects}
		if body != "" {
			c.body, c.contentType = []byte(body), "application/json"
		}
		return c
	}
	post := func(name, target, body string, want int, problem string, rejects bool) oaCall {
		return call(name, http.MethodPost, target, oaWriter, body, want, problem, rejects)
	}
	get := func(name, target string, want int, problem string, rejects bool) oaCall {
		return call(name, http.MethodGet, target, oaReader, "", want, problem, rejects)
	}
	const subs = "/v1/subscriptions"
	sub := subs + "/billing"
	hooks := newHookReceiver(t)
	webhook := func(fields string) string {
		return `{"name": "x", "webhook": {"url": "` + hooks.URL + `"` + fields + `}}`
	}
	e.runCalls(t, []oaCall{
		post("create", subs, `{"name": "billing", "events": ["OrderPlaced"], "aggregate_types": ["Order"], "settings": {"ack_timeout_ms": 60000, "max_attempts": 2}}`, 201, "", false),
		post("create from now", subs, `{"name": "later", "start": {"now": true}}`, 201, "", false),
		post("create after a position", subs, `{"name": "after", "start": {"after": {"recorded_at": "2026-01-02T03:04:05Z", "aggregate_uuid": "`+uuid.NewString()+`", "version": 3}}}`, 201, "", false),
		post("create again", subs, `{"name": "billing"}`, 409, "subscription-exists", false),
		post("create with an unknown field", subs, `{"name": "x", "filter": {}}`, 400, "invalid-input", true),
		post("create without a name", subs, `{"events": ["A"]}`, 400, "invalid-input", true),
		post("create with a negative ack timeout", subs, `{"name": "x", "settings": {"ack_timeout_ms": -1}}`, 400, "invalid-input", true),
		post("create with a short ack timeout", subs, `{"name": "x", "settings": {"ack_timeout_ms": 5}}`, 400, "invalid-input", false),
		post("create with a reserved name", subs, `{"name": "subscription-feed.x"}`, 400, "invalid-input", false),
		call("create with a read-only token", http.MethodPost, subs, oaReader, `{"name": "x"}`, 403, "forbidden", false),
		call("create without a token", http.MethodPost, subs, "", `{"name": "x"}`, 401, "unauthorized", true),
		get("list", subs, 200, "", false),
		get("get", sub, 200, "", false),
		get("get start now", subs+"/later", 200, "", false),
		get("get start after", subs+"/after", 200, "", false),
		get("get an unknown one", subs+"/nope", 404, "subscription-not-found", false),
		get("list with a parameter", subs+oaQuery("limit", "1"), 400, "invalid-input", false),
		post("create with a webhook", subs, `{"name": "hooks", "events": ["OrderPlaced"], "webhook": {"url": "`+hooks.URL+`", "timeout_ms": 2000}}`, 201, "", false),
		post("create with a webhook secret", subs, `{"name": "signed", "events": ["None"], "webhook": {"url": "`+hooks.URL+`", "secret": "whsec_`+strings.Repeat("A", 32)+`"}}`, 201, "", false),
		post("create with a malformed webhook secret", subs, webhook(`, "secret": "nope"`), 400, "invalid-input", true),
		post("create with a short webhook secret", subs, webhook(`, "secret": "whsec_AAAA"`), 400, "invalid-input", false),
		post("create with a short webhook timeout", subs, webhook(`, "timeout_ms": 5`), 400, "invalid-input", false),
		post("create with a long webhook timeout", subs, webhook(`, "timeout_ms": 300001`), 400, "invalid-input", true),
		post("create with an unknown webhook field", subs, webhook(`, "headers": {}`), 400, "invalid-input", true),
		post("create with an ftp webhook", subs, `{"name": "x", "webhook": {"url": "ftp://example.com/x"}}`, 400, "invalid-input", false),
		post("create with a webhook without a url", subs, `{"name": "x", "webhook": {}}`, 400, "invalid-input", true),
		get("get a webhook subscription", subs+"/hooks", 200, "", false),
		get("list with webhooks", subs, 200, "", false),
		get("webhook log without a webhook", sub+"/webhook-log", 200, "", false),
		get("webhook log with a limit", subs+"/hooks/webhook-log"+oaQuery("limit", "5"), 200, "", false),
		get("webhook log with limit 0", subs+"/hooks/webhook-log"+oaQuery("limit", "0"), 400, "invalid-input", true),
		get("webhook log with limit 1001", subs+"/hooks/webhook-log"+oaQuery("limit", "1001"), 400, "invalid-input", true),
		get("webhook log with an unknown parameter", subs+"/hooks/webhook-log"+oaQuery("since", "1"), 400, "invalid-input", false),
		get("webhook log of an unknown one", subs+"/nope/webhook-log", 404, "subscription-not-found", false),
		get("status", sub+"/status", 200, "", false),
		get("status with a parameter", sub+"/status"+oaQuery("limit", "1"), 400, "invalid-input", false),
		get("status of an unknown one", subs+"/nope/status", 404, "subscription-not-found", false),
		call("webhook log without a token", http.MethodGet, subs+"/hooks/webhook-log", "", "", 401, "unauthorized", true),
	})

	stream := uuid.NewString()
	var appended struct {
		Events []struct {
			ID string `json:"id"`
		} `json:"events"`
	}
	e.call(t, post("", oaEventsPath(stream), `{"aggregate_type": "Order", "events": [{"name": "OrderPlaced", "data": {"total": 5}}, {"name": "OrderPlaced"}, {"name": "OrderPlaced"}]}`, 201, "", false)).decode(t, &appended)
	var batch struct {
		Deliveries []struct {
			Event struct {
				ID string `json:"id"`
			} `json:"event"`
		} `json:"deliveries"`
	}
	e.call(t, post("", sub+"/fetch", `{"consumer": "w1", "max": 3, "wait_ms": 10000}`, 200, "", false)).decode(t, &batch)
	for len(batch.Deliveries) < 3 {
		var more struct {
			Deliveries []struct {
				Event struct {
					ID string `json:"id"`
				} `json:"event"`
			} `json:"deliveries"`
		}
		e.call(t, post("", sub+"/fetch", `{"consumer": "w1", "wait_ms": 10000}`, 200, "", false)).decode(t, &more)
		batch.Deliveries = append(batch.Deliveries, more.Deliveries...)
	}
	// The webhook subscription pushes the three events; their attempts
	// are in its log.
	for range 3 {
		hooks.next(t)
	}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(10 * time.Second)
	for {
		var log struct {
			Attempts []struct {
				Status int `json:"status"`
			} `json:"attempts"`
		}
		e.call(t, get("webhook log", subs+"/hooks/webhook-log", 200, "", false)).decode(t, &log)
		if len(log.Attempts) == 3 {
			break
		}
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("webhook log: %d attempts after 10s, want 3", len(log.Attempts))
		}
	}
	id1, id2, id3 := appended.Events[0].ID, appended.Events[1].ID, appended.Events[2].ID
	ids := func(ids ...string) string { return `["` + strings.Join(ids, `", "`) + `"]` }
	res := e.call(t, post("ack one held, one not", sub+"/ack", `{"consumer": "w1", "event_ids": `+ids(id1, uuid.NewString())+`}`, 409, "not-held", false))
	var nh struct {
		EventIDs []string `json:"event_ids"`
	}
	res.decode(t, &nh)
	if len(nh.EventIDs) != 1 || nh.EventIDs[0] == id1 {
		t.Errorf("not-held lists %v, want only the unknown id", nh.EventIDs)
	}
	e.runCalls(t, []oaCall{
		post("ack again", sub+"/ack", `{"consumer": "w1", "event_ids": `+ids(id1)+`}`, 409, "not-held", false),
		post("nack park", sub+"/nack", `{"consumer": "w1", "event_ids": `+ids(id2)+`, "action": "park", "reason": "no"}`, 204, "", false),
		post("nack retry", sub+"/nack", `{"consumer": "w1", "event_ids": `+ids(id3)+`, "action": "retry"}`, 204, "", false),
		post("nack by another consumer", sub+"/nack", `{"consumer": "w2", "event_ids": `+ids(id3)+`, "action": "retry"}`, 409, "not-held", false),
		post("nack without action", sub+"/nack", `{"consumer": "w1", "event_ids": `+ids(id3)+`}`, 400, "invalid-input", true),
		post("nack with an unknown action", sub+"/nack", `{"consumer": "w1", "event_ids": `+ids(id3)+`, "action": "later"}`, 400, "invalid-input", true),
		post("ack without ids", sub+"/ack", `{"consumer": "w1", "event_ids": []}`, 400, "invalid-input", true),
		post("ack with a bad id", sub+"/ack", `{"consumer": "w1", "event_ids": ["x"]}`, 400, "invalid-input", true),
		post("ack an unknown subscription", subs+"/nope/ack", `{"consumer": "w1", "event_ids": `+ids(id1)+`}`, 404, "subscription-not-found", false),
		post("fetch without a consumer", sub+"/fetch", `{}`, 400, "invalid-input", true),
		post("fetch waiting too long", sub+"/fetch", `{"consumer": "w1", "wait_ms": 30001}`, 400, "invalid-input", true),
		post("fetch an empty batch", subs+"/later/fetch", `{"consumer": "w1"}`, 200, "", false),
		post("fetch unknown", subs+"/nope/fetch", `{"consumer": "w1"}`, 404, "subscription-not-found", false),
		call("fetch with a read-only token", http.MethodPost, sub+"/fetch", oaReader, `{"consumer": "w1"}`, 403, "forbidden", false),
		call("fetch without JSON", http.MethodPost, sub+"/fetch", oaWriter, "", 415, "unsupported-media-type", true),
		get("parked", sub+"/parked", 200, "", false),
		get("parked with a limit", sub+"/parked"+oaQuery("limit", "1"), 200, "", false),
		get("parked with limit 0", sub+"/parked"+oaQuery("limit", "0"), 400, "invalid-input", true),
		get("parked of an unknown one", subs+"/nope/parked", 404, "subscription-not-found", false),
		post("replay one", sub+"/parked/replay", `{"event_ids": `+ids(id2)+`}`, 200, "", false),
		post("replay all", sub+"/parked/replay", `{}`, 200, "", false),
		post("replay with a bad id", sub+"/parked/replay", `{"event_ids": ["x"]}`, 400, "invalid-input", true),
		call("replay with a read-only token", http.MethodPost, sub+"/parked/replay", oaReader, `{}`, 403, "forbidden", false),
		call("delete with a read-only token", http.MethodDelete, sub, oaReader, "", 403, "forbidden", false),
		call("delete", http.MethodDelete, sub, oaWriter, "", 204, "", false),
		call("delete again", http.MethodDelete, sub, oaWriter, "", 404, "subscription-not-found", false),
	})

	t.Run("a server without subscriptions", func(t *testing.T) {
		plain := newOAEnv(t, server.Options{})
		plain.runCalls(t, []oaCall{
			call("list", http.MethodGet, subs, oaReader, "", 404, "not-found", false),
			call("get", http.MethodGet, sub, oaReader, "", 404, "not-found", false),
		})
	})
}
