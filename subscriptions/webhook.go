package subscriptions

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"go.mongodb.org/mongo-driver/bson"
)

// DefaultWebhookTimeout bounds one webhook request.
const DefaultWebhookTimeout = 10 * time.Second

// Webhook makes a subscription push its events to a URL instead of
// waiting for consumers to fetch them. Each event is POSTed as JSON,
// signed as the Standard Webhooks specification says (headers
// webhook-id, webhook-timestamp and webhook-signature "v1,<base64
// HMAC-SHA256 of id.timestamp.body>"), one request at a time, a stream's
// events in version order. A 2xx answer acknowledges the event; anything
// else, or no answer within Timeout, retries it after the subscription's
// backoff (with jitter), and after MaxAttempts it is parked. Every attempt
// is logged (WebhookLog).
type Webhook struct {
	// URL receives the events: http or https. Unless the service allows
	// private addresses, it must not resolve to a loopback, link-local,
	// private or unspecified address.
	URL string
	// Secret signs the requests: "whsec_" and base64 of 24 to 64 random
	// bytes. Empty makes Create generate one; Get and List mask it.
	Secret string
	// Timeout bounds one request. Default DefaultWebhookTimeout. It must
	// be shorter than the subscription's AckTimeout; a request also ends
	// when its event's ack deadline passes.
	Timeout time.Duration
}

const secretPrefix = "whsec_"

// newSecret returns a fresh signing secret.
func newSecret() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return secretPrefix + base64.StdEncoding.EncodeToString(b[:]), nil
}

// secretKey decodes a signing secret.
func secretKey(secret string) ([]byte, error) {
	raw, ok := strings.CutPrefix(secret, secretPrefix)
	if !ok {
		return nil, fmt.Errorf("webhook secret must start with %q", secretPrefix)
	}
	key, err := base64.StdEncoding.DecodeString(raw)
	if err != nil || len(key) < 24 || len(key) > 64 {
		return nil, errors.New("webhook secret must be whsec_ and base64 of 24 to 64 bytes")
	}
	return key, nil
}

// Sign returns the webhook-signature header value of a message: "v1,"
// and the base64 HMAC-SHA256, keyed by the secret's bytes, of
// "id.timestamp.body". Receivers check it the same way.
func Sign(secret, id string, timestamp int64, body []byte) (string, error) {
	key, err := secretKey(secret)
	if err != nil {
		return "", err
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + strconv.FormatInt(timestamp, 10) + "."))
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil)), nil
}

// validateWebhook checks a webhook's URL (and, unless allowPrivate, where
// it points) and secret.
func validateWebhook(ctx context.Context, w *Webhook, allowPrivate bool) []error {
	var errs []error
	u, err := url.Parse(w.URL)
	switch {
	case err != nil:
		errs = append(errs, fmt.Errorf("webhook url: %v", err))
	case u.Scheme != "http" && u.Scheme != "https":
		errs = append(errs, fmt.Errorf("webhook url %q: only http and https are delivered to", w.URL))
	case u.Hostname() == "":
		errs = append(errs, fmt.Errorf("webhook url %q has no host", w.URL))
	case u.User != nil:
		errs = append(errs, fmt.Errorf("webhook url must not carry credentials; the signature authenticates the requests"))
	case !allowPrivate:
		ips, err := net.DefaultResolver.LookupIPAddr(ctx, u.Hostname())
		if err != nil {
			errs = append(errs, fmt.Errorf("webhook url %q: resolve its host: %v", w.URL, err))
		}
		for _, ip := range ips {
			if blocked(ip.IP) {
				errs = append(errs, fmt.Errorf("webhook url %q points at %s, a loopback, link-local or private address (allow private webhook addresses to deliver there)", w.URL, ip.IP))
				break
			}
		}
	}
	if w.Secret != "" {
		if _, err := secretKey(w.Secret); err != nil {
			errs = append(errs, err)
		}
	}
	if w.Timeout < 0 || (w.Timeout > 0 && w.Timeout < 100*time.Millisecond) || w.Timeout > 5*time.Minute {
		errs = append(errs, fmt.Errorf("webhook timeout %s must be 100ms to 5m", w.Timeout))
	}
	return errs
}

// blocked reports addresses webhooks must not reach unless allowed:
// other services on this host or its network (SSRF).
func blocked(ip net.IP) bool {
	return ip.IsLoopback() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsPrivate() || ip.IsUnspecified() || ip.IsInterfaceLocalMulticast() || ip.IsMulticast()
}

// webhookClient returns the HTTP client a subscription's pusher uses: its
// dialer checks the address it connects to, so a host that resolves to an
// allowed address at Create and to a blocked one later (DNS rebinding) is
// still refused.
func webhookClient(timeout time.Duration, allowPrivate bool) *http.Client {
	dialer := &net.Dialer{Timeout: timeout}
	if !allowPrivate {
		dialer.Control = func(_, address string, _ syscall.RawConn) error {
			host, _, err := net.SplitHostPort(address)
			if err != nil {
				return err
			}
			if ip := net.ParseIP(host); ip == nil || blocked(ip) {
				return fmt.Errorf("webhook address %s is loopback, link-local or private", host)
			}
			return nil
		}
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.DialContext = dialer.DialContext
	transport.Proxy = nil
	return &http.Client{
		Timeout:   timeout,
		Transport: transport,
		// A redirect could lead anywhere; the receiver must answer itself.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// webhookEvent is the JSON body of a webhook request.
type webhookEvent struct {
	Subscription  string          `json:"subscription"`
	ID            string          `json:"id"`
	Stream        string          `json:"stream"`
	AggregateType string          `json:"aggregate_type,omitempty"`
	Version       int64           `json:"version"`
	Name          string          `json:"name"`
	SchemaVersion int32           `json:"schema_version"`
	Data          json.RawMessage `json:"data"`
	Metadata      map[string]any  `json:"metadata,omitempty"`
	RecordedAt    string          `json:"recorded_at"`
	Attempt       int             `json:"attempt"`
}

// webhookBody renders an event as a webhook request's body.
func webhookBody(sub string, d Delivery) ([]byte, error) {
	ev := d.Event
	data := json.RawMessage("{}")
	if len(ev.Data) > 0 {
		b, err := bson.MarshalExtJSON(ev.Data, false, false)
		if err != nil {
			return nil, fmt.Errorf("render event %s: %w", ev.ID, err)
		}
		data = b
	}
	meta := map[string]any{}
	for k, v := range ev.Metadata.Extra {
		meta[k] = v
	}
	for k, v := range map[string]string{"correlation_id": ev.Metadata.CorrelationID, "causation_id": ev.Metadata.CausationID, "actor": ev.Metadata.Actor} {
		if v != "" {
			meta[k] = v
		}
	}
	return json.Marshal(webhookEvent{
		Subscription: sub, ID: ev.ID.String(), Stream: ev.Stream.String(), AggregateType: ev.StreamType,
		Version: ev.Version, Name: ev.Name, SchemaVersion: ev.SchemaVersion, Data: data, Metadata: meta,
		RecordedAt: ev.RecordedAt.UTC().Format("2006-01-02T15:04:05.000Z07:00"), Attempt: d.Attempt,
	})
}

// post sends one event and reports the status (0 without an answer).
func post(ctx context.Context, client *http.Client, w Webhook, sub string, d Delivery, now time.Time) (int, error) {
	body, err := webhookBody(sub, d)
	if err != nil {
		return 0, err
	}
	return send(ctx, client, w, d.Event.ID.String(), body, now)
}

// send POSTs one signed message and reports the status (0 without an
// answer); a status other than 2xx is an error.
func send(ctx context.Context, client *http.Client, w Webhook, id string, body []byte, now time.Time) (int, error) {
	ts := now.Unix()
	sig, err := Sign(w.Secret, id, ts, body)
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "annals-webhooks")
	req.Header.Set("webhook-id", id)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("webhook-signature", sig)
	injectTrace(ctx, req.Header)
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, fmt.Errorf("webhook answered %s", resp.Status)
	}
	return resp.StatusCode, nil
}
