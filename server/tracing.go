package server

import (
	"net/http"
	"strconv"

	"github.com/annalsdb/annals/internal/tracing"
	"github.com/labstack/echo/v4"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// TracerName is the instrumentation scope of the server's spans.
const TracerName = "github.com/annalsdb/annals/server"

// traceContext reads a caller's W3C traceparent and tracestate headers.
// The server reads this format whatever global propagator is installed:
// it is the one annals records in events' metadata.
var traceContext = propagation.TraceContext{}

// trace serves each /v1 request in the caller's trace, read from its W3C
// traceparent and tracestate headers, else in a new one. When a tracer
// provider is installed (Options.TracerProvider, else the global one) the
// request is a server span named "METHOD /v1/route/:param" after
// OpenTelemetry's HTTP conventions: http.request.method, http.route,
// url.path, url.scheme, user_agent.original and
// http.response.status_code; a 5xx response is an error. With none the
// caller's span context still reaches the store, whose appends record it
// in the events' metadata. It is route middleware of the /v1 routes
// only, after authentication: /healthz, /readyz, /metrics and
// /openapi.yaml are not traced, nor are requests refused before they are
// authenticated (a caller without a valid token cannot make spans or
// force sampling).
func (s *Server) trace(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		route := c.Path()
		req := c.Request()
		ctx := req.Context()
		if req.Header.Get("traceparent") != "" {
			ctx = traceContext.Extract(ctx, propagation.HeaderCarrier(req.Header))
		}
		tp := tracing.Provider(s.opts.TracerProvider)
		if tp == nil {
			if ctx != req.Context() {
				c.SetRequest(req.WithContext(ctx))
			}
			return next(c)
		}
		method := methodLabel(req.Method)
		if method == labelOtherMethod {
			method = "_OTHER"
		}
		scheme := "http"
		if req.TLS != nil {
			scheme = "https"
		}
		attrs := []attribute.KeyValue{
			semconv.HTTPRequestMethodKey.String(method),
			semconv.HTTPRoute(route),
			semconv.URLPath(req.URL.Path),
			semconv.URLScheme(scheme),
		}
		if ua := req.UserAgent(); ua != "" {
			attrs = append(attrs, semconv.UserAgentOriginal(ua))
		}
		ctx, span := tp.Tracer(TracerName).Start(ctx, method+" "+route, trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(attrs...))
		defer span.End()
		c.SetRequest(req.WithContext(ctx))
		err := next(c)
		code := c.Response().Status
		if err != nil {
			p, _ := problemFor(err)
			code = p.Status
		}
		span.SetAttributes(semconv.HTTPResponseStatusCode(code))
		if code >= http.StatusInternalServerError {
			span.SetAttributes(semconv.ErrorTypeKey.String(strconv.Itoa(code)))
			span.SetStatus(codes.Error, http.StatusText(code))
			if err != nil {
				span.RecordError(err)
			}
		}
		return err
	}
}
