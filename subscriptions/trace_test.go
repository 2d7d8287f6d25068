package subscriptions

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/annalsdb/annals/internal/tracing/tracingtest"

	"github.com/google/uuid"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/annalsdb/annals/mongostore"
	"github.com/annalsdb/annals/projections"
)

// newTracedService is newService with a store and service recording
// every span in the returned recorder.
func newTracedService(t *testing.T) (*Service, *mongostore.Store, *sdktrace.TracerProvider, *tracetest.SpanRecorder) {
	t.Helper()
	tp, sr := tracingtest.Recorder(t, nil)
	store, err := mongostore.Open(context.Background(), "memory:", mongostore.WithTracerProvider(tp))
	if err != nil {
		t.Fatal(err)
	}
	svc := New(store)
	svc.TracerProvider = tp
	svc.AllowPrivateWebhooks = true
	svc.Poll = 10 * time.Millisecond
	svc.Refresh = 50 * time.Millisecond
	svc.Runner = func(r *projections.Runner) { r.LeaseTTL = time.Second }
	stop := run(t, svc)
	t.Cleanup(func() {
		stop()
		_ = store.Close(context.Background())
	})
	return svc, store, tp, sr
}

// appendTraced appends one event in a new trace and returns the trace
// context it recorded: the append span's.
func appendTraced(t *testing.T, store *mongostore.Store, tp trace.TracerProvider) trace.SpanContext {
	t.Helper()
	ctx, span := tp.Tracer("test").Start(context.Background(), "request")
	defer span.End()
	stream := uuid.New()
	if _, err := store.Append(ctx, stream, mongostore.Any, mongostore.EventData{Name: "Opened"}); err != nil {
		t.Fatal(err)
	}
	st, err := store.Load(context.Background(), stream)
	if err != nil {
		t.Fatal(err)
	}
	sc := st.Events[0].TraceContext()
	if !sc.IsValid() || sc.TraceID() != span.SpanContext().TraceID() {
		t.Fatalf("the event records %v, want a span of trace %s", sc, span.SpanContext().TraceID())
	}
	return sc
}

// A webhook request is a client span linked to the event's append, and
// carries that span's context in its traceparent header.
func TestWebhookSpanAndTraceparent(t *testing.T) {
	svc, store, tp, sr := newTracedService(t)
	headers := make(chan http.Header, 1)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case headers <- r.Header.Clone():
		default:
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer receiver.Close()
	if _, err := svc.Create(context.Background(), Subscription{Name: "hook", Webhook: &Webhook{URL: receiver.URL + "/in/T0001/s3cretpath?token=secret"}}); err != nil {
		t.Fatal(err)
	}
	sc := appendTraced(t, store, tp)
	var h http.Header
	select {
	case h = <-headers:
	case <-time.After(20 * time.Second):
		t.Fatal("the webhook was never called")
	}
	span := tracingtest.WaitSpan(t, sr, SpanWebhook+" hook", func(s sdktrace.ReadOnlySpan) bool { return linksTo(s, sc) })
	want := "00-" + span.SpanContext().TraceID().String() + "-" + span.SpanContext().SpanID().String() + "-01"
	if got := h.Get("traceparent"); got != want {
		t.Errorf("traceparent header = %q, want the webhook span's %q", got, want)
	}
	if span.SpanKind() != trace.SpanKindClient || span.Parent().IsValid() {
		t.Errorf("webhook span kind %v, parent %v; want a client root span", span.SpanKind(), span.Parent())
	}
	for _, kv := range span.Attributes() {
		if v := kv.Value.Emit(); strings.Contains(v, "s3cretpath") || strings.Contains(v, "token=") {
			t.Errorf("attribute %s = %q holds the webhook URL's path or query", kv.Key, v)
		}
		if kv.Key == "server.address" && kv.Value.AsString() != strings.TrimPrefix(receiver.URL, "http://") {
			t.Errorf("server.address = %q, want the receiver's host", kv.Value.AsString())
		}
		if kv.Key == "http.response.status_code" && kv.Value.AsInt64() != http.StatusNoContent {
			t.Errorf("status code = %d, want 204", kv.Value.AsInt64())
		}
	}
}

// A Fetch is a child of the caller's span, linked to the appends of the
// events it hands out.
func TestFetchSpanLinksEvents(t *testing.T) {
	svc, store, tp, sr := newTracedService(t)
	if _, err := svc.Create(context.Background(), Subscription{Name: "pull"}); err != nil {
		t.Fatal(err)
	}
	sc := appendTraced(t, store, tp)
	ctx, caller := tp.Tracer("test").Start(context.Background(), "consumer")
	var got []Delivery
	for deadline := time.Now().Add(20 * time.Second); len(got) == 0; {
		if time.Now().After(deadline) {
			t.Fatal("nothing delivered")
		}
		var err error
		if got, err = svc.Fetch(ctx, "pull", "c1", 10, time.Second); err != nil {
			t.Fatal(err)
		}
	}
	caller.End()
	span := tracingtest.WaitSpan(t, sr, SpanFetch+" pull", func(s sdktrace.ReadOnlySpan) bool { return len(s.Links()) > 0 })
	if !linksTo(span, sc) {
		t.Errorf("fetch span links %v, want the append %v", span.Links(), sc)
	}
	if span.Parent().SpanID() != caller.SpanContext().SpanID() {
		t.Errorf("fetch span's parent = %s, want the caller's %s", span.Parent().SpanID(), caller.SpanContext().SpanID())
	}
}

// Without a provider a webhook request carries no traceparent.
func TestWebhookUntraced(t *testing.T) {
	svc, store, _ := newService(t, "memory:")
	svc.AllowPrivateWebhooks = true
	headers := make(chan http.Header, 1)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case headers <- r.Header.Clone():
		default:
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer receiver.Close()
	if _, err := svc.Create(context.Background(), Subscription{Name: "hook", Webhook: &Webhook{URL: receiver.URL}}); err != nil {
		t.Fatal(err)
	}
	appendEvents(t, store, uuid.New(), "", "Opened")
	select {
	case h := <-headers:
		if got := h.Get("traceparent"); got != "" {
			t.Errorf("traceparent = %q, want none", got)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the webhook was never called")
	}
}

func linksTo(s sdktrace.ReadOnlySpan, sc trace.SpanContext) bool {
	for _, l := range s.Links() {
		if l.SpanContext.TraceID() == sc.TraceID() && l.SpanContext.SpanID() == sc.SpanID() {
			return true
		}
	}
	return false
}
