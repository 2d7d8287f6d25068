package subscriptions

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/annalsdb/annals/mongostore"
)

// CollectionOutbox holds the messages projection handlers enqueue until
// a Dispatcher has delivered them.
const CollectionOutbox = "outbox"

// OutboxMessage is a side effect a projection handler wants carried out:
// an email to send, a payment API to call.
type OutboxMessage struct {
	// ID is the message's idempotency key, passed to its handler or sent
	// as webhook-id. Zero makes Enqueue assign a time-ordered one. A
	// message whose id is already queued is not queued again, so a
	// handler may derive ids from its event's id.
	ID uuid.UUID
	// Topic routes the message to the handler or webhook a Dispatcher has
	// for it: 1 to 200 printable bytes.
	Topic string
	// Payload is a document (struct, map, bson.D) the handler receives.
	Payload any
}

type outboxDoc struct {
	ID        primitive.Binary `bson:"_id"`
	Topic     string           `bson:"topic"`
	Payload   bson.Raw         `bson:"payload"`
	State     string           `bson:"state"`
	Attempts  int              `bson:"attempts"`
	VisibleAt time.Time        `bson:"visible_at"`
	Consumer  string           `bson:"consumer"`
	Deadline  time.Time        `bson:"deadline"`
	Reason    string           `bson:"reason"`
	CreatedAt time.Time        `bson:"created_at"`
}

func (m outboxDoc) id() uuid.UUID { return uuidOf(m.ID) }

// Enqueue queues msg in the transaction ctx carries: in a projection
// handler, pass the handler's ctx, and the message is queued if and only
// if the handler's batch commits. Outside a transaction it is queued at
// once. Errors: ErrInvalid.
func Enqueue(ctx context.Context, store *mongostore.Store, msg OutboxMessage) error {
	if msg.Topic == "" || len(msg.Topic) > 200 || hasControl(msg.Topic) {
		return fmt.Errorf("%w: outbox topic %q must be 1 to 200 printable bytes", ErrInvalid, msg.Topic)
	}
	payload, err := bson.Marshal(msg.Payload)
	if msg.Payload == nil {
		payload, err = bson.Marshal(bson.D{})
	}
	if err != nil {
		return fmt.Errorf("%w: outbox payload must be a document: %v", ErrInvalid, err)
	}
	if len(payload) > 1<<20 {
		return fmt.Errorf("%w: outbox payload is %d bytes; at most 1 MiB", ErrInvalid, len(payload))
	}
	if msg.ID == uuid.Nil {
		if msg.ID, err = uuid.NewV7(); err != nil {
			return err
		}
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	doc := outboxDoc{
		ID: mongostore.UUIDValue(msg.ID), Topic: msg.Topic, Payload: payload,
		State: stateReady, VisibleAt: now, CreatedAt: now,
	}
	_, err = store.Database().Collection(CollectionOutbox).UpdateOne(ctx, bson.D{{Key: "_id", Value: doc.ID}},
		bson.D{{Key: "$setOnInsert", Value: doc}}, options.Update().SetUpsert(true))
	if err != nil {
		return fmt.Errorf("subscriptions: enqueue %s: %w", msg.Topic, err)
	}
	return nil
}

// Delivered is an outbox message handed to its handler.
type Delivered struct {
	ID      uuid.UUID
	Topic   string
	Payload bson.Raw
	// Attempt counts deliveries, from 1.
	Attempt   int
	CreatedAt time.Time
}

// Decode unmarshals the payload into v.
func (d Delivered) Decode(v any) error { return bson.Unmarshal(d.Payload, v) }

// OutboxHandler carries out a message. It may run more than once for the
// same message (after a crash, or a timeout): use the message id as the
// idempotency key. An error retries it after a backoff. It must return
// when ctx ends, at the message's deadline: another dispatcher may take
// the message then.
type OutboxHandler func(ctx context.Context, m Delivered) error

// ParkedMessage is an outbox message set aside after MaxAttempts.
type ParkedMessage struct {
	ID       uuid.UUID `json:"id"`
	Topic    string    `json:"topic"`
	Attempts int       `json:"attempts"`
	Reason   string    `json:"reason"`
}

// Parked lists up to limit parked messages (0: 1000) of topic, or of
// every topic when topic is empty, by topic and then id.
func (d *Dispatcher) Parked(ctx context.Context, topic string, limit int) ([]ParkedMessage, error) {
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	cur, err := d.outbox().Find(ctx, parkedFilter(topic), options.Find().SetLimit(int64(limit)).SetSort(parkedOrder))
	if err != nil {
		return nil, fmt.Errorf("subscriptions: parked outbox messages: %w", err)
	}
	var docs []outboxDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("subscriptions: parked outbox messages: %w", err)
	}
	out := make([]ParkedMessage, len(docs))
	for i, m := range docs {
		out[i] = ParkedMessage{ID: m.id(), Topic: m.Topic, Attempts: m.Attempts, Reason: m.Reason}
	}
	return out, nil
}

// Replay queues parked messages again with their attempts reset: the
// named ones, or every parked message of topic when none are named.
func (d *Dispatcher) Replay(ctx context.Context, topic string, ids ...uuid.UUID) (int64, error) {
	f := bson.D{{Key: "state", Value: stateParked}, {Key: "topic", Value: topic}}
	if len(ids) > 0 {
		vals := make(bson.A, len(ids))
		for i, id := range ids {
			vals[i] = mongostore.UUIDValue(id)
		}
		f = append(f, bson.E{Key: "_id", Value: bson.D{{Key: "$in", Value: vals}}})
	}
	res, err := d.outbox().UpdateMany(ctx, f, bson.D{{Key: "$set", Value: bson.D{
		{Key: "state", Value: stateReady}, {Key: "attempts", Value: 0}, {Key: "visible_at", Value: d.now()},
	}}})
	if err != nil {
		return 0, fmt.Errorf("subscriptions: replay outbox messages: %w", err)
	}
	return res.ModifiedCount, nil
}

// outboxBody renders a message as a webhook request's body.
func outboxBody(m Delivered) ([]byte, error) {
	payload, err := bson.MarshalExtJSON(m.Payload, false, false)
	if err != nil {
		return nil, fmt.Errorf("render outbox message %s: %w", m.ID, err)
	}
	return json.Marshal(struct {
		ID        string          `json:"id"`
		Topic     string          `json:"topic"`
		Payload   json.RawMessage `json:"payload"`
		Attempt   int             `json:"attempt"`
		CreatedAt string          `json:"created_at"`
	}{m.ID.String(), m.Topic, payload, m.Attempt, m.CreatedAt.Format("2006-01-02T15:04:05.000Z07:00")})
}
