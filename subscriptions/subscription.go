package subscriptions

import (
	"cmp"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/annalsdb/annals/mongostore"
)

// Defaults of Settings' zero fields.
const (
	DefaultBatchSize   = 100
	DefaultAckTimeout  = 30 * time.Second
	DefaultMaxAttempts = 10
	DefaultMinBackoff  = time.Second
	DefaultMaxBackoff  = time.Minute
)

// Subscription is a persistent subscription's definition.
type Subscription struct {
	// Name identifies the subscription: 1 to 100 bytes of printable UTF-8.
	Name string
	// Events keeps only events with these names; empty keeps all.
	Events []string
	// AggregateTypes keeps only events of streams of these types; empty
	// keeps all.
	AggregateTypes []string
	// Start is where delivery begins: StartBeginning (the zero value),
	// StartNow, or StartAfter a position.
	Start Start
	// Settings tune delivery; zero fields take the defaults.
	Settings Settings
	// Webhook, if set, pushes the events to a URL (see Webhook); the
	// subscription then has no other consumer.
	Webhook *Webhook
	// CreatedAt is when the subscription was created (set by Create).
	CreatedAt time.Time
}

// Start is where a subscription's delivery begins.
type Start struct {
	// Now starts after the events stored when the subscription is
	// created. Event times hold milliseconds, so it starts at the
	// millisecond of its creation: events recorded in that millisecond
	// are delivered, even one stored just before, and none after is
	// missed.
	Now bool
	// After starts after this position; zero (and Now false) is the
	// beginning.
	After mongostore.Position
}

// StartBeginning delivers every stored event, then new ones.
var StartBeginning = Start{}

// StartNow delivers only events stored after the subscription is created.
var StartNow = Start{Now: true}

// StartAfter delivers the events after p.
func StartAfter(p mongostore.Position) Start { return Start{After: p} }

// Settings tune delivery.
type Settings struct {
	// BatchSize caps the events one Fetch returns. Default 100.
	BatchSize int
	// AckTimeout is how long a consumer holds an event before it is
	// delivered again. Default 30 s. A webhook subscription's must be
	// longer than its webhook's Timeout, so that a request can end before
	// its event may go out again.
	AckTimeout time.Duration
	// MaxAttempts is how many deliveries an event gets before it is
	// parked. Default 10.
	MaxAttempts int
	// MinBackoff and MaxBackoff bound the wait before an event refused
	// with a retry Nack is delivered again: MinBackoff doubled per
	// attempt, capped at MaxBackoff. Defaults 1 s and 1 min.
	MinBackoff time.Duration
	MaxBackoff time.Duration
}

// withDefaults fills zero fields.
func (s Settings) withDefaults() Settings {
	if s.BatchSize == 0 {
		s.BatchSize = DefaultBatchSize
	}
	if s.AckTimeout == 0 {
		s.AckTimeout = DefaultAckTimeout
	}
	if s.MaxAttempts == 0 {
		s.MaxAttempts = DefaultMaxAttempts
	}
	if s.MinBackoff == 0 {
		s.MinBackoff = DefaultMinBackoff
	}
	if s.MaxBackoff == 0 {
		s.MaxBackoff = max(DefaultMaxBackoff, s.MinBackoff)
	}
	return s
}

// backoff is the wait before attempt n+1 after a retry Nack of attempt n.
func (s Settings) backoff(attempts int) time.Duration {
	d := s.MinBackoff
	for i := 1; i < attempts && d < s.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, s.MaxBackoff)
}

// validate reports every problem of a definition at once.
func (sub Subscription) validate() error {
	var errs []error
	if sub.Name == "" || len(sub.Name) > 100 || !utf8.ValidString(sub.Name) || hasControl(sub.Name) {
		errs = append(errs, fmt.Errorf("name %q must be 1 to 100 bytes of printable UTF-8", sub.Name))
	}
	if strings.HasPrefix(sub.Name, feedPrefix) {
		errs = append(errs, fmt.Errorf("name %q must not start with %q", sub.Name, feedPrefix))
	}
	for _, n := range sub.Events {
		if n == "" {
			errs = append(errs, errors.New("an event name is empty"))
		}
	}
	for _, t := range sub.AggregateTypes {
		if t == "" {
			errs = append(errs, errors.New("an aggregate type is empty"))
		}
	}
	if sub.Start.Now && !sub.Start.After.IsZero() {
		errs = append(errs, errors.New("start: now and after a position are exclusive"))
	}
	st := sub.Settings
	errs = append(errs, st.problems()...)
	if w := sub.Webhook; w != nil && st.AckTimeout >= 0 && w.Timeout >= 0 {
		if err := ackOutlastsRequests(st.withDefaults().AckTimeout, cmp.Or(w.Timeout, DefaultWebhookTimeout)); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrInvalid, errors.Join(errs...))
}

// problems lists what is wrong with the settings (zero fields take their
// defaults).
func (s Settings) problems() []error {
	var errs []error
	if s.BatchSize < 0 || s.BatchSize > 10000 {
		errs = append(errs, fmt.Errorf("batch_size %d must be 1 to 10000", s.BatchSize))
	}
	if s.AckTimeout < 0 || (s.AckTimeout > 0 && s.AckTimeout < 100*time.Millisecond) {
		errs = append(errs, fmt.Errorf("ack_timeout %s must be at least 100ms", s.AckTimeout))
	}
	if s.MaxAttempts < 0 {
		errs = append(errs, fmt.Errorf("max_attempts %d must be positive", s.MaxAttempts))
	}
	if s.MinBackoff < 0 || s.MaxBackoff < 0 || (s.MaxBackoff > 0 && s.MaxBackoff < s.MinBackoff) {
		errs = append(errs, fmt.Errorf("backoff bounds %s..%s must be positive and increasing", s.MinBackoff, s.MaxBackoff))
	}
	return errs
}

// ackOutlastsRequests checks that a webhook request can end before its
// event's (or message's) ack timeout lets it go out again.
func ackOutlastsRequests(ack, request time.Duration) error {
	if ack > request {
		return nil
	}
	return fmt.Errorf("ack_timeout %s must be longer than the webhook timeout %s: a request must be able to end before it may be sent again", ack, request)
}

func hasControl(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return true
		}
	}
	return false
}
