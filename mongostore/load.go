package mongostore

import (
	"context"
	"fmt"
	"iter"
	"time"

	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/bson"
)

// readBatchSize is the cursor batch size of event reads (see findOptions).
const readBatchSize = 5000

// ReadQuery narrows a read of one stream. The zero value reads the whole
// stream.
type ReadQuery struct {
	// FromVersion is the first version to read (inclusive); 0 means 1.
	FromVersion int64
	// ToVersion is the last version to read (inclusive); 0 means the end.
	// Reading to version N gives the stream as it was at version N.
	ToVersion int64
	// AsOf, when set, reads the stream as it was at that time: only events
	// recorded at or before it. recorded_at never decreases within a
	// stream, so this is always a prefix of the stream.
	AsOf time.Time
	// Limit caps the number of events; 0 means no cap.
	Limit int64
}

func (q ReadQuery) validate(stream uuid.UUID) error {
	switch {
	case stream == uuid.Nil:
		return invalid(uuid.Nil, -1, "stream", "the stream id is the nil UUID")
	case q.FromVersion < 0:
		return invalid(stream, -1, "from_version", "from version %d is negative", q.FromVersion)
	case q.ToVersion < 0:
		return invalid(stream, -1, "to_version", "to version %d is negative", q.ToVersion)
	case q.ToVersion > 0 && q.FromVersion > q.ToVersion:
		return invalid(stream, -1, "from_version", "from version %d is after to version %d", q.FromVersion, q.ToVersion)
	case q.Limit < 0:
		return invalid(stream, -1, "limit", "limit %d is negative", q.Limit)
	}
	return nil
}

// bounded reports whether q may stop before the stream's end (as of AsOf).
func (q ReadQuery) bounded() bool { return q.ToVersion > 0 || q.Limit > 0 }

func (q ReadQuery) filter(stream uuid.UUID) bson.D {
	f := bson.D{{Key: fieldStream, Value: UUIDValue(stream)}}
	versions := bson.D{}
	if q.FromVersion > 1 {
		versions = append(versions, bson.E{Key: "$gte", Value: q.FromVersion})
	}
	if q.ToVersion > 0 {
		versions = append(versions, bson.E{Key: "$lte", Value: q.ToVersion})
	}
	if len(versions) > 0 {
		f = append(f, bson.E{Key: fieldVersion, Value: versions})
	}
	if !q.AsOf.IsZero() {
		f = append(f, bson.E{Key: fieldRecordedAt, Value: bson.D{{Key: "$lte", Value: q.AsOf}}})
	}
	return f
}

// Load reads a whole stream in version order, in one round trip. A stream
// with no events is ErrStreamNotFound.
func (s *Store) Load(ctx context.Context, stream uuid.UUID) (*Stream, error) {
	return s.Read(ctx, stream, ReadQuery{})
}

// Read reads part of a stream, or the stream as it was at a version or a
// time. Stream.Version is the stream's version at the point read (as of
// AsOf, capped by ToVersion), even when the range returns fewer events.
//
// Errors: ErrStreamNotFound when the stream has no events (as of AsOf);
// a *ValidationError for a bad query; ErrClosed.
func (s *Store) Read(ctx context.Context, stream uuid.UUID, q ReadQuery) (*Stream, error) {
	out := &Stream{ID: stream}
	for ev, err := range s.Events(ctx, stream, q) {
		if err != nil {
			return nil, err
		}
		out.Events = append(out.Events, ev)
	}
	if n := len(out.Events); n > 0 {
		last := out.Events[n-1]
		out.Type, out.Version = last.StreamType, last.Version
		if !q.bounded() || last.Version == q.ToVersion {
			return out, nil
		}
	}
	// The range ended before the stream did, or matched nothing: ask
	// where the stream stands (as of the query's time bound).
	h, err := s.headAsOf(ctx, stream, q.AsOf)
	if err != nil {
		return nil, err
	}
	if h.version == 0 {
		return nil, fmt.Errorf("%w: %s", ErrStreamNotFound, stream)
	}
	out.Type, out.Version = h.typ, h.version
	if q.ToVersion > 0 && q.ToVersion < h.version {
		out.Version = q.ToVersion
	}
	return out, nil
}

func (s *Store) headAsOf(ctx context.Context, stream uuid.UUID, asOf time.Time) (head, error) {
	if asOf.IsZero() {
		h, err := s.readHead(ctx, stream)
		if err != nil {
			return h, fmt.Errorf("mongostore: %w", err)
		}
		return h, nil
	}
	var last Event
	found := false
	for ev, err := range s.Events(ctx, stream, ReadQuery{AsOf: asOf}) {
		if err != nil {
			return head{}, err
		}
		last, found = ev, true
	}
	if !found {
		return head{}, nil
	}
	return head{version: last.Version, typ: last.StreamType, at: last.RecordedAt}, nil
}

// Events iterates over a stream's events in version order through a
// cursor, without holding the stream in memory. An unknown stream yields
// nothing. Iteration stops at the first error, which is yielded once.
//
//	for ev, err := range store.Events(ctx, id, mongostore.ReadQuery{}) {
//		if err != nil { return err }
//		...
//	}
func (s *Store) Events(ctx context.Context, stream uuid.UUID, q ReadQuery) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		if err := s.checkOpen(); err != nil {
			yield(Event{}, err)
			return
		}
		if err := q.validate(stream); err != nil {
			yield(Event{}, err)
			return
		}
		s.find(ctx, yield, "read stream "+stream.String(), q.filter(stream), findOptions(bson.D{{Key: fieldVersion, Value: 1}}, q.Limit))
	}
}
