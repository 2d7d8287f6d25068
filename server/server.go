package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/annalsdb/annals/mongostore"
	"github.com/annalsdb/annals/projections"
	"github.com/annalsdb/annals/subscriptions"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
)

// Defaults for Options.
const (
	// DefaultMaxBodyBytes bounds a request body: MongoDB's 16 MiB document
	// limit plus room for JSON's overhead.
	DefaultMaxBodyBytes = 32 << 20
	// DefaultMaxEvents bounds the events of one append.
	DefaultMaxEvents = 1000
	// DefaultMaxPageSize bounds limit= on listing endpoints.
	DefaultMaxPageSize = 1000
	// DefaultPageSize is the page size when limit= is absent.
	DefaultPageSize = 100
	// DefaultRequestTimeout bounds the work of one request (not the live
	// feed).
	DefaultRequestTimeout = 30 * time.Second
	// DefaultBodyReadTimeout bounds the time a request body may take to
	// arrive.
	DefaultBodyReadTimeout = 60 * time.Second
)

// Options configure a Server. The zero value serves without
// authentication, with the default limits.
type Options struct {
	// Tokens are the accepted bearer tokens; none means no authentication.
	Tokens []Token
	// MaxBodyBytes bounds request bodies (default DefaultMaxBodyBytes).
	MaxBodyBytes int64
	// MaxEvents bounds the events of one append (default DefaultMaxEvents).
	MaxEvents int
	// MaxPageSize bounds limit= (default DefaultMaxPageSize).
	MaxPageSize int
	// RequestTimeout bounds one request's work (default
	// DefaultRequestTimeout).
	RequestTimeout time.Duration
	// BodyReadTimeout bounds the time a request body may take to arrive,
	// from the start of the handler; a slower body is refused with 408
	// and the connection closed (default DefaultBodyReadTimeout). For
	// requests with a body it takes the place of http.Server.ReadTimeout,
	// which would also cut the live feed.
	BodyReadTimeout time.Duration
	// Logger receives request failures; nil discards them.
	Logger *slog.Logger
	// Registry receives the server's Prometheus metrics; nil makes a new
	// one, served at /metrics.
	Registry *prometheus.Registry
	// Subscriptions serves /v1/subscriptions; nil answers those routes
	// with 404. The caller runs it (Service.Run feeds the queues).
	Subscriptions *subscriptions.Service
	// MaxFetchWait bounds wait_ms of a subscription fetch (default
	// DefaultMaxFetchWait).
	MaxFetchWait time.Duration
	// DiskFullProbeInterval: once a request has met a full disk,
	// /readyz is 503 until a write succeeds again; it makes a small
	// probe write at most this often to find out (default
	// DefaultDiskFullProbeInterval).
	DiskFullProbeInterval time.Duration
	// TracerProvider makes the server's request spans (see Tracing in
	// the package documentation); nil means the global provider.
	TracerProvider trace.TracerProvider
	// Console serves the web console at /ui/ (see console.go).
	Console bool
	// Version is the server's version, shown by GET /v1/info.
	Version string
	// StoreURI is the store's URI, shown by GET /v1/info with its
	// password masked.
	StoreURI string
}

func (o *Options) defaults() {
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.MaxEvents <= 0 {
		o.MaxEvents = DefaultMaxEvents
	}
	if o.MaxPageSize <= 0 {
		o.MaxPageSize = DefaultMaxPageSize
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = DefaultRequestTimeout
	}
	if o.BodyReadTimeout <= 0 {
		o.BodyReadTimeout = DefaultBodyReadTimeout
	}
	if o.MaxFetchWait <= 0 {
		o.MaxFetchWait = DefaultMaxFetchWait
	}
	if o.DiskFullProbeInterval <= 0 {
		o.DiskFullProbeInterval = DefaultDiskFullProbeInterval
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Registry == nil {
		o.Registry = prometheus.NewRegistry()
	}
}

// Server is annals' HTTP API over a store and a projection runner. It is an
// http.Handler.
type Server struct {
	opts    Options
	store   *mongostore.Store
	runner  *projections.Runner
	echo    *echo.Echo
	log     *slog.Logger
	metrics *metrics
	keys    signingKey
	// feeds ends when CloseLiveFeeds is called; live feeds end with it.
	feeds      context.Context
	closeFeeds context.CancelFunc
	// diskFull is set when a request failed for a full disk and cleared
	// by the next append that succeeds, or by readiness once a probe
	// write succeeds (diskFreed): readiness reports it even where the
	// store still answers reads (MongoDB).
	diskFull atomic.Bool
	// lastProbe is when readiness last made a probe write (UnixNano).
	lastProbe atomic.Int64
	// draining is set by Drain: readiness is 503 and every response
	// closes its connection.
	draining atomic.Bool
}

var _ http.Handler = (*Server)(nil)

// Log keys.
const (
	logKeyMethod = "method"
	logKeyPath   = "path"
	logKeyError  = "error"
)

// New builds the API over store and runner. The runner's projections'
// read models are served through the documents endpoints; the built-in
// streams projection, when registered, powers GET /v1/streams. The caller
// runs the runner.
func New(store *mongostore.Store, runner *projections.Runner, opts Options) (*Server, error) {
	if store == nil || runner == nil {
		return nil, errors.New("server: a store and a runner are required")
	}
	opts.defaults()
	for i, t := range opts.Tokens {
		if t.Secret == "" {
			return nil, fmt.Errorf("server: token %d is empty", i)
		}
	}
	s := &Server{opts: opts, store: store, runner: runner, log: opts.Logger}
	s.feeds, s.closeFeeds = context.WithCancel(context.Background())
	m, err := newMetrics(opts.Registry, runner)
	if err != nil {
		return nil, err
	}
	s.metrics = m
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.handleError
	e.Use(middleware.Recover())
	e.Use(s.metrics.middleware)
	e.Use(checkRequest)
	e.Use(s.bodyDeadline)
	e.Use(middleware.BodyLimit(fmt.Sprintf("%dB", opts.MaxBodyBytes)))

	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	e.GET("/metrics", echo.WrapHandler(m.handler()))
	e.GET("/openapi.yaml", s.openapi)

	// Authentication is route middleware, not group middleware: Echo
	// answers every unrouted request under a group with middleware 404,
	// which would hide 405 Method Not Allowed.
	v1 := func(method, path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) {
		e.Add(method, "/v1"+path, h, append([]echo.MiddlewareFunc{refuseCrossSite, s.authenticate, s.trace}, m...)...)
	}
	v1(http.MethodPost, "/streams/:id/events", s.appendEvents, s.timeout, requireJSON)
	v1(http.MethodGet, "/streams/:id/events", s.readEvents, s.timeout)
	v1(http.MethodGet, "/streams", s.listStreams, s.timeout)
	v1(http.MethodGet, "/projections", s.listProjections, s.timeout)
	v1(http.MethodGet, "/projections/:name", s.getProjection, s.timeout)
	v1(http.MethodPost, "/projections/:name/rebuild", s.rebuildProjection, s.timeout)
	v1(http.MethodPost, "/projections/:name/retry", s.retryProjection, s.timeout)
	v1(http.MethodGet, "/projections/:name/documents", s.listDocuments, s.timeout)
	v1(http.MethodGet, "/projections/:name/documents/:doc", s.getDocument, s.timeout)
	v1(http.MethodGet, "/events/live", s.live)
	v1(http.MethodGet, "/info", s.info, s.timeout)
	v1(http.MethodPost, "/subscriptions", s.createSubscription, s.timeout, requireJSON)
	v1(http.MethodGet, "/subscriptions", s.listSubscriptions, s.timeout)
	v1(http.MethodGet, "/subscriptions/:name", s.getSubscription, s.timeout)
	v1(http.MethodDelete, "/subscriptions/:name", s.deleteSubscription, s.timeout)
	// fetch bounds each poll by RequestTimeout and its wait by MaxFetchWait.
	v1(http.MethodPost, "/subscriptions/:name/fetch", s.fetchSubscription, requireJSON)
	v1(http.MethodPost, "/subscriptions/:name/ack", s.ackSubscription, s.timeout, requireJSON)
	v1(http.MethodPost, "/subscriptions/:name/nack", s.nackSubscription, s.timeout, requireJSON)
	v1(http.MethodGet, "/subscriptions/:name/parked", s.listParked, s.timeout)
	v1(http.MethodGet, "/subscriptions/:name/webhook-log", s.webhookLog, s.timeout)
	v1(http.MethodGet, "/subscriptions/:name/status", s.subscriptionStatus, s.timeout)
	v1(http.MethodPost, "/subscriptions/:name/parked/replay", s.replayParked, s.timeout, requireJSON)
	if opts.Console {
		s.routeConsole(e)
	}
	s.echo = e
	return s, nil
}

// ServeHTTP serves the API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.closeWhileDraining(w)
	s.echo.ServeHTTP(w, r)
}

// CloseLiveFeeds ends every live feed and refuses new ones with 503, and
// ends the wait of every subscription fetch (a fetch that found nothing
// answers 503 with Retry-After), leaving every other request alone. Call
// it when shutting down, as http.Server.Shutdown begins
// (RegisterOnShutdown): Shutdown waits for requests to finish, and a live
// feed never does by itself. In-flight appends then finish normally.
func (s *Server) CloseLiveFeeds() { s.closeFeeds() }

// Echo returns the Echo instance, to add routes or middleware.
func (s *Server) Echo() *echo.Echo { return s.echo }

// timeout bounds a request's work with the request context.
func (s *Server) timeout(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		ctx, cancel := context.WithTimeout(c.Request().Context(), s.opts.RequestTimeout)
		defer cancel()
		c.SetRequest(c.Request().WithContext(ctx))
		return next(c)
	}
}

// requireJSON refuses bodies that are not JSON.
func requireJSON(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		ct := c.Request().Header.Get(echo.HeaderContentType)
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !(len(mt) > 5 && mt[len(mt)-5:] == "+json")) {
			return wrapf(errUnsupportedMedia, "the body must be application/json, got %q", ct)
		}
		return next(c)
	}
}

func (s *Server) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

// readyz is 200 when the engine answers and no projection has failed,
// and 503 from the moment Drain is called.
func (s *Server) readyz(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 5*time.Second)
	defer cancel()
	body := map[string]any{"status": "ok"}
	if s.draining.Load() {
		return c.JSON(http.StatusServiceUnavailable, map[string]any{"status": "unavailable", "reason": "shutting down", "draining": true})
	}
	diskFull := map[string]any{"status": "unavailable", "reason": "the store's disk is full: appends and projections cannot commit", "disk_full": true}
	if err := s.store.Client().Ping(ctx, nil); err != nil {
		s.log.Warn("readiness: engine unreachable", logKeyError, err)
		if mongostore.IsDiskFull(err) {
			return c.JSON(http.StatusServiceUnavailable, diskFull)
		}
		return c.JSON(http.StatusServiceUnavailable, map[string]any{"status": "unavailable", "reason": "the store does not answer"})
	}
	if s.diskFull.Load() && !s.diskFreed(ctx) {
		return c.JSON(http.StatusServiceUnavailable, diskFull)
	}
	// Only the projections' states: readiness must stay cheap however
	// large the store and however far behind a projection is.
	failed, err := s.runner.Failed(ctx)
	if err != nil {
		s.log.Warn("readiness: projection status", logKeyError, err)
		if mongostore.IsDiskFull(err) {
			return c.JSON(http.StatusServiceUnavailable, diskFull)
		}
		return c.JSON(http.StatusServiceUnavailable, map[string]any{"status": "unavailable", "reason": "projection status unavailable"})
	}
	if len(failed) > 0 {
		return c.JSON(http.StatusServiceUnavailable, map[string]any{"status": "unavailable", "reason": "projections failed", "failed": failed})
	}
	return c.JSON(http.StatusOK, body)
}

func jsonEncode(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

func wrapf(kind error, format string, args ...any) error {
	return fmt.Errorf("%w: %s", kind, fmt.Sprintf(format, args...))
}
