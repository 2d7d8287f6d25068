package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
)

// Trace exporters `annals serve` can install, as OTEL_TRACES_EXPORTER
// names them.
const (
	exporterOTLP    = "otlp"
	exporterConsole = "console"
	exporterNone    = "none"
)

// OTLP protocols, as OTEL_EXPORTER_OTLP_PROTOCOL names them.
const (
	protocolHTTP = "http/protobuf"
	protocolGRPC = "grpc"
)

// defaultServiceName is service.name unless OTEL_SERVICE_NAME or
// OTEL_RESOURCE_ATTRIBUTES says otherwise.
const defaultServiceName = "annals"

// tracingShutdownTimeout bounds the flush of the spans still buffered
// when serve stops.
const tracingShutdownTimeout = 5 * time.Second

// tracingConfig is what the OTEL_* environment asks of `annals serve`.
// The zero value installs nothing.
type tracingConfig struct {
	// exporters are the trace exporters to install; none means tracing
	// is off.
	exporters []string
	// protocol is the OTLP protocol, for the otlp exporter.
	protocol string
}

func (c tracingConfig) enabled() bool { return len(c.exporters) > 0 }

// tracingFromEnv reads the standard OpenTelemetry variables. Tracing is
// on when OTEL_TRACES_EXPORTER names exporters other than "none", or,
// when it is unset, when OTEL_EXPORTER_OTLP_ENDPOINT or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set (OTLP then). OTEL_SDK_DISABLED
// =true turns it off whatever else is set. Exporters: otlp and console
// ("stdout" is taken for console); OTLP protocols: http/protobuf (the
// default) and grpc, from OTEL_EXPORTER_OTLP_TRACES_PROTOCOL, else
// OTEL_EXPORTER_OTLP_PROTOCOL. Anything else is a usage error, every
// problem reported at once.
func tracingFromEnv(getenv func(string) string) (tracingConfig, error) {
	var c tracingConfig
	if strings.EqualFold(strings.TrimSpace(getenv("OTEL_SDK_DISABLED")), "true") {
		return c, nil
	}
	var errs []error
	list := strings.TrimSpace(getenv("OTEL_TRACES_EXPORTER"))
	if list == "" && (getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != "") {
		list = exporterOTLP
	}
	seen := map[string]bool{}
	for _, name := range strings.Split(list, ",") {
		name = strings.ToLower(strings.TrimSpace(name))
		if name == "stdout" {
			name = exporterConsole
		}
		switch {
		case name == "" || name == exporterNone || seen[name]:
		case name == exporterOTLP || name == exporterConsole:
			seen[name] = true
			c.exporters = append(c.exporters, name)
		default:
			errs = append(errs, fmt.Errorf("%w: OTEL_TRACES_EXPORTER: unknown exporter %q (want otlp, console or none)", errUsage, name))
		}
	}
	if seen[exporterOTLP] {
		c.protocol = strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"))
		if c.protocol == "" {
			c.protocol = strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_PROTOCOL"))
		}
		if c.protocol == "" {
			c.protocol = protocolHTTP
		}
		if c.protocol != protocolHTTP && c.protocol != protocolGRPC {
			errs = append(errs, fmt.Errorf("%w: OTEL_EXPORTER_OTLP_PROTOCOL: %q is not supported (want http/protobuf or grpc)", errUsage, c.protocol))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return tracingConfig{}, err
	}
	return c, nil
}

// newTracerProvider builds an SDK tracer provider for c, its exporters
// batching spans. Exporters, sampler (OTEL_TRACES_SAMPLER and _ARG),
// batching (OTEL_BSP_*) and resource (OTEL_SERVICE_NAME,
// OTEL_RESOURCE_ATTRIBUTES) read the rest of the OTEL_* variables
// themselves. console writes to w. Nothing connects before the first
// export.
func newTracerProvider(ctx context.Context, c tracingConfig, w io.Writer) (*sdktrace.TracerProvider, error) {
	res, err := resource.New(ctx,
		resource.WithAttributes(semconv.ServiceName(defaultServiceName)),
		resource.WithFromEnv(), // after the default: OTEL_SERVICE_NAME wins
		resource.WithTelemetrySDK(),
	)
	if err != nil && res == nil {
		return nil, fmt.Errorf("tracing: resource: %w", err)
	}
	opts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}
	for _, name := range c.exporters {
		var exp sdktrace.SpanExporter
		switch {
		case name == exporterConsole:
			exp, err = stdouttrace.New(stdouttrace.WithWriter(w))
		case c.protocol == protocolGRPC:
			exp, err = otlptracegrpc.New(ctx)
		default:
			exp, err = otlptracehttp.New(ctx)
		}
		if err != nil {
			return nil, fmt.Errorf("tracing: %s exporter: %w", name, err)
		}
		opts = append(opts, sdktrace.WithBatcher(exp))
	}
	return sdktrace.NewTracerProvider(opts...), nil
}

// installTracing installs c's tracer provider as OpenTelemetry's global
// one, with the W3C trace context and baggage propagators, and routes
// the SDK's errors to log. It returns what flushes and stops it, bounded
// by tracingShutdownTimeout; with tracing off it installs nothing and
// returns a no-op.
func installTracing(ctx context.Context, c tracingConfig, w io.Writer, log *slog.Logger) (shutdown func(), err error) {
	if !c.enabled() {
		return func() {}, nil
	}
	tp, err := newTracerProvider(ctx, c, w)
	if err != nil {
		return nil, err
	}
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) { log.Warn("opentelemetry", "error", err) }))
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	log.Info("tracing on", "exporters", strings.Join(c.exporters, ","), "protocol", c.protocol)
	return func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), tracingShutdownTimeout)
		defer cancel()
		if err := tp.Shutdown(sctx); err != nil {
			log.Warn("tracing: flush on shutdown", "error", err)
		}
	}, nil
}
