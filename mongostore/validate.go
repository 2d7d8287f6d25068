package mongostore

import (
	"fmt"
	"math"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/bson"
)

// MaxNameBytes bounds event names and aggregate types.
const MaxNameBytes = 200

// docOverhead is the encoded size of an event document minus its variable
// parts (aggregate type, name, data and metadata); see encodeEvent.
const docOverhead = 174

// prepared is one stream's validated part of an append, encoded once.
type prepared struct {
	stream   uuid.UUID
	typ      string
	expected ExpectedVersion
	ids      []uuid.UUID
	// explicitIDs is true when the caller chose at least one id, which is
	// what makes a retry recognisable.
	explicitIDs bool
	names       []string
	schemas     []int32
	data        []bson.Raw
	meta        []bson.Raw
	// escaped is true for the events whose metadata has an escaped key
	// (see EscapeMetadataKey).
	escaped []bool
}

func (p *prepared) len() int { return len(p.ids) }

// prepare validates an append and encodes its payloads. It writes nothing;
// every refusal is a *ValidationError. tf is the trace context recorded
// in each event's metadata.
func (s *Store) prepare(appends []StreamAppend, tf traceFields) ([]*prepared, error) {
	if len(appends) == 0 {
		return nil, invalid(uuid.Nil, -1, "streams", "an append needs at least one stream")
	}
	seenStreams := make(map[uuid.UUID]bool, len(appends))
	seenIDs := make(map[uuid.UUID]bool)
	total := 0
	out := make([]*prepared, 0, len(appends))
	for _, a := range appends {
		if a.Stream == uuid.Nil {
			return nil, invalid(uuid.Nil, -1, "stream", "the stream id is the nil UUID")
		}
		if seenStreams[a.Stream] {
			return nil, invalid(a.Stream, -1, "stream", "the stream appears twice in one append; put all its events in one StreamAppend")
		}
		seenStreams[a.Stream] = true
		if v, ok := a.Expected.Version(); ok && v < 0 {
			return nil, invalid(a.Stream, -1, "expected_version", "expected version %d is negative", v)
		}
		if a.Type != "" {
			if reason := checkName(a.Type); reason != "" {
				return nil, invalid(a.Stream, -1, "aggregate_type", "aggregate type %q %s", a.Type, reason)
			}
		}
		if len(a.Events) == 0 {
			return nil, invalid(a.Stream, -1, "events", "no events to append")
		}
		if v, ok := a.Expected.Version(); ok && v > math.MaxInt64-int64(len(a.Events)) {
			return nil, invalid(a.Stream, -1, "expected_version", "expected version %d leaves no room for %d events", v, len(a.Events))
		}
		p := &prepared{
			stream:   a.Stream,
			typ:      a.Type,
			expected: a.Expected,
			ids:      make([]uuid.UUID, len(a.Events)),
			names:    make([]string, len(a.Events)),
			schemas:  make([]int32, len(a.Events)),
			data:     make([]bson.Raw, len(a.Events)),
			meta:     make([]bson.Raw, len(a.Events)),
			escaped:  make([]bool, len(a.Events)),
		}
		for i, e := range a.Events {
			if reason := checkName(e.Name); reason != "" {
				return nil, invalid(a.Stream, i, "name", "event name %q %s", e.Name, reason)
			}
			if e.SchemaVersion < 0 {
				return nil, invalid(a.Stream, i, "schema_version", "schema version %d is negative", e.SchemaVersion)
			}
			schema := e.SchemaVersion
			if schema == 0 {
				schema = 1
			}
			id := e.ID
			if id == uuid.Nil {
				var err error
				if id, err = uuid.NewV7(); err != nil {
					return nil, err
				}
			} else {
				p.explicitIDs = true
			}
			if seenIDs[id] {
				return nil, invalid(a.Stream, i, "id", "event id %s appears twice in the append", id)
			}
			seenIDs[id] = true
			data, err := encodeData(e.Data)
			if err != nil {
				return nil, invalid(a.Stream, i, "data", "%v", err)
			}
			if err := checkKeys(data, ""); err != nil {
				return nil, invalid(a.Stream, i, "data", "%v", err)
			}
			meta, escaped, err := encodeMetadata(e.Metadata, tf)
			if err != nil {
				return nil, invalid(a.Stream, i, "metadata", "%v", err)
			}
			size := docOverhead + len(a.Type) + len(e.Name) + len(data) + len(meta)
			if escaped {
				size += escapedMarkerBytes
			}
			if size > MaxEventBytes {
				return nil, tooLarge(a.Stream, i, "data", "the event document would be %d bytes; the limit is %d, MongoDB's limit of %d less room for change events", size, MaxEventBytes, MaxDocumentBytes)
			}
			total += size
			if total > s.cfg.maxBatchBytes {
				return nil, tooLarge(a.Stream, i, "events", "the append exceeds %d bytes; split it into several appends", s.cfg.maxBatchBytes)
			}
			p.ids[i], p.names[i], p.schemas[i], p.data[i], p.meta[i], p.escaped[i] = id, e.Name, schema, data, meta, escaped
		}
		out = append(out, p)
	}
	explicit := 0
	for _, p := range out {
		if p.explicitIDs {
			explicit++
		}
	}
	for _, p := range out {
		if explicit > 0 && !allExplicit(appends, p.stream) {
			return nil, invalid(p.stream, -1, "id", "give every event of an append an id, or none: a retry can only be recognised by ids that do not change")
		}
	}
	return out, nil
}

// allExplicit reports whether every event of the stream's part of the
// append has a caller-chosen id.
func allExplicit(appends []StreamAppend, stream uuid.UUID) bool {
	for _, a := range appends {
		if a.Stream != stream {
			continue
		}
		for _, e := range a.Events {
			if e.ID == uuid.Nil {
				return false
			}
		}
	}
	return true
}

// checkName returns why name is not a valid event name or aggregate type,
// or "" when it is. The rule, the same for both: 1 to MaxNameBytes bytes of
// valid UTF-8, every character printable (letters, marks, digits,
// punctuation, symbols and the ASCII space: no control, format or other
// space characters), no leading '$' and no leading or trailing space. So
// "todolist:created", "Order/Created", "orders@v2" and "Commande créée"
// are names; "$where", " Order" and "Order\n" are not.
func checkName(name string) string {
	switch {
	case name == "":
		return "is empty"
	case len(name) > MaxNameBytes:
		return fmt.Sprintf("is longer than %d bytes", MaxNameBytes)
	case !utf8.ValidString(name):
		return "is not valid UTF-8"
	case name[0] == '$':
		return "must not start with '$'"
	case name[0] == ' ' || name[len(name)-1] == ' ':
		return "must not start or end with a space"
	}
	for _, r := range name {
		if !unicode.IsPrint(r) {
			return fmt.Sprintf("holds %U, which is not a printable character", r)
		}
	}
	return ""
}
