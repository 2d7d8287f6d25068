package server_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/annalsdb/annals/internal/tracing/tracingtest"

	"github.com/annalsdb/annals/mongostore"
	"github.com/annalsdb/annals/projections"
	"github.com/annalsdb/annals/server"
	"github.com/google/uuid"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// The caller's trace in the tests: a W3C traceparent header.
const (
	callerTraceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	callerSpanID  = "00f067aa0ba902b7"
	callerParent  = "00-" + callerTraceID + "-" + callerSpanID + "-01"
)

// tracedEnv is a server, its store and a runner of one projection
// ("traced", handling "Opened") sharing tp, which is nil for none: no
// test of this package installs a global provider.
type tracedEnv struct {
	store *mongostore.Store
	http  *httptest.Server
}

func newTracedEnv(t *testing.T, tp trace.TracerProvider) *tracedEnv {
	t.Helper()
	var opts []mongostore.Option
	if tp != nil {
		opts = append(opts, mongostore.WithTracerProvider(tp))
	}
	store, err := mongostore.Open(context.Background(), "memory:", opts...)
	if err != nil {
		t.Fatal(err)
	}
	p := projections.New("traced", []string{"Opened"}, func(ctx context.Context, tx *projections.Tx, ev mongostore.Event) error { return nil })
	runner := projections.NewRunner(store, p)
	runner.TracerProvider = tp
	srv, err := server.New(store, runner, server.Options{TracerProvider: tp})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runner.Run(ctx) }()
	hs := httptest.NewServer(srv)
	t.Cleanup(func() {
		hs.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("runner.Run: %v", err)
		}
		_ = store.Close(context.Background())
	})
	return &tracedEnv{store: store, http: hs}
}

// appendOpened posts one Opened event to a new stream with the given
// headers and returns the stored event.
func (e *tracedEnv) appendOpened(t *testing.T, header map[string]string) mongostore.Event {
	t.Helper()
	stream := uuid.New()
	req, err := http.NewRequest(http.MethodPost, e.http.URL+"/v1/streams/"+stream.String()+"/events", strings.NewReader(`{"events": [{"name": "Opened", "data": {}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := e.http.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("append: status %d, want 201", res.StatusCode)
	}
	st, err := e.store.Load(context.Background(), stream)
	if err != nil {
		t.Fatal(err)
	}
	return st.Events[0]
}

func spanAttr(s sdktrace.ReadOnlySpan, key attribute.Key) attribute.Value {
	for _, kv := range s.Attributes() {
		if kv.Key == key {
			return kv.Value
		}
	}
	return attribute.Value{}
}

// One trace from the HTTP request to the events collection to the read
// model: the server span continues the caller's trace, the append span
// is its child, the event records the append's span, and the batch that
// applies it links to it, with the handler span under the batch.
func TestTraceFromHTTPToProjection(t *testing.T) {
	tp, sr := tracingtest.Recorder(t, sdktrace.ParentBased(sdktrace.AlwaysSample()))
	e := newTracedEnv(t, tp)
	ev := e.appendOpened(t, map[string]string{"traceparent": callerParent, "tracestate": "vendor=1"})

	any := func(sdktrace.ReadOnlySpan) bool { return true }
	srvSpan := tracingtest.WaitSpan(t, sr, "POST /v1/streams/:id/events", any)
	if got := srvSpan.SpanContext().TraceID().String(); got != callerTraceID {
		t.Errorf("server span trace = %s, want the caller's %s", got, callerTraceID)
	}
	if got := srvSpan.Parent().SpanID().String(); got != callerSpanID || !srvSpan.Parent().IsRemote() {
		t.Errorf("server span parent = %s (remote %t), want the caller's %s", got, srvSpan.Parent().IsRemote(), callerSpanID)
	}
	if srvSpan.SpanKind() != trace.SpanKindServer {
		t.Errorf("server span kind = %v, want server", srvSpan.SpanKind())
	}
	for key, want := range map[attribute.Key]attribute.Value{
		"http.route":                attribute.StringValue("/v1/streams/:id/events"),
		"http.request.method":       attribute.StringValue("POST"),
		"http.response.status_code": attribute.IntValue(201),
	} {
		if got := spanAttr(srvSpan, key); got != want {
			t.Errorf("server span %s = %v, want %v", key, got.Emit(), want.Emit())
		}
	}
	if got := srvSpan.SpanContext().TraceState().Get("vendor"); got != "1" {
		t.Errorf("server span tracestate vendor = %q, want 1", got)
	}

	appendSpan := tracingtest.WaitSpan(t, sr, mongostore.SpanAppend, any)
	if appendSpan.Parent().SpanID() != srvSpan.SpanContext().SpanID() {
		t.Errorf("append span's parent = %s, want the server span %s", appendSpan.Parent().SpanID(), srvSpan.SpanContext().SpanID())
	}
	want := "00-" + callerTraceID + "-" + appendSpan.SpanContext().SpanID().String() + "-01"
	if got := ev.Metadata.Extra[mongostore.MetaTraceparent]; got != want {
		t.Errorf("event traceparent = %v, want %s", got, want)
	}
	if got := ev.Metadata.Extra[mongostore.MetaTracestate]; got != "vendor=1" {
		t.Errorf("event tracestate = %v, want vendor=1", got)
	}

	linksAppend := func(s sdktrace.ReadOnlySpan) bool {
		for _, l := range s.Links() {
			if l.SpanContext.SpanID() == appendSpan.SpanContext().SpanID() && l.SpanContext.TraceID() == appendSpan.SpanContext().TraceID() {
				return true
			}
		}
		return false
	}
	batch := tracingtest.WaitSpan(t, sr, projections.SpanBatch+" traced", linksAppend)
	handle := tracingtest.WaitSpan(t, sr, projections.SpanHandle+" traced", linksAppend)
	if handle.Parent().SpanID() != batch.SpanContext().SpanID() {
		t.Errorf("handler span's parent = %s, want the batch span %s", handle.Parent().SpanID(), batch.SpanContext().SpanID())
	}
}

// Without a tracer provider nothing is traced and an append without a
// traceparent header records nothing; one with a header records the
// caller's own context, which passes through.
func TestUntracedAppend(t *testing.T) {
	e := newTracedEnv(t, nil)
	if ev := e.appendOpened(t, nil); ev.Metadata.Extra != nil {
		t.Errorf("metadata extra = %v, want none", ev.Metadata.Extra)
	}
	ev := e.appendOpened(t, map[string]string{"traceparent": callerParent})
	if got := ev.Metadata.Extra[mongostore.MetaTraceparent]; got != callerParent {
		t.Errorf("traceparent = %v, want the caller's %s", got, callerParent)
	}
	if ev := e.appendOpened(t, map[string]string{"traceparent": "garbage"}); ev.Metadata.Extra != nil {
		t.Errorf("with a malformed header, metadata extra = %v, want none", ev.Metadata.Extra)
	}
}

func TestHealthNotTraced(t *testing.T) {
	tp, sr := tracingtest.Recorder(t, nil)
	e := newTracedEnv(t, tp)
	for _, path := range []string{"/healthz", "/readyz", "/metrics", "/v1/projections"} {
		res, err := e.http.Client().Get(e.http.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
	}
	// The last request's span ends after its response is sent.
	tracingtest.WaitSpan(t, sr, "GET /v1/projections", func(sdktrace.ReadOnlySpan) bool { return true })
	var names []string
	for _, s := range sr.Ended() {
		if s.SpanKind() == trace.SpanKindServer {
			names = append(names, s.Name())
		}
	}
	if strings.Join(names, ",") != "GET /v1/projections" {
		t.Errorf("server spans = %v, want only GET /v1/projections", names)
	}
}

// A request refused before it is authenticated makes no span: a caller
// without a valid token cannot fill the trace backend or force sampling
// with its traceparent.
func TestUnauthenticatedNotTraced(t *testing.T) {
	tp, sr := tracingtest.Recorder(t, sdktrace.ParentBased(sdktrace.NeverSample()))
	env := newOAEnv(t, server.Options{TracerProvider: tp, Tokens: []server.Token{{Secret: oaWriter}}})
	req, err := http.NewRequest(http.MethodGet, env.http.URL+"/v1/projections", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("traceparent", callerParent)
	res, err := env.http.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("status %d, want 401", res.StatusCode)
	}
	req.Header.Set("Authorization", "Bearer "+oaWriter)
	if res, err = env.http.Client().Do(req); err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	// The authorised request's span ends after its answer; the refused
	// one, had it made a span, would have ended before it.
	spans := tracingtest.WaitSpans(t, sr, "GET /v1/projections", 1)
	for _, s := range spans {
		if code := s.Attributes(); len(code) > 0 {
			for _, kv := range code {
				if kv.Key == "http.response.status_code" && kv.Value.AsInt64() == http.StatusUnauthorized {
					t.Errorf("the unauthenticated request made span %s", s.SpanContext().SpanID())
				}
			}
		}
	}
	if len(spans) != 1 {
		t.Errorf("%d spans, want 1 (the authorised request's)", len(spans))
	}
}
