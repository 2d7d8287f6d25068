package mongostore

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo/options"
)

// CollectionProbes holds one document, rewritten by ProbeWrite.
const CollectionProbes = "write_probes"

// ProbeWrite makes the smallest write the store can make, rewriting one
// document of CollectionProbes with the store's write concern, and
// reports whether it committed: a readiness check uses it to learn
// whether writes that failed (on a full disk, say) succeed again without
// writing an event. On a sharded cluster the probe lands on the
// database's primary shard only: it can succeed while a shard holding
// events is still full, so appends may fail a while after readiness
// recovers. Errors: ErrClosed, or the engine's error (IsDiskFull tells a
// full disk).
func (s *Store) ProbeWrite(ctx context.Context) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	_, err := s.db.Collection(CollectionProbes).UpdateOne(ctx, bson.D{{Key: "_id", Value: "write"}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "at", Value: time.Now().UTC()}}}}, options.Update().SetUpsert(true))
	if err != nil {
		return fmt.Errorf("probe write: %w", err)
	}
	return nil
}
