package subscriptions

import (
	"context"
	"net/http"
	"net/url"

	"github.com/annalsdb/annals/internal/tracing"
	"github.com/annalsdb/annals/mongostore"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// TracerName is the instrumentation scope of the service's spans.
const TracerName = "github.com/annalsdb/annals/subscriptions"

// Span names: each is followed by a space and the subscription's name.
const (
	// SpanFetch is one Fetch call, a child of the caller's span, linked
	// to the traces the delivered events were appended in.
	SpanFetch = "subscription.fetch"
	// SpanWebhook is one webhook request for one event: a client span of
	// its own trace, linked to the event's, whose context the request
	// carries in its traceparent header.
	SpanWebhook = "subscription.webhook"
)

// MaxFetchLinks bounds the links of a fetch span, as
// projections.MaxBatchLinks does a batch's.
const MaxFetchLinks = 128

// Attribute keys of the service's spans, besides mongostore's.
const (
	AttrSubscription = attribute.Key("annals.subscription")
	AttrConsumer     = attribute.Key("annals.subscription.consumer")
	AttrAttempt      = attribute.Key("annals.delivery.attempt")
	AttrEventID      = attribute.Key("annals.event.id")
)

// traceContext writes a webhook request's traceparent and tracestate.
var traceContext = propagation.TraceContext{}

// startFetch starts a Fetch's span when a tracer provider is installed;
// it returns a nil span otherwise.
func (s *Service) startFetch(ctx context.Context, name, consumer string) (context.Context, trace.Span) {
	tp := tracing.Provider(s.TracerProvider)
	if tp == nil {
		return ctx, nil
	}
	return tp.Tracer(TracerName).Start(ctx, SpanFetch+" "+name,
		trace.WithAttributes(AttrSubscription.String(name), AttrConsumer.String(consumer)))
}

// endFetch links a Fetch's span, if any, to its events' traces, records
// its outcome and ends it.
func endFetch(span trace.Span, out []Delivery, err error) {
	if span == nil {
		return
	}
	defer span.End()
	if span.IsRecording() && len(out) > 0 {
		events := make([]mongostore.Event, len(out))
		for i, d := range out {
			events[i] = d.Event
		}
		for _, l := range mongostore.TraceLinks(events, MaxFetchLinks) {
			span.AddLink(l)
		}
	}
	span.SetAttributes(mongostore.AttrEventCount.Int(len(out)))
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, "fetch failed")
	}
}

// startWebhook starts the span of one webhook request for d, when a
// tracer provider is installed; it returns a nil span otherwise.
func (s *Service) startWebhook(ctx context.Context, sub, endpoint string, d Delivery) (context.Context, trace.Span) {
	tp := tracing.Provider(s.TracerProvider)
	if tp == nil {
		return ctx, nil
	}
	scheme, host := webhookOrigin(endpoint)
	opts := []trace.SpanStartOption{
		trace.WithNewRoot(),
		trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(
			AttrSubscription.String(sub),
			AttrEventID.String(d.Event.ID.String()),
			AttrAttempt.Int(d.Attempt),
			semconv.HTTPRequestMethodKey.String(http.MethodPost),
			semconv.URLScheme(scheme),
			semconv.ServerAddress(host),
		),
	}
	if sc := d.Event.TraceContext(); sc.IsValid() {
		opts = append(opts, trace.WithLinks(trace.Link{SpanContext: sc}))
	}
	return tp.Tracer(TracerName).Start(ctx, SpanWebhook+" "+sub, opts...)
}

// endWebhook records a webhook request's outcome on its span, if any,
// and ends it.
func endWebhook(span trace.Span, status int, err error) {
	if span == nil {
		return
	}
	defer span.End()
	if status != 0 {
		span.SetAttributes(semconv.HTTPResponseStatusCode(status))
	}
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, "webhook failed")
	}
}

// injectTrace writes ctx's span context, if valid, into a webhook
// request's traceparent and tracestate headers.
func injectTrace(ctx context.Context, h http.Header) {
	if trace.SpanContextFromContext(ctx).IsValid() {
		traceContext.Inject(ctx, propagation.HeaderCarrier(h))
	}
}

// webhookOrigin is the scheme and host of a webhook URL: all a span
// records of it. Many receivers (Slack, Discord, Teams) carry their secret
// in the path, so the path is left out with the user information and
// the query.
func webhookOrigin(endpoint string) (scheme, host string) {
	u, err := url.Parse(endpoint)
	if err != nil {
		return "", ""
	}
	return u.Scheme, u.Host
}
