package projections_test

// Benchmarks of the runner on the embedded engine (memory:), with the
// bank-account projection of the tests (one read-model write per event):
//
//	go test -run '^$' -bench . -benchmem -count 3 ./projections/
//
// BenchmarkCatchUp times a fresh runner catching up a new projection over
// benchEvents events; BenchmarkLive times one event at a time from Append
// returning to the batch that applies it committing. Both count round
// trips with a roundtrip.Client under the store. docs/performance.md says
// what the numbers mean.
//
// Every catch-up runs on a fresh engine, seeded by the store with the timer
// stopped, so each one starts from the same history and no projection. The
// live benchmark seeds one fresh engine and appends for all of b.N: the
// engine's writes and index look-ups cost about the same whatever the data
// already stored.

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/256dpi/lungo"
	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/bson"

	"github.com/annalsdb/annals/internal/engine"
	"github.com/annalsdb/annals/internal/roundtrip"
	"github.com/annalsdb/annals/mongostore"
	"github.com/annalsdb/annals/projections"
)

const (
	// benchAccounts is the number of account streams in the seeds.
	benchAccounts = 20
	// benchEvents is the number of events a catch-up applies: one
	// AccountOpened per account, then deposits and withdrawals appended
	// one per account per transaction, round robin.
	benchEvents = 2000
	// benchWait bounds every wait for the runner.
	benchWait = time.Minute
)

// benchAccountID is the stream of account i, the same in every seed.
func benchAccountID(i int) uuid.UUID {
	return uuid.MustParse(fmt.Sprintf("0190a5b2-0000-7000-8000-%012d", i+1))
}

// benchActivity is the event appended as the n-th activity on an account:
// mostly deposits, every fifth a withdrawal.
func benchActivity(n int) mongostore.EventData {
	if n%5 == 1 {
		return mongostore.EventData{Name: "Withdrawn", Data: amount{Amount: 1}}
	}
	return mongostore.EventData{Name: "Deposited", Data: amount{Amount: int64(n%7 + 1)}}
}

// benchSeed writes n events over benchAccounts accounts with the store:
// one AccountOpened per account, then activity, one event per account in
// each transaction of benchAccounts streams.
func benchSeed(ctx context.Context, store *mongostore.Store, n int) error {
	var round []mongostore.StreamAppend
	flush := func() error {
		if len(round) == 0 {
			return nil
		}
		_, err := store.AppendStreams(ctx, round...)
		round = round[:0]
		return err
	}
	for i := range n {
		acct := i % benchAccounts
		a := mongostore.StreamAppend{Stream: benchAccountID(acct), Type: "Account", Expected: mongostore.Any,
			Events: []mongostore.EventData{benchActivity(i/benchAccounts - 1)}}
		if i < benchAccounts {
			a.Expected = mongostore.NoStream
			a.Events = []mongostore.EventData{{Name: "AccountOpened", Data: map[string]any{"owner": fmt.Sprint("owner-", acct)}}}
		}
		round = append(round, a)
		if acct == benchAccounts-1 {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

// benchEngine is a fresh in-memory engine holding a seed, with a store on
// it reached through a counting client.
type benchEngine struct {
	engine *engine.Engine
	// inner is the engine's own client: what the benchmarks read through
	// it is not counted.
	inner  lungo.IClient
	client *roundtrip.Client
	store  *mongostore.Store
	closed sync.Once
}

// openBenchEngine opens a fresh engine and seeds it with n events, written
// through the engine's own client, so the counter counts none of them. The
// caller stops the timer, and closes the engine.
func openBenchEngine(tb testing.TB, n int) *benchEngine {
	tb.Helper()
	ctx := context.Background()
	eng, err := engine.Open(ctx, engine.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	inner := eng.Client()
	seeder, err := mongostore.New(ctx, inner)
	if err == nil {
		err = benchSeed(ctx, seeder, n)
	}
	if err != nil {
		_ = eng.Close()
		tb.Fatalf("seed: %v", err)
	}
	client := roundtrip.Wrap(inner)
	store, err := mongostore.New(ctx, client)
	if err != nil {
		_ = eng.Close()
		tb.Fatal(err)
	}
	return &benchEngine{engine: eng, inner: inner, client: client, store: store}
}

// uncounted returns a collection of the store's database through the
// engine's own client.
func (e *benchEngine) uncounted(name string) lungo.ICollection {
	return e.inner.Database(e.store.Database().Name()).Collection(name)
}

// close closes the store and the engine; later calls do nothing.
func (e *benchEngine) close(tb testing.TB) {
	e.closed.Do(func() {
		_ = e.store.Close(context.Background())
		if err := e.engine.Close(); err != nil {
			tb.Errorf("close engine: %v", err)
		}
	})
}

// runBench runs r until stop is called; stop waits for Run to return.
func runBench(tb testing.TB, r *projections.Runner) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("run: %v", err)
		}
	}
}

// watchState reports on the returned channel the first state of the
// projection's checkpoint among want. It watches the checkpoints
// collection through the engine's own client, which wakes on each commit,
// so nothing polls and nothing is counted.
func watchState(tb testing.TB, e *benchEngine, projection string, want ...string) (<-chan string, func()) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	coll := e.uncounted(projections.CollectionCheckpoints)
	cs, err := coll.Watch(ctx, bson.A{})
	if err != nil {
		cancel()
		tb.Fatal(err)
	}
	out := make(chan string, 1)
	var wg sync.WaitGroup
	wg.Go(func() {
		defer cs.Close(context.Background())
		for cs.Next(ctx) {
			var cp struct {
				State string `bson:"state"`
			}
			if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: projection}}).Decode(&cp); err != nil {
				continue // not created yet
			}
			if slices.Contains(want, cp.State) {
				out <- cp.State
				return
			}
		}
	})
	return out, func() { cancel(); wg.Wait() }
}

// opsDiff adds after minus before to sum.
func opsDiff(sum, before, after map[string]int64) {
	for op, n := range after {
		if d := n - before[op]; d != 0 {
			sum[op] += d
		}
	}
}

func logOps(b *testing.B, what string, ops map[string]int64, per float64) {
	if !testing.Verbose() {
		return
	}
	keys := slices.Sorted(maps.Keys(ops))
	s := ""
	for _, k := range keys {
		s += fmt.Sprintf(" %s=%.2f", k, float64(ops[k])/per)
	}
	b.Logf("%s:%s", what, s)
}

// countingAccounts is the accounts projection, counting the events its
// handler applies. The embedded engine serialises its writers and retries
// a transaction only once it has outlived its lifetime (a minute), so each
// call is one event applied.
func countingAccounts(n *atomic.Int64) *projections.Projection {
	return projections.New("accounts", accountEvents, func(ctx context.Context, tx *projections.Tx, ev mongostore.Event) error {
		n.Add(1)
		return handleAccounts(ctx, tx, ev)
	})
}

// BenchmarkCatchUp times a fresh runner, with default settings, from Run
// until the new projection is live over benchEvents events: first pass,
// second pass from CatchUpMargin before the end, change stream opened.
// With the default 5 minute margin the second pass reads all the history
// again, which is only seconds old here; margin=1ms stands for history
// older than the margin, where the second pass reads only the last events.
// One op is one catch-up.
func BenchmarkCatchUp(b *testing.B) {
	for _, margin := range []time.Duration{projections.DefaultCatchUpMargin, time.Millisecond} {
		b.Run(fmt.Sprintf("margin=%s", margin), func(b *testing.B) { benchCatchUp(b, margin) })
	}
}

func benchCatchUp(b *testing.B, margin time.Duration) {
	var applied, commits, roundTrips int64
	ops := map[string]int64{}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		handled, committed, trips := catchUpOnce(b, margin, ops, i == 0)
		applied += handled
		commits += committed
		roundTrips += trips
		b.StartTimer()
	}
	b.StopTimer()
	b.ReportMetric(float64(applied)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(applied)/float64(commits), "events/tx")
	b.ReportMetric(float64(roundTrips)/float64(commits), "roundtrips/batch")
	// The handler makes one write per event; what is left is the runner's.
	b.ReportMetric(float64(roundTrips-applied)/float64(commits), "runner-roundtrips/batch")
	logOps(b, "round trips per committed batch", ops, float64(commits))
}

// catchUpOnce seeds a fresh engine and times a fresh runner catching up
// over it, until the projection is live; it is called, and returns, with
// the timer stopped. It reports the events applied, the catch-up batches
// committed and the round trips, adds the round trips by operation to ops,
// and with check compares the read model with the events.
func catchUpOnce(b *testing.B, margin time.Duration, ops map[string]int64, check bool) (handled, committed, roundTrips int64) {
	e := openBenchEngine(b, benchEvents)
	defer e.close(b)
	var applied, commits atomic.Int64
	r := projections.NewRunner(e.store, countingAccounts(&applied))
	r.CatchUpMargin = margin
	projections.SetHook(r, func(_ context.Context, point int, _, state string) error {
		if point == projections.HookAfterCommit && state == projections.StateCatchingUp {
			commits.Add(1)
		}
		return nil
	})
	state, unwatch := watchState(b, e, "accounts", projections.StateLive, projections.StateFailed)
	e.client.Reset()
	b.StartTimer()
	stop := runBench(b, r)
	var got string
	select {
	case got = <-state:
	case <-time.After(benchWait):
	}
	b.StopTimer()
	roundTrips = e.client.Count()
	opsDiff(ops, nil, e.client.Ops())
	stop()
	unwatch()
	if got != projections.StateLive {
		b.Fatalf("catch-up ended in state %q", got)
	}
	if n := applied.Load(); n != benchEvents {
		b.Fatalf("applied %d events, want %d", n, benchEvents)
	}
	if check {
		checkTruth(b, e.store, r)
	}
	return applied.Load(), commits.Load(), roundTrips
}

// liveEnv is a runner live on a fresh engine seeded with the accounts
// opened.
type liveEnv struct {
	*benchEngine
	stop    func()
	stopped sync.Once
	// before is the round-trip count when the batch being applied began.
	before atomic.Int64
	// committed receives when each live batch committed.
	committed chan time.Time
	// batchTrips and batches add up the round trips of live batches.
	batchTrips, batches atomic.Int64
	mu                  sync.Mutex
	beforeOps, ops      map[string]int64
}

func startLive(b *testing.B) *liveEnv {
	b.Helper()
	env := &liveEnv{benchEngine: openBenchEngine(b, benchAccounts), committed: make(chan time.Time, 1), ops: map[string]int64{}}
	r := projections.NewRunner(env.store, accountsProjection())
	verbose := testing.Verbose()
	projections.SetHook(r, func(_ context.Context, point int, _, state string) error {
		if state != projections.StateLive {
			return nil
		}
		switch point {
		case projections.HookBeforeBatch:
			env.before.Store(env.client.Count())
			if verbose {
				env.mu.Lock()
				env.beforeOps = env.client.Ops()
				env.mu.Unlock()
			}
		case projections.HookAfterCommit:
			at := time.Now()
			env.batchTrips.Add(env.client.Count() - env.before.Load())
			env.batches.Add(1)
			if verbose {
				env.mu.Lock()
				opsDiff(env.ops, env.beforeOps, env.client.Ops())
				env.mu.Unlock()
			}
			select {
			case env.committed <- at:
			default:
			}
		}
		return nil
	})
	env.stop = runBench(b, r)
	b.Cleanup(func() { env.close(b) })
	waitLive(b, r, "accounts")
	return env
}

// close stops the runner and closes the engine; later calls do nothing.
func (env *liveEnv) close(tb testing.TB) {
	env.stopped.Do(env.stop)
	env.benchEngine.close(tb)
}

// BenchmarkLive appends one event at a time to a projection that is live
// and waits for the runner to apply it. One op is one append and its
// application; each batch holds one event. The lag of an event is from
// Append returning until the read model shows it, observed two ways:
//
//   - observe=hook: when the runner's transaction applying it has
//     committed, timestamped in the after-commit hook. The effects are
//     visible from the commit on, so this is an upper bound of the lag by
//     the few instructions between the commit and the hook, with no
//     polling delay and no reader competing for the CPU. After each
//     event the benchmark checks, timer stopped, that the read model
//     shows it.
//   - observe=poll: a reader queries the read model in a loop, without
//     pausing, until the account document lists the event's version. This
//     is what a client sees, but the spinning reader takes a CPU and the
//     engine from the runner, so it also measures the interference.
func BenchmarkLive(b *testing.B) {
	b.Run("observe=hook", func(b *testing.B) { benchLive(b, false) })
	b.Run("observe=poll", func(b *testing.B) { benchLive(b, true) })
}

func benchLive(b *testing.B, poll bool) {
	ctx := context.Background()
	env := startLive(b)
	accounts := env.uncounted("accounts")
	lags := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		acct := benchAccountID(i % benchAccounts)
		res, err := env.store.Append(ctx, acct, mongostore.Any, benchActivity(i/benchAccounts))
		appended := time.Now()
		if err != nil {
			b.Fatal(err)
		}
		var doc struct {
			Applied []int64 `bson:"applied"`
		}
		shows := func() bool {
			doc.Applied = doc.Applied[:0]
			if err := accounts.FindOne(ctx, bson.D{{Key: "_id", Value: acct.String()}}).Decode(&doc); err != nil {
				b.Fatal(err)
			}
			n := len(doc.Applied)
			return n > 0 && doc.Applied[n-1] == res.ToVersion
		}
		var at time.Time
		if poll {
			for deadline := appended.Add(benchWait); !shows(); {
				if time.Now().After(deadline) {
					b.Fatalf("event %d of %s not applied", res.ToVersion, acct)
				}
			}
			at = time.Now()
		}
		select {
		case committed := <-env.committed:
			if !poll {
				at = committed
			}
		case <-time.After(benchWait):
			b.Fatalf("event %d of %s not applied", res.ToVersion, acct)
		}
		lags = append(lags, max(0, at.Sub(appended)))
		if !poll {
			b.StopTimer()
			if !shows() {
				b.Fatalf("read model of %s shows versions %v after the commit, want %d last", acct, doc.Applied, res.ToVersion)
			}
			b.StartTimer()
		}
	}
	b.StopTimer()
	env.close(b)
	trips, batches := env.batchTrips.Load(), env.batches.Load()
	if batches != int64(b.N) {
		b.Fatalf("%d live batches for %d events, want one each", batches, b.N)
	}
	sort.Slice(lags, func(i, j int) bool { return lags[i] < lags[j] })
	b.ReportMetric(percentile(lags, 50), "p50-µs")
	b.ReportMetric(percentile(lags, 99), "p99-µs")
	b.ReportMetric(float64(trips)/float64(batches), "roundtrips/batch")
	logOps(b, fmt.Sprintf("round trips per live batch (%d samples)", b.N), env.ops, float64(batches))
}

// percentile returns the p-th percentile of sorted durations, by nearest
// rank, in microseconds.
func percentile(sorted []time.Duration, p int) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := (len(sorted)*p + 99) / 100
	return float64(sorted[max(i, 1)-1]) / float64(time.Microsecond)
}
