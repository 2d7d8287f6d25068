package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/annalsdb/annals/mongostore"
	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
	"go.mongodb.org/mongo-driver/bson"
)

// AppendRequest is the body of POST /v1/streams/{id}/events (and of the
// CLI's append --file).
type AppendRequest struct {
	ExpectedVersion json.RawMessage `json:"expected_version,omitempty"`
	AggregateType   string          `json:"aggregate_type,omitempty"`
	Events          []EventRequest  `json:"events"`
}

// EventRequest is one event of an AppendRequest.
type EventRequest struct {
	ID            *string         `json:"id,omitempty"`
	Name          string          `json:"name"`
	SchemaVersion *int32          `json:"schema_version,omitempty"`
	Data          json.RawMessage `json:"data,omitempty"`
	Metadata      json.RawMessage `json:"metadata,omitempty"`
}

// AppendResponse is the 201 body: what an append stored.
type AppendResponse struct {
	AggregateUUID string          `json:"aggregate_uuid"`
	FromVersion   int64           `json:"from_version"`
	ToVersion     int64           `json:"to_version"`
	Events        []AppendedEvent `json:"events"`
	RecordedAt    time.Time       `json:"recorded_at"`
	Replayed      bool            `json:"replayed"`
}

// AppendedEvent is one stored event's id and version.
type AppendedEvent struct {
	ID      string `json:"id"`
	Version int64  `json:"version"`
}

// StreamAppend turns the request into the store's append for stream,
// checking what the store does not: the expected version's spelling, ids,
// schema versions, that data is an object, and the metadata. Errors match
// the server's invalid-input problem.
func (r AppendRequest) StreamAppend(stream uuid.UUID) (mongostore.StreamAppend, error) {
	expected, err := parseExpected(r.ExpectedVersion)
	if err != nil {
		return mongostore.StreamAppend{}, err
	}
	events := make([]mongostore.EventData, len(r.Events))
	for i, e := range r.Events {
		if events[i], err = e.toEventData(i); err != nil {
			return mongostore.StreamAppend{}, err
		}
	}
	return mongostore.StreamAppend{Stream: stream, Type: r.AggregateType, Expected: expected, Events: events}, nil
}

// NewAppendResponse describes what an append to stream stored.
func NewAppendResponse(stream uuid.UUID, r mongostore.AppendResult) AppendResponse {
	out := AppendResponse{AggregateUUID: stream.String(), FromVersion: r.FromVersion, ToVersion: r.ToVersion,
		RecordedAt: r.RecordedAt, Replayed: r.Replayed, Events: []AppendedEvent{}}
	for i, id := range r.IDs {
		out.Events = append(out.Events, AppendedEvent{ID: id.String(), Version: r.FromVersion + int64(i)})
	}
	return out
}

func streamParam(c echo.Context) (uuid.UUID, error) {
	raw := c.Param("id")
	id, err := uuid.Parse(raw)
	if err != nil || len(raw) != 36 {
		return uuid.Nil, badRequest("aggregate_uuid %q is not a UUID like 123e4567-e89b-12d3-a456-426614174000", raw)
	}
	if id == uuid.Nil {
		return uuid.Nil, badRequest("aggregate_uuid is the nil UUID")
	}
	return id, nil
}

// decodeStrict decodes one JSON value, refusing unknown fields and
// trailing data.
func decodeStrict(r io.Reader, v any) error {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.Is(err, errBodyTimeout):
			return err
		case isTooLarge(err):
			return tooLargeBody(err)
		case errors.As(err, &se):
			return badRequest("malformed JSON at byte %d: %v", se.Offset, err)
		case errors.As(err, &te):
			field := te.Field
			if field == "" {
				field = "the body"
			}
			return badRequest("%s must be %s, got a JSON %s", field, jsonKind(te.Type), te.Value)
		case errors.Is(err, io.EOF):
			return badRequest("the body is empty")
		case errors.Is(err, io.ErrUnexpectedEOF):
			return badRequest("malformed JSON: the body ends too early")
		}
		if errors.Is(err, errBadRequest) {
			return err
		}
		return badRequest("%v", err)
	}
	// Token, not More: More reports no more data before a stray '}' or
	// ']', and a body limit error can come with the value's last bytes.
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if errors.Is(err, errBodyTimeout) {
			return err
		}
		if isTooLarge(err) {
			return tooLargeBody(err)
		}
		return badRequest("unexpected data after the JSON body")
	}
	return nil
}

// isTooLarge reports a body read that went past the body limit: Echo's
// BodyLimit middleware or http.MaxBytesReader.
func isTooLarge(err error) bool {
	var mbe *http.MaxBytesError
	var he *echo.HTTPError
	return errors.As(err, &mbe) || errors.As(err, &he) && he.Code == http.StatusRequestEntityTooLarge
}

func tooLargeBody(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return wrapf(errTooLarge, "the body exceeds %d bytes", mbe.Limit)
	}
	return wrapf(errTooLarge, "the body exceeds the server's limit")
}

// jsonKind names what a Go type accepts in JSON words, for messages.
func jsonKind(t reflect.Type) string {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil {
		return "a JSON value"
	}
	switch t.Kind() {
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	}
	return "a JSON value"
}

// parseExpected reads expected_version: a non-negative number, or "any",
// "no_stream", "exists". Absent means any.
func parseExpected(raw json.RawMessage) (mongostore.ExpectedVersion, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return mongostore.Any, nil
	}
	var name string
	if err := json.Unmarshal(raw, &name); err == nil {
		switch name {
		case "any":
			return mongostore.Any, nil
		case "no_stream":
			return mongostore.NoStream, nil
		case "exists":
			return mongostore.StreamExists, nil
		}
		return mongostore.Any, badRequest(`expected_version %q must be a version number or one of "any", "no_stream", "exists"`, name)
	}
	n, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil {
		return mongostore.Any, badRequest(`expected_version %s must be a whole number from 0 to %d, or one of "any", "no_stream", "exists"`, raw, int64(math.MaxInt64))
	}
	if n < 0 {
		return mongostore.Any, badRequest("expected_version %d is negative", n)
	}
	return mongostore.Exact(n), nil
}

func expectedName(e mongostore.ExpectedVersion) string {
	switch e {
	case mongostore.NoStream:
		return "no_stream"
	case mongostore.StreamExists:
		return "exists"
	}
	return "any"
}

func (s *Server) appendEvents(c echo.Context) error {
	stream, err := streamParam(c)
	if err != nil {
		return err
	}
	var req AppendRequest
	if err := decodeStrict(c.Request().Body, &req); err != nil {
		return err
	}
	if len(req.Events) == 0 {
		return badRequest("events must hold at least one event")
	}
	if len(req.Events) > s.opts.MaxEvents {
		return wrapf(errTooLarge, "%d events in one append; the limit is %d", len(req.Events), s.opts.MaxEvents)
	}
	sa, err := req.StreamAppend(stream)
	if err != nil {
		return err
	}
	res, err := s.store.AppendStreams(c.Request().Context(), sa)
	if err != nil {
		return err
	}
	s.diskFull.Store(false)
	if !res[0].Replayed { // annals_appended_events_total excludes replays
		s.metrics.events.Add(float64(len(sa.Events)))
	}
	out := NewAppendResponse(stream, res[0])
	c.Response().Header().Set(echo.HeaderLocation, "/v1/streams/"+stream.String()+"/events")
	return c.JSON(http.StatusCreated, out)
}

func (e EventRequest) toEventData(i int) (mongostore.EventData, error) {
	var out mongostore.EventData
	if e.ID != nil {
		id, err := uuid.Parse(*e.ID)
		if err != nil || len(*e.ID) != 36 || id == uuid.Nil {
			return out, badRequest("events[%d].id %q is not a UUID", i, *e.ID)
		}
		out.ID = id
	}
	out.Name = e.Name
	if e.SchemaVersion != nil {
		if *e.SchemaVersion < 1 {
			return out, badRequest("events[%d].schema_version %d must be at least 1", i, *e.SchemaVersion)
		}
		out.SchemaVersion = *e.SchemaVersion
	}
	data := bytes.TrimSpace(e.Data)
	switch {
	case len(data) == 0 || string(data) == "null":
	case data[0] != '{':
		return out, badRequest("events[%d].data must be a JSON object", i)
	default:
		out.Data = json.RawMessage(data)
	}
	meta, err := ParseMetadata(e.Metadata)
	if err != nil {
		return out, badRequest("events[%d].metadata: %v", i, err)
	}
	out.Metadata = meta
	return out, nil
}

// ParseMetadata reads a metadata object as the API takes it: the named ids
// (correlation_id, causation_id, actor) as strings, any other field as
// free-form data. JSON numbers with a fraction or exponent become float64
// (1.0 stays a float64), others int64. The CLI reads files the same way.
func ParseMetadata(raw json.RawMessage) (mongostore.Metadata, error) {
	var m mongostore.Metadata
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return m, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var fields map[string]any
	if err := dec.Decode(&fields); err != nil {
		return m, errors.New("must be a JSON object")
	}
	for k, v := range fields {
		switch k {
		case "correlation_id", "causation_id", "actor":
			s, ok := v.(string)
			if !ok {
				return m, fmt.Errorf("%s must be a string", k)
			}
			switch k {
			case "correlation_id":
				m.CorrelationID = s
			case "causation_id":
				m.CausationID = s
			default:
				m.Actor = s
			}
		default:
			val, err := jsonValue(v)
			if err != nil {
				return m, fmt.Errorf("%s: %v", k, err)
			}
			if m.Extra == nil {
				m.Extra = map[string]any{}
			}
			m.Extra[k] = val
		}
	}
	return m, nil
}

func jsonValue(v any) (any, error) {
	switch x := v.(type) {
	case json.Number:
		if strings.ContainsAny(string(x), ".eE") {
			return x.Float64()
		}
		return x.Int64()
	case map[string]any:
		for k, e := range x {
			val, err := jsonValue(e)
			if err != nil {
				return nil, err
			}
			x[k] = val
		}
		return x, nil
	case []any:
		for i, e := range x {
			val, err := jsonValue(e)
			if err != nil {
				return nil, err
			}
			x[i] = val
		}
		return x, nil
	}
	return v, nil
}

// EventView is an event as the API shows it.
type EventView struct {
	ID            string          `json:"id"`
	AggregateUUID string          `json:"aggregate_uuid"`
	AggregateType string          `json:"aggregate_type"`
	Version       int64           `json:"version"`
	Name          string          `json:"name"`
	SchemaVersion int32           `json:"schema_version"`
	Data          json.RawMessage `json:"data"`
	Metadata      json.RawMessage `json:"metadata"`
	RecordedAt    time.Time       `json:"recorded_at"`
}

// RenderEvent renders an event as the API shows it: payloads as relaxed
// Extended JSON (numbers as numbers, dates as {"$date": …}), the named
// metadata fields first, then the others by key.
func RenderEvent(e mongostore.Event) (EventView, error) {
	data, err := bson.MarshalExtJSON(e.Data, false, false)
	if err != nil {
		return EventView{}, fmt.Errorf("render event %s data: %w", e.ID, err)
	}
	meta := bson.D{}
	if e.Metadata.CorrelationID != "" {
		meta = append(meta, bson.E{Key: "correlation_id", Value: e.Metadata.CorrelationID})
	}
	if e.Metadata.CausationID != "" {
		meta = append(meta, bson.E{Key: "causation_id", Value: e.Metadata.CausationID})
	}
	if e.Metadata.Actor != "" {
		meta = append(meta, bson.E{Key: "actor", Value: e.Metadata.Actor})
	}
	for _, k := range slices.Sorted(maps.Keys(e.Metadata.Extra)) {
		meta = append(meta, bson.E{Key: k, Value: e.Metadata.Extra[k]})
	}
	metaJSON, err := bson.MarshalExtJSON(meta, false, false)
	if err != nil {
		return EventView{}, fmt.Errorf("render event %s metadata: %w", e.ID, err)
	}
	return EventView{
		ID: e.ID.String(), AggregateUUID: e.Stream.String(), AggregateType: e.StreamType, Version: e.Version,
		Name: e.Name, SchemaVersion: e.SchemaVersion, Data: data, Metadata: metaJSON, RecordedAt: e.RecordedAt,
	}, nil
}

// streamResponse is the body of GET /v1/streams/{id}/events.
type streamResponse struct {
	AggregateUUID string      `json:"aggregate_uuid"`
	AggregateType string      `json:"aggregate_type"`
	Version       int64       `json:"version"`
	Events        []EventView `json:"events"`
}

func (s *Server) readEvents(c echo.Context) error {
	stream, err := streamParam(c)
	if err != nil {
		return err
	}
	q, err := s.readQuery(c)
	if err != nil {
		return err
	}
	st, err := s.store.Read(c.Request().Context(), stream, q)
	if err != nil {
		return err
	}
	out := streamResponse{AggregateUUID: stream.String(), AggregateType: st.Type, Version: st.Version, Events: []EventView{}}
	for _, e := range st.Events {
		j, err := RenderEvent(e)
		if err != nil {
			return err
		}
		out.Events = append(out.Events, j)
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) readQuery(c echo.Context) (mongostore.ReadQuery, error) {
	var q mongostore.ReadQuery
	if err := checkParams(c, "from_version", "to_version", "as_of", "limit"); err != nil {
		return q, err
	}
	var err error
	if q.FromVersion, err = intParam(c, "from_version", 0, math.MaxInt64); err != nil {
		return q, err
	}
	if q.ToVersion, err = intParam(c, "to_version", 0, math.MaxInt64); err != nil {
		return q, err
	}
	if q.ToVersion > 0 && q.FromVersion > q.ToVersion {
		return q, badRequest("from_version %d is after to_version %d", q.FromVersion, q.ToVersion)
	}
	limit, err := intParam(c, "limit", 1, int64(s.opts.MaxPageSize))
	if err != nil {
		return q, err
	}
	q.Limit = limit
	if v := c.QueryParam("as_of"); v != "" {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return q, badRequest("as_of %q is not an RFC 3339 time like 2026-01-02T15:04:05Z", v)
		}
		if t.IsZero() {
			// The store reads a zero AsOf as "now": refuse it rather than
			// answer a question the client did not ask.
			return q, badRequest("as_of %q is year 1's first instant, which the store cannot tell from no as_of; give a later time", v)
		}
		q.AsOf = t
	}
	return q, nil
}

// checkParams refuses query parameters an endpoint does not know, and
// repeated ones.
func checkParams(c echo.Context, known ...string) error {
	for k, vs := range c.QueryParams() {
		ok := false
		for _, n := range known {
			ok = ok || k == n
		}
		if !ok {
			return badRequest("unknown query parameter %q", k)
		}
		if len(vs) > 1 {
			return badRequest("query parameter %q is given %d times", k, len(vs))
		}
	}
	return nil
}

// intParam reads an optional integer query parameter within [min, max];
// absent is 0.
func intParam(c echo.Context, name string, min, max int64) (int64, error) {
	v := c.QueryParam(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < min || n > max {
		return 0, badRequest("%s must be a whole number from %d to %d, got %q", name, min, max, v)
	}
	return n, nil
}
