package server_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/annalsdb/annals/projections"
	"github.com/annalsdb/annals/server"
)

// A browser page of another site cannot make an open (token-less) server
// change state: a rebuild or an append sent with a foreign Origin or with
// Sec-Fetch-Site cross-site or same-site is 403 and does nothing. The
// console's own requests (same origin) and clients that are not browsers
// (no such headers) go through, and reads stay open.
func TestCrossSiteWritesRefused(t *testing.T) {
	env := newOAEnv(t, server.Options{}, projections.EventCounts())
	env.waitLive(t, projections.EventCounts().Name)
	host := strings.TrimPrefix(env.http.URL, "http://")
	rebuild := env.http.URL + "/v1/projections/" + projections.EventCounts().Name + "/rebuild"
	for _, c := range []struct {
		name   string
		method string
		url    string
		header map[string]string
		want   int
	}{
		{"foreign origin", http.MethodPost, rebuild, map[string]string{"Origin": "https://evil.example"}, http.StatusForbidden},
		{"null origin", http.MethodPost, rebuild, map[string]string{"Origin": "null"}, http.StatusForbidden},
		{"cross-site fetch", http.MethodPost, rebuild, map[string]string{"Sec-Fetch-Site": "cross-site"}, http.StatusForbidden},
		{"same-site fetch (another port)", http.MethodPost, rebuild, map[string]string{"Sec-Fetch-Site": "same-site", "Origin": "http://127.0.0.1:1"}, http.StatusForbidden},
		{"the console's own request", http.MethodPost, rebuild, map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": "http://" + host}, http.StatusAccepted},
		{"a client that is not a browser", http.MethodPost, rebuild, nil, http.StatusAccepted},
		{"a cross-site read", http.MethodGet, env.http.URL + "/v1/projections", map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}, http.StatusOK},
	} {
		t.Run(c.name, func(t *testing.T) {
			req, err := http.NewRequest(c.method, c.url, strings.NewReader(""))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "text/plain")
			for k, v := range c.header {
				req.Header.Set(k, v)
			}
			res, err := env.http.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != c.want {
				t.Errorf("status %d, want %d", res.StatusCode, c.want)
			}
		})
	}
}
