package mongostore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
)

// CollectionSnapshots holds the latest snapshot of each aggregate.
const CollectionSnapshots = "snapshots"

// SnapshotPolicy decides, after a save moved an aggregate from version
// before to version after, whether to take a snapshot.
type SnapshotPolicy func(before, after int64) bool

// EveryN takes a snapshot each time an aggregate's version crosses a
// multiple of n.
func EveryN(n int64) SnapshotPolicy {
	return func(before, after int64) bool { return n > 0 && after/n > before/n }
}

// snapshotDoc is a stored snapshot. _id is the aggregate's UUID as a
// string: the embedded engine cannot replace documents with binary ids.
type snapshotDoc struct {
	ID            string    `bson:"_id"`
	Stream        any       `bson:"aggregate_uuid"`
	Type          string    `bson:"aggregate_type"`
	Version       int64     `bson:"version"`
	SchemaVersion int32     `bson:"schema_version"`
	State         bson.Raw  `bson:"state"`
	TakenAt       time.Time `bson:"taken_at"`
}

// loadSnapshot reads an aggregate's snapshot; ok is false when there is
// none.
func (s *Store) loadSnapshot(ctx context.Context, id uuid.UUID) (snapshotDoc, bool, error) {
	var d snapshotDoc
	err := s.db.Collection(CollectionSnapshots).FindOne(ctx, bson.D{{Key: "_id", Value: id.String()}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return d, false, nil
	}
	if err != nil {
		return d, false, fmt.Errorf("mongostore: load snapshot of %s: %w", id, err)
	}
	return d, true, nil
}

// saveSnapshot stores a snapshot unless a newer one is stored already.
func (s *Store) saveSnapshot(ctx context.Context, d snapshotDoc) error {
	_, err := s.db.Collection(CollectionSnapshots).UpdateOne(ctx,
		bson.D{{Key: "_id", Value: d.ID}, {Key: "version", Value: bson.D{{Key: "$lt", Value: d.Version}}}},
		bson.D{{Key: "$set", Value: bson.D{
			{Key: "aggregate_uuid", Value: d.Stream},
			{Key: "aggregate_type", Value: d.Type},
			{Key: "version", Value: d.Version},
			{Key: "schema_version", Value: d.SchemaVersion},
			{Key: "state", Value: d.State},
			{Key: "taken_at", Value: d.TakenAt},
		}}}, options.Update().SetUpsert(true))
	if err != nil && !IsDuplicate(err) { // a newer snapshot won the race
		return fmt.Errorf("mongostore: save snapshot of %s: %w", d.ID, err)
	}
	return nil
}

// DeleteSnapshots deletes every snapshot. Snapshots are an optimisation:
// deleting them changes no result, only how long loads take.
func (s *Store) DeleteSnapshots(ctx context.Context) error {
	if _, err := s.db.Collection(CollectionSnapshots).DeleteMany(ctx, bson.D{}); err != nil {
		return fmt.Errorf("mongostore: delete snapshots: %w", err)
	}
	return nil
}
