package subscriptions

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/256dpi/lungo"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/annalsdb/annals/mongostore"
)

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
	if errs := d.Settings.problems(); len(errs) > 0 {
		return fmt.Errorf("%w: outbox settings: %w", ErrInvalid, errors.Join(errs...))
	}
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
func (d *Dispatcher) dispatch(ctx context.Context) (n int, err error) {
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
	// take its messages: each delivery ends by then. A message whose
	// deadline has passed, and, once one has been tried, a message left
	// with less time than a delivery needs, go back to the queue
	// uncounted, as do those a pass stopping early (a failed store write,
	// ctx ending) never reached. The first is tried while it has time
	// left, so that every pass taken in time moves on.
	var back bson.A
	defer func() {
		bctx, cancel := bookkeeping(ctx)
		defer cancel()
		if perr := d.putBack(bctx, back); perr != nil {
			err = errors.Join(err, perr)
		}
	}()
	tried := false
	for _, m := range taken {
		r := d.route(m.Topic)
		left := m.Deadline.Sub(d.now())
		if err != nil || ctx.Err() != nil || left <= 0 || (tried && left < r.needs(st)) {
			back = append(back, m.ID)
			continue
		}
		tried = true
		derr := d.deliver(ctx, r, m, left)
		if derr != nil && ctx.Err() != nil {
			// The stop cut it short: it goes out again after its
			// deadline. One that succeeded is settled even as the pass
			// stops, or it would go out again too.
			continue
		}
		bctx, cancel := bookkeeping(ctx)
		err = d.settle(bctx, st, m, derr)
		cancel()
	}
	return len(taken), err
}

// putBack returns messages this dispatcher holds but never tried to the
// queue, their delivery not counted.
func (d *Dispatcher) putBack(ctx context.Context, ids bson.A) error {
	if len(ids) == 0 {
		return nil
	}
	held := append(idIn(ids), bson.E{Key: "state", Value: stateInFlight}, bson.E{Key: "consumer", Value: d.consumer})
	if _, err := d.outbox().UpdateMany(ctx, held, releaseUpdate(d.now())); err != nil {
		return fmt.Errorf("put back outbox messages: %w", err)
	}
	return nil
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
