package server_test

import (
	"bufio"
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/annalsdb/annals/server"
	"github.com/google/uuid"
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

// metricValue returns the value of one sample line of /metrics, 0 when
// absent.
func metricValue(t *testing.T, e *env, sample string) float64 {
	t.Helper()
	body := e.get("/metrics").want(t, http.StatusOK).body
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), sample+" "); ok {
			var f float64
			if _, err := fmt.Sscan(v, &f); err != nil {
				t.Fatalf("%s: %v", sc.Text(), err)
			}
			return f
		}
	}
	return 0
}

// TestAppendsTotalCountsEveryRefusal: annals_appends_total{result="invalid"}
// counts appends refused for their input wherever they were refused: by
// the body limit, the media type check, the decoder, the server's checks
// or the store.
func TestAppendsTotalCountsEveryRefusal(t *testing.T) {
	e := newEnv(t, server.Options{MaxEvents: 2, MaxBodyBytes: 1 << 10})
	stream := uuid.New()
	id := uuid.NewString()
	e.appendOK(stream, "no_stream", "", event{ID: id, Name: "Noted"})
	refusals := []struct {
		name   string
		req    request
		status int
	}{
		{"bad stream id", request{method: http.MethodPost, path: "/v1/streams/nope/events", body: strings.NewReader(`{"events":[{"name":"A"}]}`)}, 400},
		{"malformed JSON", request{method: http.MethodPost, path: streamPath(stream), body: strings.NewReader(`{"events":`)}, 400},
		{"no events", request{method: http.MethodPost, path: streamPath(stream), body: strings.NewReader(`{"events":[]}`)}, 400},
		{"data not an object", request{method: http.MethodPost, path: streamPath(stream), body: strings.NewReader(`{"events":[{"name":"A","data":1}]}`)}, 400},
		{"text/plain", request{method: http.MethodPost, path: streamPath(stream), body: strings.NewReader(`{}`), contentType: "text/plain"}, 415},
		{"too many events", request{method: http.MethodPost, path: streamPath(stream), body: strings.NewReader(`{"events":[{"name":"A"},{"name":"A"},{"name":"A"}]}`)}, 413},
		{"body over the limit", request{method: http.MethodPost, path: streamPath(stream), body: strings.NewReader(`{"events":[{"name":"A","data":{"s":"` + strings.Repeat("x", 2<<10) + `"}}]}`)}, 413},
		{"name the store refuses", request{method: http.MethodPost, path: streamPath(stream), body: strings.NewReader(`{"events":[{"name":"$bad"}]}`)}, 400},
		{"event id of another event", request{method: http.MethodPost, path: streamPath(uuid.New()), body: strings.NewReader(`{"events":[{"id":"` + id + `","name":"Other"}]}`)}, 409},
	}
	for _, r := range refusals {
		if got := e.do(r.req).status; got != r.status {
			t.Fatalf("%s: status %d, want %d", r.name, got, r.status)
		}
	}
	if got := metricValue(t, e, `annals_appends_total{result="invalid"}`); got != float64(len(refusals)) {
		t.Errorf(`annals_appends_total{result="invalid"}: got %v, want %d`, got, len(refusals))
	}
	if got := metricValue(t, e, `annals_appends_total{result="ok"}`); got != 1 {
		t.Errorf(`annals_appends_total{result="ok"}: got %v, want 1`, got)
	}
	if got := metricValue(t, e, `annals_appends_total{result="error"}`); got != 0 {
		t.Errorf(`annals_appends_total{result="error"}: got %v, want 0`, got)
	}
}
