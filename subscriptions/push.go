package subscriptions

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/annalsdb/annals/mongostore"
)

// CollectionWebhookLog holds the webhook delivery attempts of every
// subscription, for DefaultWebhookLogRetention.
const CollectionWebhookLog = "subscription_webhook_log"

// DefaultWebhookLogRetention is how long webhook attempts stay in the log.
const DefaultWebhookLogRetention = 7 * 24 * time.Hour

// WebhookAttempt is one webhook request, as logged.
type WebhookAttempt struct {
	Event   uuid.UUID
	Attempt int
	At      time.Time
	Status  int // 0: no answer
	Latency time.Duration
	Error   string
}

type attemptDoc struct {
	ID        primitive.ObjectID `bson:"_id"`
	Sub       string             `bson:"sub"`
	Feed      string             `bson:"feed"`
	Event     primitive.Binary   `bson:"event_id"`
	Attempt   int                `bson:"attempt"`
	At        time.Time          `bson:"at"`
	Status    int                `bson:"status"`
	LatencyUS int64              `bson:"latency_us"`
	Error     string             `bson:"error,omitempty"`
}

// WebhookLog returns a subscription's latest webhook attempts, newest
// first, up to limit (0: 100, at most 1000). Errors: ErrNotFound.
func (s *Service) WebhookLog(ctx context.Context, name string, limit int) ([]WebhookAttempt, error) {
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 1000)
	d, err := s.definition(ctx, name)
	if err != nil {
		return nil, err
	}
	cur, err := s.store.Database().Collection(CollectionWebhookLog).Find(ctx,
		bson.D{{Key: "sub", Value: d.Name}, {Key: "feed", Value: d.Feed}},
		options.Find().SetSort(bson.D{{Key: "at", Value: -1}, {Key: "_id", Value: -1}}).SetLimit(int64(limit)))
	if err != nil {
		return nil, fmt.Errorf("subscriptions: webhook log of %s: %w", name, err)
	}
	var docs []attemptDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("subscriptions: webhook log of %s: %w", name, err)
	}
	out := make([]WebhookAttempt, len(docs))
	for i, a := range docs {
		out[i] = WebhookAttempt{Event: uuidOf(a.Event), Attempt: a.Attempt, At: a.At.UTC(), Status: a.Status,
			Latency: time.Duration(a.LatencyUS) * time.Microsecond, Error: a.Error}
	}
	return out, nil
}

// consumerID names this process's webhook pusher among others serving the
// same store.
func consumerID() string {
	host, _ := os.Hostname()
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("webhook/%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}

// push delivers a webhook subscription's events until ctx ends.
func (s *Service) push(ctx context.Context, d definition) {
	w := d.webhook()
	client := webhookClient(w.Timeout, s.AllowPrivateWebhooks)
	defer client.CloseIdleConnections()
	consumer := consumerID()
	log := s.logger().With("subscription", d.Name)
	pause := time.Duration(0)
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(pause):
		}
		pause = 0
		batch, err := s.fetch(ctx, d, consumer, 0, time.Second)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			log.Warn("subscriptions: webhook fetch", "error", err)
			pause = time.Second
			continue
		}
		s.pushBatch(ctx, d, *w, client, consumer, batch)
	}
}

// pushBatch sends a fetched batch one event at a time, then records the
// attempts and acknowledges what was accepted, in one write each. Each
// request ends by its event's deadline, so that no request outlives the
// event's hold. Events behind a failed event of their stream, those whose
// deadline has passed (a request would end before it began), and, once a
// request of the batch has been sent, those left with less time than a
// request may take, go back to the queue uncounted: the batch's first
// event is sent while it has time left, so that every batch fetched in
// time moves delivery on, whatever the ack and request timeouts. When ctx
// ends (the service stops), the batch sends nothing more: the events it
// has not sent go back uncounted, and what it did is still recorded.
func (s *Service) pushBatch(ctx context.Context, d definition, w Webhook, client *http.Client, consumer string, batch []Delivery) {
	var acked, released []uuid.UUID
	var attempts []any
	failed := map[uuid.UUID]bool{} // streams whose event failed
	for _, dl := range batch {
		// An event put back was never sent, so it must not use up its
		// attempts.
		left := dl.Deadline.Sub(s.now())
		if failed[dl.Event.Stream] || ctx.Err() != nil || left <= 0 || (len(attempts) > 0 && left < w.Timeout) {
			released = append(released, dl.Event.ID)
			continue
		}
		start := time.Now()
		pctx, span := s.startWebhook(ctx, d.Name, w.URL, dl)
		rctx, cancel := context.WithTimeout(pctx, min(w.Timeout, left))
		status, perr := post(rctx, client, w, d.Name, dl, s.now())
		cancel()
		endWebhook(span, status, perr)
		attempts = append(attempts, s.attempt(d, dl, start, status, perr))
		switch {
		case perr == nil:
			acked = append(acked, dl.Event.ID)
		case ctx.Err() != nil:
			// Stopping cut the request short: the event, held, goes
			// out again after its ack timeout.
		default:
			failed[dl.Event.Stream] = true
			s.nackQuietly(ctx, d.Name, consumer, perr.Error(), dl.Event.ID)
		}
	}
	s.recordBatch(ctx, d, consumer, attempts, acked, released)
}

// recordBatch writes what a batch did, even once ctx has ended, within
// bookkeepingTimeout: its acks, its releases and its attempts, each write
// on its own, so that one failing loses none of the others.
func (s *Service) recordBatch(ctx context.Context, d definition, consumer string, attempts []any, acked, released []uuid.UUID) {
	ctx, cancel := bookkeeping(ctx)
	defer cancel()
	log := s.logger().With("subscription", d.Name)
	if len(acked) > 0 {
		if err := s.Ack(ctx, d.Name, consumer, acked...); err != nil {
			log.Warn("subscriptions: webhook ack", "error", err)
		}
	}
	if len(released) > 0 {
		if err := s.release(ctx, d.Name, consumer, released...); err != nil {
			log.Warn("subscriptions: webhook release", "error", err)
		}
	}
	if len(attempts) > 0 {
		if _, err := s.store.Database().Collection(CollectionWebhookLog).InsertMany(ctx, attempts); err != nil {
			log.Warn("subscriptions: log webhook attempts", "error", err)
		}
	}
}

func (s *Service) nackQuietly(ctx context.Context, name, consumer, reason string, id uuid.UUID) {
	ctx, cancel := bookkeeping(ctx)
	defer cancel()
	if err := s.Nack(ctx, name, consumer, Retry, reason, id); err != nil {
		s.logger().Warn("subscriptions: webhook nack", "subscription", name, "error", err)
	}
}

// attempt is the log entry of one webhook request.
func (s *Service) attempt(d definition, dl Delivery, start time.Time, status int, perr error) attemptDoc {
	a := attemptDoc{
		ID: primitive.NewObjectID(), Sub: d.Name, Feed: d.Feed, Event: mongostore.UUIDValue(dl.Event.ID),
		Attempt: dl.Attempt, At: s.now(), Status: status, LatencyUS: time.Since(start).Microseconds(),
	}
	if perr != nil {
		a.Error = truncate(perr.Error(), 500)
	}
	return a
}

// trimWebhookLog drops attempts older than the retention.
func (s *Service) trimWebhookLog(ctx context.Context) error {
	_, err := s.store.Database().Collection(CollectionWebhookLog).DeleteMany(ctx,
		bson.D{{Key: "at", Value: bson.D{{Key: "$lt", Value: s.now().Add(-DefaultWebhookLogRetention)}}}})
	return err
}
