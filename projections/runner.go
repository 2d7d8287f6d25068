package projections

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"sync"
	"time"

	"github.com/256dpi/lungo"
	"github.com/annalsdb/annals/mongostore"
	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
	"go.opentelemetry.io/otel/trace"
)

// Defaults for the Runner's fields.
const (
	// DefaultBatchSize is how many events one transaction applies at most.
	DefaultBatchSize = 200
	// DefaultMaxBatchBytes bounds the payload bytes of one catch-up batch,
	// keeping transactions well inside MongoDB's limits.
	DefaultMaxBatchBytes = 4 << 20
	// DefaultLeaseTTL is how long a runner owns a projection without
	// renewing; another runner takes over after it. On file: and memory:
	// stores a lease taken through an earlier open of the store (a
	// crashed process's) is taken over at once: see Store.ExclusiveID.
	DefaultLeaseTTL = 15 * time.Second
	// DefaultCatchUpMargin is how far before its last position a catch-up
	// reads again, to see events whose transactions committed late. It must
	// exceed the longest append transaction (60 s on MongoDB) plus the
	// clock skew between appending processes.
	DefaultCatchUpMargin = 5 * time.Minute
	// DefaultMaxBatchDuration is how long one batch's transaction may run
	// before the runner abandons it and applies half as many events at a
	// time: well inside MongoDB's 60 s transaction lifetime, after which
	// the server aborts the transaction and the same batch would only fail
	// again.
	DefaultMaxBatchDuration = 30 * time.Second
	// DefaultMinBackoff and DefaultMaxBackoff bound the wait between
	// attempts after an error.
	DefaultMinBackoff = 100 * time.Millisecond
	DefaultMaxBackoff = 15 * time.Second
)

// Log keys.
const (
	logKeyProjection = "projection"
	logKeyCheckpoint = "checkpoint"
	logKeyError      = "error"
	logKeyBackoff    = "backoff"
	logKeyEvent      = "event_id"
	logKeyEventName  = "event_name"
	logKeyPosition   = "position"
	logKeyGeneration = "generation"
	logKeyVersion    = "version"
	logKeyBatchSize  = "batch_size"
)

// Runner keeps projections current. Register projections with NewRunner,
// adjust the exported fields if needed, then call Run. Several runners,
// in one process or many, may run the same projections: each projection
// is applied by one runner at a time (the one holding its lease), and a
// transaction that finds it no longer holds the lease writes nothing.
type Runner struct {
	// Logger receives the runner's logs; nil discards them.
	Logger *slog.Logger
	// BatchSize is how many events one transaction applies at most.
	BatchSize int
	// MaxBatchBytes bounds the payload bytes of one catch-up batch.
	MaxBatchBytes int
	// LeaseTTL is how long a runner owns a projection without renewing.
	LeaseTTL time.Duration
	// CatchUpMargin: see DefaultCatchUpMargin.
	CatchUpMargin time.Duration
	// MaxBatchDuration: see DefaultMaxBatchDuration.
	MaxBatchDuration time.Duration
	// MinBackoff and MaxBackoff bound the wait between attempts after an
	// error; waits grow exponentially with jitter.
	MinBackoff, MaxBackoff time.Duration
	// TracerProvider makes the runner's spans: one per batch, linked to
	// the traces of the appends that stored its events, and one per
	// handler call under it (see SpanBatch). nil means the global
	// provider, otel.GetTracerProvider(); with none installed the runner
	// starts no spans.
	TracerProvider trace.TracerProvider

	store       *mongostore.Store
	projections []*Projection
	byName      map[string]*Projection
	owner       string
	hooks       hooks
	clock       func() time.Time
	// batchClock times batch transactions against MaxBatchDuration.
	batchClock func() time.Time

	mu      sync.Mutex
	running bool
	// woken is closed (and replaced) to wake idle workers at once after an
	// operator call in this process; other processes notice by polling.
	woken chan struct{}
	// waiting holds, per checkpoint id, the lease of another owner a
	// worker of this runner is waiting for.
	waiting map[string]LeaseWait
	// stalled holds, per checkpoint id, the failures in a row of this
	// runner's worker.
	stalled map[string]Stall
}

// wake makes idle workers look at their checkpoints now.
func (r *Runner) wake() {
	r.mu.Lock()
	defer r.mu.Unlock()
	close(r.woken)
	r.woken = make(chan struct{})
}

// wakeup returns the channel the next wake closes.
func (r *Runner) wakeup() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.woken
}

// NewRunner returns a runner of the given projections over store.
// Projections are checked when Run starts.
func NewRunner(store *mongostore.Store, projections ...*Projection) *Runner {
	host, _ := os.Hostname()
	b := make([]byte, 4)
	_, _ = crand.Read(b)
	r := &Runner{
		Logger:           slog.New(slog.DiscardHandler),
		BatchSize:        DefaultBatchSize,
		MaxBatchBytes:    DefaultMaxBatchBytes,
		LeaseTTL:         DefaultLeaseTTL,
		CatchUpMargin:    DefaultCatchUpMargin,
		MaxBatchDuration: DefaultMaxBatchDuration,
		MinBackoff:       DefaultMinBackoff,
		MaxBackoff:       DefaultMaxBackoff,
		store:            store,
		projections:      projections,
		byName:           map[string]*Projection{},
		owner:            fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b)),
		clock:            time.Now,
		batchClock:       time.Now,
		woken:            make(chan struct{}),
		waiting:          map[string]LeaseWait{},
		stalled:          map[string]Stall{},
	}
	for _, p := range projections {
		if p != nil {
			r.byName[p.Name] = p
		}
	}
	return r
}

// Projections returns the registered projections.
func (r *Runner) Projections() []*Projection { return r.projections }

// Projection returns a registered projection by name.
func (r *Runner) Projection(name string) (*Projection, bool) {
	p, ok := r.byName[name]
	return p, ok
}

// validate checks the runner's configuration and projections, reporting
// every problem at once.
func (r *Runner) validate() error {
	var errs []error
	seen := map[string]bool{}
	for _, p := range r.projections {
		if err := p.validate(); err != nil {
			errs = append(errs, err)
			continue
		}
		if seen[p.Name] {
			errs = append(errs, fmt.Errorf("projections: two projections named %s", p.Name))
		}
		seen[p.Name] = true
	}
	if r.BatchSize < 1 {
		errs = append(errs, fmt.Errorf("projections: BatchSize %d must be at least 1", r.BatchSize))
	}
	if r.MaxBatchBytes < 1 {
		errs = append(errs, fmt.Errorf("projections: MaxBatchBytes %d must be positive", r.MaxBatchBytes))
	}
	if r.LeaseTTL < 100*time.Millisecond {
		errs = append(errs, fmt.Errorf("projections: LeaseTTL %s is shorter than 100ms", r.LeaseTTL))
	}
	if r.CatchUpMargin < 0 {
		errs = append(errs, fmt.Errorf("projections: CatchUpMargin %s is negative", r.CatchUpMargin))
	}
	if r.MaxBatchDuration <= 0 {
		errs = append(errs, fmt.Errorf("projections: MaxBatchDuration %s must be positive", r.MaxBatchDuration))
	}
	if r.MinBackoff <= 0 || r.MaxBackoff < r.MinBackoff {
		errs = append(errs, fmt.Errorf("projections: backoff bounds %s..%s are not increasing", r.MinBackoff, r.MaxBackoff))
	}
	return errors.Join(errs...)
}

// Run applies events to every projection until ctx ends, then stops them
// cleanly, gives up their leases and returns nil. It returns an error at
// once when the configuration is invalid or the runner's collections
// cannot be created. One projection failing does not stop the others.
func (r *Runner) Run(ctx context.Context) error {
	if r.Logger == nil {
		r.Logger = slog.New(slog.DiscardHandler)
	}
	if err := r.validate(); err != nil {
		return err
	}
	r.mu.Lock()
	if r.running {
		r.mu.Unlock()
		return fmt.Errorf("projections: runner already running")
	}
	r.running = true
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.running = false
		r.mu.Unlock()
	}()
	if err := r.ensureCollections(ctx); err != nil {
		if ctx.Err() != nil {
			return nil // stopped while starting: not a failure
		}
		return err
	}
	var wg sync.WaitGroup
	for _, p := range r.projections {
		for _, build := range []bool{false, true} {
			id := p.Name
			if build {
				id += nextSuffix
			}
			w := &worker{r: r, p: p, id: id, build: build,
				log: r.Logger.With(logKeyProjection, p.Name, logKeyCheckpoint, id)}
			wg.Go(func() { w.run(ctx) })
		}
	}
	wg.Wait()
	return nil
}

// ensureCollections creates the runner's collections, every generation-1
// query collection and the indexes, outside transactions.
func (r *Runner) ensureCollections(ctx context.Context) error {
	if err := r.ensureState(ctx); err != nil {
		return err
	}
	_, err := r.positions().Indexes().CreateOne(ctx, mongo.IndexModel{
		Keys:    bson.D{{Key: "projection", Value: 1}, {Key: "generation", Value: 1}},
		Options: options.Index().SetName("projection_1_generation_1"),
	})
	if err != nil {
		return fmt.Errorf("projections: create positions index: %w", err)
	}
	for _, p := range r.projections {
		if err := r.ensureGeneration(ctx, p, 1); err != nil {
			return err
		}
	}
	return nil
}

// ensureGeneration creates a generation's query collections: MongoDB
// cannot create them inside the transactions that first write to them
// everywhere.
func (r *Runner) ensureGeneration(ctx context.Context, p *Projection, generation int64) error {
	for _, c := range p.collections() {
		if err := r.store.EnsureCollection(ctx, physicalName(c, generation)); err != nil {
			return err
		}
	}
	return nil
}

func (r *Runner) checkpoints() lungo.ICollection {
	return r.store.Database().Collection(CollectionCheckpoints)
}

func (r *Runner) positions() lungo.ICollection {
	return r.store.Database().Collection(CollectionPositions)
}

func (r *Runner) now() time.Time { return r.clock().UTC().Truncate(time.Millisecond) }

// pollInterval is how often an idle worker renews its lease or looks for
// work.
func (r *Runner) pollInterval() time.Duration { return r.LeaseTTL / 3 }

// marginBefore is where a catch-up from p starts reading.
func (r *Runner) marginBefore(p mongostore.Position) mongostore.Position {
	if p.IsZero() {
		return p
	}
	return mongostore.Position{RecordedAt: p.RecordedAt.Add(-r.CatchUpMargin)}
}

// scanBound is how far a catch-up pass reads: events recorded later than
// this commit after the change stream that follows the pass opens, so the
// stream delivers them. The store stamps recorded_at just before it
// commits; on MongoDB writers on other hosts may stamp with clocks up to
// CatchUpMargin apart, while the embedded engine has one writer process
// and one clock, give or take the settle window.
func (r *Runner) scanBound() time.Time {
	skew := settleWindow
	if r.store.Engine() == mongostore.EngineMongoDB {
		skew = r.CatchUpMargin
	}
	return time.Now().Add(skew)
}

func uuidValue(id uuid.UUID) primitive.Binary { return mongostore.UUIDValue(id) }

// backoff grows waits exponentially between MinBackoff and MaxBackoff,
// with full jitter.
type backoff struct {
	min, max, cur time.Duration
}

func (r *Runner) backoff() *backoff { return &backoff{min: r.MinBackoff, max: r.MaxBackoff} }

func (b *backoff) next() time.Duration {
	if b.cur == 0 {
		b.cur = b.min
	} else if b.cur *= 2; b.cur > b.max {
		b.cur = b.max
	}
	return b.cur/2 + rand.N(b.cur/2+1)
}

func (b *backoff) reset() { b.cur = 0 }

// majorityTime returns, on MongoDB, the cluster time of a majority read of
// the events collection: every append committed on a majority before it
// is visible to later majority reads, and every later one is in a change
// stream started at it. On the embedded engine, which has one node and no
// cluster time, it returns nil.
//
// Through mongos the operation time of a read is not a majority point on
// every shard: an append committed on another shard just before it may not
// be majority-committed there, so a majority read misses it and a stream
// started at that time skips it. There it returns that operation time less
// CatchUpMargin (cluster times count seconds): the stream re-delivers the
// margin's events, which the positions skip, and an append committed
// earlier has had CatchUpMargin to reach a majority (see the package
// documentation). The cluster's time is used, not this runner's clock, so
// a runner whose clock is skewed still starts the stream at the right
// place.
func (r *Runner) majorityTime(ctx context.Context) (*primitive.Timestamp, error) {
	if r.store.Engine() != mongostore.EngineMongoDB {
		return nil, nil
	}
	// UseSessionWithOptions, not lungo.WithSession: the latter only
	// accepts lungo's own session types and refuses the sessions of a
	// wrapped client (an instrumented or counting one).
	var at *primitive.Timestamp
	err := r.store.Client().UseSessionWithOptions(ctx, options.Session().SetCausalConsistency(true), func(sc lungo.ISessionContext) error {
		err := r.store.EventsCollection().FindOne(sc, bson.D{}, options.FindOne().SetProjection(bson.D{{Key: "_id", Value: 1}})).Err()
		if err != nil && !errors.Is(err, mongo.ErrNoDocuments) {
			return err
		}
		at = sc.OperationTime()
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read the majority time: %w", err)
	}
	if r.store.Sharded() {
		if at == nil {
			return nil, errors.New("read the majority time: mongos's reply carried no operation time")
		}
		// Whole seconds, rounded up: a sub-second margin is still one.
		margin := uint32((r.CatchUpMargin + time.Second - 1) / time.Second)
		if margin >= at.T {
			return nil, fmt.Errorf("read the majority time: operation time %v is not after CatchUpMargin %s", *at, r.CatchUpMargin)
		}
		return &primitive.Timestamp{T: at.T - margin}, nil
	}
	return at, nil
}
