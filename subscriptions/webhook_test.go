package subscriptions

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
)

// verify checks a request's Standard Webhooks signature from first
// principles: base64 HMAC-SHA256, keyed by the secret's decoded bytes, of
// "id.timestamp.body".
func verify(t *testing.T, secret string, r *http.Request, body []byte) {
	t.Helper()
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		t.Errorf("secret: %v", err)
		return
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(r.Header.Get("webhook-id") + "." + r.Header.Get("webhook-timestamp") + "."))
	mac.Write(body)
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	if got := r.Header.Get("webhook-signature"); got != want {
		t.Errorf("signature: got %q, want %q", got, want)
	}
}

// TestWebhookFlappingReceiver: a receiver that fails each event's first
// attempts gets every event, signed, each stream's in version order, and
// the log shows the failed and the accepted attempts.
func TestWebhookFlappingReceiver(t *testing.T) {
	ctx := context.Background()
	svc, store, _ := newService(t, "memory:")
	svc.AllowPrivateWebhooks = true
	var mu sync.Mutex
	var secret string
	tries := map[string]int{}
	accepted := map[string][]int64{} // stream → versions, in arrival order
	seen := map[string]bool{}
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		verify(t, secret, r, body)
		var ev webhookEvent
		if err := json.Unmarshal(body, &ev); err != nil {
			t.Errorf("body: %v", err)
		}
		if ev.ID != r.Header.Get("webhook-id") {
			t.Errorf("webhook-id %q, event %q", r.Header.Get("webhook-id"), ev.ID)
		}
		tries[ev.ID]++
		if tries[ev.ID] <= 2 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		if !seen[ev.ID] {
			seen[ev.ID] = true
			accepted[ev.Stream] = append(accepted[ev.Stream], ev.Version)
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer receiver.Close()
	sub, err := svc.Create(ctx, Subscription{Name: "hook", Webhook: &Webhook{URL: receiver.URL},
		Settings: Settings{MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	secret = sub.Webhook.Secret
	mu.Unlock()
	if !strings.HasPrefix(secret, "whsec_") {
		t.Fatalf("generated secret %q", secret)
	}
	want := map[string]bool{}
	for range 3 {
		for _, id := range appendEvents(t, store, uuid.New(), "", "E1", "E2", "E3") {
			want[id.String()] = true
		}
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		mu.Lock()
		n := len(seen)
		mu.Unlock()
		if n == len(want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d events accepted", n, len(want))
		}
	}
	mu.Lock()
	for stream, versions := range accepted {
		for i, v := range versions {
			if v != int64(i+1) {
				t.Errorf("stream %s: accepted versions %v, want 1, 2, 3", stream, versions)
				break
			}
		}
	}
	mu.Unlock()
	// The attempts of a batch are logged once the batch is sent.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		log, err := svc.WebhookLog(ctx, "hook", 1000)
		if err != nil {
			t.Fatal(err)
		}
		statuses := map[int]int{}
		for _, a := range log {
			statuses[a.Status]++
		}
		if statuses[http.StatusServiceUnavailable] >= 2*len(want) && statuses[http.StatusNoContent] >= len(want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("log statuses %v, want at least %d × 503 and %d × 204", statuses, 2*len(want), len(want))
		}
	}
	if _, err := svc.Fetch(ctx, "hook", "manual", 0, 0); !errors.Is(err, ErrInvalid) {
		t.Errorf("fetching from a webhook subscription: got %v, want ErrInvalid", err)
	}
	got, err := svc.Get(ctx, "hook")
	if err != nil {
		t.Fatal(err)
	}
	if got.Webhook == nil || got.Webhook.Secret == secret || got.Webhook.URL != receiver.URL {
		t.Errorf("Get shows webhook %+v: want the URL and a masked secret", got.Webhook)
	}
}

// TestWebhookAddresses: webhooks go only to http(s) URLs, and not to
// loopback, link-local or private addresses unless allowed, checked when
// created and again when connecting.
func TestWebhookAddresses(t *testing.T) {
	ctx := context.Background()
	svc, _, _ := newService(t, "memory:")
	for _, u := range []string{"ftp://example.com/hook", "file:///etc/passwd", "http://127.0.0.1:8080/hook", "http://[::1]/hook",
		"http://169.254.169.254/latest/meta-data", "http://10.0.0.5/hook", "http://user:pw@example.com/", "http:///nohost"} {
		if _, err := svc.Create(ctx, Subscription{Name: "h", Webhook: &Webhook{URL: u}}); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: got %v, want ErrInvalid", u, err)
		}
	}
	if _, err := svc.Create(ctx, Subscription{Name: "h", Webhook: &Webhook{URL: "http://93.184.215.14/hook", Secret: "whsec_short"}}); !errors.Is(err, ErrInvalid) {
		t.Errorf("bad secret: got %v, want ErrInvalid", err)
	}
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer receiver.Close()
	if _, err := webhookClient(time.Second, false).Post(receiver.URL, "application/json", nil); err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Errorf("connecting to loopback: got %v, want a refusal", err)
	}
	if _, err := webhookClient(time.Second, true).Post(receiver.URL, "application/json", nil); err != nil {
		t.Errorf("connecting to loopback when allowed: %v", err)
	}
	svc.AllowPrivateWebhooks = true
	if _, err := svc.Create(ctx, Subscription{Name: "h", Webhook: &Webhook{URL: receiver.URL}}); err != nil {
		t.Errorf("loopback when allowed: %v", err)
	}
}

// TestWebhookEventsBehindAFailureKeepTheirAttempts: events held back
// because an earlier event of their stream failed were never sent, so
// their first request says attempt 1 and they cannot be parked for the
// earlier event's failures.
func TestWebhookEventsBehindAFailureKeepTheirAttempts(t *testing.T) {
	ctx := context.Background()
	svc, store, _ := newService(t, "memory:")
	svc.AllowPrivateWebhooks = true
	var mu sync.Mutex
	firstAttempt := map[string]int{}
	failures := 0
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var ev webhookEvent
		if err := json.Unmarshal(body, &ev); err != nil {
			t.Errorf("body: %v", err)
		}
		mu.Lock()
		defer mu.Unlock()
		if _, ok := firstAttempt[ev.ID]; !ok {
			firstAttempt[ev.ID] = ev.Attempt
		}
		if ev.Version == 1 && failures < 2 {
			failures++
			w.WriteHeader(http.StatusBadGateway)
		}
	}))
	defer receiver.Close()
	// Three attempts: the first event uses them all.
	if _, err := svc.Create(ctx, Subscription{Name: "hook", Webhook: &Webhook{URL: receiver.URL},
		Settings: Settings{MaxAttempts: 3, MinBackoff: 5 * time.Millisecond, MaxBackoff: 10 * time.Millisecond}}); err != nil {
		t.Fatal(err)
	}
	// Queued together, so that every batch holds all three.
	evs := appendEvents(t, store, uuid.New(), "", "E1", "E2", "E3")
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		mu.Lock()
		n := len(firstAttempt)
		mu.Unlock()
		if n == 3 {
			break
		}
		if time.Now().After(deadline) {
			parked, _ := svc.Parked(ctx, "hook", 0)
			t.Fatalf("%d of 3 events reached the receiver; parked: %+v", n, parked)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for i, id := range evs[1:] {
		if got := firstAttempt[id.String()]; got != 1 {
			t.Errorf("E%d's first request: attempt %d, want 1", i+2, got)
		}
	}
}

// TestWebhookAckTimeoutMustOutlastRequests: Create refuses a webhook
// subscription whose ack timeout would let an event go out again while
// its request may still run.
func TestWebhookAckTimeoutMustOutlastRequests(t *testing.T) {
	ctx := context.Background()
	svc, _, _ := newService(t, "memory:")
	cases := []struct {
		name     string
		settings Settings
		timeout  time.Duration
		ok       bool
	}{
		{"shorter than the default request timeout", Settings{AckTimeout: 5 * time.Second}, 0, false},
		{"equal to the request timeout", Settings{AckTimeout: 2 * time.Second}, 2 * time.Second, false},
		{"shorter than the request timeout", Settings{AckTimeout: time.Second}, 3 * time.Second, false},
		{"the defaults", Settings{}, 0, true},
		{"longer than the request timeout", Settings{AckTimeout: 2 * time.Second}, time.Second, true},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := svc.Create(ctx, Subscription{Name: fmt.Sprintf("hook%d", i), Settings: c.settings,
				Webhook: &Webhook{URL: "http://93.184.215.14/hook", Timeout: c.timeout}})
			switch {
			case c.ok && err != nil:
				t.Errorf("got %v, want it created", err)
			case !c.ok && (!errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "ack_timeout")):
				t.Errorf("got %v, want ErrInvalid about ack_timeout", err)
			}
		})
	}
}

// TestWebhookShortAckTimeoutStillDelivers: a subscription stored before
// Create refused it, whose ack timeout is shorter than its webhook's
// request timeout, still delivers its events: every batch sends its
// first event, within what is left of the event's hold, rather than
// putting the whole batch back again and again.
func TestWebhookShortAckTimeoutStillDelivers(t *testing.T) {
	ctx := context.Background()
	svc, store, _ := newService(t, "memory:")
	svc.AllowPrivateWebhooks = true
	got := make(chan string, 100)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Get("webhook-id")
	}))
	defer receiver.Close()
	secret, err := newSecret()
	if err != nil {
		t.Fatal(err)
	}
	sub := Subscription{Name: "legacy", CreatedAt: svc.now(), Settings: Settings{AckTimeout: time.Second},
		Webhook: &Webhook{URL: receiver.URL, Secret: secret, Timeout: 5 * time.Second}}
	if _, err := svc.definitions().InsertOne(ctx, toDefinition(sub, feedPrefix+"legacy")); err != nil {
		t.Fatal(err)
	}
	svc.signal(&svc.changed)
	evs := appendEvents(t, store, uuid.New(), "", "E1", "E2", "E3")
	timeout := time.After(10 * time.Second)
	for i, id := range evs {
		select {
		case h := <-got:
			if h != id.String() {
				t.Fatalf("request %d: webhook-id %s, want E%d's %s", i+1, h, i+1, id)
			}
		case <-timeout:
			t.Fatalf("%d of 3 events pushed", i)
		}
	}
}

// TestWebhookParksAnEventThatKeepsFailing: an event the receiver keeps
// refusing is sent MaxAttempts times, then parked, and the log holds one
// entry per attempt.
func TestWebhookParksAnEventThatKeepsFailing(t *testing.T) {
	ctx := context.Background()
	svc, store, _ := newService(t, "memory:")
	svc.AllowPrivateWebhooks = true
	requests := make(chan int, 100) // the attempt each request says it is
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev webhookEvent
		if err := json.NewDecoder(r.Body).Decode(&ev); err != nil {
			t.Errorf("body: %v", err)
		}
		requests <- ev.Attempt
		w.WriteHeader(http.StatusInternalServerError)
	}))
	defer receiver.Close()
	const attempts = 3
	if _, err := svc.Create(ctx, Subscription{Name: "hook", Webhook: &Webhook{URL: receiver.URL},
		Settings: Settings{MaxAttempts: attempts, MinBackoff: 5 * time.Millisecond, MaxBackoff: 10 * time.Millisecond}}); err != nil {
		t.Fatal(err)
	}
	id := appendEvents(t, store, uuid.New(), "", "E")[0]
	timeout := time.After(20 * time.Second)
	for want := 1; want <= attempts; want++ {
		select {
		case got := <-requests:
			if got != want {
				t.Fatalf("request %d says attempt %d", want, got)
			}
		case <-timeout:
			t.Fatalf("%d of %d attempts sent", want-1, attempts)
		}
	}
	// Parked by the last attempt's nack; its log entry is written once
	// its batch is done.
	var log []WebhookAttempt
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		parked, err := svc.Parked(ctx, "hook", 0)
		if err != nil {
			t.Fatal(err)
		}
		if log, err = svc.WebhookLog(ctx, "hook", 100); err != nil {
			t.Fatal(err)
		}
		if len(parked) == 1 && len(log) >= attempts {
			if parked[0].Event != id || parked[0].Attempts != attempts || !strings.Contains(parked[0].Reason, "500") {
				t.Errorf("parked %+v, want %s after %d attempts, for its 500", parked[0], id, attempts)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("parked %+v and %d log entries, want the event and %d", parked, len(log), attempts)
		}
	}
	if len(log) != attempts {
		t.Fatalf("%d log entries, want %d: %+v", len(log), attempts, log)
	}
	for i, a := range log { // newest first
		if want := attempts - i; a.Event != id || a.Attempt != want || a.Status != http.StatusInternalServerError || a.Error == "" {
			t.Errorf("log entry %d: %+v, want attempt %d of %s answered 500", i, a, want, id)
		}
	}
	select {
	case got := <-requests:
		t.Errorf("a parked event was sent again (attempt %d)", got)
	default:
	}
}
