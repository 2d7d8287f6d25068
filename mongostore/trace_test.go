package mongostore_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/annalsdb/annals/internal/tracing/tracingtest"

	"github.com/annalsdb/annals/mongostore"
	"github.com/google/uuid"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

func openTraced(t *testing.T, opts ...mongostore.Option) *mongostore.Store {
	t.Helper()
	s, err := mongostore.Open(context.Background(), "memory:", opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	return s
}

func loadOne(t *testing.T, s *mongostore.Store, stream uuid.UUID) []mongostore.Event {
	t.Helper()
	st, err := s.Load(context.Background(), stream)
	if err != nil {
		t.Fatal(err)
	}
	return st.Events
}

func spanNamed(t *testing.T, sr *tracetest.SpanRecorder, name string) sdktrace.ReadOnlySpan {
	t.Helper()
	var found []sdktrace.ReadOnlySpan
	for _, s := range sr.Ended() {
		if s.Name() == name {
			found = append(found, s)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d spans named %q, want 1", len(found), name)
	}
	return found[0]
}

func attr(s sdktrace.ReadOnlySpan, key attribute.Key) (attribute.Value, bool) {
	for _, kv := range s.Attributes() {
		if kv.Key == key {
			return kv.Value, true
		}
	}
	return attribute.Value{}, false
}

func TestAppendSpanIsChildAndEventsCarryIt(t *testing.T) {
	tp, sr := tracingtest.Recorder(t, nil)
	s := openTraced(t, mongostore.WithTracerProvider(tp))
	ctx, parent := tp.Tracer("test").Start(context.Background(), "caller")
	stream := uuid.New()
	if _, err := s.Append(ctx, stream, mongostore.NoStream,
		mongostore.EventData{Name: "Opened"}, mongostore.EventData{Name: "Deposited", Metadata: mongostore.Metadata{Extra: map[string]any{"k": "v"}}}); err != nil {
		t.Fatal(err)
	}
	parent.End()
	span := spanNamed(t, sr, mongostore.SpanAppend)
	if got, want := span.Parent().SpanID(), parent.SpanContext().SpanID(); got != want {
		t.Errorf("append span's parent = %s, want the caller's span %s", got, want)
	}
	if got, want := span.SpanContext().TraceID(), parent.SpanContext().TraceID(); got != want {
		t.Errorf("append span's trace = %s, want %s", got, want)
	}
	for key, want := range map[attribute.Key]attribute.Value{
		mongostore.AttrStreamID:        attribute.StringValue(stream.String()),
		mongostore.AttrEventCount:      attribute.IntValue(2),
		mongostore.AttrExpectedVersion: attribute.StringValue(mongostore.NoStream.String()),
		mongostore.AttrToVersion:       attribute.Int64Value(2),
	} {
		if got, ok := attr(span, key); !ok || got != want {
			t.Errorf("attribute %s = %v (set %t), want %v", key, got.Emit(), ok, want.Emit())
		}
	}
	want := "00-" + span.SpanContext().TraceID().String() + "-" + span.SpanContext().SpanID().String() + "-01"
	for _, e := range loadOne(t, s, stream) {
		if got := e.Metadata.Extra[mongostore.MetaTraceparent]; got != want {
			t.Errorf("event %d traceparent = %v, want %s", e.Version, got, want)
		}
		if _, ok := e.Metadata.Extra[mongostore.MetaTracestate]; ok {
			t.Errorf("event %d has a tracestate, but the span has none", e.Version)
		}
		if got := e.TraceContext(); got.SpanID() != span.SpanContext().SpanID() || !got.IsRemote() {
			t.Errorf("event %d TraceContext = %v, want the append span's, remote", e.Version, got)
		}
	}
}

func TestAppendWithoutProviderOrSpanAddsNothing(t *testing.T) {
	s := openTraced(t)
	stream := uuid.New()
	if _, err := s.Append(context.Background(), stream, mongostore.Any, mongostore.EventData{Name: "Opened"}); err != nil {
		t.Fatal(err)
	}
	if got := loadOne(t, s, stream)[0].Metadata; !got.IsZero() {
		t.Errorf("metadata = %+v, want none", got)
	}
}

// A caller's trace passes through even when no provider is installed
// here: the events carry the caller's own span context, sampled or not.
func TestAppendWithoutProviderPassesCallersTrace(t *testing.T) {
	for _, flags := range []trace.TraceFlags{0, trace.FlagsSampled} {
		t.Run(flags.String(), func(t *testing.T) {
			s := openTraced(t)
			ts, err := trace.ParseTraceState("vendor=x")
			if err != nil {
				t.Fatal(err)
			}
			sc := trace.NewSpanContext(trace.SpanContextConfig{
				TraceID: trace.TraceID{1, 2, 3}, SpanID: trace.SpanID{4, 5, 6}, TraceFlags: flags, TraceState: ts, Remote: true,
			})
			ctx := trace.ContextWithRemoteSpanContext(context.Background(), sc)
			stream := uuid.New()
			if _, err := s.Append(ctx, stream, mongostore.Any, mongostore.EventData{Name: "Opened"}); err != nil {
				t.Fatal(err)
			}
			extra := loadOne(t, s, stream)[0].Metadata.Extra
			want := "00-" + sc.TraceID().String() + "-" + sc.SpanID().String() + "-" + flags.String()
			if got := extra[mongostore.MetaTraceparent]; got != want {
				t.Errorf("traceparent = %v, want %s", got, want)
			}
			if got := extra[mongostore.MetaTracestate]; got != "vendor=x" {
				t.Errorf("tracestate = %v, want vendor=x", got)
			}
		})
	}
}

func TestAppendKeepsUsersTraceKeys(t *testing.T) {
	tp, _ := tracingtest.Recorder(t, nil)
	s := openTraced(t, mongostore.WithTracerProvider(tp))
	ctx, parent := tp.Tracer("test").Start(context.Background(), "caller")
	defer parent.End()
	stream := uuid.New()
	mine := "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	if _, err := s.Append(ctx, stream, mongostore.Any,
		mongostore.EventData{Name: "Mine", Metadata: mongostore.Metadata{Extra: map[string]any{mongostore.MetaTraceparent: mine}}},
		mongostore.EventData{Name: "Odd", Metadata: mongostore.Metadata{Extra: map[string]any{mongostore.MetaTraceparent: 42, mongostore.MetaTracestate: "a=b"}}},
		mongostore.EventData{Name: "StateOnly", Metadata: mongostore.Metadata{Extra: map[string]any{mongostore.MetaTracestate: "mine=1"}}},
	); err != nil {
		t.Fatal(err)
	}
	evs := loadOne(t, s, stream)
	if got := evs[0].Metadata.Extra[mongostore.MetaTraceparent]; got != mine {
		t.Errorf("user's traceparent became %v, want %s", got, mine)
	}
	if got := evs[1].Metadata.Extra[mongostore.MetaTraceparent]; got != int64(42) {
		t.Errorf("user's non-string traceparent became %v (%T), want int64 42", got, got)
	}
	if got := evs[1].Metadata.Extra[mongostore.MetaTracestate]; got != "a=b" {
		t.Errorf("user's tracestate became %v, want a=b", got)
	}
	if sc := evs[1].TraceContext(); sc.IsValid() {
		t.Errorf("TraceContext of a non-string traceparent = %v, want invalid", sc)
	}
	// The two keys are one trace context: a user's tracestate gets no
	// traceparent of another trace beside it.
	if got, ok := evs[2].Metadata.Extra[mongostore.MetaTraceparent]; ok {
		t.Errorf("metadata with the user's tracestate only got traceparent %v", got)
	}
}

// A caller's tracestate over MaxTracestateBytes is not copied into every
// event; the traceparent still is.
func TestAppendLeavesOutALongTracestate(t *testing.T) {
	s := openTraced(t)
	var members []string
	for i := range 32 {
		members = append(members, fmt.Sprintf("v%d=%s", i, strings.Repeat("x", 200)))
	}
	ts, err := trace.ParseTraceState(strings.Join(members, ","))
	if err != nil {
		t.Fatal(err)
	}
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1}, SpanID: trace.SpanID{2}, TraceState: ts, Remote: true})
	ctx := trace.ContextWithRemoteSpanContext(context.Background(), sc)
	stream := uuid.New()
	if _, err := s.Append(ctx, stream, mongostore.Any, mongostore.EventData{Name: "Opened"}); err != nil {
		t.Fatal(err)
	}
	extra := loadOne(t, s, stream)[0].Metadata.Extra
	if _, ok := extra[mongostore.MetaTracestate]; ok {
		t.Errorf("a %d-byte tracestate was recorded", len(ts.String()))
	}
	if extra[mongostore.MetaTraceparent] == nil {
		t.Error("the traceparent was left out with the tracestate")
	}
}

func TestAppendSpanRecordsConflict(t *testing.T) {
	tp, sr := tracingtest.Recorder(t, nil)
	s := openTraced(t, mongostore.WithTracerProvider(tp))
	stream := uuid.New()
	if _, err := s.Append(context.Background(), stream, mongostore.Exact(3), mongostore.EventData{Name: "Late"}); !errors.Is(err, mongostore.ErrConcurrency) {
		t.Fatalf("append = %v, want a conflict", err)
	}
	span := spanNamed(t, sr, mongostore.SpanAppend)
	if span.Status().Code != codes.Error {
		t.Errorf("status = %v, want Error", span.Status())
	}
	if got, _ := attr(span, mongostore.AttrConflict); !got.AsBool() {
		t.Errorf("%s not set", mongostore.AttrConflict)
	}
	if got, _ := attr(span, mongostore.AttrErrorType); got.AsString() != mongostore.ErrorTypeConflict {
		t.Errorf("error.type = %q, want %q", got.AsString(), mongostore.ErrorTypeConflict)
	}
	if len(span.Events()) == 0 || span.Events()[0].Name != "exception" {
		t.Errorf("span events = %v, want the recorded error", span.Events())
	}
}

func TestAppendStreamsSpan(t *testing.T) {
	tp, sr := tracingtest.Recorder(t, nil)
	s := openTraced(t, mongostore.WithTracerProvider(tp))
	a, b := uuid.New(), uuid.New()
	if _, err := s.AppendStreams(context.Background(),
		mongostore.StreamAppend{Stream: a, Events: []mongostore.EventData{{Name: "A1"}, {Name: "A2"}}},
		mongostore.StreamAppend{Stream: b, Events: []mongostore.EventData{{Name: "B1"}}},
	); err != nil {
		t.Fatal(err)
	}
	span := spanNamed(t, sr, mongostore.SpanAppend)
	if span.Parent().IsValid() {
		t.Errorf("append span has parent %v, want a root span", span.Parent())
	}
	if got, _ := attr(span, mongostore.AttrStreamCount); got.AsInt64() != 2 {
		t.Errorf("stream count = %d, want 2", got.AsInt64())
	}
	if got, _ := attr(span, mongostore.AttrEventCount); got.AsInt64() != 3 {
		t.Errorf("event count = %d, want 3", got.AsInt64())
	}
	for _, stream := range []uuid.UUID{a, b} {
		for _, e := range loadOne(t, s, stream) {
			if got := e.TraceContext().SpanID(); got != span.SpanContext().SpanID() {
				t.Errorf("event %s/%d trace span = %s, want %s", stream, e.Version, got, span.SpanContext().SpanID())
			}
		}
	}
}

func TestTraceLinks(t *testing.T) {
	tp1 := "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	tp2 := "00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-00"
	ev := func(v any) mongostore.Event {
		if v == nil {
			return mongostore.Event{}
		}
		return mongostore.Event{Metadata: mongostore.Metadata{Extra: map[string]any{mongostore.MetaTraceparent: v}}}
	}
	tests := []struct {
		name   string
		events []mongostore.Event
		max    int
		want   []string // span ids
	}{
		{"none", []mongostore.Event{ev(nil), ev(nil)}, 0, nil},
		{"malformed skipped", []mongostore.Event{ev("00-zz-yy-01"), ev(strings.Repeat("0", 55)), ev(true), ev(tp1)}, 0, []string{"b7ad6b7169203331"}},
		{"duplicates once", []mongostore.Event{ev(tp1), ev(tp2), ev(tp1)}, 0, []string{"b7ad6b7169203331", "00f067aa0ba902b7"}},
		{"capped", []mongostore.Event{ev(tp1), ev(tp2)}, 1, []string{"b7ad6b7169203331"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			links := mongostore.TraceLinks(tt.events, tt.max)
			var got []string
			for _, l := range links {
				got = append(got, l.SpanContext.SpanID().String())
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("links = %v, want %v", got, tt.want)
			}
		})
	}
}
