package projections

import (
	"context"
	"fmt"
	"strconv"

	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
)

// A position document records, for one projection generation and one
// aggregate, the last version applied. Catch-up and the live change stream
// may deliver an event twice around a handoff; the position turns the
// second delivery into a no-op, in the same transaction as the effects.

func positionID(projection string, generation int64, stream uuid.UUID) string {
	return projection + "/" + strconv.FormatInt(generation, 10) + "/" + stream.String()
}

type positionDoc struct {
	ID      string `bson:"_id"`
	Version int64  `bson:"version"`
}

// readPositions returns the last applied version of each stream (0 when
// none) in one query.
func (r *Runner) readPositions(ctx context.Context, projection string, generation int64, streams map[uuid.UUID]int64) error {
	ids := make(bson.A, 0, len(streams))
	byID := make(map[string]uuid.UUID, len(streams))
	for s := range streams {
		id := positionID(projection, generation, s)
		ids = append(ids, id)
		byID[id] = s
	}
	cur, err := r.positions().Find(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}})
	if err != nil {
		return fmt.Errorf("read positions: %w", err)
	}
	defer cur.Close(ctx)
	for cur.Next(ctx) {
		var d positionDoc
		if err := cur.Decode(&d); err != nil {
			return fmt.Errorf("read positions: %w", err)
		}
		streams[byID[d.ID]] = d.Version
	}
	return cur.Err()
}

// writePositions stores the versions applied, in one bulk write.
func (r *Runner) writePositions(ctx context.Context, projection string, generation int64, applied map[uuid.UUID]int64) error {
	if len(applied) == 0 {
		return nil
	}
	models := make([]mongo.WriteModel, 0, len(applied))
	for s, v := range applied {
		models = append(models, mongo.NewUpdateOneModel().
			SetFilter(bson.D{{Key: "_id", Value: positionID(projection, generation, s)}}).
			SetUpdate(bson.D{{Key: "$set", Value: bson.D{
				{Key: "version", Value: v},
				{Key: "projection", Value: projection},
				{Key: "generation", Value: generation},
			}}}).
			SetUpsert(true))
	}
	if _, err := r.positions().BulkWrite(ctx, models); err != nil {
		return fmt.Errorf("write positions: %w", err)
	}
	return nil
}

// dropPositions forgets a generation's positions.
func (r *Runner) dropPositions(ctx context.Context, projection string, generation int64) error {
	_, err := r.positions().DeleteMany(ctx, bson.D{{Key: "projection", Value: projection}, {Key: "generation", Value: generation}})
	if err != nil {
		return fmt.Errorf("drop positions of %s generation %d: %w", projection, generation, err)
	}
	return nil
}
