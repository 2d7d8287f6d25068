// Package tracing is the OpenTelemetry plumbing annals' packages share:
// which tracer provider an operation uses, and the cheap test that
// tracing is off.
//
// The libraries (mongostore, projections, subscriptions, server) take an
// optional trace.TracerProvider; nil means the global one
// (otel.GetTracerProvider()). Only cmd/annals installs a provider and
// exporters.
package tracing

import (
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"
)

// defaultProvider is the global provider before anyone installs one: a
// delegating provider whose spans record nothing. Packages are
// initialised before main runs, so nothing can have replaced it yet.
var defaultProvider = otel.GetTracerProvider()

// Provider returns tp, or the global provider when tp is nil. It returns
// nil when tp is nil and no global provider has been installed
// (otel.SetTracerProvider was never called): every span would then be a
// no-op, and callers skip the work of starting one.
func Provider(tp trace.TracerProvider) trace.TracerProvider {
	if tp != nil {
		return tp
	}
	if g := otel.GetTracerProvider(); g != defaultProvider {
		return g
	}
	return nil
}
