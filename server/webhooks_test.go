package server_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/annalsdb/annals/server"
	"github.com/annalsdb/annals/subscriptions"
	"github.com/google/uuid"
)

// hookRequest is one request a webhook receiver got.
type hookRequest struct {
	id, timestamp, signature string
	body                     []byte
	status                   int // what the receiver answered
}

// hookReceiver answers webhook requests with the statuses given in turn
// (then 204) and hands each request to the test.
type hookReceiver struct {
	*httptest.Server
	got chan hookRequest

	mu       sync.Mutex
	statuses []int
}

func newHookReceiver(t testing.TB, statuses ...int) *hookReceiver {
	t.Helper()
	h := &hookReceiver{got: make(chan hookRequest, 100), statuses: statuses}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		status := http.StatusNoContent
		if len(h.statuses) > 0 {
			status, h.statuses = h.statuses[0], h.statuses[1:]
		}
		h.mu.Unlock()
		w.WriteHeader(status)
		h.got <- hookRequest{id: r.Header.Get("webhook-id"), timestamp: r.Header.Get("webhook-timestamp"),
			signature: r.Header.Get("webhook-signature"), body: body, status: status}
	}))
	t.Cleanup(h.Close)
	return h
}

// next returns the next request, failing after a while without one.
func (h *hookReceiver) next(t testing.TB) hookRequest {
	t.Helper()
	select {
	case r := <-h.got:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("the webhook receiver got no request within 10s")
		return hookRequest{}
	}
}

// checkSignature fails unless the request carries the Standard Webhooks
// signature of its id, timestamp and body under secret.
func checkSignature(t testing.TB, secret string, r hookRequest) {
	t.Helper()
	raw, ok := strings.CutPrefix(secret, "whsec_")
	if !ok {
		t.Fatalf("secret %q lacks the whsec_ prefix", secret)
	}
	key, err := base64.StdEncoding.DecodeString(raw)
	if err != nil {
		t.Fatalf("secret %q: %v", secret, err)
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(r.id + "." + r.timestamp + "." + string(r.body)))
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	if !hmac.Equal([]byte(r.signature), []byte(want)) {
		t.Errorf("webhook-signature of %s: got %q, want %q", r.id, r.signature, want)
	}
}

type webhookAttempt struct {
	EventID   string    `json:"event_id"`
	Attempt   int       `json:"attempt"`
	At        time.Time `json:"at"`
	Status    int       `json:"status"`
	LatencyMS float64   `json:"latency_ms"`
	Error     string    `json:"error"`
}

// webhookLog reads a subscription's webhook log until it holds n
// attempts, failing after a while.
func (e *env) webhookLog(name string, n int) []webhookAttempt {
	e.t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(10 * time.Second)
	for {
		var out struct {
			Attempts []webhookAttempt `json:"attempts"`
		}
		e.get(subPath(name, "/webhook-log")).want(e.t, http.StatusOK).decode(e.t, &out)
		if len(out.Attempts) >= n {
			return out.Attempts
		}
		select {
		case <-tick.C:
		case <-deadline:
			e.t.Fatalf("webhook log of %s: %d attempts after 10s, want %d", name, len(out.Attempts), n)
		}
	}
}

// TestSubscriptionWebhooksHTTP drives a webhook subscription over HTTP:
// created with a generated secret shown once, its events pushed signed
// to the receiver (a refused one retried), every attempt in the log.
func TestSubscriptionWebhooksHTTP(t *testing.T) {
	e, _ := newSubsEnv(t, server.Options{}, func(svc *subscriptions.Service) { svc.AllowPrivateWebhooks = true })
	hooks := newHookReceiver(t, http.StatusServiceUnavailable)

	var created struct {
		subscription
		Webhook struct {
			URL       string `json:"url"`
			Secret    string `json:"secret"`
			TimeoutMS int64  `json:"timeout_ms"`
		} `json:"webhook"`
	}
	e.post("/v1/subscriptions", `{"name": "hooks", "events": ["Deposited"],
		"settings": {"min_backoff_ms": 100, "max_backoff_ms": 200},
		"webhook": {"url": "`+hooks.URL+`", "timeout_ms": 2000}}`).want(t, http.StatusCreated).decode(t, &created)
	secret := created.Webhook.Secret
	if created.Webhook.URL != hooks.URL || created.Webhook.TimeoutMS != 2000 || !strings.HasPrefix(secret, "whsec_") || len(secret) < 30 {
		t.Fatalf("created webhook: got %+v, want the receiver's URL, timeout 2000 and a whole generated secret", created.Webhook)
	}

	t.Run("the secret is masked after creation", func(t *testing.T) {
		var got struct {
			Webhook struct {
				URL    string `json:"url"`
				Secret string `json:"secret"`
			} `json:"webhook"`
		}
		e.with(t).get(subPath("hooks")).want(t, http.StatusOK).decode(t, &got)
		if got.Webhook.URL != hooks.URL || got.Webhook.Secret != "whsec_…" {
			t.Errorf("GET webhook: got %+v, want the URL and the secret masked as whsec_…", got.Webhook)
		}
		res := e.with(t).get("/v1/subscriptions").want(t, http.StatusOK)
		if strings.Contains(string(res.body), secret) || !strings.Contains(string(res.body), "whsec_…") {
			t.Errorf("the list shows the secret or does not mask it: %s", truncate(res.body))
		}
	})

	stream := uuid.New()
	first, second := e.deposit(stream, 10), e.deposit(stream, 20)

	// The receiver refuses the first request; both events arrive after.
	delivered := map[string]bool{}
	var refused string
	for len(delivered) < 2 {
		r := hooks.next(t)
		checkSignature(t, secret, r)
		var body struct {
			Subscription string         `json:"subscription"`
			ID           string         `json:"id"`
			Stream       string         `json:"stream"`
			Name         string         `json:"name"`
			Data         map[string]any `json:"data"`
		}
		if err := json.Unmarshal(r.body, &body); err != nil {
			t.Fatalf("webhook body %s: %v", r.body, err)
		}
		if body.ID != r.id || body.Subscription != "hooks" || body.Stream != stream.String() || body.Name != "Deposited" {
			t.Errorf("webhook body %s does not match webhook-id %s", r.body, r.id)
		}
		if r.status != http.StatusNoContent {
			refused = r.id
			continue
		}
		if r.id == second && !delivered[first] {
			t.Errorf("the second event of the stream was delivered before the first")
		}
		delivered[r.id] = true
	}
	if refused != first {
		t.Errorf("refused request: got %s, want the first event %s", refused, first)
	}

	log := e.webhookLog("hooks", 3)
	var byEvent = map[string][]webhookAttempt{}
	for i, a := range log {
		if i > 0 && a.At.After(log[i-1].At) {
			t.Errorf("log not newest first: %v after %v", a.At, log[i-1].At)
		}
		if a.LatencyMS < 0 || a.At.IsZero() {
			t.Errorf("attempt %+v: want a time and a latency", a)
		}
		byEvent[a.EventID] = append(byEvent[a.EventID], a)
	}
	f, s := byEvent[first], byEvent[second]
	if len(f) != 2 || len(s) != 1 {
		t.Fatalf("log: got %d attempts of the first event and %d of the second, want 2 and 1: %+v", len(f), len(s), log)
	}
	if old := f[1]; old.Attempt != 1 || old.Status != http.StatusServiceUnavailable || old.Error == "" {
		t.Errorf("refused attempt: got %+v, want attempt 1, status 503 and an error", old)
	}
	if ok := f[0]; ok.Attempt != 2 || ok.Status != http.StatusNoContent || ok.Error != "" {
		t.Errorf("retried attempt: got %+v, want attempt 2, status 204, no error", ok)
	}
	if s[0].Status != http.StatusNoContent || s[0].Error != "" {
		t.Errorf("second event's attempt: got %+v, want status 204", s[0])
	}

	var one struct {
		Attempts []webhookAttempt `json:"attempts"`
	}
	e.get(subPath("hooks", "/webhook-log?limit=1")).want(t, http.StatusOK).decode(t, &one)
	if len(one.Attempts) != 1 || one.Attempts[0] != log[0] {
		t.Errorf("limit=1: got %+v, want the newest attempt %+v", one.Attempts, log[0])
	}
	e.get(subPath("hooks", "/webhook-log?limit=0")).wantProblem(t, http.StatusBadRequest, "limit")
	e.get(subPath("hooks", "/webhook-log?since=x")).wantProblem(t, http.StatusBadRequest, "since")
	e.get(subPath("nope", "/webhook-log")).wantProblem(t, http.StatusNotFound, "nope")
}

// TestSubscriptionWebhooksRefused checks that a server that does not
// allow private webhooks refuses a loopback URL, and that bad webhooks
// are refused with 400 writing nothing.
func TestSubscriptionWebhooksRefused(t *testing.T) {
	e, _ := newSubsEnv(t, server.Options{})
	hooks := newHookReceiver(t)
	for _, c := range []struct{ name, webhook, detail string }{
		{"loopback", `{"url": "` + hooks.URL + `"}`, "private"},
		{"not http", `{"url": "ftp://example.com/x"}`, "http"},
		{"bad secret", `{"url": "https://example.com/x", "secret": "whsec_short"}`, "secret"},
		{"negative timeout", `{"url": "https://example.com/x", "timeout_ms": -1}`, "timeout_ms"},
		{"unknown field", `{"url": "https://example.com/x", "headers": {}}`, "headers"},
		{"ack timeout within the default request timeout", `{"url": "https://93.184.215.14/x"}, "settings": {"ack_timeout_ms": 5000}`, "ack_timeout"},
		{"ack timeout equal to the request timeout", `{"url": "https://93.184.215.14/x", "timeout_ms": 2000}, "settings": {"ack_timeout_ms": 2000}`, "ack_timeout"},
	} {
		t.Run(c.name, func(t *testing.T) {
			e.with(t).post("/v1/subscriptions", `{"name": "hooks", "webhook": `+c.webhook+`}`).wantProblem(t, http.StatusBadRequest, c.detail)
			e.with(t).get(subPath("hooks")).wantProblem(t, http.StatusNotFound, "hooks")
		})
	}
}
