package mongostore

import (
	"log/slog"
	"time"

	"go.mongodb.org/mongo-driver/mongo/writeconcern"
	"go.opentelemetry.io/otel/trace"
)

// Defaults for the options.
const (
	// DefaultDatabase is the database annals uses when none is named.
	DefaultDatabase = "annals"
	// DefaultMaxBatchBytes bounds the encoded size of one append call: the
	// most a single MongoDB insert command carries (48 MB), so a batch is
	// one insert round trip.
	DefaultMaxBatchBytes = 48_000_000
	// MaxDocumentBytes is MongoDB's limit on one BSON document, 16 MiB.
	MaxDocumentBytes = 16 * 1024 * 1024
	// ChangeEventHeadroom is the room an event document leaves below
	// MaxDocumentBytes for what a change event adds around it (resume
	// token, operation type, namespace, document key, cluster and wall
	// time, transaction number and session id: well under 1 KiB with
	// annals' names). A change event above 16 MiB fails the getMore with
	// BSONObjectTooLarge, and every reader of the change stream (the
	// projections, the SSE feed, tail) would retry that position forever.
	ChangeEventHeadroom = 16 * 1024
	// MaxEventBytes is the largest encoded event document an append
	// accepts: MaxDocumentBytes less ChangeEventHeadroom. Larger events are
	// refused with ErrTooLarge on every engine.
	MaxEventBytes = MaxDocumentBytes - ChangeEventHeadroom
	// MaxNestingDepth is how deeply MongoDB nests a stored document (100
	// levels). An event's data and metadata sit one level inside the event
	// document, so each may nest objects and arrays at most
	// MaxNestingDepth-1 levels deep, counting itself as the first; deeper
	// ones are refused with ErrInvalidInput on every engine.
	MaxNestingDepth = 100
	// DefaultAnyRetries is how many times an append with Any re-reads the
	// stream and tries again after losing a race for the next version.
	DefaultAnyRetries = 16
)

// Option configures Open and New.
type Option func(*config)

type config struct {
	database      string
	databaseSet   bool
	logger        *slog.Logger
	maxBatchBytes int
	anyRetries    int
	writeConcern  *writeconcern.WriteConcern
	engine        EngineOptions
	clock         func() time.Time
	// tracerProvider makes the append spans; nil means the global one.
	tracerProvider trace.TracerProvider
}

func defaultConfig() config {
	return config{
		database:      DefaultDatabase,
		logger:        slog.New(slog.DiscardHandler),
		maxBatchBytes: DefaultMaxBatchBytes,
		anyRetries:    DefaultAnyRetries,
		writeConcern:  &writeconcern.WriteConcern{W: "majority", Journal: ptr(true)},
		clock:         time.Now,
	}
}

// WithDatabase names the database (default "annals", or the one in a
// mongodb:// URI's path).
func WithDatabase(name string) Option {
	return func(c *config) { c.database, c.databaseSet = name, true }
}

// WithLogger sets the logger; nil discards logs.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) {
		if l == nil {
			l = slog.New(slog.DiscardHandler)
		}
		c.logger = l
	}
}

// WithMaxBatchBytes bounds the encoded size of one append call (default
// DefaultMaxBatchBytes). Larger appends fail with ErrTooLarge.
func WithMaxBatchBytes(n int) Option {
	return func(c *config) { c.maxBatchBytes = n }
}

// WithAnyRetries sets how often an Any append retries after losing a race
// (default DefaultAnyRetries).
func WithAnyRetries(n int) Option {
	return func(c *config) { c.anyRetries = n }
}

// WithWriteConcern replaces the default write concern on MongoDB
// (majority, journaled). The embedded engines ignore it.
func WithWriteConcern(wc *writeconcern.WriteConcern) Option {
	return func(c *config) { c.writeConcern = wc }
}

// EngineOptions tune the embedded engine of memory: and file: URIs. Zero
// fields keep the defaults.
type EngineOptions struct {
	// CacheSize is the cache in bytes (default 64 MiB): what bounds the
	// memory a file: store uses for reads, whatever its size. The
	// memtables holding recent writes (16 MiB each, two while one is
	// flushed) take their room from it; blocks read get the rest.
	CacheSize int64
	// OplogEntries is how many change-log entries the engine keeps
	// (default 100,000): a change stream resuming from an older position
	// gets a history-lost error, and projections then catch up from the
	// events collection instead.
	OplogEntries int64
	// OplogRetention, when set, also drops change-log entries older than
	// this.
	OplogRetention time.Duration
	// TransactionLifetime aborts a transaction left open longer (default
	// 60 s, as MongoDB).
	TransactionLifetime time.Duration
}

// WithEngineOptions tunes the embedded engine for memory: and file: URIs.
func WithEngineOptions(o EngineOptions) Option {
	return func(c *config) { c.engine = o }
}

// WithClock sets where the store reads the time it records events at
// (default time.Now): for tests and simulations of writers whose clocks
// disagree. nil keeps time.Now.
func WithClock(now func() time.Time) Option {
	return func(c *config) {
		if now != nil {
			c.clock = now
		}
	}
}

// WithTracerProvider sets the provider of the store's spans (see
// AppendStreams). nil, the default, means the global provider,
// otel.GetTracerProvider(), at each call; with none installed the store
// starts no spans.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(c *config) { c.tracerProvider = tp }
}

func ptr[T any](v T) *T { return &v }
