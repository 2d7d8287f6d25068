package peerbench

// Seeded stores, built once per process and reused by every benchmark of
// the same size, and the temporary directory everything lives in.

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
)

const (
	// storedEnv lists the numbers of stored events the size-dependent
	// benchmarks run at, separated by commas.
	storedEnv     = "ANNALS_BENCH_STORED"
	defaultStored = "1000,100000"
	// dirEnv is where the stores go; empty means os.TempDir(). Durability
	// is only measured on a real disk: not on tmpfs.
	dirEnv = "ANNALS_BENCH_DIR"
	// seedBatchStreams is how many streams of eventsPerStream events one
	// seeding transaction appends (1,000 events).
	seedBatchStreams = 100
	// seedEnv, set to "interleaved", seeds the stores as streams appended
	// to one event at a time over the whole seeding: each transaction
	// appends one event to each of seedBatchStreams streams, and a
	// stream's events are stored.len/eventsPerStream events apart, as in
	// a store whose aggregates live long. Unset, each stream's events are
	// appended together.
	seedEnv = "ANNALS_BENCH_SEED"
)

// Roles of fixtures: each benchmark that changes its store has its own
// copy of the seed, so that the others see the seed as it was.
const (
	// roleRead is read only: Load10, Scan.
	roleRead = "read"
	// roleAppend takes Append1's events, one per stream, and is seeded
	// again when every stream has one.
	roleAppend = "append"
	// roleCatchUp takes the projections catch-up creates on annals (and
	// deletes afterwards).
	roleCatchUp = "catchup"
	// roleReopen is the copy Reopen opens again and again.
	roleReopen = "reopen"
)

// root is the directory of every store of this process, removed when the
// tests end.
var root string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp(os.Getenv(dirEnv), "peerbench-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "peerbench:", err)
		os.Exit(2)
	}
	root = dir
	code := m.Run()
	if err := closeFixtures(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "peerbench: close fixtures:", err)
		code = max(code, 1)
	}
	if err := os.RemoveAll(root); err != nil {
		fmt.Fprintln(os.Stderr, "peerbench:", err)
		code = max(code, 1)
	}
	os.Exit(code)
}

// storedSizes returns the sizes of storedEnv, or its default.
func storedSizes(tb testing.TB) []int {
	tb.Helper()
	v := os.Getenv(storedEnv)
	if v == "" {
		v = defaultStored
	}
	var sizes []int
	for f := range strings.SplitSeq(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < eventsPerStream || n%eventsPerStream != 0 {
			tb.Fatalf("%s=%q: want sizes that are multiples of %d, e.g. %s", storedEnv, v, eventsPerStream, defaultStored)
		}
		sizes = append(sizes, n)
	}
	return sizes
}

// newDir makes a directory under root.
func newDir(tb testing.TB, name string) string {
	tb.Helper()
	dir, err := os.MkdirTemp(root, name+"-")
	if err != nil {
		tb.Fatal(err)
	}
	return dir
}

// seed appends stored events to l: stored/eventsPerStream streams (the
// first of streamIDs) of eventsPerStream events each, seedBatchStreams
// streams per transaction.
func seed(ctx context.Context, l eventLog, stored int) error {
	if os.Getenv(seedEnv) == "interleaved" {
		return seedInterleaved(ctx, l, stored)
	}
	batch := make([]streamAppend, 0, seedBatchStreams)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := l.appendStreams(ctx, batch)
		batch = batch[:0]
		return err
	}
	for _, id := range streamIDs(stored / eventsPerStream) {
		batch = append(batch, streamAppend{stream: id, expected: 0, n: eventsPerStream})
		if len(batch) == cap(batch) {
			if err := flush(); err != nil {
				return fmt.Errorf("seed: %w", err)
			}
		}
	}
	if err := flush(); err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	return nil
}

// seedInterleaved is seed with every stream's events spread over the
// whole seeding (seedEnv).
func seedInterleaved(ctx context.Context, l eventLog, stored int) error {
	ids := streamIDs(stored / eventsPerStream)
	batch := make([]streamAppend, 0, seedBatchStreams)
	for v := range eventsPerStream {
		for start := 0; start < len(ids); start += seedBatchStreams {
			batch = batch[:0]
			for _, id := range ids[start:min(start+seedBatchStreams, len(ids))] {
				batch = append(batch, streamAppend{stream: id, expected: int64(v), n: 1})
			}
			if err := l.appendStreams(ctx, batch); err != nil {
				return fmt.Errorf("seed: %w", err)
			}
		}
	}
	return nil
}

type sizeKey struct {
	impl   string
	stored int
}

type fixtureKey struct {
	sizeKey
	role string
}

// template is a persistent implementation's seeded store, closed, which
// fixtures copy. Its sizes are measured right after seeding.
type template struct {
	once sync.Once
	err  error
	dir  string
	// events and bson are what bsonBytes counted.
	events, bson int64
	// disk is the space its files take (allocated blocks, as du shows);
	// size is their length.
	disk, size int64
}

var registry struct {
	mu        sync.Mutex
	templates map[sizeKey]*template
	fixtures  map[fixtureKey]*fixture
}

// templateOf returns the seed of a persistent implementation, seeding it
// the first time.
func templateOf(tb testing.TB, im impl, stored int) *template {
	tb.Helper()
	if !im.persistent {
		tb.Fatalf("%s keeps nothing on disk: no template", im.name)
	}
	registry.mu.Lock()
	if registry.templates == nil {
		registry.templates = map[sizeKey]*template{}
	}
	k := sizeKey{im.name, stored}
	t := registry.templates[k]
	if t == nil {
		t = &template{}
		registry.templates[k] = t
	}
	registry.mu.Unlock()
	t.once.Do(func() {
		t.dir = newDir(tb, fmt.Sprintf("%s-%d-template", im.name, stored))
		t.err = t.build(context.Background(), im, stored)
	})
	if t.err != nil {
		tb.Fatalf("seed %s with %d events: %v", im.name, stored, t.err)
	}
	return t
}

func (t *template) build(ctx context.Context, im impl, stored int) error {
	l, err := im.open(ctx, t.dir)
	if err != nil {
		return err
	}
	if err := seed(ctx, l, stored); err != nil {
		_ = l.close(ctx)
		return err
	}
	if t.events, t.bson, err = l.bsonBytes(ctx); err != nil {
		_ = l.close(ctx)
		return err
	}
	if t.events != int64(stored) {
		_ = l.close(ctx)
		return fmt.Errorf("seeded %d events, want %d", t.events, stored)
	}
	if err := l.close(ctx); err != nil {
		return err
	}
	t.disk, t.size, err = diskUsage(t.dir)
	return err
}

// fixture is a seeded store a benchmark works on: a copy of the template
// for persistent implementations, a store seeded anew for the others.
type fixture struct {
	impl    impl
	stored  int
	dir     string
	log     eventLog // nil while closed
	streams []uuid.UUID
	// appended counts the events roleAppend added since seeding: one to
	// each of streams[:appended].
	appended int
	// next is appendNext's batch, kept so that an append allocates
	// nothing of the benchmark's own.
	next [1]streamAppend
}

// fixtureOf returns the open fixture of a role, building it the first
// time.
func fixtureOf(tb testing.TB, im impl, stored int, role string) *fixture {
	tb.Helper()
	registry.mu.Lock()
	if registry.fixtures == nil {
		registry.fixtures = map[fixtureKey]*fixture{}
	}
	k := fixtureKey{sizeKey{im.name, stored}, role}
	f := registry.fixtures[k]
	if f == nil {
		f = &fixture{impl: im, stored: stored, streams: streamIDs(stored / eventsPerStream)}
		registry.fixtures[k] = f
	}
	registry.mu.Unlock()
	if f.log == nil {
		if err := f.build(tb, role); err != nil {
			tb.Fatalf("%s fixture of %s with %d events: %v", role, im.name, stored, err)
		}
	}
	settleFixtures(tb)
	return f
}

// settleFixtures waits until no open fixture does background work: the
// compactions of a seed, or of the appends of the benchmark before, would
// otherwise take a core and the disk from the operations timed next.
func settleFixtures(tb testing.TB) {
	tb.Helper()
	registry.mu.Lock()
	defer registry.mu.Unlock()
	for k, f := range registry.fixtures {
		if f.log == nil {
			continue
		}
		if err := f.log.settle(context.Background()); err != nil {
			tb.Fatalf("settle %s fixture of %s with %d events: %v", k.role, k.impl, k.stored, err)
		}
	}
}

// build opens the fixture, copying the template or seeding first when it
// has no store yet.
func (f *fixture) build(tb testing.TB, role string) error {
	ctx := context.Background()
	if !f.impl.persistent {
		l, err := f.impl.open(ctx, "")
		if err != nil {
			return err
		}
		f.log, f.appended = l, 0
		return seed(ctx, l, f.stored)
	}
	if f.dir == "" {
		t := templateOf(tb, f.impl, f.stored)
		f.dir = newDir(tb, fmt.Sprintf("%s-%d-%s", f.impl.name, f.stored, role))
		if err := os.CopyFS(f.dir, os.DirFS(t.dir)); err != nil {
			return err
		}
		f.appended = 0
	}
	l, err := f.impl.open(ctx, f.dir)
	if err != nil {
		return err
	}
	f.log = l
	return nil
}

// reseed replaces the fixture's store by a fresh copy of the seed.
func (f *fixture) reseed(tb testing.TB, role string) {
	tb.Helper()
	if err := f.close(context.Background()); err != nil {
		tb.Fatal(err)
	}
	if f.dir != "" {
		if err := os.RemoveAll(f.dir); err != nil {
			tb.Fatal(err)
		}
		f.dir = ""
	}
	if err := f.build(tb, role); err != nil {
		tb.Fatalf("reseed %s: %v", f.impl.name, err)
	}
	// The other fixtures were settled before the benchmark began and
	// have not been written to since.
	if err := f.log.settle(context.Background()); err != nil {
		tb.Fatalf("settle %s after reseeding: %v", f.impl.name, err)
	}
}

// close closes the fixture's store, keeping its files.
func (f *fixture) close(ctx context.Context) error {
	if f.log == nil {
		return nil
	}
	err := f.log.close(ctx)
	f.log = nil
	return err
}

// closeFixtures closes every fixture's store.
func closeFixtures(ctx context.Context) error {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	var errs []error
	for k, f := range registry.fixtures {
		if err := f.close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("%s %d %s: %w", k.impl, k.stored, k.role, err))
		}
	}
	return errors.Join(errs...)
}

// freshStore is an empty store for the size-independent benchmarks,
// replaced by another empty one, timer stopped, before it would hold more
// than freshEvents events: those benchmarks measure appends into a small
// store (Append1 measures them into a large one), and lungo's engine,
// whose writes cost more the more it holds, stays quick enough to run.
type freshStore struct {
	im     impl
	dir    string
	log    eventLog
	events int
}

// freshEvents is the most events a freshStore holds.
const freshEvents = 1000

// newFreshStore opens an empty store of im for one benchmark run, closed
// and removed when the run ends.
func newFreshStore(tb testing.TB, im impl) *freshStore {
	tb.Helper()
	f := &freshStore{im: im}
	f.open(tb)
	tb.Cleanup(func() {
		if err := f.close(); err != nil {
			tb.Error(err)
		}
	})
	return f
}

func (f *freshStore) open(tb testing.TB) {
	tb.Helper()
	f.dir = newDir(tb, f.im.name+"-fresh")
	l, err := f.im.open(context.Background(), f.dir)
	if err != nil {
		tb.Fatal(err)
	}
	f.log, f.events = l, 0
}

func (f *freshStore) close() error {
	err := f.log.close(context.Background())
	return errors.Join(err, os.RemoveAll(f.dir))
}

// reserve returns the store to append n more events to, an empty one if
// the current one would hold more than freshEvents.
func (f *freshStore) reserve(b *testing.B, n int) eventLog {
	if f.events > 0 && f.events+n > freshEvents {
		b.StopTimer()
		if err := f.close(); err != nil {
			b.Fatal(err)
		}
		f.open(b)
		b.StartTimer()
	}
	f.events += n
	return f.log
}

// diskUsage adds up the regular files under dir: the space allocated to
// them and their length.
func diskUsage(dir string) (disk, size int64, err error) {
	err = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		disk += allocated(info)
		size += info.Size()
		return nil
	})
	return disk, size, err
}
