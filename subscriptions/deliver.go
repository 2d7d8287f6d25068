package subscriptions

import (
	"context"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/annalsdb/annals/mongostore"
)

// maxScan bounds the queued messages one Fetch looks at, so that a queue
// whose head is held by slow consumers costs the same however long it is.
const maxScan = 10000

// Delivery is an event handed to a consumer.
type Delivery struct {
	Event mongostore.Event
	// Attempt counts deliveries of the event, from 1.
	Attempt int
	// Deadline is when the event is delivered again unless acknowledged.
	Deadline time.Time
}

var fetchOrder = options.Find().SetSort(bson.D{{Key: "recorded_at", Value: 1}, {Key: "stream", Value: 1}, {Key: "version", Value: 1}})

// Fetch hands consumer up to max events of the subscription (max 0 or
// above the subscription's batch size means its batch size), waiting up to
// wait for the first one. Events of a stream come in version order, and
// one is handed out only when the stream has no event in flight with
// another consumer, waiting out a retry's backoff, or ahead of it in the
// batch for another consumer. An empty batch after wait is not an error.
// Errors: ErrNotFound, ErrInvalid.
func (s *Service) Fetch(ctx context.Context, name, consumer string, max int, wait time.Duration) ([]Delivery, error) {
	if err := validConsumer(consumer); err != nil {
		return nil, err
	}
	if max < 0 || wait < 0 {
		return nil, fmt.Errorf("%w: max %d and wait %s must not be negative", ErrInvalid, max, wait)
	}
	d, err := s.definition(ctx, name)
	if err != nil {
		return nil, err
	}
	if d.webhook() != nil {
		return nil, fmt.Errorf("%w: subscription %s pushes its events to a webhook; it has no consumers to fetch them", ErrInvalid, name)
	}
	ctx, span := s.startFetch(ctx, name, consumer)
	out, err := s.fetch(ctx, d, consumer, max, wait)
	endFetch(span, out, err)
	return out, err
}

// fetch is Fetch for a subscription already read: consumers', and a
// webhook's pusher.
func (s *Service) fetch(ctx context.Context, d definition, consumer string, max int, wait time.Duration) ([]Delivery, error) {
	name := d.Name
	st := d.settings()
	if max == 0 || max > st.BatchSize {
		max = st.BatchSize
	}
	poll := s.Poll
	if poll <= 0 {
		poll = DefaultPoll
	}
	until := time.Now().Add(wait)
	next := poll
	for {
		queued := s.Queued(name)
		taken, err := s.take(ctx, d, consumer, max)
		if err != nil || len(taken) > 0 {
			if err != nil {
				return nil, err
			}
			return s.deliveries(ctx, taken)
		}
		if time.Until(until) <= 0 {
			return nil, nil
		}
		if next, err = s.pause(ctx, queued, next, poll, until); err != nil {
			return nil, err
		}
	}
}

// pause waits before a fetch looks again: until the poll interval passes,
// or, once the subscription's feed here has queued a message, a
// millisecond (its batch commits shortly), then twice as long each time
// it still finds nothing, up to the poll interval. It returns the next
// wait.
func (s *Service) pause(ctx context.Context, queued <-chan struct{}, next, poll time.Duration, until time.Time) (time.Duration, error) {
	t := time.NewTimer(min(next, time.Until(until)))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-queued:
		next = time.Millisecond
		t.Reset(min(next, time.Until(until)))
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-t.C:
		}
		return 2 * next, nil
	case <-t.C:
		return min(2*next, poll), nil
	}
}

// take marks up to max deliverable messages in flight for consumer, in
// one transaction, and parks those that used up their attempts.
func (s *Service) take(ctx context.Context, d definition, consumer string, max int) ([]message, error) {
	st := d.settings()
	var taken []message
	err := s.store.Transaction(ctx, func(sc context.Context) error {
		taken = taken[:0]
		now := s.now()
		cur, err := s.messages().Find(sc, bson.D{{Key: "sub", Value: d.Name}, {Key: "feed", Value: d.Feed}}, fetchOrder)
		if err != nil {
			return err
		}
		defer cur.Close(sc)
		blocked := map[uuid.UUID]bool{}
		var take, park bson.A
		for scanned := 0; scanned < maxScan && len(taken) < max && cur.Next(sc); scanned++ {
			var m message
			if err := cur.Decode(&m); err != nil {
				return err
			}
			stream := m.stream()
			switch {
			case m.State == stateParked || blocked[stream]:
				continue
			case m.State == stateInFlight && m.Deadline.After(now),
				m.State == stateReady && m.VisibleAt.After(now):
				blocked[stream] = true
				continue
			case m.Attempts >= st.MaxAttempts:
				park = append(park, m.ID)
				continue
			}
			m.Attempts++
			take = append(take, m.ID)
			taken = append(taken, m)
		}
		if err := cur.Err(); err != nil {
			return err
		}
		if len(park) > 0 {
			if _, err := s.messages().UpdateMany(sc, idIn(park), parkUpdate(fmt.Sprintf("not acknowledged after %d deliveries", st.MaxAttempts))); err != nil {
				return err
			}
		}
		if len(take) == 0 {
			return nil
		}
		deadline := now.Add(st.AckTimeout)
		for i := range taken {
			taken[i].Deadline = deadline
		}
		_, err = s.messages().UpdateMany(sc, idIn(take), takeUpdate(consumer, deadline))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("subscriptions: fetch from %s: %w", d.Name, err)
	}
	return taken, nil
}

// deliveries reads the events of taken messages, in the messages' order.
func (s *Service) deliveries(ctx context.Context, taken []message) ([]Delivery, error) {
	ranges := make([]mongostore.StreamRange, len(taken))
	for i, m := range taken {
		ranges[i] = mongostore.StreamRange{Stream: m.stream(), After: m.Version - 1, Through: m.Version}
	}
	byID := make(map[uuid.UUID]mongostore.Event, len(taken))
	for ev, err := range s.store.ReadRanges(ctx, ranges, nil) {
		if err != nil {
			return nil, fmt.Errorf("subscriptions: read delivered events: %w", err)
		}
		byID[ev.ID] = ev
	}
	out := make([]Delivery, 0, len(taken))
	for _, m := range taken {
		ev, ok := byID[m.eventID()]
		if !ok {
			return nil, fmt.Errorf("subscriptions: queued event %s (stream %s, version %d) is not in the events collection", m.eventID(), m.stream(), m.Version)
		}
		out = append(out, Delivery{Event: ev, Attempt: m.Attempts, Deadline: m.Deadline})
	}
	return out, nil
}

// Ack acknowledges events consumer holds: they are done and never
// delivered again. Errors: ErrNotFound, ErrInvalid; ErrNotHeld, naming the
// events the consumer does not hold (the others are acknowledged).
func (s *Service) Ack(ctx context.Context, name, consumer string, events ...uuid.UUID) error {
	return s.onHeld(ctx, name, consumer, events, func(sc context.Context, _ Settings, held []message) error {
		ids := make(bson.A, len(held))
		for i, m := range held {
			ids[i] = m.ID
		}
		_, err := s.messages().DeleteMany(sc, idIn(ids))
		return err
	})
}

// NackAction says what becomes of a refused event.
type NackAction int

const (
	// Retry delivers the event again after a backoff (and parks it once
	// it has used up its attempts).
	Retry NackAction = iota
	// Park sets the event aside at once, until replayed.
	Park
)

// Nack refuses events consumer holds, with a reason kept for operators.
// Errors: ErrNotFound, ErrInvalid; ErrNotHeld naming the events the
// consumer does not hold (the others are refused).
func (s *Service) Nack(ctx context.Context, name, consumer string, action NackAction, reason string, events ...uuid.UUID) error {
	if action != Retry && action != Park {
		return fmt.Errorf("%w: unknown nack action %d", ErrInvalid, action)
	}
	reason = truncate(reason, 1000)
	return s.onHeld(ctx, name, consumer, events, func(sc context.Context, st Settings, held []message) error {
		now := s.now()
		for _, m := range held {
			if _, err := s.messages().UpdateOne(sc, bson.D{{Key: "_id", Value: m.ID}}, refuseUpdate(st, m.Attempts, action == Retry, reason, now)); err != nil {
				return err
			}
		}
		return nil
	})
}

// release puts events consumer holds but did not try back in the queue,
// due at once, their delivery not counted.
func (s *Service) release(ctx context.Context, name, consumer string, events ...uuid.UUID) error {
	return s.onHeld(ctx, name, consumer, events, func(sc context.Context, _ Settings, held []message) error {
		ids := make(bson.A, len(held))
		for i, m := range held {
			ids[i] = m.ID
		}
		_, err := s.messages().UpdateMany(sc, idIn(ids), releaseUpdate(s.now()))
		return err
	})
}

// onHeld runs fn, in one transaction, on the messages of events that
// consumer holds, and reports the others with ErrNotHeld.
func (s *Service) onHeld(ctx context.Context, name, consumer string, events []uuid.UUID, fn func(sc context.Context, st Settings, held []message) error) error {
	if err := validConsumer(consumer); err != nil {
		return err
	}
	if len(events) > 10000 {
		return fmt.Errorf("%w: %d events in one call; at most 10000", ErrInvalid, len(events))
	}
	d, err := s.definition(ctx, name)
	if err != nil || len(events) == 0 {
		return err
	}
	ids := make(bson.A, len(events))
	for i, e := range events {
		ids[i] = messageID(d.Feed, e)
	}
	var missing []uuid.UUID
	err = s.store.Transaction(ctx, func(sc context.Context) error {
		missing = missing[:0]
		cur, err := s.messages().Find(sc, bson.D{
			{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}},
			{Key: "state", Value: stateInFlight}, {Key: "consumer", Value: consumer},
		})
		if err != nil {
			return err
		}
		var held []message
		if err := cur.All(sc, &held); err != nil {
			return err
		}
		got := make(map[uuid.UUID]bool, len(held))
		for _, m := range held {
			got[m.eventID()] = true
		}
		for _, e := range events {
			if !got[e] {
				missing = append(missing, e)
			}
		}
		if len(held) == 0 {
			return nil
		}
		return fn(sc, d.settings(), held)
	})
	if err != nil {
		return fmt.Errorf("subscriptions: %s: %w", name, err)
	}
	if len(missing) > 0 {
		return &NotHeldError{Events: missing}
	}
	return nil
}

// NotHeldError lists the events of an Ack or Nack that the consumer did
// not hold: never delivered to it, already acknowledged, or delivered to
// another consumer after its ack timeout. It matches ErrNotHeld.
type NotHeldError struct {
	Events []uuid.UUID
}

func (e *NotHeldError) Error() string {
	return fmt.Sprintf("%d events are not held by this consumer: %v", len(e.Events), e.Events)
}

// Unwrap returns ErrNotHeld.
func (e *NotHeldError) Unwrap() error { return ErrNotHeld }

func validConsumer(consumer string) error {
	if consumer == "" || len(consumer) > 200 || hasControl(consumer) {
		return fmt.Errorf("%w: consumer %q must be 1 to 200 printable bytes", ErrInvalid, consumer)
	}
	return nil
}

// jitter spreads retries: half the backoff d plus a random part of the
// other half, drawn by n (n(x) is in [0, x); rand.N in production), so
// that events refused together are not retried together.
func jitter(d time.Duration, n func(time.Duration) time.Duration) time.Duration {
	if d <= 1 {
		return d
	}
	return d/2 + n(d/2)
}

// truncate cuts s to at most n bytes without splitting a UTF-8 sequence.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
