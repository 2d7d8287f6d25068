package mongostore

import (
	"context"
	"errors"

	"github.com/annalsdb/annals/internal/tracing"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Metadata keys under which an append records the trace context it ran
// in, in W3C Trace Context form (see Append).
const (
	// MetaTraceparent holds the W3C traceparent of the append's span:
	// "00-<trace id>-<span id>-<flags>".
	MetaTraceparent = "traceparent"
	// MetaTracestate holds the W3C tracestate, when the span has one.
	MetaTracestate = "tracestate"
)

// TracerName is the instrumentation scope of the store's spans.
const TracerName = "github.com/annalsdb/annals/mongostore"

// SpanAppend is the name of the span each Append or AppendStreams call
// makes.
const SpanAppend = "mongostore.append"

// Attribute keys of the append span, shared with the other packages'
// spans where they mean the same.
const (
	AttrStreamID        = attribute.Key("annals.stream.id")
	AttrStreamCount     = attribute.Key("annals.stream.count")
	AttrEventCount      = attribute.Key("annals.event.count")
	AttrExpectedVersion = attribute.Key("annals.expected_version")
	AttrFromVersion     = attribute.Key("annals.from_version")
	AttrToVersion       = attribute.Key("annals.to_version")
	AttrReplayed        = attribute.Key("annals.append.replayed")
	// AttrConflict is true on an append span that failed with a
	// *ConcurrencyError; the span's error.type is then ErrorTypeConflict.
	AttrConflict = attribute.Key("annals.append.conflict")
	// AttrErrorType is OpenTelemetry's error.type.
	AttrErrorType = attribute.Key("error.type")
)

// ErrorTypeConflict is the error.type of an append that lost on the
// expected version.
const ErrorTypeConflict = "annals.concurrency_conflict"

// traceContext is the propagator whose format events' metadata holds.
var traceContext = propagation.TraceContext{}

// traceFields is the trace context an append writes into its events'
// metadata; empty when the append runs in no trace.
type traceFields struct{ parent, state string }

func (f *traceFields) Get(key string) string {
	switch key {
	case MetaTraceparent:
		return f.parent
	case MetaTracestate:
		return f.state
	}
	return ""
}

func (f *traceFields) Set(key, value string) {
	switch key {
	case MetaTraceparent:
		f.parent = value
	case MetaTracestate:
		f.state = value
	}
}

func (f *traceFields) Keys() []string { return []string{MetaTraceparent, MetaTracestate} }

// traceFieldsOf is the trace context of ctx's span, if it has a valid
// one, sampled or not. It formats and allocates nothing otherwise.
func traceFieldsOf(ctx context.Context) traceFields {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return traceFields{}
	}
	return injectFields(ctx)
}

// injectFields formats ctx's span context. It is apart from
// traceFieldsOf, whose untraced path would otherwise pay for the carrier
// escaping to the heap.
func injectFields(ctx context.Context) traceFields {
	f := new(traceFields)
	traceContext.Inject(ctx, f)
	if len(f.state) > MaxTracestateBytes {
		f.state = ""
	}
	return *f
}

// MaxTracestateBytes bounds the tracestate an event records: W3C asks
// vendors to keep theirs within 512 bytes, and a caller's header of up to
// 32 members of 512 bytes each would otherwise be copied into every event
// of an append. A longer one is left out; the traceparent is kept.
const MaxTracestateBytes = 512

// startAppend starts an append's span, a child of ctx's, when a tracer
// provider is installed, and returns the trace fields the events get.
// With no provider it starts nothing and the events carry ctx's own trace
// context, if any: a trace begun elsewhere still passes through.
func (s *Store) startAppend(ctx context.Context, appends []StreamAppend) (context.Context, trace.Span, traceFields) {
	tp := tracing.Provider(s.cfg.tracerProvider)
	if tp == nil {
		return ctx, nil, traceFieldsOf(ctx)
	}
	n := 0
	for _, a := range appends {
		n += len(a.Events)
	}
	attrs := []attribute.KeyValue{
		attribute.String("db.system.name", "mongodb"),
		attribute.String("db.operation.name", "append"),
		attribute.String("db.collection.name", CollectionEvents),
		AttrStreamCount.Int(len(appends)),
		AttrEventCount.Int(n),
	}
	if len(appends) == 1 {
		attrs = append(attrs, AttrStreamID.String(appends[0].Stream.String()), AttrExpectedVersion.String(appends[0].Expected.String()))
	}
	ctx, span := tp.Tracer(TracerName).Start(ctx, SpanAppend, trace.WithAttributes(attrs...))
	return ctx, span, traceFieldsOf(ctx)
}

// endAppend records an append's outcome on its span and ends it.
func endAppend(span trace.Span, res []AppendResult, err error) {
	defer span.End()
	if err == nil {
		if len(res) == 1 {
			span.SetAttributes(AttrFromVersion.Int64(res[0].FromVersion), AttrToVersion.Int64(res[0].ToVersion), AttrReplayed.Bool(res[0].Replayed))
		}
		return
	}
	span.RecordError(err)
	var ce *ConcurrencyError
	if errors.As(err, &ce) {
		span.SetAttributes(AttrConflict.Bool(true), AttrErrorType.String(ErrorTypeConflict), AttrStreamID.String(ce.Stream.String()))
		span.SetStatus(codes.Error, "concurrency conflict")
		return
	}
	span.SetAttributes(AttrErrorType.String(errorType(err)))
	span.SetStatus(codes.Error, "append failed")
}

// errorType names an append error's kind for error.type.
func errorType(err error) string {
	switch {
	case errors.Is(err, ErrTooLarge):
		return "annals.too_large"
	case errors.Is(err, ErrInvalidInput):
		return "annals.invalid_input"
	case errors.Is(err, ErrEventIDConflict):
		return "annals.event_id_conflict"
	case errors.Is(err, ErrClosed):
		return "annals.closed"
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return "annals.cancelled"
	}
	return "_OTHER"
}

// TraceContext returns the trace context an append recorded in the
// event's metadata (MetaTraceparent and MetaTracestate), as a remote span
// context: what a consumer links its own spans to. It is invalid
// (IsValid false) when the event carries none, or a malformed one.
func (e Event) TraceContext() trace.SpanContext {
	parent, _ := e.Metadata.Extra[MetaTraceparent].(string)
	if parent == "" {
		return trace.SpanContext{}
	}
	state, _ := e.Metadata.Extra[MetaTracestate].(string)
	f := traceFields{parent: parent, state: state}
	return trace.SpanContextFromContext(traceContext.Extract(context.Background(), &f))
}

// TraceLinks returns links to the trace contexts of events, each distinct
// span context once, in the events' order, at most max of them (no bound
// when max <= 0). Events without a valid trace context are skipped.
func TraceLinks(events []Event, max int) []trace.Link {
	var links []trace.Link
	seen := map[[24]byte]bool{}
	for _, e := range events {
		if max > 0 && len(links) >= max {
			break
		}
		sc := e.TraceContext()
		if !sc.IsValid() {
			continue
		}
		var key [24]byte
		tid, sid := sc.TraceID(), sc.SpanID()
		copy(key[:16], tid[:])
		copy(key[16:], sid[:])
		if seen[key] {
			continue
		}
		seen[key] = true
		links = append(links, trace.Link{SpanContext: sc})
	}
	return links
}
