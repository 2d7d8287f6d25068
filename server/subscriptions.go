package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/annalsdb/annals/mongostore"
	"github.com/annalsdb/annals/subscriptions"
	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
)

// DefaultMaxFetchWait bounds wait_ms of a subscription fetch.
const DefaultMaxFetchWait = 30 * time.Second

// maxReason bounds a nack's reason, in bytes.
const maxReason = 1000

// maxDurationMS is the largest millisecond count a time.Duration holds.
const maxDurationMS = math.MaxInt64 / int64(time.Millisecond)

// SubscriptionRequest is the body of POST /v1/subscriptions: a
// subscriptions.Subscription with durations in milliseconds.
type SubscriptionRequest struct {
	Name           string        `json:"name"`
	Events         []string      `json:"events,omitempty"`
	AggregateTypes []string      `json:"aggregate_types,omitempty"`
	Start          *StartView    `json:"start,omitempty"`
	Settings       *SettingsView `json:"settings,omitempty"`
	Webhook        *WebhookView  `json:"webhook,omitempty"`
}

// SubscriptionView is a subscription as the API shows it.
type SubscriptionView struct {
	Name           string       `json:"name"`
	Events         []string     `json:"events"`
	AggregateTypes []string     `json:"aggregate_types"`
	Start          StartView    `json:"start"`
	Settings       SettingsView `json:"settings"`
	Webhook        *WebhookView `json:"webhook,omitempty"`
	CreatedAt      time.Time    `json:"created_at"`
}

// WebhookView is a subscription's webhook: where its events are pushed,
// the signing secret (in a request: empty makes the server generate one;
// in an answer: whole on creation only, "whsec_…" otherwise) and the
// timeout of one request in milliseconds (0 or absent: the default).
type WebhookView struct {
	URL       string `json:"url"`
	Secret    string `json:"secret,omitempty"`
	TimeoutMS int64  `json:"timeout_ms,omitempty"`
}

// WebhookLogResponse is the body of GET .../webhook-log.
type WebhookLogResponse struct {
	Attempts []WebhookAttemptView `json:"attempts"`
}

// WebhookAttemptView is one webhook request: its event and attempt, when
// it was made, the status answered (0: no answer), how long it took in
// milliseconds and why it failed.
type WebhookAttemptView struct {
	EventID   string    `json:"event_id"`
	Attempt   int       `json:"attempt"`
	At        time.Time `json:"at"`
	Status    int       `json:"status"`
	LatencyMS float64   `json:"latency_ms"`
	Error     string    `json:"error,omitempty"`
}

// StartView is where a subscription's delivery begins: now, after a
// position, or (neither) the beginning.
type StartView struct {
	Now   bool          `json:"now,omitempty"`
	After *PositionView `json:"after,omitempty"`
}

// PositionView is a place in the order events are delivered in: an
// event's recorded_at, aggregate_uuid and version.
type PositionView struct {
	RecordedAt    time.Time `json:"recorded_at"`
	AggregateUUID string    `json:"aggregate_uuid"`
	Version       int64     `json:"version"`
}

// SettingsView is a subscription's delivery settings, durations in
// milliseconds; zero (or absent) takes the default.
type SettingsView struct {
	BatchSize    int   `json:"batch_size"`
	AckTimeoutMS int64 `json:"ack_timeout_ms"`
	MaxAttempts  int   `json:"max_attempts"`
	MinBackoffMS int64 `json:"min_backoff_ms"`
	MaxBackoffMS int64 `json:"max_backoff_ms"`
}

// FetchRequest is the body of POST /v1/subscriptions/{name}/fetch.
type FetchRequest struct {
	Consumer string `json:"consumer"`
	Max      int    `json:"max,omitempty"`
	WaitMS   int64  `json:"wait_ms,omitempty"`
}

// FetchResponse is a fetched batch.
type FetchResponse struct {
	Deliveries []DeliveryView `json:"deliveries"`
}

// DeliveryView is an event handed to a consumer.
type DeliveryView struct {
	Event    EventView `json:"event"`
	Attempt  int       `json:"attempt"`
	Deadline time.Time `json:"deadline"`
}

// SettleRequest is the body of .../ack and .../nack; Action and Reason
// are the nack's.
type SettleRequest struct {
	Consumer string   `json:"consumer"`
	EventIDs []string `json:"event_ids"`
	Action   string   `json:"action,omitempty"`
	Reason   string   `json:"reason,omitempty"`
}

// ReplayRequest is the body of .../parked/replay.
type ReplayRequest struct {
	EventIDs []string `json:"event_ids,omitempty"`
}

// ParkedView is a parked event.
type ParkedView struct {
	EventID       string    `json:"event_id"`
	AggregateUUID string    `json:"aggregate_uuid"`
	Version       int64     `json:"version"`
	Name          string    `json:"name"`
	RecordedAt    time.Time `json:"recorded_at"`
	Attempts      int       `json:"attempts"`
	Reason        string    `json:"reason"`
}

// Subscription turns the request into the Go definition, checking what
// the subscriptions package does not: the start position's UUID and
// durations a time.Duration cannot hold.
func (r SubscriptionRequest) Subscription() (subscriptions.Subscription, error) {
	sub := subscriptions.Subscription{Name: r.Name, Events: r.Events, AggregateTypes: r.AggregateTypes}
	if st := r.Start; st != nil {
		sub.Start.Now = st.Now
		if p := st.After; p != nil {
			stream, err := parseEventID(p.AggregateUUID, "start.after.aggregate_uuid")
			if err != nil && p.AggregateUUID != "" {
				return sub, err
			}
			if p.Version < 0 {
				return sub, badRequest("start.after.version %d is negative", p.Version)
			}
			sub.Start.After = mongostore.Position{RecordedAt: p.RecordedAt, Stream: stream, Version: p.Version}
		}
	}
	if st := r.Settings; st != nil {
		ms := map[string]int64{"ack_timeout_ms": st.AckTimeoutMS, "min_backoff_ms": st.MinBackoffMS, "max_backoff_ms": st.MaxBackoffMS}
		for _, k := range []string{"ack_timeout_ms", "min_backoff_ms", "max_backoff_ms"} {
			if ms[k] < 0 || ms[k] > maxDurationMS {
				return sub, badRequest("settings.%s %d must be from 0 to %d", k, ms[k], maxDurationMS)
			}
		}
		sub.Settings = subscriptions.Settings{
			BatchSize: st.BatchSize, MaxAttempts: st.MaxAttempts,
			AckTimeout: time.Duration(st.AckTimeoutMS) * time.Millisecond,
			MinBackoff: time.Duration(st.MinBackoffMS) * time.Millisecond,
			MaxBackoff: time.Duration(st.MaxBackoffMS) * time.Millisecond,
		}
	}
	if w := r.Webhook; w != nil {
		if w.TimeoutMS < 0 || w.TimeoutMS > maxDurationMS {
			return sub, badRequest("webhook.timeout_ms %d must be from 0 to %d", w.TimeoutMS, maxDurationMS)
		}
		sub.Webhook = &subscriptions.Webhook{URL: w.URL, Secret: w.Secret, Timeout: time.Duration(w.TimeoutMS) * time.Millisecond}
	}
	return sub, nil
}

// RenderSubscription renders a subscription as the API shows it.
func RenderSubscription(sub subscriptions.Subscription) SubscriptionView {
	v := SubscriptionView{
		Name: sub.Name, Events: append([]string{}, sub.Events...), AggregateTypes: append([]string{}, sub.AggregateTypes...),
		Start: StartView{Now: sub.Start.Now},
		Settings: SettingsView{
			BatchSize: sub.Settings.BatchSize, MaxAttempts: sub.Settings.MaxAttempts,
			AckTimeoutMS: sub.Settings.AckTimeout.Milliseconds(),
			MinBackoffMS: sub.Settings.MinBackoff.Milliseconds(),
			MaxBackoffMS: sub.Settings.MaxBackoff.Milliseconds(),
		},
		CreatedAt: sub.CreatedAt,
	}
	if p := sub.Start.After; !p.IsZero() {
		v.Start.After = &PositionView{RecordedAt: p.RecordedAt, AggregateUUID: p.Stream.String(), Version: p.Version}
	}
	if w := sub.Webhook; w != nil {
		v.Webhook = &WebhookView{URL: w.URL, Secret: w.Secret, TimeoutMS: w.Timeout.Milliseconds()}
	}
	return v
}

// parseEventID reads a canonical UUID, not the nil one.
func parseEventID(s, where string) (uuid.UUID, error) {
	id, err := uuid.Parse(s)
	if err != nil || len(s) != 36 || id == uuid.Nil {
		return uuid.Nil, badRequest("%s %q is not a UUID like 123e4567-e89b-12d3-a456-426614174000", where, s)
	}
	return id, nil
}

func parseEventIDs(ids []string) ([]uuid.UUID, error) {
	out := make([]uuid.UUID, len(ids))
	for i, s := range ids {
		id, err := parseEventID(s, "event_ids["+strconv.Itoa(i)+"]")
		if err != nil {
			return nil, err
		}
		out[i] = id
	}
	return out, nil
}

// errNoSubscriptions answers the subscriptions routes of a server given
// no subscriptions service.
var errNoSubscriptions = wrapf(errNotFound, "this server does not serve subscriptions")

func (s *Server) subscriptions() (*subscriptions.Service, error) {
	if s.opts.Subscriptions == nil {
		return nil, errNoSubscriptions
	}
	return s.opts.Subscriptions, nil
}

// subscriptionName is the {name} path parameter, unescaped: names may
// hold a '/' (sent as %2F).
func subscriptionName(c echo.Context) (string, error) {
	name := c.Param("name")
	if c.Request().URL.RawPath == "" {
		return name, nil
	}
	n, err := url.PathUnescape(name)
	if err != nil {
		return "", badRequest("the subscription name %q is not a valid path segment", name)
	}
	return n, nil
}

// subscriptionCall reads what every subscription endpoint needs: the
// service, the name, no query parameters but known, and the body into
// body when it is not nil.
func (s *Server) subscriptionCall(c echo.Context, body any, params ...string) (*subscriptions.Service, string, error) {
	svc, err := s.subscriptions()
	if err != nil {
		return nil, "", err
	}
	if err := checkParams(c, params...); err != nil {
		return nil, "", err
	}
	var name string
	if len(c.ParamNames()) > 0 {
		if name, err = subscriptionName(c); err != nil {
			return nil, "", err
		}
	}
	if body != nil {
		if err := decodeStrict(c.Request().Body, body); err != nil {
			return nil, "", err
		}
	}
	return svc, name, nil
}

func (s *Server) createSubscription(c echo.Context) error {
	var req SubscriptionRequest
	svc, _, err := s.subscriptionCall(c, &req)
	if err != nil {
		return err
	}
	sub, err := req.Subscription()
	if err != nil {
		return err
	}
	sub, err = svc.Create(c.Request().Context(), sub)
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderLocation, "/v1/subscriptions/"+url.PathEscape(sub.Name))
	return c.JSON(http.StatusCreated, RenderSubscription(sub))
}

func (s *Server) listSubscriptions(c echo.Context) error {
	svc, _, err := s.subscriptionCall(c, nil)
	if err != nil {
		return err
	}
	subs, err := svc.List(c.Request().Context())
	if err != nil {
		return err
	}
	out := struct {
		Subscriptions []SubscriptionView `json:"subscriptions"`
	}{Subscriptions: make([]SubscriptionView, 0, len(subs))}
	for _, sub := range subs {
		out.Subscriptions = append(out.Subscriptions, RenderSubscription(sub))
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) getSubscription(c echo.Context) error {
	svc, name, err := s.subscriptionCall(c, nil)
	if err != nil {
		return err
	}
	sub, err := svc.Get(c.Request().Context(), name)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, RenderSubscription(sub))
}

func (s *Server) deleteSubscription(c echo.Context) error {
	svc, name, err := s.subscriptionCall(c, nil)
	if err != nil {
		return err
	}
	if err := svc.Delete(c.Request().Context(), name); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// fetchSubscription hands the consumer a batch, waiting up to wait_ms for
// the first event. The wait polls without a wait of its own, so that
// neither the client leaving nor the server shutting down can cut a
// batch short once taken: a drain or shutdown ends a wait that found
// nothing with 503 and Retry-After.
func (s *Server) fetchSubscription(c echo.Context) error {
	var req FetchRequest
	svc, name, err := s.subscriptionCall(c, &req)
	if err != nil {
		return err
	}
	if req.Max < 0 || req.Max > 10000 {
		return badRequest("max %d must be from 0 (the subscription's batch size) to 10000", req.Max)
	}
	maxWait := s.opts.MaxFetchWait
	if req.WaitMS < 0 || req.WaitMS > maxWait.Milliseconds() {
		return badRequest("wait_ms %d must be from 0 to %d", req.WaitMS, maxWait.Milliseconds())
	}
	poll := svc.Poll
	if poll <= 0 {
		poll = subscriptions.DefaultPoll
	}
	ctx := c.Request().Context()
	until := time.Now().Add(time.Duration(req.WaitMS) * time.Millisecond)
	next := poll
	for {
		queued := svc.Queued(name)
		batch, err := s.fetchOnce(ctx, svc, name, req)
		if err != nil {
			return err
		}
		left := time.Until(until)
		if len(batch) > 0 || left <= 0 {
			return s.renderBatch(c, batch)
		}
		t := time.NewTimer(min(next, left))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-s.feeds.Done():
			// Draining or shutting down, nothing taken: an empty 200
			// would have the consumer fetch again at once, in a loop,
			// for the whole drain delay. A 503 with Retry-After sends it
			// away for a second (to another server, behind a balancer).
			t.Stop()
			c.Response().Header().Set("Retry-After", "1")
			return wrapf(errShuttingDown, "the server is shutting down; fetch from another server or again later")
		case <-queued:
			// The subscription's feed here queued an event; its batch
			// commits shortly: look again after a millisecond, then
			// back off to the poll interval.
			t.Stop()
			next = time.Millisecond
			time.Sleep(min(next, time.Until(until)))
		case <-t.C:
			next = min(2*next, poll)
		}
	}
}

func (s *Server) fetchOnce(ctx context.Context, svc *subscriptions.Service, name string, req FetchRequest) ([]subscriptions.Delivery, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.RequestTimeout)
	defer cancel()
	return svc.Fetch(ctx, name, req.Consumer, req.Max, 0)
}

func (s *Server) renderBatch(c echo.Context, batch []subscriptions.Delivery) error {
	out := FetchResponse{Deliveries: make([]DeliveryView, 0, len(batch))}
	for _, d := range batch {
		ev, err := RenderEvent(d.Event)
		if err != nil {
			return err
		}
		out.Deliveries = append(out.Deliveries, DeliveryView{Event: ev, Attempt: d.Attempt, Deadline: d.Deadline})
	}
	s.metrics.delivered.Add(float64(len(batch)))
	return c.JSON(http.StatusOK, out)
}

// settle reads an ack or nack body.
func (s *Server) settle(c echo.Context) (*subscriptions.Service, string, SettleRequest, []uuid.UUID, error) {
	var req SettleRequest
	svc, name, err := s.subscriptionCall(c, &req)
	if err != nil {
		return nil, "", req, nil, err
	}
	if len(req.EventIDs) == 0 {
		return nil, "", req, nil, badRequest("event_ids must name at least one event")
	}
	ids, err := parseEventIDs(req.EventIDs)
	return svc, name, req, ids, err
}

func (s *Server) ackSubscription(c echo.Context) error {
	svc, name, req, ids, err := s.settle(c)
	if err != nil {
		return err
	}
	if req.Action != "" || req.Reason != "" {
		return badRequest("an ack takes consumer and event_ids only")
	}
	err = svc.Ack(c.Request().Context(), name, req.Consumer, ids...)
	s.metrics.settled(err, "ack", len(ids))
	if err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) nackSubscription(c echo.Context) error {
	svc, name, req, ids, err := s.settle(c)
	if err != nil {
		return err
	}
	var action subscriptions.NackAction
	switch req.Action {
	case "retry":
		action = subscriptions.Retry
	case "park":
		action = subscriptions.Park
	default:
		return badRequest(`action %q must be "retry" or "park"`, req.Action)
	}
	if len(req.Reason) > maxReason {
		return badRequest("reason is %d bytes; at most %d", len(req.Reason), maxReason)
	}
	err = svc.Nack(c.Request().Context(), name, req.Consumer, action, req.Reason, ids...)
	s.metrics.settled(err, req.Action, len(ids))
	if err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) listParked(c echo.Context) error {
	svc, name, err := s.subscriptionCall(c, nil, "limit")
	if err != nil {
		return err
	}
	limit, err := intParam(c, "limit", 1, int64(s.opts.MaxPageSize))
	if err != nil {
		return err
	}
	if limit == 0 {
		limit = int64(s.opts.MaxPageSize)
	}
	parked, err := svc.Parked(c.Request().Context(), name, int(limit))
	if err != nil {
		return err
	}
	out := struct {
		Parked []ParkedView `json:"parked"`
	}{Parked: make([]ParkedView, 0, len(parked))}
	for _, p := range parked {
		out.Parked = append(out.Parked, ParkedView{
			EventID: p.Event.String(), AggregateUUID: p.Stream.String(), Version: p.Version, Name: p.Name,
			RecordedAt: p.RecordedAt, Attempts: p.Attempts, Reason: p.Reason,
		})
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) replayParked(c echo.Context) error {
	var req ReplayRequest
	svc, name, err := s.subscriptionCall(c, &req)
	if err != nil {
		return err
	}
	if len(req.EventIDs) > 10000 {
		return badRequest("%d event_ids in one replay; at most 10000", len(req.EventIDs))
	}
	ids, err := parseEventIDs(req.EventIDs)
	if err != nil {
		return err
	}
	n, err := svc.Replay(c.Request().Context(), name, ids...)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, struct {
		Replayed int64 `json:"replayed"`
	}{n})
}

// webhookLog lists a subscription's latest webhook attempts, newest
// first.
func (s *Server) webhookLog(c echo.Context) error {
	svc, name, err := s.subscriptionCall(c, nil, "limit")
	if err != nil {
		return err
	}
	limit, err := intParam(c, "limit", 1, 1000)
	if err != nil {
		return err
	}
	attempts, err := svc.WebhookLog(c.Request().Context(), name, int(limit))
	if err != nil {
		return err
	}
	out := WebhookLogResponse{Attempts: make([]WebhookAttemptView, 0, len(attempts))}
	for _, a := range attempts {
		out.Attempts = append(out.Attempts, WebhookAttemptView{
			EventID: a.Event.String(), Attempt: a.Attempt, At: a.At, Status: a.Status,
			LatencyMS: float64(a.Latency) / float64(time.Millisecond), Error: a.Error,
		})
	}
	return c.JSON(http.StatusOK, out)
}

// notHeldIDs lists the events of an ErrNotHeld, for the problem.
func notHeldIDs(err error) []string {
	var nh *subscriptions.NotHeldError
	if !errors.As(err, &nh) {
		return nil
	}
	out := make([]string, len(nh.Events))
	for i, id := range nh.Events {
		out[i] = id.String()
	}
	return out
}

// Exact field names of the subscription bodies (see strictjson.go).
var (
	subscriptionFields = []string{"name", "events", "aggregate_types", "start", "settings", "webhook"}
	webhookFields      = []string{"url", "secret", "timeout_ms"}
	startFields        = []string{"now", "after"}
	positionFields     = []string{"recorded_at", "aggregate_uuid", "version"}
	settingsFields     = []string{"batch_size", "ack_timeout_ms", "max_attempts", "min_backoff_ms", "max_backoff_ms"}
	fetchFields        = []string{"consumer", "max", "wait_ms"}
	settleFields       = []string{"consumer", "event_ids", "action", "reason"}
	replayFields       = []string{"event_ids"}
)

// strictBody decodes a request body with exact field names, refusing
// what JSON decoding would change silently (see checkStrict).
func strictBody[T any](b []byte, v *T, fields []string) error {
	if err := checkStrict(b); err != nil {
		return err
	}
	if err := exactFields(b, "the body", fields); err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// UnmarshalJSON decodes the body with exact field names.
func (r *SubscriptionRequest) UnmarshalJSON(b []byte) error {
	type plain SubscriptionRequest
	return strictBody(b, (*plain)(r), subscriptionFields)
}

// UnmarshalJSON decodes a start with exact field names.
func (v *StartView) UnmarshalJSON(b []byte) error {
	if err := exactFields(b, "start", startFields); err != nil {
		return err
	}
	type plain StartView
	return json.Unmarshal(b, (*plain)(v))
}

// UnmarshalJSON decodes a position with exact field names.
func (v *PositionView) UnmarshalJSON(b []byte) error {
	if err := exactFields(b, "start.after", positionFields); err != nil {
		return err
	}
	type plain PositionView
	return json.Unmarshal(b, (*plain)(v))
}

// UnmarshalJSON decodes settings with exact field names.
func (v *SettingsView) UnmarshalJSON(b []byte) error {
	if err := exactFields(b, "settings", settingsFields); err != nil {
		return err
	}
	type plain SettingsView
	return json.Unmarshal(b, (*plain)(v))
}

// UnmarshalJSON decodes a webhook with exact field names.
func (v *WebhookView) UnmarshalJSON(b []byte) error {
	if err := exactFields(b, "webhook", webhookFields); err != nil {
		return err
	}
	type plain WebhookView
	return json.Unmarshal(b, (*plain)(v))
}

// UnmarshalJSON decodes the body with exact field names.
func (r *FetchRequest) UnmarshalJSON(b []byte) error {
	type plain FetchRequest
	return strictBody(b, (*plain)(r), fetchFields)
}

// UnmarshalJSON decodes the body with exact field names.
func (r *SettleRequest) UnmarshalJSON(b []byte) error {
	type plain SettleRequest
	return strictBody(b, (*plain)(r), settleFields)
}

// UnmarshalJSON decodes the body with exact field names.
func (r *ReplayRequest) UnmarshalJSON(b []byte) error {
	type plain ReplayRequest
	return strictBody(b, (*plain)(r), replayFields)
}

// SubscriptionStatusView is where a subscription stands: its feed (the
// projection that queues its events) and its queue by state.
type SubscriptionStatusView struct {
	FeedState string  `json:"feed_state"`
	Behind    int64   `json:"behind"`
	LagMS     float64 `json:"lag_ms"`
	// FeedFailure is why a failed feed stopped.
	FeedFailure string `json:"feed_failure,omitempty"`
	Ready       int64  `json:"ready"`
	InFlight    int64  `json:"in_flight"`
	Parked      int64  `json:"parked"`
	// Capped says a count reached 10,000 and is a lower bound.
	Capped bool `json:"capped"`
}

func (s *Server) subscriptionStatus(c echo.Context) error {
	svc, name, err := s.subscriptionCall(c, nil)
	if err != nil {
		return err
	}
	st, err := svc.Status(c.Request().Context(), name)
	if err != nil {
		return err
	}
	v := SubscriptionStatusView{
		FeedState: st.Feed.State, Behind: st.Feed.Behind, LagMS: float64(st.Feed.Lag.Microseconds()) / 1000,
		Ready: st.Ready, InFlight: st.InFlight, Parked: st.Parked, Capped: st.Capped || st.Feed.BehindCapped,
	}
	if f := st.Feed.Failure; f != nil {
		v.FeedFailure = fmt.Sprintf("event %s (%s, %s v%d): %s", f.EventID, f.EventName, f.Stream, f.Version, f.Error)
	}
	return c.JSON(http.StatusOK, v)
}
