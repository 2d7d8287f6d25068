package mongostore

import (
	"time"

	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/bson"
)

// EventData is an event to append.
type EventData struct {
	// ID identifies the event forever. Leave it zero and the store assigns
	// a time-ordered UUID; set it yourself to make retries idempotent: an
	// append retried with the same ids after an unknown outcome stores
	// nothing twice and reports the versions the events got.
	ID uuid.UUID
	// Name is the event type, past tense: "OrderCreated". Names (and
	// aggregate types) are 1 to 200 bytes of printable UTF-8 (no control,
	// format or non-ASCII space characters) that neither start with '$'
	// nor start or end with a space: "todolist:created", "Order/Created"
	// and "orders@v2" are all names.
	Name string
	// SchemaVersion is the version of Data's shape, for upcasting. Zero
	// means 1.
	SchemaVersion int32
	// Data is the payload: a struct, a map, a bson.D/bson.M, a bson.Raw
	// document or a json.RawMessage holding a JSON object. nil stores an
	// empty document. Anything that does not encode to a BSON document is
	// refused.
	Data any
	// Metadata travels with the event.
	Metadata Metadata
}

// Metadata is what travels with an event besides its payload.
//
// It round-trips exactly: the named ids come back as stored, and Extra
// values come back with the Go type BSON gives them — string, bool,
// float64 (a float64 stays a float64, even 1.0), int32, int64 (an int is
// stored as int64), time.Time (UTC, millisecond precision),
// map[string]any for documents and []any for arrays.
type Metadata struct {
	// CorrelationID ties together everything caused by one request.
	CorrelationID string
	// CausationID is the id of the message (command or event) that caused
	// this event.
	CausationID string
	// Actor is who or what caused the event.
	Actor string
	// Extra holds free-form fields. Keys must be non-empty and must not
	// repeat the named fields (correlation_id, causation_id, actor); any
	// other key round-trips byte for byte, dotted OpenTelemetry keys
	// ("http.method") and a leading '$' included: the store keeps them
	// escaped, as MongoDB's field-name rules require (see EscapeMetadataKey).
	// Keys inside nested documents must not start with '$'. An append in
	// a trace adds MetaTraceparent and MetaTracestate here unless they are
	// set (see AppendStreams).
	Extra map[string]any
}

// IsZero reports whether m carries nothing.
func (m Metadata) IsZero() bool {
	return m.CorrelationID == "" && m.CausationID == "" && m.Actor == "" && len(m.Extra) == 0
}

// Event is a stored event.
type Event struct {
	// ID is the event's own id.
	ID uuid.UUID
	// Stream is the aggregate the event belongs to (aggregate_uuid).
	Stream uuid.UUID
	// StreamType is the aggregate type (aggregate_type), possibly empty.
	StreamType string
	// Version is the event's 1-based position in its stream.
	Version int64
	// Name is the event type.
	Name string
	// SchemaVersion is the version of Data's shape.
	SchemaVersion int32
	// Data is the payload as a BSON document; decode it with Decode.
	Data bson.Raw
	// Metadata travels with the event.
	Metadata Metadata
	// RecordedAt is when the store accepted the event, in UTC with
	// millisecond precision (BSON dates hold milliseconds). Within a stream
	// it never decreases.
	RecordedAt time.Time
}

// Decode unmarshals the event's payload into v, a pointer to a struct or a
// map.
func (e Event) Decode(v any) error {
	return bson.Unmarshal(e.Data, v)
}

// Stream is a stream's events as read.
type Stream struct {
	// ID is the aggregate's id.
	ID uuid.UUID
	// Type is the aggregate type of the stream's events, possibly empty.
	Type string
	// Version is the stream's version at the point read: the version of
	// its last event, or of its last event as of the query's bound.
	Version int64
	// Events are in version order.
	Events []Event
}

// AppendResult says what one stream's append wrote.
type AppendResult struct {
	// Stream is the aggregate appended to.
	Stream uuid.UUID
	// FromVersion and ToVersion are the versions the events got,
	// inclusive: 3..3 for one event appended at version 2.
	FromVersion, ToVersion int64
	// IDs are the stored event ids, in order.
	IDs []uuid.UUID
	// RecordedAt is when the events were recorded.
	RecordedAt time.Time
	// Replayed is true when the events were already stored by an earlier
	// attempt with the same ids and nothing new was written.
	Replayed bool
}

// StreamAppend is one stream's part of an atomic multi-stream append.
type StreamAppend struct {
	// Stream is the aggregate to append to.
	Stream uuid.UUID
	// Type is the aggregate type recorded on the events. Empty keeps the
	// stream's existing type. A different non-empty type than the stream's
	// is refused.
	Type string
	// Expected is what the stream's version must be.
	Expected ExpectedVersion
	// Events are appended in order.
	Events []EventData
}
