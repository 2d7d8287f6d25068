package projections

import (
	"context"
	"errors"

	"github.com/annalsdb/annals/internal/tracing"
	"github.com/annalsdb/annals/mongostore"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// TracerName is the instrumentation scope of the runner's spans.
const TracerName = "github.com/annalsdb/annals/projections"

// Span names: each is followed by a space and the projection's name.
const (
	// SpanBatch is a batch's transaction: one per batch applied.
	SpanBatch = "projection.batch"
	// SpanHandle is one call of a projection's Handler, for one event.
	SpanHandle = "projection.handle"
	// SpanHandleBatch is one call of a projection's BatchHandler.
	SpanHandleBatch = "projection.handle_batch"
)

// MaxBatchLinks bounds the links of a batch span: at most this many
// distinct trace contexts of the batch's events, in the batch's order;
// the rest are counted in AttrLinksDropped.
const MaxBatchLinks = 128

// Attribute keys of the runner's spans, besides mongostore's.
const (
	AttrProjection   = attribute.Key("annals.projection")
	AttrGeneration   = attribute.Key("annals.projection.generation")
	AttrState        = attribute.Key("annals.projection.state")
	AttrApplied      = attribute.Key("annals.projection.applied")
	AttrLinksDropped = attribute.Key("annals.links.dropped")
	AttrEventID      = attribute.Key("annals.event.id")
	AttrEventName    = attribute.Key("annals.event.name")
	AttrEventVersion = attribute.Key("annals.event.version")
)

// startBatch starts a batch's span, the root of a trace of its own with
// links to the traces of the appends that stored the batch's handled
// events (see mongostore.Event.TraceContext), when a tracer provider is
// installed. It returns a nil span otherwise. Malformed or missing trace
// metadata only means fewer links.
func (w *worker) startBatch(ctx context.Context, generation int64, b batch) (context.Context, trace.Span) {
	tp := tracing.Provider(w.r.TracerProvider)
	if tp == nil {
		return ctx, nil
	}
	p := w.p
	handled := make([]mongostore.Event, 0, len(b.events))
	for _, e := range b.events {
		if p.handles(e.Name) {
			handled = append(handled, e)
		}
	}
	links := mongostore.TraceLinks(handled, 0)
	dropped := 0
	if len(links) > MaxBatchLinks {
		dropped = len(links) - MaxBatchLinks
		links = links[:MaxBatchLinks]
	}
	return tp.Tracer(TracerName).Start(ctx, SpanBatch+" "+p.Name,
		trace.WithNewRoot(),
		trace.WithLinks(links...),
		trace.WithAttributes(
			AttrProjection.String(p.Name),
			AttrGeneration.Int64(generation),
			AttrState.String(b.state),
			mongostore.AttrEventCount.Int(len(handled)),
			AttrLinksDropped.Int(dropped),
		))
}

// endBatch records a batch's outcome on its span, if any, and ends it.
func endBatch(span trace.Span, applied int, err error) {
	if span == nil {
		return
	}
	span.SetAttributes(AttrApplied.Int(applied))
	endSpan(span, err)
}

// startHandle starts the span of a Handler call for ev, a child of the
// batch's span linked to the trace of ev's append, when the batch has a
// span.
func (w *worker) startHandle(ctx context.Context, ev mongostore.Event) (context.Context, trace.Span) {
	batch := trace.SpanFromContext(ctx)
	if !batch.IsRecording() {
		return ctx, nil
	}
	var links []trace.Link
	if sc := ev.TraceContext(); sc.IsValid() {
		links = []trace.Link{{SpanContext: sc}}
	}
	return batch.TracerProvider().Tracer(TracerName).Start(ctx, SpanHandle+" "+w.p.Name,
		trace.WithLinks(links...),
		trace.WithAttributes(
			AttrProjection.String(w.p.Name),
			AttrEventID.String(ev.ID.String()),
			AttrEventName.String(ev.Name),
			mongostore.AttrStreamID.String(ev.Stream.String()),
			AttrEventVersion.Int64(ev.Version),
		))
}

// startHandleBatch starts the span of a BatchHandler call for events, a
// child of the batch's span, when the batch has a span.
func (w *worker) startHandleBatch(ctx context.Context, events []mongostore.Event) (context.Context, trace.Span) {
	batch := trace.SpanFromContext(ctx)
	if !batch.IsRecording() {
		return ctx, nil
	}
	return batch.TracerProvider().Tracer(TracerName).Start(ctx, SpanHandleBatch+" "+w.p.Name,
		trace.WithAttributes(AttrProjection.String(w.p.Name), mongostore.AttrEventCount.Int(len(events))))
}

// endSpan records err, if any, on span, if any, and ends it.
func endSpan(span trace.Span, err error) {
	if span == nil {
		return
	}
	if err != nil {
		span.RecordError(err)
		msg := "failed"
		var he *HandlerError
		if errors.As(err, &he) {
			msg = "handler failed on " + he.EventName
		}
		span.SetStatus(codes.Error, msg)
	}
	span.End()
}
