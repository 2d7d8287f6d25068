package subscriptions

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/256dpi/lungo"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
	"go.opentelemetry.io/otel/trace"

	"github.com/annalsdb/annals/mongostore"
	"github.com/annalsdb/annals/projections"
)

// DefaultRefresh is how often Run looks for subscriptions created or
// deleted by other processes.
const DefaultRefresh = 2 * time.Second

// tombstoneTTL is how long a deleted subscription's tombstone outlives
// its queue, for feeds other processes still run.
const tombstoneTTL = time.Minute

// DefaultPoll is how often a long-polling Fetch looks for new messages.
const DefaultPoll = 100 * time.Millisecond

// Service manages a store's subscriptions: their definitions, the
// projections that feed their queues (Run), and delivery to consumers.
// It is safe for concurrent use; several processes may serve the same
// store.
type Service struct {
	// Logger receives the feeds' logs; nil discards them.
	Logger *slog.Logger
	// Refresh is how often Run looks for subscriptions created or deleted
	// elsewhere. Default DefaultRefresh.
	Refresh time.Duration
	// Runner, if set, configures each feed's projection runner (lease,
	// batch size, backoff) before it runs.
	Runner func(*projections.Runner)
	// Poll is how often a long-polling Fetch looks for new messages.
	// Default DefaultPoll.
	Poll time.Duration
	// AllowPrivateWebhooks lets webhooks reach loopback, link-local and
	// private addresses: other services of this host or network, refused
	// by default (SSRF).
	AllowPrivateWebhooks bool
	// TracerProvider makes the service's spans (SpanFetch, SpanWebhook)
	// and its feeds' projection spans; nil means the global provider,
	// otel.GetTracerProvider(). With none installed it starts no spans
	// and webhook requests carry no traceparent.
	TracerProvider trace.TracerProvider

	store *mongostore.Store
	clock func() time.Time

	mu      sync.Mutex
	changed chan struct{}            // closed when definitions change here
	queued  map[string]chan struct{} // by subscription: closed when its feed here queues
}

// New returns a Service over store.
func New(store *mongostore.Store) *Service {
	return &Service{
		store:   store,
		clock:   time.Now,
		changed: make(chan struct{}),
		queued:  map[string]chan struct{}{},
	}
}

func (s *Service) now() time.Time { return s.clock().UTC().Truncate(time.Millisecond) }

func (s *Service) definitions() lungo.ICollection {
	return s.store.Database().Collection(CollectionSubscriptions)
}

func (s *Service) messages() lungo.ICollection {
	return s.store.Database().Collection(CollectionMessages)
}

func (s *Service) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

// signal closes and replaces one of the service's broadcast channels.
func (s *Service) signal(ch *chan struct{}) {
	s.mu.Lock()
	close(*ch)
	*ch = make(chan struct{})
	s.mu.Unlock()
}

func (s *Service) wait(ch *chan struct{}) <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return *ch
}

// ensureSchema creates the collections and the indexes delivery reads by.
func (s *Service) ensureSchema(ctx context.Context) error {
	for _, c := range []string{CollectionSubscriptions, CollectionMessages, CollectionWebhookLog} {
		if err := s.store.EnsureCollection(ctx, c); err != nil {
			return err
		}
	}
	_, err := s.messages().Indexes().CreateMany(ctx, []mongo.IndexModel{
		{Keys: bson.D{{Key: "sub", Value: 1}, {Key: "recorded_at", Value: 1}, {Key: "stream", Value: 1}, {Key: "version", Value: 1}}},
		{Keys: bson.D{{Key: "sub", Value: 1}, {Key: "state", Value: 1}, {Key: "recorded_at", Value: 1}}},
	})
	if err == nil {
		_, err = s.store.Database().Collection(CollectionWebhookLog).Indexes().CreateMany(ctx, []mongo.IndexModel{
			{Keys: bson.D{{Key: "sub", Value: 1}, {Key: "feed", Value: 1}, {Key: "at", Value: -1}}},
			{Keys: bson.D{{Key: "at", Value: 1}}},
		})
	}
	if err != nil {
		return fmt.Errorf("subscriptions: create indexes: %w", err)
	}
	return nil
}

// Create stores a new subscription and returns it with its defaults and
// creation time filled in. StartNow is resolved to the creation time. A
// webhook's secret, generated when empty, is returned here and masked
// everywhere else. Errors: ErrInvalid, ErrExists.
func (s *Service) Create(ctx context.Context, sub Subscription) (Subscription, error) {
	err := sub.validate()
	if sub.Webhook != nil {
		w := *sub.Webhook
		sub.Webhook = &w
		if errs := validateWebhook(ctx, &w, s.AllowPrivateWebhooks); len(errs) > 0 {
			err = errors.Join(err, fmt.Errorf("%w: %w", ErrInvalid, errors.Join(errs...)))
		}
		if w.Secret == "" {
			var serr error
			if w.Secret, serr = newSecret(); serr != nil {
				return Subscription{}, serr
			}
		}
	}
	if err != nil {
		return Subscription{}, err
	}
	if err := s.ensureSchema(ctx); err != nil {
		return Subscription{}, err
	}
	sub.CreatedAt = s.now()
	if sub.Start.Now {
		sub.Start.After = mongostore.Position{RecordedAt: sub.CreatedAt}
	}
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return Subscription{}, err
	}
	d := toDefinition(sub, feedPrefix+hex.EncodeToString(b[:]))
	if _, err := s.definitions().InsertOne(ctx, d); err != nil {
		if mongostore.IsDuplicate(err) {
			return Subscription{}, fmt.Errorf("%w: %s", ErrExists, sub.Name)
		}
		return Subscription{}, fmt.Errorf("subscriptions: create %s: %w", sub.Name, err)
	}
	s.signal(&s.changed)
	out := d.subscription()
	if out.Webhook != nil {
		out.Webhook.Secret = d.WebhookSecret
	}
	return out, nil
}

// Get returns a subscription. Errors: ErrNotFound.
func (s *Service) Get(ctx context.Context, name string) (Subscription, error) {
	d, err := s.definition(ctx, name)
	if err != nil {
		return Subscription{}, err
	}
	return d.subscription(), nil
}

func (s *Service) definition(ctx context.Context, name string) (definition, error) {
	var d definition
	err := s.definitions().FindOne(ctx, bson.D{{Key: "_id", Value: name}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return d, fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	if err != nil {
		return d, fmt.Errorf("subscriptions: read %s: %w", name, err)
	}
	return d, nil
}

// List returns every subscription, by name.
func (s *Service) List(ctx context.Context) ([]Subscription, error) {
	defs, _, err := s.listDefinitions(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Subscription, len(defs))
	for i, d := range defs {
		out[i] = d.subscription()
	}
	return out, nil
}

// listDefinitions returns the subscriptions and the tombstones of deleted
// ones.
func (s *Service) listDefinitions(ctx context.Context) (defs, deleted []definition, err error) {
	cur, err := s.definitions().Find(ctx, bson.D{}, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		return nil, nil, fmt.Errorf("subscriptions: list: %w", err)
	}
	var all []definition
	if err := cur.All(ctx, &all); err != nil {
		return nil, nil, fmt.Errorf("subscriptions: list: %w", err)
	}
	for _, d := range all {
		if d.Deleted {
			deleted = append(deleted, d)
		} else {
			defs = append(defs, d)
		}
	}
	return defs, deleted, nil
}

// Delete removes a subscription. Its feed stops and its queue (in-flight
// and parked events included) is dropped by Run, in this process at once
// and in others within their Refresh; a tombstone left in its place until
// then makes the removal survive a crash. Errors: ErrNotFound.
func (s *Service) Delete(ctx context.Context, name string) error {
	err := s.store.Transaction(ctx, func(sc context.Context) error {
		d, err := s.definition(sc, name)
		if err != nil {
			return err
		}
		if _, err := s.definitions().DeleteOne(sc, bson.D{{Key: "_id", Value: name}}); err != nil {
			return err
		}
		_, err = s.definitions().InsertOne(sc, definition{Name: d.Feed, Feed: d.Feed, Deleted: true, Of: d.Name, CreatedAt: s.now()})
		return err
	})
	if errors.Is(err, ErrNotFound) {
		return err
	}
	if err != nil {
		return fmt.Errorf("subscriptions: delete %s: %w", name, err)
	}
	s.signal(&s.changed)
	return nil
}

// dropFeed removes what a deleted subscription leaves, then its
// tombstone: its queue and its feed projection's checkpoint, positions
// and collection. The feed must have stopped.
func (s *Service) dropFeed(ctx context.Context, t definition) error {
	db := s.store.Database()
	if _, err := s.messages().DeleteMany(ctx, bson.D{{Key: "sub", Value: t.Of}, {Key: "feed", Value: t.Feed}}); err != nil {
		return fmt.Errorf("subscriptions: drop the queue of %s: %w", t.Of, err)
	}
	if _, err := db.Collection(projections.CollectionCheckpoints).DeleteMany(ctx, bson.D{{Key: "projection", Value: t.Feed}}); err != nil {
		return fmt.Errorf("subscriptions: drop the feed of %s: %w", t.Of, err)
	}
	if _, err := db.Collection(projections.CollectionPositions).DeleteMany(ctx, bson.D{{Key: "_id", Value: bson.D{
		{Key: "$gte", Value: t.Feed + "/"}, {Key: "$lt", Value: t.Feed + "0"},
	}}}); err != nil {
		return fmt.Errorf("subscriptions: drop the feed of %s: %w", t.Of, err)
	}
	if err := db.Collection(t.Feed).Drop(ctx); err != nil {
		return fmt.Errorf("subscriptions: drop the feed of %s: %w", t.Of, err)
	}
	// The tombstone stays a while: another process may run the feed until
	// its own refresh, and what it queues meanwhile is dropped by the next
	// pass.
	if s.now().Sub(t.CreatedAt) < tombstoneTTL {
		return nil
	}
	if _, err := s.definitions().DeleteOne(ctx, bson.D{{Key: "_id", Value: t.Feed}, {Key: "deleted", Value: true}}); err != nil {
		return fmt.Errorf("subscriptions: drop the feed of %s: %w", t.Of, err)
	}
	return nil
}

// feed is the projection that queues a subscription's events.
func (s *Service) feed(d definition) *projections.Projection {
	events := d.Events
	if len(events) == 0 {
		events = []string{projections.AllEvents}
	}
	start := d.start()
	return projections.New(d.Feed, events, func(ctx context.Context, _ *projections.Tx, ev mongostore.Event) error {
		if len(d.AggregateTypes) > 0 && !slices.Contains(d.AggregateTypes, ev.StreamType) {
			return nil
		}
		if !start.IsZero() && !start.Before(mongostore.PositionOf(ev)) {
			return nil
		}
		m := message{
			ID: messageID(d.Feed, ev.ID), Sub: d.Name, Feed: d.Feed,
			Event: mongostore.UUIDValue(ev.ID), Stream: mongostore.UUIDValue(ev.Stream),
			Version: ev.Version, Name: ev.Name, RecordedAt: ev.RecordedAt,
			State: stateReady, VisibleAt: ev.RecordedAt,
		}
		// An upsert, so that a feed replayed from its start (a reset)
		// leaves queued messages as they are.
		_, err := s.messages().UpdateOne(ctx, bson.D{{Key: "_id", Value: m.ID}},
			bson.D{{Key: "$setOnInsert", Value: m}}, options.Update().SetUpsert(true))
		if err == nil {
			s.signalQueued(d.Name)
		}
		return err
	})
}

// Queued returns a channel closed the next time a feed this service runs
// queues a message for the subscription. The message is visible once the
// feed's batch commits, shortly after: a fetch woken by it looks again
// within milliseconds rather than after its poll interval. Feeds run by
// other processes do not close it; their messages are found by polling.
func (s *Service) Queued(name string) <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := s.queued[name]
	if ch == nil {
		ch = make(chan struct{})
		s.queued[name] = ch
	}
	return ch
}

// signalQueued wakes what waits on Queued(name).
func (s *Service) signalQueued(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ch := s.queued[name]; ch != nil {
		close(ch)
		delete(s.queued, name)
	}
}
