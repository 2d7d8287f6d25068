package subscriptions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/256dpi/lungo"
	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/mongo"
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

// Dispatcher delivers outbox messages, at least once, to the handler or
// webhook registered for their topic, retrying with backoff and jitter and
// parking a message after MaxAttempts. Messages of topics it has nothing
// for wait in the queue. Several dispatchers (processes) may run at once;
// each message goes to one at a time.
type Dispatcher struct {
	// Logger receives delivery failures; nil discards them.
	Logger *slog.Logger
	// Settings: BatchSize is how many messages one pass takes, and
	// AckTimeout how long it holds them: each must be delivered within
	// it, after which it goes out again (a handler's ctx, or a webhook
	// request, ends then). Messages of a pass left with less than half the
	// AckTimeout (for a webhook: less than its Timeout) go back to the
	// queue uncounted, for the next pass. MaxAttempts, MinBackoff and
	// MaxBackoff are as for subscriptions. Set them before registering
	// webhooks.
	Settings Settings
	// Poll is how often an idle dispatcher looks for messages.
	Poll time.Duration
	// AllowPrivateWebhooks is as for Service.
	AllowPrivateWebhooks bool

	store    *mongostore.Store
	clock    func() time.Time
	consumer string

	mu       sync.Mutex
	handlers map[string]OutboxHandler
	webhooks map[string]outboxWebhook
}

// outboxWebhook is a topic's webhook and the client that carries its
// requests, kept while the topic is routed to it so that requests reuse
// its connections.
type outboxWebhook struct {
	Webhook
	client *http.Client
}

// NewDispatcher returns a Dispatcher over store's outbox.
func NewDispatcher(store *mongostore.Store) *Dispatcher {
	return &Dispatcher{store: store, clock: time.Now, consumer: consumerID(),
		handlers: map[string]OutboxHandler{}, webhooks: map[string]outboxWebhook{}}
}

// Handle delivers topic's messages to h.
func (d *Dispatcher) Handle(topic string, h OutboxHandler) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.handlers[topic] = h
}

// Webhook delivers topic's messages to w, signed as subscriptions'
// webhooks are (webhook-id is the message id). Its Timeout must be
// shorter than the dispatcher's AckTimeout. Errors: ErrInvalid.
func (d *Dispatcher) Webhook(ctx context.Context, topic string, w Webhook) error {
	errs := validateWebhook(ctx, &w, d.AllowPrivateWebhooks)
	if w.Secret == "" {
		errs = append(errs, errors.New("an outbox webhook needs its secret"))
	}
	if w.Timeout == 0 {
		w.Timeout = DefaultWebhookTimeout
	}
	if err := ackOutlastsRequests(d.Settings.withDefaults().AckTimeout, w.Timeout); w.Timeout > 0 && err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrInvalid, errors.Join(errs...))
	}
	client := webhookClient(w.Timeout, d.AllowPrivateWebhooks)
	d.mu.Lock()
	old, replaced := d.webhooks[topic]
	d.webhooks[topic] = outboxWebhook{Webhook: w, client: client}
	d.mu.Unlock()
	if replaced {
		old.client.CloseIdleConnections()
	}
	return nil
}

// closeIdle closes the idle connections of the webhooks' clients.
func (d *Dispatcher) closeIdle() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, w := range d.webhooks {
		w.client.CloseIdleConnections()
	}
}

func (d *Dispatcher) outbox() lungo.ICollection {
	return d.store.Database().Collection(CollectionOutbox)
}

func (d *Dispatcher) now() time.Time { return d.clock().UTC().Truncate(time.Millisecond) }

func (d *Dispatcher) topics() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]string, 0, len(d.handlers)+len(d.webhooks))
	for t := range d.handlers {
		out = append(out, t)
	}
	for t := range d.webhooks {
		out = append(out, t)
	}
	return out
}

// Run delivers messages until ctx ends, then returns nil, its webhooks'
// idle connections closed.
func (d *Dispatcher) Run(ctx context.Context) error {
	defer d.closeIdle()
	if err := d.ensureSchema(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	poll := d.Poll
	if poll <= 0 {
		poll = DefaultPoll
	}
	for {
		n, err := d.dispatch(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			d.logger().Warn("subscriptions: outbox", "error", err)
		}
		if n > 0 && err == nil {
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(poll):
		}
	}
}

// outboxIndexes serve the outbox's queries: the due ready messages and
// the in-flight ones past their deadline of the dispatcher's topics
// (dueFilter, expiredFilter), and the parked ones by topic (Parked,
// Replay).
var outboxIndexes = []mongo.IndexModel{
	{Keys: bson.D{{Key: "topic", Value: 1}, {Key: "state", Value: 1}, {Key: "visible_at", Value: 1}}},
	{Keys: bson.D{{Key: "topic", Value: 1}, {Key: "state", Value: 1}, {Key: "deadline", Value: 1}}},
	{Keys: bson.D{{Key: "state", Value: 1}, {Key: "topic", Value: 1}, {Key: "_id", Value: 1}}},
}

// ensureSchema creates the outbox and its indexes.
func (d *Dispatcher) ensureSchema(ctx context.Context) error {
	if err := d.store.EnsureCollection(ctx, CollectionOutbox); err != nil {
		return err
	}
	if _, err := d.outbox().Indexes().CreateMany(ctx, outboxIndexes); err != nil {
		return fmt.Errorf("subscriptions: outbox indexes: %w", err)
	}
	return nil
}

// dueFilter matches topics' ready messages whose backoff is over.
func dueFilter(topics []string, now time.Time) bson.D {
	return bson.D{
		{Key: "topic", Value: bson.D{{Key: "$in", Value: topics}}}, {Key: "state", Value: stateReady},
		{Key: "visible_at", Value: bson.D{{Key: "$lte", Value: now}}},
	}
}

// expiredFilter matches topics' in-flight messages whose deadline has
// passed: their dispatcher stopped, or is too slow.
func expiredFilter(topics []string, now time.Time) bson.D {
	return bson.D{
		{Key: "topic", Value: bson.D{{Key: "$in", Value: topics}}}, {Key: "state", Value: stateInFlight},
		{Key: "deadline", Value: bson.D{{Key: "$lte", Value: now}}},
	}
}

// parkedFilter matches topic's parked messages, or every topic's when
// topic is empty.
func parkedFilter(topic string) bson.D {
	f := bson.D{{Key: "state", Value: stateParked}}
	if topic != "" {
		f = append(f, bson.E{Key: "topic", Value: topic})
	}
	return f
}

// parkedOrder lists parked messages by topic, then id.
var parkedOrder = bson.D{{Key: "topic", Value: 1}, {Key: "_id", Value: 1}}

func (d *Dispatcher) logger() *slog.Logger {
	if d.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return d.Logger
}

// dispatch takes one batch of due messages and delivers them; it returns
// how many it took.
func (d *Dispatcher) dispatch(ctx context.Context) (int, error) {
	st := d.Settings.withDefaults()
	topics := d.topics()
	if len(topics) == 0 {
		return 0, nil
	}
	taken, err := d.take(ctx, st, topics)
	if err != nil {
		return 0, err
	}
	// The batch shares one deadline, after which another dispatcher may
	// take its messages: each delivery ends by then, and once one has
	// been tried, a message left with less time than a delivery needs
	// goes back to the queue uncounted. The first is always tried, so
	// that every pass moves on.
	var back bson.A
	tried := false
	for _, m := range taken {
		r := d.route(m.Topic)
		left := m.Deadline.Sub(d.now())
		if tried && left < r.needs(st) {
			back = append(back, m.ID)
			continue
		}
		tried = true
		derr := d.deliver(ctx, r, m, left)
		if ctx.Err() != nil {
			// Stopping: what is in flight goes out again after its
			// deadline.
			return len(taken), nil
		}
		if err := d.settle(context.WithoutCancel(ctx), st, m, derr); err != nil {
			return len(taken), err
		}
	}
	if len(back) > 0 {
		held := append(idIn(back), bson.E{Key: "state", Value: stateInFlight}, bson.E{Key: "consumer", Value: d.consumer})
		if _, err := d.outbox().UpdateMany(context.WithoutCancel(ctx), held, releaseUpdate(d.now())); err != nil {
			return len(taken), fmt.Errorf("put back outbox messages: %w", err)
		}
	}
	return len(taken), nil
}

// take marks up to a batch of due messages in flight for this
// dispatcher, in one transaction, and parks those that used up their
// attempts.
func (d *Dispatcher) take(ctx context.Context, st Settings, topics []string) ([]outboxDoc, error) {
	var taken []outboxDoc
	err := d.store.Transaction(ctx, func(sc context.Context) error {
		taken = taken[:0]
		now := d.now()
		// In-flight messages past their deadline first, then ready ones:
		// one query each, so that each walks an index of its own.
		for _, f := range []bson.D{expiredFilter(topics, now), dueFilter(topics, now)} {
			if len(taken) >= st.BatchSize {
				break
			}
			cur, err := d.outbox().Find(sc, f, options.Find().SetLimit(int64(st.BatchSize-len(taken))))
			if err != nil {
				return err
			}
			var docs []outboxDoc
			if err := cur.All(sc, &docs); err != nil {
				return err
			}
			taken = append(taken, docs...)
		}
		var take, park bson.A
		deadline := now.Add(st.AckTimeout)
		kept := taken[:0]
		for _, m := range taken {
			if m.Attempts >= st.MaxAttempts {
				park = append(park, m.ID)
				continue
			}
			m.Attempts++
			m.Deadline = deadline
			take = append(take, m.ID)
			kept = append(kept, m)
		}
		taken = kept
		if len(park) > 0 {
			if _, err := d.outbox().UpdateMany(sc, idIn(park), parkUpdate(fmt.Sprintf("not delivered after %d attempts", st.MaxAttempts))); err != nil {
				return err
			}
		}
		if len(take) == 0 {
			return nil
		}
		_, err := d.outbox().UpdateMany(sc, idIn(take), takeUpdate(d.consumer, deadline))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("take outbox messages: %w", err)
	}
	return taken, nil
}

// route is where a topic's messages go: its handler, or else its
// webhook.
type route struct {
	handler OutboxHandler
	webhook outboxWebhook
}

func (d *Dispatcher) route(topic string) route {
	d.mu.Lock()
	defer d.mu.Unlock()
	return route{handler: d.handlers[topic], webhook: d.webhooks[topic]}
}

// needs is the time a delivery is sure to have: a webhook's request
// timeout, or half the ack timeout for a handler.
func (r route) needs(st Settings) time.Duration {
	if r.handler != nil {
		return st.AckTimeout / 2
	}
	return r.webhook.Timeout
}

// deliver hands one message to its handler or webhook, for at most left
// (a request also for at most its webhook's timeout).
func (d *Dispatcher) deliver(ctx context.Context, r route, m outboxDoc, left time.Duration) error {
	dl := Delivered{ID: m.id(), Topic: m.Topic, Payload: m.Payload, Attempt: m.Attempts, CreatedAt: m.CreatedAt.UTC()}
	if r.handler != nil {
		dctx, cancel := context.WithTimeout(ctx, left)
		defer cancel()
		return safeCall(dctx, r.handler, dl)
	}
	body, err := outboxBody(dl)
	if err != nil {
		return err
	}
	dctx, cancel := context.WithTimeout(ctx, min(left, r.webhook.Timeout))
	defer cancel()
	_, err = send(dctx, r.webhook.client, r.webhook.Webhook, dl.ID.String(), body, d.now())
	return err
}

// safeCall runs a handler, turning a panic into an error.
func safeCall(ctx context.Context, h OutboxHandler, m Delivered) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("outbox handler panicked: %v", r)
		}
	}()
	return h(ctx, m)
}

// settle removes a delivered message, or schedules its retry (or parks
// it) after a failure. A message no longer in this dispatcher's hands (its
// deadline passed and another took it) is left alone.
func (d *Dispatcher) settle(ctx context.Context, st Settings, m outboxDoc, derr error) error {
	held := bson.D{{Key: "_id", Value: m.ID}, {Key: "state", Value: stateInFlight}, {Key: "consumer", Value: d.consumer}, {Key: "attempts", Value: m.Attempts}}
	if derr == nil {
		_, err := d.outbox().DeleteOne(ctx, held)
		return err
	}
	d.logger().Warn("subscriptions: outbox delivery failed", "topic", m.Topic, "id", m.id(), "attempt", m.Attempts, "error", derr)
	_, err := d.outbox().UpdateOne(ctx, held, refuseUpdate(st, m.Attempts, true, truncate(derr.Error(), 1000), d.now()))
	return err
}

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
