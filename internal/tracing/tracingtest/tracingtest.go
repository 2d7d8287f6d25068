// Package tracingtest records spans for tests: an SDK tracer provider that
// samples every span into a recorder, and helpers that wait for ended
// spans. Tests pass the provider in options; none installs it globally,
// so tests of the untraced path can rely on there being no provider.
package tracingtest

import (
	"context"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// Recorder returns a tracer provider that samples with sampler (every
// span when nil) and the recorder of its ended spans; the provider shuts
// down when the test ends.
func Recorder(t testing.TB, sampler sdktrace.Sampler) (*sdktrace.TracerProvider, *tracetest.SpanRecorder) {
	t.Helper()
	if sampler == nil {
		sampler = sdktrace.AlwaysSample()
	}
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sampler), sdktrace.WithSpanProcessor(sr))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return tp, sr
}

// waitFor bounds every wait.
const waitFor = 30 * time.Second

// WaitSpans polls sr until at least n spans named name have ended, and
// returns them in the order they ended.
func WaitSpans(t testing.TB, sr *tracetest.SpanRecorder, name string, n int) []sdktrace.ReadOnlySpan {
	t.Helper()
	var got []sdktrace.ReadOnlySpan
	poll(t, func() bool {
		got = got[:0]
		for _, s := range sr.Ended() {
			if s.Name() == name {
				got = append(got, s)
			}
		}
		return len(got) >= n
	}, func() { t.Fatalf("%d spans named %q ended, want %d", len(got), name, n) })
	return got
}

// WaitSpan polls sr until an ended span named name matches, and returns
// it.
func WaitSpan(t testing.TB, sr *tracetest.SpanRecorder, name string, match func(sdktrace.ReadOnlySpan) bool) sdktrace.ReadOnlySpan {
	t.Helper()
	var found sdktrace.ReadOnlySpan
	poll(t, func() bool {
		for _, s := range sr.Ended() {
			if s.Name() == name && match(s) {
				found = s
				return true
			}
		}
		return false
	}, func() { t.Fatalf("no span named %q matched", name) })
	return found
}

// Wait polls sr until done holds of the spans ended so far.
func Wait(t testing.TB, sr *tracetest.SpanRecorder, done func(ended []sdktrace.ReadOnlySpan) bool) {
	t.Helper()
	poll(t, func() bool { return done(sr.Ended()) }, func() { t.Fatalf("the spans ended (%d) never satisfied the test", len(sr.Ended())) })
}

// Linked reports whether s links to the span sc.
func Linked(s sdktrace.ReadOnlySpan, sc trace.SpanContext) bool {
	for _, l := range s.Links() {
		if l.SpanContext.TraceID() == sc.TraceID() && l.SpanContext.SpanID() == sc.SpanID() {
			return true
		}
	}
	return false
}

// poll calls done every 2 ms until it is true, or calls fail after
// waitFor.
func poll(t testing.TB, done func() bool, fail func()) {
	t.Helper()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(waitFor)
	for !done() {
		select {
		case <-deadline:
			fail()
			return
		case <-tick.C:
		}
	}
}
