package projections_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/annalsdb/annals/internal/tracing/tracingtest"

	"github.com/annalsdb/annals/mongostore"
	"github.com/annalsdb/annals/projections"
	"github.com/google/uuid"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// traced returns a provider recording every span, a store and a fast
// runner of projections over it, both using the provider.
func traced(t *testing.T, ps ...*projections.Projection) (*sdktrace.TracerProvider, *tracetest.SpanRecorder, *mongostore.Store, *projections.Runner) {
	t.Helper()
	tp, sr := tracingtest.Recorder(t, nil)
	s := openEmbedded(t, mongostore.WithTracerProvider(tp))
	r := fast(projections.NewRunner(s, ps...))
	r.TracerProvider = tp
	return tp, sr, s, r
}

func intAttr(s sdktrace.ReadOnlySpan, key attribute.Key) int64 {
	for _, kv := range s.Attributes() {
		if kv.Key == key {
			return kv.Value.AsInt64()
		}
	}
	return -1
}

// An append made in a trace is applied by a batch whose span links to
// the append's span, with one handler span per event under the batch.
func TestBatchSpanLinksAppendTrace(t *testing.T) {
	seen := make(chan trace.SpanContext, 2)
	p := projections.New("traced", []string{"Opened"}, func(ctx context.Context, tx *projections.Tx, ev mongostore.Event) error {
		seen <- trace.SpanContextFromContext(ctx)
		return nil
	})
	tp, sr, s, r := traced(t, p)
	start(t, r)
	waitLive(t, r, "traced")

	ctx, caller := tp.Tracer("test").Start(context.Background(), "request")
	if _, err := s.Append(ctx, uuid.New(), mongostore.NoStream,
		mongostore.EventData{Name: "Opened"}, mongostore.EventData{Name: "Opened"}); err != nil {
		t.Fatal(err)
	}
	caller.End()
	appendSpan := tracingtest.WaitSpans(t, sr, mongostore.SpanAppend, 1)[0]
	// The live feed may apply the two events in one batch or two: wait
	// until the batches linking the append have applied both (a handler
	// span ends before its batch's).
	linking := map[trace.SpanID]sdktrace.ReadOnlySpan{}
	tracingtest.Wait(t, sr, func(ended []sdktrace.ReadOnlySpan) bool {
		clear(linking)
		var applied int64
		for _, b := range ended {
			if b.Name() == projections.SpanBatch+" traced" && tracingtest.Linked(b, appendSpan.SpanContext()) {
				linking[b.SpanContext().SpanID()] = b
				applied += intAttr(b, projections.AttrApplied)
			}
		}
		return applied >= 2
	})
	for _, b := range linking {
		if b.Parent().IsValid() {
			t.Errorf("batch span has parent %v, want a root", b.Parent())
		}
		if got := intAttr(b, projections.AttrGeneration); got != 1 {
			t.Errorf("batch generation = %d, want 1", got)
		}
	}
	handles := tracingtest.WaitSpans(t, sr, projections.SpanHandle+" traced", 2)
	for _, h := range handles {
		if linking[h.Parent().SpanID()] == nil {
			t.Errorf("handler span's parent = %s, want a batch span linking the append", h.Parent().SpanID())
		}
		if !tracingtest.Linked(h, appendSpan.SpanContext()) {
			t.Errorf("handler span links %v, want the append span", h.Links())
		}
	}
	want := map[trace.SpanID]bool{handles[0].SpanContext().SpanID(): true, handles[1].SpanContext().SpanID(): true}
	for range 2 {
		if got := (<-seen).SpanID(); !want[got] {
			t.Errorf("a handler's ctx holds span %s, want its handler span (one of %v)", got, want)
		}
	}
}

func TestBatchHandlerSpan(t *testing.T) {
	p := projections.NewBatch("batched", []string{"Opened"}, func(ctx context.Context, w *projections.Writes, events []mongostore.Event) error {
		return nil
	})
	tp, sr, s, r := traced(t, p)
	ctx, caller := tp.Tracer("test").Start(context.Background(), "request")
	if _, err := s.Append(ctx, uuid.New(), mongostore.NoStream,
		mongostore.EventData{Name: "Opened"}, mongostore.EventData{Name: "Ignored"}, mongostore.EventData{Name: "Opened"}); err != nil {
		t.Fatal(err)
	}
	caller.End()
	start(t, r)
	h := tracingtest.WaitSpans(t, sr, projections.SpanHandleBatch+" batched", 1)[0]
	batch := tracingtest.WaitSpans(t, sr, projections.SpanBatch+" batched", 1)[0]
	if h.Parent().SpanID() != batch.SpanContext().SpanID() {
		t.Errorf("batch handler span's parent = %s, want the batch span %s", h.Parent().SpanID(), batch.SpanContext().SpanID())
	}
	if got := intAttr(h, mongostore.AttrEventCount); got != 2 {
		t.Errorf("batch handler span's event count = %d, want 2", got)
	}
	if len(batch.Links()) != 1 || batch.Links()[0].SpanContext.TraceID() != caller.SpanContext().TraceID() {
		t.Errorf("batch links = %v, want one to the request's trace", batch.Links())
	}
	if got := attrString(batch, projections.AttrState); got != projections.StateCatchingUp {
		t.Errorf("batch state = %q, want %q", got, projections.StateCatchingUp)
	}
}

func attrString(s sdktrace.ReadOnlySpan, key attribute.Key) string {
	for _, kv := range s.Attributes() {
		if kv.Key == key {
			return kv.Value.AsString()
		}
	}
	return ""
}

// Trace metadata that is not a valid W3C traceparent costs links, never
// the batch.
func TestMalformedTraceMetadataDoesNotFailBatch(t *testing.T) {
	p := projections.New("lenient", []string{"Opened"}, func(ctx context.Context, tx *projections.Tx, ev mongostore.Event) error {
		return nil
	})
	_, sr, s, r := traced(t, p)
	bad := []any{"garbage", "00-00000000000000000000000000000000-0000000000000000-01", 42, map[string]any{"x": 1}, "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
	var events []mongostore.EventData
	for _, v := range bad {
		events = append(events, mongostore.EventData{Name: "Opened", Metadata: mongostore.Metadata{Extra: map[string]any{mongostore.MetaTraceparent: v, mongostore.MetaTracestate: v}}})
	}
	if _, err := s.Append(context.Background(), uuid.New(), mongostore.NoStream, events...); err != nil {
		t.Fatal(err)
	}
	start(t, r)
	st := waitLive(t, r, "lenient")
	if st.Applied != int64(len(bad)) {
		t.Errorf("applied %d events, want %d", st.Applied, len(bad))
	}
	batch := tracingtest.WaitSpans(t, sr, projections.SpanBatch+" lenient", 1)[0]
	if len(batch.Links()) != 0 || batch.Status().Code == codes.Error {
		t.Errorf("batch span links %v, status %v; want no links, no error", batch.Links(), batch.Status())
	}
}

func TestBatchLinksAreCapped(t *testing.T) {
	p := projections.New("capped", []string{"Opened"}, func(ctx context.Context, tx *projections.Tx, ev mongostore.Event) error {
		return nil
	})
	_, sr, s, r := traced(t, p)
	r.BatchSize = 1000
	n := projections.MaxBatchLinks + 5
	events := make([]mongostore.EventData, n)
	for i := range events {
		tp := fmt.Sprintf("00-%032x-%016x-01", i+1, i+1)
		events[i] = mongostore.EventData{Name: "Opened", Metadata: mongostore.Metadata{Extra: map[string]any{mongostore.MetaTraceparent: tp}}}
	}
	if _, err := s.Append(context.Background(), uuid.New(), mongostore.NoStream, events...); err != nil {
		t.Fatal(err)
	}
	start(t, r)
	waitLive(t, r, "capped")
	batch := tracingtest.WaitSpans(t, sr, projections.SpanBatch+" capped", 1)[0]
	if got := len(batch.Links()); got != projections.MaxBatchLinks {
		t.Errorf("batch span has %d links, want %d", got, projections.MaxBatchLinks)
	}
	if got := intAttr(batch, projections.AttrLinksDropped); got != 5 {
		t.Errorf("links dropped = %d, want 5", got)
	}
	if got := len(tracingtest.WaitSpans(t, sr, projections.SpanHandle+" capped", n)); got != n {
		t.Errorf("%d handler spans, want %d", got, n)
	}
}
