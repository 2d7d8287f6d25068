package projections

import (
	"context"

	"github.com/annalsdb/annals/mongostore"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
)

// Names of the built-in projections (and of their query collections).
const (
	StreamsProjection     = "streams"
	EventCountsProjection = "event_counts"
)

// Streams is the built-in projection that lists streams: one document per
// stream in the "streams" collection, with _id (the stream's UUID as its
// canonical string), aggregate_uuid (the same UUID, BSON subtype 4),
// aggregate_type, version, created_at and updated_at (the recorded_at of
// its first and last events). An index on {aggregate_type: 1, _id: 1}
// serves listing by type with cursor pagination.
//
// The _id is a string because the embedded engine cannot update documents
// whose _id is binary (lungo v0.4.0 panics comparing them); projections
// meant to run there should key their documents the same way.
func Streams() *Projection {
	return &Projection{
		Name:   StreamsProjection,
		Events: []string{AllEvents},
		Setup: func(ctx context.Context, tx *Tx) error {
			_, err := tx.Collection().Indexes().CreateOne(ctx, mongo.IndexModel{
				Keys:    bson.D{{Key: "aggregate_type", Value: 1}, {Key: "_id", Value: 1}},
				Options: options.Index().SetName("aggregate_type_1__id_1"),
			})
			return err
		},
		Handler: func(ctx context.Context, tx *Tx, ev mongostore.Event) error {
			_, err := tx.Collection().UpdateOne(ctx, bson.D{{Key: "_id", Value: ev.Stream.String()}}, bson.D{
				{Key: "$set", Value: bson.D{
					{Key: "aggregate_uuid", Value: mongostore.UUIDValue(ev.Stream)},
					{Key: "aggregate_type", Value: ev.StreamType},
					{Key: "version", Value: ev.Version},
					{Key: "updated_at", Value: ev.RecordedAt},
				}},
				{Key: "$setOnInsert", Value: bson.D{{Key: "created_at", Value: ev.RecordedAt}}},
			}, options.Update().SetUpsert(true))
			return err
		},
	}
}

// EventCounts is the built-in projection that counts events by name: one
// document per event name in the "event_counts" collection, with _id (the
// name), count, first_recorded_at and last_recorded_at.
func EventCounts() *Projection {
	return &Projection{
		Name:   EventCountsProjection,
		Events: []string{AllEvents},
		Handler: func(ctx context.Context, tx *Tx, ev mongostore.Event) error {
			_, err := tx.Collection().UpdateOne(ctx, bson.D{{Key: "_id", Value: ev.Name}}, bson.D{
				{Key: "$inc", Value: bson.D{{Key: "count", Value: int64(1)}}},
				{Key: "$max", Value: bson.D{{Key: "last_recorded_at", Value: ev.RecordedAt}}},
				{Key: "$min", Value: bson.D{{Key: "first_recorded_at", Value: ev.RecordedAt}}},
			}, options.Update().SetUpsert(true))
			return err
		},
	}
}
