package mongostore

import (
	"context"
	"fmt"
	"iter"

	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo/options"
)

// positionFields is the projection of a position-only read: the position
// and the _id (to name a malformed document), never the payload.
var positionFields = bson.D{{Key: fieldRecordedAt, Value: 1}, {Key: fieldStream, Value: 1}, {Key: fieldVersion, Value: 1}}

// ScanPositions is Scan reading only the events' positions, never their
// data or metadata: for status and lag estimates, whose cost must not
// grow with the size of the events. A stored document whose stream is not
// a UUID yields an error matching ErrCorruptEvent.
func (s *Store) ScanPositions(ctx context.Context, q ScanQuery) iter.Seq2[Position, error] {
	return func(yield func(Position, error) bool) {
		if err := s.checkOpen(); err != nil {
			yield(Position{}, err)
			return
		}
		cur, err := s.events.Find(ctx, q.filter(), s.scanOptions(q.Limit).SetProjection(positionFields))
		if err != nil {
			yield(Position{}, fmt.Errorf("mongostore: scan positions: %w", err))
			return
		}
		defer cur.Close(ctx)
		for cur.Next(ctx) {
			p, err := decodePosition(cur)
			if err != nil {
				yield(Position{}, fmt.Errorf("mongostore: scan positions: %w", err))
				return
			}
			if !yield(p, nil) {
				return
			}
		}
		if err := cur.Err(); err != nil {
			yield(Position{}, fmt.Errorf("mongostore: scan positions: %w", err))
		}
	}
}

// CountAfterAtMost is CountAfter counting no further than limit (no cap
// when limit is 0): a count whose cost stays bounded however far behind
// the position is. A result equal to limit means "at least limit".
func (s *Store) CountAfterAtMost(ctx context.Context, p Position, names []string, limit int64) (int64, error) {
	if err := s.checkOpen(); err != nil {
		return 0, err
	}
	opts := options.Count()
	if s.engine == EngineMongoDB && !p.IsZero() {
		opts.SetHint(IndexRecordedAt) // see ScanQuery.filter
	}
	if limit > 0 {
		opts.SetLimit(limit)
	}
	n, err := s.events.CountDocuments(ctx, ScanQuery{After: p, Names: names}.filter(), opts)
	if err != nil {
		return 0, fmt.Errorf("mongostore: count events: %w", err)
	}
	return n, nil
}

// decodePosition decodes a position-only document, naming it in a
// *DecodeError when it is malformed.
func decodePosition(cur interface{ Decode(any) error }) (Position, error) {
	var d storedEvent
	err := cur.Decode(&d)
	if err == nil {
		var stream uuid.UUID
		if stream, err = uuidFrom(d.Stream); err == nil {
			return Position{RecordedAt: d.RecordedAt.Time().UTC(), Stream: stream, Version: d.Version}, nil
		}
	}
	var raw bson.Raw
	if rerr := cur.Decode(&raw); rerr != nil {
		return Position{}, err
	}
	return Position{}, decodeError(raw, err)
}
