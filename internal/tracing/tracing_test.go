package tracing

import (
	"testing"

	"go.opentelemetry.io/otel/trace/noop"
)

func TestProvider(t *testing.T) {
	if got := Provider(nil); got != nil {
		t.Fatalf("Provider(nil) with no global provider = %T, want nil", got)
	}
	tp := noop.NewTracerProvider()
	if got := Provider(tp); got != tp {
		t.Fatalf("Provider(tp) = %v, want tp", got)
	}
}
