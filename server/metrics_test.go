package server_test

import (
	"bufio"
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/annalsdb/annals/server"
)

// latencySeries returns the label sets of annals_http_request_duration_seconds.
func latencySeries(t *testing.T, e *env) map[string]bool {
	t.Helper()
	body := e.get("/metrics").want(t, http.StatusOK).body
	out := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if labels, ok := strings.CutPrefix(line, "annals_http_request_duration_seconds_count{"); ok {
			out[labels[:strings.IndexByte(labels, '}')]] = true
		}
	}
	return out
}

// TestMetricsCardinalityIsBounded: invented methods and paths do not
// create series; they collapse into method="other" and route="unmatched".
func TestMetricsCardinalityIsBounded(t *testing.T) {
	e := newEnv(t, server.Options{Tokens: []server.Token{{Secret: "s", Access: server.ReadWrite}}})
	const invented = 2000
	for i := range invented {
		paths := []string{"/v1/streams", fmt.Sprintf("/nowhere/%d", i), "/healthz"}
		r := e.do(request{method: fmt.Sprintf("X%dMETHOD", i), path: paths[i%len(paths)]})
		if r.status < 400 {
			t.Fatalf("invented method %d: status %d", i, r.status)
		}
		e.do(request{method: http.MethodGet, path: fmt.Sprintf("/invented/%d", i)}).want(t, http.StatusNotFound)
	}
	series := latencySeries(t, e)
	t.Logf("%d requests with invented methods and %d to invented paths: %d latency series", invented, invented, len(series))
	if len(series) > 10 {
		t.Errorf("%d series after invented methods and paths, want at most 10", len(series))
	}
	for s := range series {
		if strings.Contains(s, "METHOD") || strings.Contains(s, "nowhere") || strings.Contains(s, "invented") {
			t.Errorf("series %s carries client input", s)
			break
		}
	}
	for _, want := range []string{`method="other"`, `route="unmatched"`} {
		found := false
		for s := range series {
			found = found || strings.Contains(s, want)
		}
		if !found {
			t.Errorf("no series with %s: %v", want, series)
		}
	}
}
