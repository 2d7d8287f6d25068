// Package peerbench compares annals with its peers in go test benchmarks:
// the same operations, on the same events, run in one process, so that
// ratios are read from one run.
//
// The package has no code of its own outside its tests.
//
// # Implementations
//
// Every benchmark has a sub-benchmark per implementation, named impl=…:
//
//   - annals-file: mongostore.Open(ctx, "file:DIR/annals.db"), the
//     embedded engine on disk, through the public API only (Append via
//     AppendStreams, Load, Scan, projections). Whatever engine serves
//     file: URIs is what runs: no change is needed here when it changes.
//   - annals-memory: mongostore.Open(ctx, "memory:"). Not durable; there
//     for reference.
//   - sqlite: modernc.org/sqlite (no cgo). One events table, its rowid the
//     order of the log, a unique (stream, version) index and a unique
//     event id. journal_mode=WAL, synchronous=FULL: the WAL is synced at
//     every commit. One connection, so writers queue in Go rather than spin
//     on SQLITE_BUSY; statements prepared once; one BEGIN IMMEDIATE
//     transaction per append that reads the stream's head, checks the
//     expected version and inserts.
//   - bbolt: go.etcd.io/bbolt, NoSync false (every commit syncs), the hash
//     map freelist. Buckets events (stream‖version → the event's BSON
//     document), ids (event id → key) and log (sequence → key); one
//     read-write transaction per append that finds the head with a cursor,
//     checks it, and refuses a key already present in events or ids.
//
// The peers are what a careful programmer would write for an event store
// with annals' guarantees: exact-version appends that are all or nothing
// and durable, unique (stream, version) and event ids, loads of a stream in
// version order, a global order to catch up from. Every implementation
// stores the same event: FundsDeposited, data {amount, currency, reference}
// and metadata {correlation_id} encoded once to BSON and stored as those
// very bytes (TestPeers checks annals does), a time-ordered event id, the
// stream id and type, the version, the schema version and the time. Peers'
// loads decode every event as far as mongostore.Event does.
//
// github.com/hallgren/eventsourcing and its sql event store are not among
// the peers: the module proxy refuses them ("This module version is not
// available").
//
// # Benchmarks
//
// Size-dependent benchmarks run at every N of ANNALS_BENCH_STORED (stored
// events, default 1000,100000; e.g. ANNALS_BENCH_STORED=1000,100000,1000000),
// named Name/stored=N/impl=I. A store of N events holds N/10 streams of 10
// events (stream ids scattered like random UUIDs), seeded in transactions
// of 1,000 events, once per implementation and N per process, timer
// stopped; persistent implementations seed once and give each benchmark
// that changes its store its own copy of the files.
//
// Before a benchmark starts its timer, every open store of the process is
// settled: annals waits until its engine runs no flush or compaction
// (engine.WaitIdle); the peers do no background work. Without it a
// benchmark right after seeding 1M events pays for the seed's compactions,
// on another core and on the disk, and the one after Append1 for Append1's.
//
//   - Append1: one event with an exact expected version to an existing
//     stream, each op another stream. The cost should not grow with N.
//     The store is seeded again (timer stopped) once every stream has had
//     one, so it holds between N and 1.1 N events.
//
//   - Load10: a whole stream of 10 events, chosen at random.
//
//   - Growth/op=O: Append1's or Load10's operation (O) on the smallest
//     size and on N in turn, 100 operations each per op; x-smallest is the
//     cost at N over the cost at the smallest size, from phases a fraction
//     of a second apart. Read the flat-cost ratio there: Append1 and
//     Load10 run their sizes minutes apart, and fsync time and load drift.
//
//   - Scan: every event in stored order through a cursor (Store.Scan on
//     annals); events/s.
//
//   - CatchUp: a new reader of every event brought up to date; events/s.
//     On annals a new projection (projections.New, NewRunner, a handler
//     that only counts) from Run until its checkpoint shows it live, seen
//     through a change stream on the checkpoints (nothing polls), with
//     CatchUpMargin 1 ms because the seeded history is seconds old (the
//     default margin would read it all twice). The projection's checkpoint,
//     positions and collection are deleted afterwards, timer stopped. On the
//     peers a cursor over the log with the same handler.
//
//   - Reopen: open a closed store of N events and load one stream, files in
//     the page cache. It also reports the store's size right after seeding:
//     disk-B/event (allocated blocks, as du counts), file-B/event (length of
//     the files) and bson-B/event (the events as annals' BSON documents, the
//     same for every implementation). Persistent implementations only.
//
//   - Ingest: N events into an empty store in batches of 100 (10 new
//     streams of 10 events, one transaction each); events/s overall and
//     tail-events/s over the last tenth, where a slowdown with size shows.
//     settled-events/s also counts the time until the store is settled
//     after the last commit (annals' compactions run on behind the
//     ingest): what a sustained import pays. At small N it is mostly the
//     10 ms WaitIdle takes to be sure nothing runs.
//
// TestServeRSS (only when ANNALS_RSS_EVENTS is set, e.g. 1000000) seeds a
// file: store in a child process and serves a workload over it in another
// (loads, appends, a full scan, a new projection catching up), failing if
// the serving process's peak RSS (VmHWM) reaches 300 MiB.
//
// Size-independent benchmarks append into a small store: it starts empty
// and is replaced by an empty one, timer stopped, before it would hold
// more than 1,000 events.
//
//   - Bulk100: batches of 100 events (10 new streams of 10 events), one
//     transaction each; events/s.
//   - DurableAppend/writers=W: one-event exact-version appends, each writer
//     to its own stream, W = 1 (the single durable client) and 16 (what
//     concurrency, group commit if any, buys); events/s. annals-file,
//     sqlite and bbolt have synced the event when an append returns.
//   - WritersRatio: the same two loads in turn, 500 events each per op,
//     on one store (persistent implementations): x-one-writer is the
//     sixteen writers' throughput over the one writer's, from phases a
//     fraction of a second apart. Read the ratio there: DurableAppend's
//     writers=1 and writers=16 run minutes apart, and the disk's fsync
//     time drifts between them.
//
// Stores live under ANNALS_BENCH_DIR (default the system's temporary
// directory) in one directory removed when the tests end. Durability costs
// what the disk under it costs: on tmpfs, fsync is free.
//
// # Running
//
// TestPeers and TestFixtures check every implementation's operations on a
// few events; go test ./internal/peerbench/ takes seconds. The
// comparison:
//
//	go install golang.org/x/perf/cmd/benchstat@latest # or @v0.0.0-20260908200009-22c9c6c9d4da
//	go test -run '^$' -bench . -benchmem -count 6 -timeout 0 ./internal/peerbench/ | tee /tmp/peer.txt
//	benchstat -col /impl /tmp/peer.txt
//
// benchstat -col /impl puts the implementations side by side, with
// annals-file first, as the base of the ratios. A quick run that only
// proves every benchmark works:
//
//	ANNALS_BENCH_STORED=1000 go test -run '^$' -bench . -benchtime 1x ./internal/peerbench/
//
// One benchmark, one size, some implementations (seeding happens only for
// what runs):
//
//	ANNALS_BENCH_STORED=1000000 go test -run '^$' -bench 'Load10/stored=1000000/impl=(sqlite|bbolt)' -count 6 -timeout 0 ./internal/peerbench/
//
// Seeding is not timed but takes as long as the implementation needs to
// ingest N events: with lungo's engine, which copies a collection on every
// write, annals at 100,000 events takes long and at 1,000,000 is not
// practical; hence -timeout 0. Its costs also grow during a run, so a
// fixed -benchtime (e.g. -benchtime 100x) bounds a run's time until the
// new engine lands.
//
// The numbers are only as quiet as the machine: other work on it, and on
// its disk, shows in the fsync-bound benchmarks first.
package peerbench
