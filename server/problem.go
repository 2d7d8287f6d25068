package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/256dpi/lungo"
	"github.com/annalsdb/annals/mongostore"
	"github.com/annalsdb/annals/projections"
	"github.com/annalsdb/annals/subscriptions"
	"github.com/labstack/echo/v4"
)

// Problem is the one shape of every error response (RFC 9457,
// application/problem+json).
type Problem struct {
	// Type is a URI naming the kind of problem, e.g.
	// "https://annals.dev/problems/concurrency-conflict".
	Type string `json:"type"`
	// Title says the kind of problem in words.
	Title string `json:"title"`
	// Status repeats the HTTP status.
	Status int `json:"status"`
	// Detail says what happened to this request.
	Detail string `json:"detail,omitempty"`
	// ExpectedVersion and ActualVersion come with concurrency conflicts.
	ExpectedVersion any    `json:"expected_version,omitempty"`
	ActualVersion   *int64 `json:"actual_version,omitempty"`
	// Field and Index name what was refused, for invalid input.
	Field string `json:"field,omitempty"`
	Index *int   `json:"index,omitempty"`
	// EventIDs come with not-held: the events of an ack or nack the
	// consumer did not hold (the others were settled).
	EventIDs []string `json:"event_ids,omitempty"`
}

const problemBase = "https://annals.dev/problems/"

// kind is one row of the error table.
type kind struct {
	slug   string
	title  string
	status int
}

// Request errors the server raises itself; each maps to a row below.
var (
	errBadRequest       = errors.New("bad request")
	errUnauthorized     = errors.New("unauthorized")
	errForbidden        = errors.New("forbidden")
	errUnsupportedMedia = errors.New("unsupported media type")
	errTooLarge         = errors.New("request too large")
	errNotFound         = errors.New("not found")
	errGone             = errors.New("gone")
	errShuttingDown     = errors.New("shutting down")
)

// table maps errors to what clients see. The first row whose error
// matches with errors.Is (or whose is function matches) wins; anything else is an internal error, logged
// and reported without its text.
var table = []struct {
	err error
	// is, when set, matches instead of errors.Is(err).
	is func(error) bool
	kind
}{
	{nil, mongostore.IsDiskFull, kind{"insufficient-storage", "Insufficient storage", http.StatusInsufficientStorage}},
	{mongostore.ErrConcurrency, nil, kind{"concurrency-conflict", "Concurrency conflict", http.StatusConflict}},
	{mongostore.ErrEventIDConflict, nil, kind{"event-id-conflict", "Event id already used", http.StatusConflict}},
	{mongostore.ErrTooLarge, nil, kind{"too-large", "Too large", http.StatusRequestEntityTooLarge}},
	{errTooLarge, nil, kind{"too-large", "Too large", http.StatusRequestEntityTooLarge}},
	{mongostore.ErrInvalidInput, nil, kind{"invalid-input", "Invalid input", http.StatusBadRequest}},
	{errBadRequest, nil, kind{"invalid-input", "Invalid input", http.StatusBadRequest}},
	{mongostore.ErrStreamNotFound, nil, kind{"stream-not-found", "Stream not found", http.StatusNotFound}},
	{projections.ErrUnknownProjection, nil, kind{"projection-not-found", "Projection not found", http.StatusNotFound}},
	{projections.ErrNotFailed, nil, kind{"projection-not-failed", "Projection not failed", http.StatusConflict}},
	{projections.ErrBuildFailed, nil, kind{"build-failed", "Build failed", http.StatusConflict}},
	{projections.ErrUnknownCollection, nil, kind{"collection-not-found", "Collection not found", http.StatusNotFound}},
	{subscriptions.ErrNotFound, nil, kind{"subscription-not-found", "Subscription not found", http.StatusNotFound}},
	{subscriptions.ErrExists, nil, kind{"subscription-exists", "Subscription already exists", http.StatusConflict}},
	{subscriptions.ErrNotHeld, nil, kind{"not-held", "Events not held by this consumer", http.StatusConflict}},
	{subscriptions.ErrInvalid, nil, kind{"invalid-input", "Invalid input", http.StatusBadRequest}},
	{errNotFound, nil, kind{"not-found", "Not found", http.StatusNotFound}},
	{errGone, nil, kind{"history-lost", "History no longer available", http.StatusGone}},
	{errUnauthorized, nil, kind{"unauthorized", "Unauthorized", http.StatusUnauthorized}},
	{errForbidden, nil, kind{"forbidden", "Forbidden", http.StatusForbidden}},
	{errUnsupportedMedia, nil, kind{"unsupported-media-type", "Unsupported media type", http.StatusUnsupportedMediaType}},
	{errShuttingDown, nil, kind{"unavailable", "Service unavailable", http.StatusServiceUnavailable}},
	{mongostore.ErrClosed, nil, kind{"unavailable", "Service unavailable", http.StatusServiceUnavailable}},
	{lungo.ErrEngineClosed, nil, kind{"unavailable", "Service unavailable", http.StatusServiceUnavailable}},
	{mongostore.ErrEngineClosed, nil, kind{"unavailable", "Service unavailable", http.StatusServiceUnavailable}},
	{errBodyTimeout, nil, kind{"request-timeout", "Request body timeout", http.StatusRequestTimeout}},
	{context.DeadlineExceeded, nil, kind{"timeout", "Request timed out", http.StatusServiceUnavailable}},
	{context.Canceled, nil, kind{"canceled", "Request canceled", http.StatusServiceUnavailable}},
}

var internalKind = kind{"internal", "Internal server error", http.StatusInternalServerError}

// echoKinds maps the statuses Echo raises by itself (unknown routes,
// methods, body limits).
var echoKinds = map[int]kind{
	http.StatusNotFound:              {"not-found", "Not found", http.StatusNotFound},
	http.StatusMethodNotAllowed:      {"method-not-allowed", "Method not allowed", http.StatusMethodNotAllowed},
	http.StatusRequestEntityTooLarge: {"too-large", "Too large", http.StatusRequestEntityTooLarge},
	http.StatusUnsupportedMediaType:  {"unsupported-media-type", "Unsupported media type", http.StatusUnsupportedMediaType},
	http.StatusBadRequest:            {"invalid-input", "Invalid input", http.StatusBadRequest},
	http.StatusServiceUnavailable:    {"unavailable", "Service unavailable", http.StatusServiceUnavailable},
}

// problemFor turns an error into the response a client sees, and reports
// whether it is internal (to be logged, never shown).
func problemFor(err error) (Problem, bool) {
	var he *echo.HTTPError
	if errors.As(err, &he) {
		if k, ok := echoKinds[he.Code]; ok {
			return Problem{Type: problemBase + k.slug, Title: k.title, Status: k.status, Detail: fmt.Sprint(he.Message)}, false
		}
		// A status the server does not document: report it as internal,
		// so that every problem a client can get is in the spec.
	}
	for _, row := range table {
		if he != nil || row.is == nil && !errors.Is(err, row.err) || row.is != nil && !row.is(err) {
			continue
		}
		p := Problem{Type: problemBase + row.slug, Title: row.title, Status: row.status, Detail: err.Error()}
		if row.status == http.StatusInsufficientStorage {
			p.Detail = diskFullDetail
		}
		var ce *mongostore.ConcurrencyError
		if errors.As(err, &ce) {
			if v, ok := ce.Expected.Version(); ok {
				p.ExpectedVersion = v
			} else {
				p.ExpectedVersion = expectedName(ce.Expected)
			}
			actual := ce.Actual
			p.ActualVersion = &actual
		}
		p.EventIDs = notHeldIDs(err)
		var ve *mongostore.ValidationError
		if errors.As(err, &ve) {
			p.Field = ve.Field
			if ve.Index >= 0 {
				idx := ve.Index
				p.Index = &idx
			}
		}
		return p, false
	}
	k := internalKind
	return Problem{Type: problemBase + k.slug, Title: k.title, Status: k.status,
		Detail: "the server could not complete the request; it has been logged"}, true
}

// handleError is Echo's error handler: every error becomes a problem.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	p, internal := problemFor(err)
	switch {
	case internal:
		s.log.Error("request failed", logKeyMethod, c.Request().Method, logKeyPath, c.Path(), logKeyError, err)
	case p.Status == http.StatusInsufficientStorage:
		s.diskFull.Store(true)
		s.log.Error("the store's disk is full", logKeyMethod, c.Request().Method, logKeyPath, c.Path(), logKeyError, err)
	}
	if p.Status == http.StatusUnauthorized {
		c.Response().Header().Set("WWW-Authenticate", `Bearer realm="annals"`)
	}
	c.Response().Header().Set(echo.HeaderContentType, "application/problem+json")
	c.Response().WriteHeader(p.Status)
	if c.Request().Method == http.MethodHead {
		return
	}
	if err := jsonEncode(c.Response(), p); err != nil {
		s.log.Warn("write problem", logKeyError, err)
	}
}

// badRequest builds a 400 naming the problem.
func badRequest(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errBadRequest, fmt.Sprintf(format, args...))
}
