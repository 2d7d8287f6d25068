package server

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/annalsdb/annals/mongostore"
	"github.com/annalsdb/annals/projections"
	"github.com/annalsdb/annals/subscriptions"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the server's Prometheus metrics.
type metrics struct {
	registry  *prometheus.Registry
	appends   *prometheus.CounterVec
	events    prometheus.Counter
	conflicts prometheus.Counter
	latency   *prometheus.HistogramVec
	// delivered and settledEvents count subscription events handed out
	// by fetches and settled by acks and nacks.
	delivered     prometheus.Counter
	settledEvents *prometheus.CounterVec
}

func newMetrics(reg *prometheus.Registry, runner *projections.Runner) (*metrics, error) {
	m := &metrics{
		registry: reg,
		appends: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "annals_appends_total", Help: "Append requests by result: ok, conflict, invalid (refused for their input: 400, 413, 415, or an event id of another event), error. Requests refused for their token are not counted.",
		}, []string{"result"}),
		events: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "annals_appended_events_total", Help: "Events stored by appends (replays excluded).",
		}),
		conflicts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "annals_append_conflicts_total", Help: "Appends refused for a concurrency conflict.",
		}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "annals_http_request_duration_seconds", Help: "HTTP request latency by route, method and status.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"route", "method", "code"}),
	}
	m.delivered = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "annals_subscription_delivered_events_total", Help: "Subscription events handed to consumers by fetches (redeliveries included).",
	})
	m.settledEvents = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "annals_subscription_settled_events_total", Help: "Subscription events acknowledged (ack) or refused (retry, park) by consumers that held them.",
	}, []string{"result"})
	m.delivered = register(reg, m.delivered)
	m.settledEvents = register(reg, m.settledEvents)
	// A registry shared by several servers keeps the first server's
	// collectors: use those, so that every server's counts land there.
	m.appends = register(reg, m.appends)
	m.events = register(reg, m.events)
	m.conflicts = register(reg, m.conflicts)
	m.latency = register(reg, m.latency)
	for _, c := range []prometheus.Collector{&projectionCollector{runner: runner, now: time.Now},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return nil, err
			}
		}
	}
	return m, nil
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}

// middleware records every request's latency under its route pattern.
func (m *metrics) middleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		code := c.Response().Status
		if err != nil {
			p, _ := problemFor(err)
			code = p.Status
		}
		if c.Path() == appendRoute && c.Request().Method == http.MethodPost {
			m.appended(code, err)
		}
		m.latency.WithLabelValues(routeLabel(c), methodLabel(c.Request().Method), strconv.Itoa(code)).Observe(time.Since(start).Seconds())
		return err
	}
}

// Label values for requests outside the API's routes and methods: any
// method or path a client invents collapses into these, so a client
// cannot grow the number of series.
const (
	labelOtherMethod = "other"
	labelUnmatched   = "unmatched"
)

// methodLabel is the request's method when HTTP defines it, else "other".
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return labelOtherMethod
}

// routeLabel is the route pattern the request matched, else "unmatched".
// Only routes registered with Echo are label values.
func routeLabel(c echo.Context) string {
	p := c.Path()
	if p == "" {
		return labelUnmatched
	}
	for _, r := range c.Echo().Routes() {
		if r.Path == p {
			return p
		}
	}
	return labelUnmatched
}

// appendRoute is the route whose requests annals_appends_total counts.
const appendRoute = "/v1/streams/:id/events"

// appended counts one append request by its outcome: every request the
// server refuses for its input (400, 413, 415, or an event id used by
// another event) is "invalid", wherever it was refused, before or in the
// store. Requests refused for their token (401, 403) are not appends.
func (m *metrics) appended(status int, err error) {
	var result string
	switch {
	case err == nil && status == http.StatusCreated:
		result = "ok"
	case errors.Is(err, mongostore.ErrConcurrency):
		result = "conflict"
		m.conflicts.Inc()
	case errors.Is(err, mongostore.ErrEventIDConflict), status == http.StatusBadRequest,
		status == http.StatusRequestEntityTooLarge, status == http.StatusUnsupportedMediaType:
		result = "invalid"
	case status == http.StatusUnauthorized, status == http.StatusForbidden:
		return
	default:
		result = "error"
	}
	m.appends.WithLabelValues(result).Inc()
}

// projectionCollector reports every projection's state, lag, backlog and
// history losses when scraped. A status costs a few reads (up to
// projections.StatusCountLimit index entries per projection), and /metrics
// needs no token: scrapes within statusTTL of the last share its
// statuses, and concurrent scrapes wait for one computation.
type projectionCollector struct {
	runner statuser
	now    func() time.Time

	mu   sync.Mutex
	last []projections.Status
	at   time.Time
}

// statuser is what the collector asks for statuses: the runner.
type statuser interface {
	Statuses(ctx context.Context) ([]projections.Status, error)
}

// statusTTL is how long scrapes reuse the statuses of the last one.
const statusTTL = time.Second

// statuses returns the projections' statuses, computing them at most
// once per statusTTL.
func (p *projectionCollector) statuses() ([]projections.Status, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	if p.last != nil && now.Sub(p.at) < statusTTL {
		return p.last, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	sts, err := p.runner.Statuses(ctx)
	if err != nil {
		return nil, err
	}
	p.last, p.at = sts, now
	return sts, nil
}

var (
	descLag = prometheus.NewDesc("annals_projection_lag_seconds",
		"How long ago the oldest event a projection has not applied was recorded.", []string{"projection"}, nil)
	descBehind = prometheus.NewDesc("annals_projection_behind_events",
		"Events a projection has yet to apply.", []string{"projection"}, nil)
	descState = prometheus.NewDesc("annals_projection_state",
		"1 for the state a projection is in.", []string{"projection", "state"}, nil)
	descApplied = prometheus.NewDesc("annals_projection_applied_events",
		"Events the serving generation of a projection has applied.", []string{"projection"}, nil)
	descHistoryLost = prometheus.NewDesc("annals_projection_history_lost_total",
		"Times a projection's change stream could not resume and it caught up from the events collection.", []string{"projection"}, nil)
)

var projectionStates = []string{"new", projections.StateCatchingUp, projections.StateLive, projections.StateFailed, projections.StateWaiting}

func (p *projectionCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descLag, descBehind, descState, descApplied, descHistoryLost} {
		ch <- d
	}
}

func (p *projectionCollector) Collect(ch chan<- prometheus.Metric) {
	sts, err := p.statuses()
	if err != nil {
		ch <- prometheus.NewInvalidMetric(descState, err)
		return
	}
	for _, st := range sts {
		ch <- prometheus.MustNewConstMetric(descLag, prometheus.GaugeValue, st.Lag.Seconds(), st.Name)
		ch <- prometheus.MustNewConstMetric(descBehind, prometheus.GaugeValue, float64(st.Behind), st.Name)
		ch <- prometheus.MustNewConstMetric(descApplied, prometheus.GaugeValue, float64(st.Applied), st.Name)
		ch <- prometheus.MustNewConstMetric(descHistoryLost, prometheus.CounterValue, float64(st.HistoryLost), st.Name)
		for _, s := range projectionStates {
			v := 0.0
			if st.State == s {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(descState, prometheus.GaugeValue, v, st.Name, s)
		}
	}
}

// register registers c, or returns the equal collector registered before.
func register[C prometheus.Collector](reg *prometheus.Registry, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
	}
	return c
}

// settled counts the events of an ack or nack the consumer held: all of
// them on success, all but those named by ErrNotHeld otherwise.
func (m *metrics) settled(err error, result string, events int) {
	if err != nil {
		if !errors.Is(err, subscriptions.ErrNotHeld) {
			return
		}
		events -= len(notHeldIDs(err))
	}
	if events > 0 {
		m.settledEvents.WithLabelValues(result).Add(float64(events))
	}
}
