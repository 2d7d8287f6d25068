package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/annalsdb/annals/server"
	"github.com/annalsdb/annals/subscriptions"
	"github.com/google/uuid"
)

// startReceiver starts a webhook receiver that answers 204 and hands
// over each request's webhook-id.
func startReceiver(t *testing.T) (string, <-chan string) {
	t.Helper()
	got := make(chan string, 100)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
		got <- r.Header.Get("webhook-id")
	}))
	t.Cleanup(srv.Close)
	return srv.URL, got
}

// receive waits for n webhook requests and returns their ids.
func receive(t *testing.T, got <-chan string, n int) []string {
	t.Helper()
	var ids []string
	timeout := time.After(10 * time.Second)
	for len(ids) < n {
		select {
		case id := <-got:
			ids = append(ids, id)
		case <-timeout:
			t.Fatalf("the receiver got %d webhook requests in 10s, want %d", len(ids), n)
		}
	}
	return ids
}

// webhookLogJSON runs webhook-log --json until it lists n attempts.
func webhookLogJSON(t *testing.T, environ map[string]string, n int, args ...string) []server.WebhookAttemptView {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	timeout := time.After(10 * time.Second)
	for {
		r := cli(t, environ, append([]string{"subscriptions", "webhook-log", "--json"}, args...)...)
		r.expect(t, exitOK)
		var res server.WebhookLogResponse
		if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
			t.Fatalf("webhook-log --json: %v\n%s", err, r.stdout)
		}
		if len(res.Attempts) >= n {
			return res.Attempts
		}
		select {
		case <-tick.C:
		case <-timeout:
			t.Fatalf("webhook-log lists %d attempts after 10s, want %d", len(res.Attempts), n)
		}
	}
}

// TestSubscriptionsWebhookCLI: create with --webhook-url and friends,
// the secret shown once, get showing the webhook, and webhook-log.
func TestSubscriptionsWebhookCLI(t *testing.T) {
	api := startSubsAPI(t, func(svc *subscriptions.Service) { svc.AllowPrivateWebhooks = true })
	environ := api.env()
	hookURL, got := startReceiver(t)

	r := cli(t, environ, "subscriptions", "create", "hooks", "--events", "Deposited", "--webhook-url", hookURL, "--webhook-timeout", "2s")
	r.expect(t, exitOK, "created subscription hooks", "webhook:         "+hookURL, "webhook secret:  whsec_", "webhook timeout: 2s", "keep the webhook secret")
	if strings.Contains(r.stdout, "whsec_…") {
		t.Errorf("create masks the generated secret:\n%s", r.stdout)
	}
	cli(t, environ, "subscriptions", "get", "hooks").expect(t, exitOK, "webhook:         "+hookURL, "webhook secret:  whsec_…", "webhook timeout: 2s")

	secret := "whsec_" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	r = cli(t, environ, "subscriptions", "create", "signed", "--events", "Other", "--webhook-url", hookURL, "--webhook-secret", secret, "--json")
	r.expect(t, exitOK)
	var v server.SubscriptionView
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil || v.Webhook == nil || v.Webhook.Secret != secret || v.Webhook.TimeoutMS != 10000 {
		t.Fatalf("create --webhook-secret --json: %v %+v\n%s", err, v.Webhook, r.stdout)
	}
	if strings.Contains(r.stdout, "keep the webhook secret") {
		t.Errorf("create --json prints a note:\n%s", r.stdout)
	}

	ids := depositN(t, api.store, 2)
	if sent := receive(t, got, 2); sent[0] != ids[0] || sent[1] != ids[1] {
		t.Fatalf("the receiver got %v, want %v in order", sent, ids)
	}
	attempts := webhookLogJSON(t, environ, 2, "hooks")
	if len(attempts) != 2 || attempts[0].EventID != ids[1] || attempts[1].EventID != ids[0] || attempts[0].Status != 204 || attempts[0].Attempt != 1 {
		t.Fatalf("webhook-log: got %+v, want both events delivered, newest first", attempts)
	}
	cli(t, environ, "subscriptions", "webhook-log", "hooks").expect(t, exitOK, "AT", "EVENT ID", "STATUS", "LATENCY", ids[0], ids[1], "204")
	if one := webhookLogJSON(t, environ, 1, "hooks", "--limit", "1"); len(one) != 1 || one[0].EventID != ids[1] {
		t.Errorf("webhook-log --limit 1: got %+v, want the newest attempt only", one)
	}
	cli(t, environ, "subscriptions", "webhook-log", "signed").expect(t, exitOK, "no webhook attempts")
}

func TestSubscriptionsWebhookCLIErrors(t *testing.T) {
	api := startSubsAPI(t)
	environ := api.env()
	hookURL, _ := startReceiver(t)
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"a secret needs a URL", []string{"subscriptions", "create", "x", "--webhook-secret", "whsec_x"}, exitUsage, "--webhook-url"},
		{"a timeout needs a URL", []string{"subscriptions", "create", "x", "--webhook-timeout", "1s"}, exitUsage, "--webhook-url"},
		{"sub-millisecond webhook timeout", []string{"subscriptions", "create", "x", "--webhook-url", "https://example.com/", "--webhook-timeout", "1500us"}, exitUsage, "--webhook-timeout"},
		{"a loopback webhook", []string{"subscriptions", "create", "x", "--webhook-url", hookURL}, exitError, "private"},
		{"a bad secret", []string{"subscriptions", "create", "x", "--webhook-url", "https://example.com/", "--webhook-secret", "nope"}, exitError, "whsec_"},
		{"an ack timeout within the request timeout", []string{"subscriptions", "create", "x", "--webhook-url", "https://93.184.215.14/", "--webhook-timeout", "2s", "--ack-timeout", "2s"}, exitError, "ack_timeout 2s must be longer than the webhook timeout 2s"},
		{"webhook-log needs a name", []string{"subscriptions", "webhook-log"}, exitUsage, "one argument"},
		{"webhook-log of an unknown subscription", []string{"subscriptions", "webhook-log", "nope"}, exitError, "404"},
		{"webhook-log with a negative limit", []string{"subscriptions", "webhook-log", "nope", "--limit", "-1"}, exitUsage, "--limit"},
		{"webhook-log with a limit too large", []string{"subscriptions", "webhook-log", "nope", "--limit", "1001"}, exitError, "limit"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cli(t, environ, c.args...).expect(t, c.code, c.want)
		})
	}
	cli(t, environ, "subscriptions", "get", "x").expect(t, exitError, "404")
	cli(t, nil, "subscriptions", "create", "--help").expect(t, exitOK, "--webhook-url", "--webhook-secret", "--webhook-timeout")
	cli(t, nil, "subscriptions", "webhook-log", "--help").expect(t, exitOK, "--limit", "running server")
}

// TestServeAllowPrivateWebhooks: 'annals serve' refuses loopback webhooks
// unless ANNALS_ALLOW_PRIVATE_WEBHOOKS (or --allow-private-webhooks) is
// set, and then delivers to them.
func TestServeAllowPrivateWebhooks(t *testing.T) {
	hookURL, got := startReceiver(t)
	for _, allow := range []bool{false, true} {
		ctx, stop := context.WithCancel(context.Background())
		logs := &watcher{}
		environ := map[string]string{}
		if allow {
			environ["ANNALS_ALLOW_PRIVATE_WEBHOOKS"] = "true"
		}
		wait := background(ctx, environ, &bytes.Buffer{}, logs, "serve", "--store", "memory:", "--addr", "127.0.0.1:0", "--log-format", "json", "--token", testToken)
		<-logs.when("annals listening")
		m := regexp.MustCompile(`"addr":"(http://[^"]+)"`).FindStringSubmatch(logs.String())
		if m == nil {
			stop()
			t.Fatalf("no address in the logs:\n%s", logs)
		}
		client := map[string]string{"ANNALS_SERVER": m[1], "ANNALS_TOKEN": testToken}
		if !allow {
			cli(t, client, "subscriptions", "create", "hooks", "--webhook-url", hookURL).expect(t, exitError, "400", "private")
		} else {
			cli(t, client, "subscriptions", "create", "hooks", "--webhook-url", hookURL).expect(t, exitOK)
			stream := uuid.NewString()
			cli(t, client, "append", stream, "--name", "Happened").expect(t, exitOK)
			receive(t, got, 1)
		}
		stop()
		if code := wait(); code != exitOK {
			t.Fatalf("serve exited %d, want 0\n%s", code, logs)
		}
	}
}
