package subscriptions

import (
	"time"

	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/bson/primitive"

	"github.com/annalsdb/annals/mongostore"
)

// Collections the package keeps in the store's database.
const (
	// CollectionSubscriptions holds one definition per subscription.
	CollectionSubscriptions = "subscriptions"
	// CollectionMessages holds every queued event of every subscription
	// until it is acknowledged: ready, in flight or parked.
	CollectionMessages = "subscription_messages"
)

// Message states.
const (
	stateReady    = "ready"
	stateInFlight = "in_flight"
	stateParked   = "parked"
)

// definition is a subscription as stored.
type definition struct {
	Name string `bson:"_id"`
	// Feed names the projection that queues the subscription's events;
	// it is new for every subscription created, so one created again under
	// the same name starts afresh.
	Feed           string           `bson:"feed"`
	Events         []string         `bson:"events"`
	AggregateTypes []string         `bson:"aggregate_types"`
	StartNow       bool             `bson:"start_now"`
	StartAt        time.Time        `bson:"start_at"`
	StartStream    primitive.Binary `bson:"start_stream"`
	StartVersion   int64            `bson:"start_version"`
	BatchSize      int              `bson:"batch_size"`
	AckTimeoutMS   int64            `bson:"ack_timeout_ms"`
	MaxAttempts    int              `bson:"max_attempts"`
	MinBackoffMS   int64            `bson:"min_backoff_ms"`
	MaxBackoffMS   int64            `bson:"max_backoff_ms"`
	CreatedAt      time.Time        `bson:"created_at"`
	WebhookURL     string           `bson:"webhook_url,omitempty"`
	WebhookSecret  string           `bson:"webhook_secret,omitempty"`
	WebhookTimeout int64            `bson:"webhook_timeout_ms,omitempty"`
	// Deleted marks a tombstone: a deleted subscription whose feed and
	// queue Run has yet to remove. Its _id is the feed's name; Of is the
	// subscription's name.
	Deleted bool   `bson:"deleted,omitempty"`
	Of      string `bson:"of,omitempty"`
}

// feedPrefix starts every feed's name; subscription names may not.
const feedPrefix = "subscription-feed."

func toDefinition(sub Subscription, feed string) definition {
	st := sub.Settings.withDefaults()
	d := definition{
		Name: sub.Name, Feed: feed,
		Events: nonNil(sub.Events), AggregateTypes: nonNil(sub.AggregateTypes),
		StartNow: sub.Start.Now, StartAt: sub.Start.After.RecordedAt,
		StartStream: mongostore.UUIDValue(sub.Start.After.Stream), StartVersion: sub.Start.After.Version,
		BatchSize: st.BatchSize, AckTimeoutMS: st.AckTimeout.Milliseconds(), MaxAttempts: st.MaxAttempts,
		MinBackoffMS: st.MinBackoff.Milliseconds(), MaxBackoffMS: st.MaxBackoff.Milliseconds(),
		CreatedAt: sub.CreatedAt,
	}
	if w := sub.Webhook; w != nil {
		d.WebhookURL, d.WebhookSecret = w.URL, w.Secret
		d.WebhookTimeout = w.Timeout.Milliseconds()
	}
	return d
}

// webhook returns the subscription's webhook with its defaults, or nil.
func (d definition) webhook() *Webhook {
	if d.WebhookURL == "" {
		return nil
	}
	w := &Webhook{URL: d.WebhookURL, Secret: d.WebhookSecret, Timeout: time.Duration(d.WebhookTimeout) * time.Millisecond}
	if w.Timeout == 0 {
		w.Timeout = DefaultWebhookTimeout
	}
	return w
}

// subscription returns the definition as users see it, its webhook's
// secret masked.
func (d definition) subscription() Subscription {
	sub := Subscription{
		Name: d.Name, Events: d.Events, AggregateTypes: d.AggregateTypes,
		Start:     Start{Now: d.StartNow, After: d.start()},
		Settings:  d.settings(),
		CreatedAt: d.CreatedAt.UTC(),
		Webhook:   d.webhook(),
	}
	if sub.Webhook != nil {
		sub.Webhook.Secret = maskedSecret
	}
	return sub
}

// maskedSecret stands for a webhook secret in what Get and List return.
const maskedSecret = secretPrefix + "…"

// start is the position delivery begins after.
func (d definition) start() mongostore.Position {
	at := d.StartAt
	if !at.IsZero() {
		at = at.UTC()
	}
	return mongostore.Position{RecordedAt: at, Stream: uuidOf(d.StartStream), Version: d.StartVersion}
}

func (d definition) settings() Settings {
	return Settings{
		BatchSize: d.BatchSize, AckTimeout: time.Duration(d.AckTimeoutMS) * time.Millisecond,
		MaxAttempts: d.MaxAttempts,
		MinBackoff:  time.Duration(d.MinBackoffMS) * time.Millisecond,
		MaxBackoff:  time.Duration(d.MaxBackoffMS) * time.Millisecond,
	}
}

// message is one queued event of one subscription.
type message struct {
	ID         string           `bson:"_id"`
	Sub        string           `bson:"sub"`
	Feed       string           `bson:"feed"`
	Event      primitive.Binary `bson:"event_id"`
	Stream     primitive.Binary `bson:"stream"`
	Version    int64            `bson:"version"`
	Name       string           `bson:"name"`
	RecordedAt time.Time        `bson:"recorded_at"`
	State      string           `bson:"state"`
	Attempts   int              `bson:"attempts"`
	// VisibleAt is when a ready message may be delivered (after a retry
	// Nack's backoff).
	VisibleAt time.Time `bson:"visible_at"`
	// Consumer and Deadline are set while the message is in flight.
	Consumer string    `bson:"consumer"`
	Deadline time.Time `bson:"deadline"`
	// Reason is why it was last refused or parked.
	Reason string `bson:"reason"`
}

func messageID(feed string, event uuid.UUID) string { return feed + "/" + event.String() }

func (m message) eventID() uuid.UUID { return uuidOf(m.Event) }

func (m message) stream() uuid.UUID { return uuidOf(m.Stream) }

// uuidOf reads a UUID stored as BSON binary (mongostore.UUIDValue's
// inverse for the documents this package writes).
func uuidOf(b primitive.Binary) uuid.UUID {
	var id uuid.UUID
	copy(id[:], b.Data)
	return id
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
