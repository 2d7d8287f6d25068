package subscriptions

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo/options"
)

// ParkedEvent is an event set aside: refused with Park, or not
// acknowledged after MaxAttempts deliveries.
type ParkedEvent struct {
	Event      uuid.UUID `json:"event_id"`
	Stream     uuid.UUID `json:"stream"`
	Version    int64     `json:"version"`
	Name       string    `json:"name"`
	RecordedAt time.Time `json:"recorded_at"`
	Attempts   int       `json:"attempts"`
	Reason     string    `json:"reason"`
}

// Parked lists up to limit parked events of a subscription (0: 1000) in
// the order they were recorded. Errors: ErrNotFound.
func (s *Service) Parked(ctx context.Context, name string, limit int) ([]ParkedEvent, error) {
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	d, err := s.definition(ctx, name)
	if err != nil {
		return nil, err
	}
	cur, err := s.messages().Find(ctx, bson.D{{Key: "sub", Value: d.Name}, {Key: "state", Value: stateParked}, {Key: "feed", Value: d.Feed}},
		options.Find().SetSort(bson.D{{Key: "recorded_at", Value: 1}}).SetLimit(int64(limit)))
	if err != nil {
		return nil, fmt.Errorf("subscriptions: list parked of %s: %w", name, err)
	}
	var ms []message
	if err := cur.All(ctx, &ms); err != nil {
		return nil, fmt.Errorf("subscriptions: list parked of %s: %w", name, err)
	}
	out := make([]ParkedEvent, len(ms))
	for i, m := range ms {
		out[i] = ParkedEvent{
			Event: m.eventID(), Stream: m.stream(), Version: m.Version, Name: m.Name,
			RecordedAt: m.RecordedAt.UTC(), Attempts: m.Attempts, Reason: m.Reason,
		}
	}
	return out, nil
}

// Replay puts parked events back in the queue with their attempts reset,
// all of the subscription's parked events when none are named. A replayed
// event goes out again in recorded order among what is queued, possibly
// after later events of its stream. It returns how many were replayed.
// Errors: ErrNotFound.
func (s *Service) Replay(ctx context.Context, name string, events ...uuid.UUID) (int64, error) {
	d, err := s.definition(ctx, name)
	if err != nil {
		return 0, err
	}
	filter := bson.D{{Key: "sub", Value: d.Name}, {Key: "state", Value: stateParked}, {Key: "feed", Value: d.Feed}}
	if len(events) > 0 {
		ids := make(bson.A, len(events))
		for i, e := range events {
			ids[i] = messageID(d.Feed, e)
		}
		filter = append(filter, bson.E{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}})
	}
	res, err := s.messages().UpdateMany(ctx, filter, bson.D{{Key: "$set", Value: bson.D{
		{Key: "state", Value: stateReady}, {Key: "attempts", Value: 0}, {Key: "visible_at", Value: s.now()},
	}}})
	if err != nil {
		return 0, fmt.Errorf("subscriptions: replay parked of %s: %w", name, err)
	}
	return res.ModifiedCount, nil
}
