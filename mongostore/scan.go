package mongostore

import (
	"bytes"
	"context"
	"fmt"
	"iter"
	"time"

	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo/options"
)

// Position is a place in the order Scan reads all events in: by
// recorded_at, then stream, then version. Within a stream this is version
// order, because recorded_at never decreases within a stream. The zero
// Position is before every event.
type Position struct {
	RecordedAt time.Time
	Stream     uuid.UUID
	Version    int64
}

// PositionOf returns the position of e.
func PositionOf(e Event) Position {
	return Position{RecordedAt: e.RecordedAt, Stream: e.Stream, Version: e.Version}
}

// IsZero reports whether p is before every event.
func (p Position) IsZero() bool { return p.RecordedAt.IsZero() && p.Version == 0 }

// Before reports whether p comes before q in scan order.
func (p Position) Before(q Position) bool {
	if !p.RecordedAt.Equal(q.RecordedAt) {
		return p.RecordedAt.Before(q.RecordedAt)
	}
	if c := bytes.Compare(p.Stream[:], q.Stream[:]); c != 0 {
		return c < 0
	}
	return p.Version < q.Version
}

// ScanQuery narrows Scan.
type ScanQuery struct {
	// After is the position to read after (exclusive); zero reads from the
	// first event.
	After Position
	// Names keeps only events with these names; empty keeps all.
	Names []string
	// Limit caps the number of events; 0 means no cap.
	Limit int64
}

// filter is the keyset condition of a page after q.After. The top-level
// recorded_at >= bound is implied by the $or but stated for the planner:
// with it, a scan of the recorded_at index starts at the page's first key
// rather than at the start of the index, whichever plan MongoDB picks for
// the $or; the $or then only drops the few entries of that same
// millisecond already read.
func (q ScanQuery) filter() bson.D {
	f := bson.D{}
	if !q.After.IsZero() {
		at := q.After.RecordedAt
		stream := UUIDValue(q.After.Stream)
		f = append(f, bson.E{Key: fieldRecordedAt, Value: bson.D{{Key: "$gte", Value: at}}})
		f = append(f, bson.E{Key: "$or", Value: bson.A{
			bson.D{{Key: fieldRecordedAt, Value: bson.D{{Key: "$gt", Value: at}}}},
			bson.D{{Key: fieldRecordedAt, Value: at}, {Key: fieldStream, Value: bson.D{{Key: "$gt", Value: stream}}}},
			bson.D{{Key: fieldRecordedAt, Value: at}, {Key: fieldStream, Value: stream}, {Key: fieldVersion, Value: bson.D{{Key: "$gt", Value: q.After.Version}}}},
		}})
	}
	if len(q.Names) > 0 {
		f = append(f, bson.E{Key: fieldName, Value: bson.D{{Key: "$in", Value: q.Names}}})
	}
	return f
}

var scanSort = bson.D{{Key: fieldRecordedAt, Value: 1}, {Key: fieldStream, Value: 1}, {Key: fieldVersion, Value: 1}}

// scanOptions sorts a scan in position order and, on MongoDB, hints the
// recorded_at index, whose key order is that sort: each page is then one
// index range read in order, never a sort in memory nor a walk from the
// start of another index, whatever the planner would have cached.
func (s *Store) scanOptions(limit int64) *options.FindOptions {
	opts := findOptions(scanSort, limit)
	if s.engine == EngineMongoDB {
		opts.SetHint(IndexRecordedAt)
	}
	return opts
}

// Scan iterates over all events of all streams in position order (see
// Position) through a cursor. It serves catch-up of projections and
// exports. Events committed while a scan runs may or may not be seen.
func (s *Store) Scan(ctx context.Context, q ScanQuery) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		if err := s.checkOpen(); err != nil {
			yield(Event{}, err)
			return
		}
		s.find(ctx, yield, "scan events", q.filter(), s.scanOptions(q.Limit))
	}
}

// CountAfter counts the events after a position, optionally only those
// with the given names: how far behind a reader at p is.
func (s *Store) CountAfter(ctx context.Context, p Position, names []string) (int64, error) {
	if err := s.checkOpen(); err != nil {
		return 0, err
	}
	n, err := s.events.CountDocuments(ctx, ScanQuery{After: p, Names: names}.filter())
	if err != nil {
		return 0, fmt.Errorf("mongostore: count events: %w", err)
	}
	return n, nil
}

// StreamRange is a run of versions of one stream: After (exclusive) to
// Through (inclusive).
type StreamRange struct {
	Stream  uuid.UUID
	After   int64
	Through int64
}

// ReadRanges reads several streams' version ranges in one query, ordered
// by stream then version, optionally only events with the given names.
// Projections use it to fill gaps: events a scan passed over because they
// committed after it read their place.
func (s *Store) ReadRanges(ctx context.Context, ranges []StreamRange, names []string) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		if err := s.checkOpen(); err != nil {
			yield(Event{}, err)
			return
		}
		if len(ranges) == 0 {
			return
		}
		or := make(bson.A, 0, len(ranges))
		for _, r := range ranges {
			or = append(or, bson.D{
				{Key: fieldStream, Value: UUIDValue(r.Stream)},
				{Key: fieldVersion, Value: bson.D{{Key: "$gt", Value: r.After}, {Key: "$lte", Value: r.Through}}},
			})
		}
		f := bson.D{{Key: "$or", Value: or}}
		if len(names) > 0 {
			f = append(f, bson.E{Key: fieldName, Value: bson.D{{Key: "$in", Value: names}}})
		}
		s.find(ctx, yield, "read ranges", f, findOptions(bson.D{{Key: fieldStream, Value: 1}, {Key: fieldVersion, Value: 1}}, 0))
	}
}

// findOptions sorts a read of events and asks for large batches (at most
// limit, when one is set), so a read is one round trip on MongoDB as long
// as its events fit in 16 MiB: MongoDB's default first batch is 101
// documents.
func findOptions(sort bson.D, limit int64) *options.FindOptions {
	opts := options.Find().SetSort(sort).SetBatchSize(readBatchSize)
	if limit > 0 {
		opts.SetLimit(limit).SetBatchSize(int32(min(limit, readBatchSize)))
	}
	return opts
}

// find runs a query on the events collection and yields its events
// through the cursor, then the first error, wrapped with what. It is the
// one read loop behind Events, Scan and ReadRanges.
func (s *Store) find(ctx context.Context, yield func(Event, error) bool, what string, filter bson.D, opts *options.FindOptions) {
	cur, err := s.events.Find(ctx, filter, opts)
	if err != nil {
		yield(Event{}, fmt.Errorf("mongostore: %s: %w", what, err))
		return
	}
	defer cur.Close(ctx)
	for cur.Next(ctx) {
		ev, err := decodeCurrent(cur)
		if err != nil {
			yield(Event{}, fmt.Errorf("mongostore: %s: %w", what, err))
			return
		}
		if !yield(ev, nil) {
			return
		}
	}
	if err := cur.Err(); err != nil {
		yield(Event{}, fmt.Errorf("mongostore: %s: %w", what, err))
	}
}
