package mongostore

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/bsoncodec"
	"go.mongodb.org/mongo-driver/bson/bsonrw"
	"go.mongodb.org/mongo-driver/bson/bsontype"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/x/bsonx/bsoncore"

	"github.com/annalsdb/annals/internal/bsoncheck"
)

// Field names of an event document.
const (
	fieldID            = "_id"
	fieldStream        = "aggregate_uuid"
	fieldStreamType    = "aggregate_type"
	fieldVersion       = "version"
	fieldName          = "name"
	fieldSchemaVersion = "schema_version"
	fieldData          = "data"
	fieldMetadata      = "metadata"
	fieldRecordedAt    = "recorded_at"
	// fieldMetadataEscaped (true) marks an event whose metadata keys are
	// escaped; see EscapeMetadataKey.
	fieldMetadataEscaped = "metadata_escaped"

	metaCorrelationID = "correlation_id"
	metaCausationID   = "causation_id"
	metaActor         = "actor"
)

// UUIDValue returns id as BSON binary subtype 4, the form annals stores and
// queries UUIDs in (what mongosh prints as UUID("…")).
func UUIDValue(id uuid.UUID) primitive.Binary {
	return primitive.Binary{Subtype: bsontype.BinaryUUID, Data: id[:]}
}

// uuidFrom converts a stored subtype-4 binary back to a UUID.
func uuidFrom(b primitive.Binary) (uuid.UUID, error) {
	if b.Subtype != bsontype.BinaryUUID || len(b.Data) != 16 {
		return uuid.Nil, fmt.Errorf("stored id is binary subtype %#x of %d bytes, not a UUID", b.Subtype, len(b.Data))
	}
	return uuid.UUID(b.Data), nil
}

// emptyDocument is the encoding of {}.
var emptyDocument = bson.Raw{5, 0, 0, 0, 0}

// encodeData turns an EventData payload into a BSON document.
func encodeData(v any) (bson.Raw, error) {
	switch d := v.(type) {
	case nil:
		return emptyDocument, nil
	case bson.Raw:
		if err := bsoncheck.WellFormed(d); err != nil {
			return nil, fmt.Errorf("not a valid BSON document: %v", err)
		}
		return d, nil
	case json.RawMessage:
		var doc bson.D
		if err := bson.UnmarshalExtJSON(d, false, &doc); err != nil {
			return nil, fmt.Errorf("not a JSON object: %v", err)
		}
		return bson.Marshal(doc)
	case []byte:
		return nil, fmt.Errorf("[]byte is ambiguous: pass bson.Raw for BSON or json.RawMessage for JSON")
	}
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Pointer && rv.IsNil() {
		return emptyDocument, nil
	}
	raw, err := bson.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("must encode to a BSON document (a struct or a map), got %T: %v", v, err)
	}
	return raw, nil
}

// checkKeys refuses field names MongoDB treats as operators or paths.
func checkKeys(doc bson.Raw, path string) error { return checkNested(doc, path, 1) }

// checkNested is checkKeys of a document nested depth levels deep in the
// data or metadata (1 for the data or metadata document itself). It also
// refuses nesting beyond MaxNestingDepth-1, which MongoDB would not store
// inside an event document while the embedded engine would.
func checkNested(doc bson.Raw, path string, depth int) error {
	if depth > MaxNestingDepth-1 {
		where := orRoot(path)
		if len(where) > 60 {
			where = "…" + strings.ToValidUTF8(where[len(where)-60:], "")
		}
		return fmt.Errorf("%s is nested %d levels deep; at most %d levels are allowed (MongoDB stores at most %d, counting the event document)",
			where, depth, MaxNestingDepth-1, MaxNestingDepth)
	}
	elems, err := doc.Elements()
	if err != nil {
		return err
	}
	for _, el := range elems {
		key := el.Key()
		if key == "" {
			return fmt.Errorf("empty field name in %s", orRoot(path))
		}
		if strings.HasPrefix(key, "$") {
			return fmt.Errorf("field name %q in %s starts with '$'", key, orRoot(path))
		}
		val := el.Value()
		switch val.Type {
		case bsontype.MinKey, bsontype.MaxKey, bsontype.JavaScript, bsontype.CodeWithScope,
			bsontype.Symbol, bsontype.Undefined, bsontype.DBPointer:
			// Internal or deprecated BSON types: no event needs them, and the
			// embedded engine cannot store some of them.
			return fmt.Errorf("field %q in %s is BSON %s, which events cannot hold", key, orRoot(path), val.Type)
		case bsontype.EmbeddedDocument:
			if err := checkNested(val.Document(), path+"."+key, depth+1); err != nil {
				return err
			}
		case bsontype.Array:
			if err := checkNested(bson.Raw(val.Array()), path+"."+key, depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}

func orRoot(path string) string {
	if path == "" {
		return "the document"
	}
	return strings.TrimPrefix(path, ".")
}

// encodeMetadata renders m as a document with the named fields first and
// Extra's keys sorted, so equal metadata encodes to equal bytes. tf's
// trace context is added under MetaTraceparent and MetaTracestate unless
// Extra has either key itself. escaped reports whether a key was stored
// escaped: the event must then carry fieldMetadataEscaped.
func encodeMetadata(m Metadata, tf traceFields) (_ bson.Raw, escaped bool, _ error) {
	n := len(m.Extra)
	if tf.parent != "" {
		n += 2
	}
	doc := make(bson.D, 0, 3+n)
	if m.CorrelationID != "" {
		doc = append(doc, bson.E{Key: metaCorrelationID, Value: m.CorrelationID})
	}
	if m.CausationID != "" {
		doc = append(doc, bson.E{Key: metaCausationID, Value: m.CausationID})
	}
	if m.Actor != "" {
		doc = append(doc, bson.E{Key: metaActor, Value: m.Actor})
	}
	keys := make([]string, 0, n)
	for k := range m.Extra {
		keys = append(keys, k)
	}
	var traced map[string]string // the trace fields added, by key
	_, ownParent := m.Extra[MetaTraceparent]
	_, ownState := m.Extra[MetaTracestate]
	if tf.parent != "" && !ownParent && !ownState {
		// The two keys are one trace context: metadata that has either
		// keeps the caller's, and gets neither of the append's.
		traced = make(map[string]string, 2)
		for _, f := range [...]struct{ key, value string }{{MetaTraceparent, tf.parent}, {MetaTracestate, tf.state}} {
			if f.value != "" {
				traced[f.key] = f.value
				keys = append(keys, f.key)
			}
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		if v, ok := traced[k]; ok {
			doc = append(doc, bson.E{Key: k, Value: v})
			continue
		}
		switch {
		case k == "":
			return nil, false, fmt.Errorf("extra key %q: keys must be non-empty", k)
		case strings.IndexByte(k, 0) >= 0:
			return nil, false, fmt.Errorf("extra key %q holds a NUL byte, which BSON field names cannot", k)
		case k == metaCorrelationID || k == metaCausationID || k == metaActor:
			return nil, false, fmt.Errorf("extra key %q repeats a named metadata field", k)
		}
		stored := EscapeMetadataKey(k)
		escaped = escaped || stored != k
		doc = append(doc, bson.E{Key: stored, Value: normalizeValue(m.Extra[k])})
	}
	raw, err := bson.Marshal(doc)
	if err != nil {
		return nil, false, err
	}
	if err := checkKeys(raw, ""); err != nil { // nested operator-like keys too
		return nil, false, err
	}
	return raw, escaped, nil
}

// normalizeValue stores a Go int as int64 so that it round-trips as int64
// whatever its size.
func normalizeValue(v any) any {
	switch x := v.(type) {
	case int:
		return int64(x)
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = normalizeValue(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalizeValue(e)
		}
		return out
	}
	return v
}

// extraRegistry decodes free-form metadata into plain Go types: documents
// to map[string]any, arrays to []any and dates to time.Time.
var extraRegistry = func() *bsoncodec.Registry {
	r := bson.NewRegistry()
	r.RegisterTypeMapEntry(bsontype.EmbeddedDocument, reflect.TypeOf(map[string]any{}))
	r.RegisterTypeMapEntry(bsontype.Array, reflect.TypeOf([]any{}))
	r.RegisterTypeMapEntry(bsontype.DateTime, reflect.TypeOf(time.Time{}))
	return r
}()

// extraDecoder decodes one free-form metadata value into an any.
var extraDecoder = func() bsoncodec.ValueDecoder {
	dec, err := extraRegistry.LookupDecoder(reflect.TypeFor[any]())
	if err != nil {
		panic(err) // the default registry always has one
	}
	return dec
}()

// decodeMetadata decodes a stored metadata document; escaped says its
// keys are escaped (the event carries fieldMetadataEscaped), else they
// are taken as stored.
func decodeMetadata(raw bson.Raw, escaped bool) (Metadata, error) {
	var m Metadata
	if len(raw) <= len(emptyDocument) {
		return m, nil // absent or {}: the common case, no allocation
	}
	elems, err := raw.Elements()
	if err != nil {
		return m, err
	}
	for _, el := range elems {
		val := el.Value()
		switch key := el.Key(); key {
		case metaCorrelationID, metaCausationID, metaActor:
			s, ok := val.StringValueOK()
			if !ok {
				return m, fmt.Errorf("metadata %s is BSON %s, not a string", key, val.Type)
			}
			switch key {
			case metaCorrelationID:
				m.CorrelationID = s
			case metaCausationID:
				m.CausationID = s
			default:
				m.Actor = s
			}
		default:
			var v any
			dc := bsoncodec.DecodeContext{Registry: extraRegistry}
			vr := bsonrw.NewBSONValueReader(val.Type, val.Value)
			if err := extraDecoder.DecodeValue(dc, vr, reflect.ValueOf(&v).Elem()); err != nil {
				return m, fmt.Errorf("metadata %s: %w", key, err)
			}
			if m.Extra == nil {
				m.Extra = map[string]any{}
			}
			if escaped {
				key = UnescapeMetadataKey(key)
			}
			m.Extra[key] = v
		}
	}
	return m, nil
}

// storedEvent is an event document as read back.
type storedEvent struct {
	ID            primitive.Binary `bson:"_id"`
	Stream        primitive.Binary `bson:"aggregate_uuid"`
	StreamType    string           `bson:"aggregate_type"`
	Version       int64            `bson:"version"`
	Name          string           `bson:"name"`
	SchemaVersion int32            `bson:"schema_version"`
	Data          bson.Raw         `bson:"data"`
	Metadata      bson.Raw         `bson:"metadata"`
	// MetadataEscaped is fieldMetadataEscaped, absent (false) on events
	// whose metadata needs no escape and on those stored before escaping.
	MetadataEscaped bool               `bson:"metadata_escaped"`
	RecordedAt      primitive.DateTime `bson:"recorded_at"`
}

func (d *storedEvent) event() (Event, error) {
	id, err := uuidFrom(d.ID)
	if err != nil {
		return Event{}, fmt.Errorf("decode event _id: %w", err)
	}
	stream, err := uuidFrom(d.Stream)
	if err != nil {
		return Event{}, fmt.Errorf("decode event %s aggregate_uuid: %w", id, err)
	}
	meta, err := decodeMetadata(d.Metadata, d.MetadataEscaped)
	if err != nil {
		return Event{}, fmt.Errorf("decode event %s metadata: %w", id, err)
	}
	data := d.Data
	if data == nil {
		data = emptyDocument
	}
	return Event{
		ID:            id,
		Stream:        stream,
		StreamType:    d.StreamType,
		Version:       d.Version,
		Name:          d.Name,
		SchemaVersion: d.SchemaVersion,
		Data:          data,
		Metadata:      meta,
		RecordedAt:    d.RecordedAt.Time().UTC(),
	}, nil
}

// DecodeEvent decodes one raw event document as stored in the events
// collection, for packages that read the collection themselves (change
// streams, exports). A document that is not a well-formed event is a
// *DecodeError naming it.
func DecodeEvent(raw bson.Raw) (Event, error) {
	var d storedEvent
	if err := decodeStored(raw, &d); err != nil {
		return Event{}, decodeError(raw, err)
	}
	ev, err := d.event()
	if err != nil {
		return Event{}, decodeError(raw, err)
	}
	return ev, nil
}

// DecodeError reports a stored document that is not a well-formed event
// (written around the store, or damaged). It matches ErrCorruptEvent.
type DecodeError struct {
	// ID is the document's _id as a UUID when it is one (else uuid.Nil),
	// and RawID its _id as text.
	ID    uuid.UUID
	RawID string
	Err   error
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("stored event %s is not well-formed: %v", e.RawID, e.Err)
}

// Unwrap returns ErrCorruptEvent and the cause.
func (e *DecodeError) Unwrap() []error { return []error{ErrCorruptEvent, e.Err} }

func decodeError(raw bson.Raw, err error) *DecodeError {
	de := &DecodeError{Err: err, RawID: "(no _id)"}
	if v, lerr := raw.LookupErr(fieldID); lerr == nil {
		// Rendering a value of a damaged document could meet the damage;
		// its UUID is read by length.
		if de.RawID = "(damaged document)"; bsoncheck.WellFormed(raw) == nil {
			de.RawID = v.String()
		}
		if sub, data, ok := v.BinaryOK(); ok && sub == bsontype.BinaryUUID && len(data) == 16 {
			de.ID = uuid.UUID(data)
			de.RawID = de.ID.String()
		}
	}
	return de
}

// decodeCurrent decodes a cursor's current document as an event. The
// embedded engine's cursor lends its current bytes; other cursors copy
// them.
func decodeCurrent(cur interface{ Decode(any) error }) (Event, error) {
	var raw bson.Raw
	if c, ok := cur.(interface{ Current() bson.Raw }); ok {
		raw = c.Current()
	} else if err := cur.Decode(&raw); err != nil {
		return Event{}, err
	}
	return DecodeEvent(raw)
}

// escapedMarkerBytes is the encoded size of fieldMetadataEscaped: true.
const escapedMarkerBytes = 1 + len(fieldMetadataEscaped) + 1 + 1

// encodeEvent renders one event document in the stored field order;
// escaped adds fieldMetadataEscaped after the metadata. It is built with
// bsoncore rather than marshalled by reflection: it runs for every event
// appended. data and meta are documents (empty when nil).
func encodeEvent(id, stream uuid.UUID, streamType string, version int64, name string,
	schema int32, data, meta bson.Raw, escaped bool, at time.Time) (bson.Raw, error) {
	data, meta = orEmpty(data), orEmpty(meta)
	size := 128 + len(streamType) + len(name) + len(data) + len(meta)
	start, dst := bsoncore.AppendDocumentStart(make([]byte, 0, size))
	dst = bsoncore.AppendBinaryElement(dst, fieldID, bson.TypeBinaryUUID, id[:])
	dst = bsoncore.AppendBinaryElement(dst, fieldStream, bson.TypeBinaryUUID, stream[:])
	dst = bsoncore.AppendStringElement(dst, fieldStreamType, streamType)
	dst = bsoncore.AppendInt64Element(dst, fieldVersion, version)
	dst = bsoncore.AppendStringElement(dst, fieldName, name)
	dst = bsoncore.AppendInt32Element(dst, fieldSchemaVersion, schema)
	dst = bsoncore.AppendDocumentElement(dst, fieldData, data)
	dst = bsoncore.AppendDocumentElement(dst, fieldMetadata, meta)
	if escaped {
		dst = bsoncore.AppendBooleanElement(dst, fieldMetadataEscaped, true)
	}
	dst = bsoncore.AppendDateTimeElement(dst, fieldRecordedAt, int64(primitive.NewDateTimeFromTime(at)))
	dst, err := bsoncore.AppendDocumentEnd(dst, start)
	if err != nil {
		return nil, fmt.Errorf("encode event: %w", err)
	}
	return dst, nil
}

// orEmpty is doc, or an empty document when doc is nil.
func orEmpty(doc bson.Raw) bson.Raw {
	if doc == nil {
		return emptyDocument
	}
	return doc
}
