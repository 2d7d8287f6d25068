package mongostore_test

import (
	"context"
	"testing"

	"github.com/annalsdb/annals/mongostore"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// BenchmarkAppendTraced is BenchmarkAppendOne with tracing on, for
// information: an SDK provider sampling every span into an in-memory
// exporter, the append a root span or the child of a caller's; and with
// no provider but a caller's span context in ctx, which the events then
// carry.
func BenchmarkAppendTraced(b *testing.B) {
	exp := tracetest.NewInMemoryExporter()
	// A syncer exports each span as it ends, on the append's path: the
	// whole cost shows. Each run resets the exporter's store.
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()), sdktrace.WithSyncer(exp))
	b.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	b.Run("tracing=root", func(b *testing.B) {
		benchAppendOne(b, context.Background(), mongostore.WithTracerProvider(tp))
		exp.Reset()
	})
	b.Run("tracing=child", func(b *testing.B) {
		ctx, span := tp.Tracer("bench").Start(context.Background(), "caller")
		defer span.End()
		benchAppendOne(b, ctx, mongostore.WithTracerProvider(tp))
		exp.Reset()
	})
	b.Run("tracing=passthrough", func(b *testing.B) {
		sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1}, SpanID: trace.SpanID{2}, TraceFlags: trace.FlagsSampled, Remote: true})
		benchAppendOne(b, trace.ContextWithRemoteSpanContext(context.Background(), sc))
	})
}
