package engine

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/vfs"
	"go.mongodb.org/mongo-driver/bson"
)

// Defaults of Options.
const (
	// DefaultCacheSize is the cache size: what bounds the memory a store
	// uses for reads, whatever its size on disk. Pebble reserves the
	// memtables' room in it (MemTableSize each, two while one is
	// flushed), so blocks get what is left.
	DefaultCacheSize = 64 << 20
	// DefaultMemTableSize is the size of one memtable.
	DefaultMemTableSize = 16 << 20
	// DefaultOplogEntries is how many change-log entries are kept. A change
	// stream whose resume point is older gets a history-lost error and its
	// owner falls back to reading the collections.
	DefaultOplogEntries = 100_000
	// DefaultTransactionLifetime is how long a transaction may stay open
	// before the engine aborts it, as MongoDB's
	// transactionLifetimeLimitSeconds.
	DefaultTransactionLifetime = 60 * time.Second
	// VerifyOnOpenLimit is the store size up to which Open reads every
	// block back and checks its checksum; larger stores check file sizes at
	// open and every block's checksum when it is read (and Verify checks
	// them all).
	VerifyOnOpenLimit = 8 << 20
)

// Formats, written in the marker file and in the store; a store of
// another format is refused. Format 1 stores were written with Pebble's
// default comparer, format 2 ones with annals' (comparer.go), which gives
// index entries prefixes for bloom filters; both are read and written.
const (
	formatV1 = "annals-embedded/1"
	formatV2 = "annals-embedded/2"
	// formatVersion is the format of new stores.
	formatVersion = formatV2
)

// formats are the formats this release opens.
var formats = []string{formatV1, formatV2}

// MarkerFile is the file in a store directory that says what it is.
const MarkerFile = "ANNALS-STORE"

// Options configure an engine. The zero value opens an empty in-memory
// engine with the defaults.
type Options struct {
	// Path is the store directory; empty means in memory.
	Path string
	// CacheSize is the cache size in bytes, memtables included; 0 means
	// DefaultCacheSize.
	CacheSize int64
	// MemTableSize is the memtable size in bytes; 0 means
	// DefaultMemTableSize.
	MemTableSize uint64

	// format is the format of a new store (tests write format 1 stores);
	// empty means formatVersion.
	format string
	// noCompactions turns off Pebble's automatic compactions, for tests
	// that count tables.
	noCompactions bool
	// noPrefixFilters stops backward walks from passing the blocks'
	// prefix filters to Pebble, for tests that compare (blockfilter.go).
	noPrefixFilters bool
	// OplogEntries is how many change-log entries are kept; 0 means
	// DefaultOplogEntries.
	OplogEntries int64
	// OplogRetention, when set, also trims entries older than this at
	// commits.
	OplogRetention time.Duration
	// TransactionLifetime aborts transactions open longer; 0 means
	// DefaultTransactionLifetime.
	TransactionLifetime time.Duration
	// ConvertClustered names the unique indexes, as "db.collection.index",
	// that ConvertLungo builds clustered (clustered.go); the others it
	// builds as lungo had them.
	ConvertClustered []string
	// Logger receives the engine's few log lines; nil discards them.
	Logger *slog.Logger
	// FS overrides the file system (tests inject faults through it).
	FS vfs.FS
}

func (o *Options) defaults() {
	if o.CacheSize <= 0 {
		o.CacheSize = DefaultCacheSize
	}
	if o.MemTableSize == 0 {
		o.MemTableSize = DefaultMemTableSize
	}
	if o.OplogEntries <= 0 {
		o.OplogEntries = DefaultOplogEntries
	}
	if o.TransactionLifetime <= 0 {
		o.TransactionLifetime = DefaultTransactionLifetime
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Engine is an embedded document store on Pebble. It is safe for
// concurrent use. Writers are serialised by one lock; their fsyncs are
// shared (group commit); readers never wait for writers.
type Engine struct {
	opts   Options
	db     *pebble.DB
	memory bool

	// wsem is the writer lock: held by one write transaction at a time.
	wsem chan struct{}
	// cat is the published catalog.
	cat atomic.Pointer[catalog]
	// state is the engine's counters; changed only under wsem.
	state engineState

	// applied is the cluster time of the last commit applied (visible);
	// durable that of the last commit known to be synced.
	applied atomic.Uint64
	durable atomic.Uint64
	// latest is the last commit registered to be applied: set before the
	// commit is visible, so a snapshot never shows a commit after it.
	latest atomic.Uint64
	// pending tracks the applied commits that are not yet durable.
	pending pendingSet
	mu      sync.Mutex
	// changed is closed and replaced whenever durable advances.
	changed chan struct{}
	// trimmed is the position of the last change-log entry trimmed.
	trimmed atomic.Pointer[[]byte]
	// cursors are the open lazy cursors, closed when the engine closes.
	cursors map[*Cursor]struct{}
	// cursorsClosed is set once Close has closed the cursors.
	cursorsClosed bool
	// pins are the open snapshot sessions' points in time (snapshot.go).
	pins map[*pin]struct{}
	// idCeilings are the collections' _id ceilings (idceiling.go); under
	// wsem.
	idCeilings map[uint32][]byte

	// failed is set when a commit's fsync failed: its outcome is unknown,
	// so the engine accepts nothing more (reopening replays the log).
	failed atomic.Pointer[error]

	closeMu sync.RWMutex
	closed  bool
	done    chan struct{}
	// format is the store's format (formatV1 or formatV2).
	format string
	// acks records the last acknowledged commit (nil in memory).
	acks *ackRecord
	// inflight counts operations using db, so Close waits for them.
	inflight sync.WaitGroup
}

// Open opens (or creates) an engine. A store directory that exists but
// cannot be read back intact is refused with an error wrapping ErrCorrupt
// or ErrNotAStore; the engine never starts empty over existing data.
func Open(ctx context.Context, opts Options) (*Engine, error) {
	opts.defaults()
	e := &Engine{opts: opts, wsem: make(chan struct{}, 1), changed: make(chan struct{}), done: make(chan struct{})}
	fs := opts.FS
	dir := opts.Path
	if dir == "" {
		e.memory = true
		if fs == nil {
			fs = vfs.NewMem()
		}
		dir = "mem"
	}
	if fs == nil {
		fs = vfs.Default
	}
	existing, format, err := checkMarker(fs, dir, e.memory)
	if err != nil {
		return nil, err
	}
	e.format = format
	if !existing {
		e.format = cmp.Or(opts.format, formatVersion)
	}
	if !e.memory && !existing {
		// The marker first: whatever Pebble writes next is in a directory
		// that says what it is.
		if err := writeMarker(fs, dir, e.format); err != nil {
			return nil, err
		}
	}
	cache := pebble.NewCache(opts.CacheSize)
	defer cache.Unref()
	if existing {
		// Check an existing store read-only first: Pebble's read-write
		// open rewrites the manifest and flushes the log before anything
		// is checked, and a store that is then refused must be left as it
		// was.
		if err := e.check(fs, dir, cache); err != nil {
			return nil, err
		}
	}
	db, err := pebble.Open(dir, e.pebbleOptions(fs, cache, existing, false))
	if err != nil {
		if existing {
			return nil, fmt.Errorf("%w: %s: %v; restore it from a backup (annals export/import) or move it aside to start a new store", ErrCorrupt, dir, err)
		}
		return nil, fmt.Errorf("engine: open %s: %w", dir, err)
	}
	e.db = db
	if err := e.load(existing); err != nil {
		_ = db.Close()
		return nil, err
	}
	if !e.memory {
		rec, acked, err := openAckRecord(fs, dir)
		if err == nil && acked > e.state.LastTS {
			rec.f.Close()
			err = lostCommits(dir, acked, e.state.LastTS)
		}
		if err != nil {
			_ = db.Close()
			return nil, err
		}
		e.acks = rec
	}
	e.applied.Store(e.state.LastTS)
	e.latest.Store(e.state.LastTS)
	e.durable.Store(e.state.LastTS)
	e.setTrimmed()
	return e, nil
}

// comparer is the Pebble comparer of the store's format.
func (e *Engine) comparer() *pebble.Comparer {
	if e.format == formatV1 {
		return pebble.DefaultComparer
	}
	return annalsComparer
}

// pebbleOptions are the Pebble options of a store.
func (e *Engine) pebbleOptions(fs vfs.FS, cache *pebble.Cache, existing, readOnly bool) *pebble.Options {
	logger := e.opts.Logger
	o := &pebble.Options{
		// Bloom filters let point reads (document fetches, unique checks)
		// skip the tables that cannot hold the key.
		Levels: func() (l [7]pebble.LevelOptions) {
			for i := range l {
				l[i].FilterPolicy = bloom.FilterPolicy(10)
			}
			return l
		}(),
		FS:       fs,
		Comparer: e.comparer(),
		// Backward walks of one index prefix skip the blocks without it
		// (blockfilter.go).
		BlockPropertyCollectors: []func() pebble.BlockPropertyCollector{newPrefixCollector},
		// A memory: store keeps nothing past its process, so a log to
		// recover it from is work for nothing.
		DisableWAL:                  e.memory,
		Cache:                       cache,
		MemTableSize:                e.opts.MemTableSize,
		DisableAutomaticCompactions: e.opts.noCompactions,
		ErrorIfNotExists:            existing,
		ReadOnly:                    readOnly,
		FormatMajorVersion:          pebble.FormatNewest,
		Logger:                      quietLogger{logger},
		EventListener: &pebble.EventListener{
			// Pebble's default stops the process on damaged data; the
			// engine fails the read that met it instead (ErrCorrupt)
			// and logs where it is.
			DataCorruption: func(info pebble.DataCorruptionInfo) {
				logger.Error("store data is damaged", "path", info.Path, "details", info.Details)
			},
			BackgroundError: func(err error) {
				logger.Error("store background work failed", "error", err)
			},
		},
	}
	// Keys that share a comparer prefix (an index's entries for one value
	// of its first field: a stream's events) are not versions of one key:
	// Pebble's default would move every value after the first into value
	// blocks, and each stream load would read one more block per table.
	o.Experimental.SpanPolicyFunc = func([]byte) (pebble.SpanPolicy, []byte, error) {
		return pebble.SpanPolicy{DisableValueSeparationBySuffix: true}, nil, nil
	}
	return o
}

// writeOptions are the options of every commit: synced to the log, except
// in memory, where there is no log.
func (e *Engine) writeOptions() *pebble.WriteOptions {
	if e.memory {
		return pebble.NoSync
	}
	return pebble.Sync
}

// check opens an existing store read-only and checks it: the format, the
// catalog, that it recovers every acknowledged commit, its files, and (for
// small stores) every block.
func (e *Engine) check(fs vfs.FS, dir string, cache *pebble.Cache) error {
	db, err := pebble.Open(dir, e.pebbleOptions(fs, cache, true, true))
	if err != nil {
		return fmt.Errorf("%w: %s: %v; restore it from a backup (annals export/import) or move it aside to start a new store", ErrCorrupt, dir, err)
	}
	probe := &Engine{opts: e.opts, db: db, format: e.format, done: make(chan struct{})}
	err = probe.load(true)
	if err == nil {
		err = probe.verifyFiles(fs, dir)
	}
	if err == nil {
		var acked uint64
		acked, err = readAckRecord(fs, dir)
		if err == nil && acked > probe.state.LastTS {
			err = lostCommits(dir, acked, probe.state.LastTS)
		}
	}
	return errors.Join(err, db.Close())
}

// lostCommits is the error for a store that recovered to before commits
// it had acknowledged.
func lostCommits(dir string, acked, recovered uint64) error {
	return fmt.Errorf("%w: %s: the store recovers to the commit at %v, but commits up to %v were acknowledged: "+
		"its log is damaged, truncated or missing; restore the store from a backup", ErrCorrupt, dir, tsValue(recovered), tsValue(acked))
}

// checkMarker reports whether dir holds an existing store, and refuses a
// directory that holds something else.
func checkMarker(fs vfs.FS, dir string, memory bool) (existing bool, format string, err error) {
	if memory {
		return false, "", nil
	}
	existing, format, err = readMarker(fs, dir)
	return existing, format, err
}

// readMarker is checkMarker for a store on disk.
func readMarker(fs vfs.FS, dir string) (bool, string, error) {
	st, err := fs.Stat(dir)
	if errors.Is(err, os.ErrNotExist) {
		if err := fs.MkdirAll(dir, 0o700); err != nil {
			return false, "", fmt.Errorf("engine: create %s: %w", dir, err)
		}
		return false, "", nil
	}
	if err != nil {
		return false, "", fmt.Errorf("engine: %s: %w", dir, err)
	}
	if !st.IsDir() {
		return false, "", fmt.Errorf("%w: %s is a file, not a store directory", ErrNotAStore, dir)
	}
	f, err := fs.Open(fs.PathJoin(dir, MarkerFile))
	if errors.Is(err, os.ErrNotExist) {
		entries, lerr := fs.List(dir)
		if lerr == nil && len(entries) == 0 {
			return false, "", nil
		}
		return false, "", fmt.Errorf("%w: %s has no %s file; if it is an annals store its marker was lost: "+
			"restore it from a backup, otherwise point annals at an empty or new path", ErrCorrupt, dir, MarkerFile)
	}
	if err != nil {
		return false, "", fmt.Errorf("engine: %s: %w", dir, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 4096))
	if err != nil {
		return false, "", fmt.Errorf("engine: read %s: %w", filepath.Join(dir, MarkerFile), err)
	}
	format := ""
	for _, f := range formats {
		if string(b) == markerContent(f) {
			format = f
		}
	}
	if format == "" {
		return false, "", fmt.Errorf("%w: %s: marker %s is not one of %q; the store was damaged or written by another release",
			ErrCorrupt, dir, MarkerFile, formats)
	}
	// A creation interrupted before Pebble wrote anything leaves the
	// marker alone (or with Pebble's lock and options files): nothing was
	// ever committed, so it is opened as new. Table or log files without a
	// manifest are a damaged store.
	entries, err := fs.List(dir)
	if err != nil {
		return false, "", fmt.Errorf("engine: %s: %w", dir, err)
	}
	manifest, data := false, false
	for _, name := range entries {
		switch {
		case strings.HasPrefix(name, "MANIFEST-"):
			manifest = true
		case strings.HasSuffix(name, ".sst"), strings.HasSuffix(name, ".log"), strings.HasSuffix(name, ".blob"):
			data = true
		}
	}
	if !manifest && data {
		return false, "", fmt.Errorf("%w: %s has data files but no manifest; restore the store from a backup", ErrCorrupt, dir)
	}
	return manifest, format, nil
}

func markerContent(format string) string {
	return format + "\nThis directory is an annals embedded store (Pebble). Open it only through annals.\n"
}

func writeMarker(fs vfs.FS, dir, format string) error {
	tmp := fs.PathJoin(dir, MarkerFile+".tmp")
	f, err := fs.Create(tmp, vfs.WriteCategoryUnspecified)
	if err != nil {
		return fmt.Errorf("engine: write marker: %w", err)
	}
	if _, err := io.WriteString(f, markerContent(format)); err != nil {
		f.Close()
		return fmt.Errorf("engine: write marker: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("engine: sync marker: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("engine: write marker: %w", err)
	}
	if err := fs.Rename(tmp, fs.PathJoin(dir, MarkerFile)); err != nil {
		return fmt.Errorf("engine: write marker: %w", err)
	}
	d, err := fs.OpenDir(dir)
	if err != nil {
		return fmt.Errorf("engine: sync %s: %w", dir, err)
	}
	defer d.Close()
	return d.Sync()
}

// load reads the format, the counters and the catalog.
func (e *Engine) load(existing bool) error {
	corrupt := func(what string, err error) error {
		return fmt.Errorf("%w: %s: %s: %v", ErrCorrupt, e.opts.Path, what, err)
	}
	v, closer, err := e.db.Get(metaFormat)
	switch {
	case errors.Is(err, pebble.ErrNotFound):
		if existing {
			return corrupt("format record", errors.New("missing"))
		}
		b := e.db.NewBatch()
		_ = b.Set(metaFormat, []byte(e.format), nil)
		e.state = engineState{NextColl: 1}
		raw, _ := e.state.marshal()
		_ = b.Set(metaState, raw, nil)
		if err := b.Commit(e.writeOptions()); err != nil {
			return fmt.Errorf("engine: initialise: %w", err)
		}
		e.cat.Store(&catalog{colls: map[string]*collMeta{}})
		return nil
	case err != nil:
		return corrupt("format record", err)
	}
	format := string(v)
	closer.Close()
	if format != e.format {
		return fmt.Errorf("%w: %s: format %q, but its marker says %q", ErrCorrupt, e.opts.Path, format, e.format)
	}
	v, closer, err = e.db.Get(metaState)
	if err != nil {
		return corrupt("state record", err)
	}
	err = bson.Unmarshal(v, &e.state)
	closer.Close()
	if err != nil {
		return corrupt("state record", err)
	}
	cat := &catalog{colls: map[string]*collMeta{}}
	it, err := e.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixCatalog}, UpperBound: []byte{prefixCatalog + 1}})
	if err != nil {
		return corrupt("catalog", err)
	}
	for it.First(); it.Valid(); it.Next() {
		m := &collMeta{}
		if err := bson.Unmarshal(it.Value(), m); err != nil {
			it.Close()
			return corrupt("catalog entry", err)
		}
		if !bytes.Equal(it.Key(), catalogKey(m.DB, m.Name)) {
			it.Close()
			return corrupt("catalog entry", fmt.Errorf("key %q names another collection than %s", it.Key(), m.ns()))
		}
		cat.colls[catName(m.DB, m.Name)] = m
	}
	if err := it.Close(); err != nil {
		return corrupt("catalog", err)
	}
	e.cat.Store(cat)
	return nil
}

// verifyFiles checks that every table file the store lists is there with
// its size, and for small stores reads every block back.
func (e *Engine) verifyFiles(fs vfs.FS, dir string) error {
	tables, err := e.db.SSTables()
	if err != nil {
		return fmt.Errorf("%w: %s: list tables: %v", ErrCorrupt, dir, err)
	}
	var total uint64
	for _, level := range tables {
		for _, t := range level {
			name := fs.PathJoin(dir, fmt.Sprintf("%06d.sst", uint64(t.BackingSSTNum)))
			st, err := fs.Stat(name)
			if err != nil {
				return fmt.Errorf("%w: %s: table %s: %v; restore the store from a backup", ErrCorrupt, dir, name, err)
			}
			if !t.Virtual && uint64(st.Size()) != t.Size {
				return fmt.Errorf("%w: %s: table %s is %d bytes, the store expects %d (truncated?); restore the store from a backup",
					ErrCorrupt, dir, name, st.Size(), t.Size)
			}
			total += t.Size
		}
	}
	if total <= VerifyOnOpenLimit {
		if err := e.Verify(context.Background()); err != nil {
			return err
		}
	}
	return nil
}

// Verify reads every key and value of the store, which checks the checksum
// of every block. It reports the first damage found, wrapping ErrCorrupt.
func (e *Engine) Verify(ctx context.Context) error {
	if err := e.enter(); err != nil {
		return err
	}
	defer e.inflight.Done()
	it, err := e.db.NewIter(nil)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrCorrupt, e.opts.Path, err)
	}
	n := 0
	for it.First(); it.Valid(); it.Next() {
		if _, err := it.ValueAndErr(); err != nil {
			it.Close()
			return fmt.Errorf("%w: %s: %v", ErrCorrupt, e.opts.Path, err)
		}
		if n++; n%4096 == 0 && ctx.Err() != nil {
			it.Close()
			return ctx.Err()
		}
	}
	if err := it.Close(); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrCorrupt, e.opts.Path, err)
	}
	return nil
}

// setTrimmed publishes the trimmed position of e.state. Under wsem.
func (e *Engine) setTrimmed() {
	if e.state.TrimmedTS == 0 && e.state.TrimmedOp == 0 {
		return
	}
	k := oplogKey(e.state.TrimmedTS, e.state.TrimmedOp)
	e.trimmed.Store(&k)
}

// enter registers an operation; it fails once the engine is closed.
func (e *Engine) enter() error {
	e.closeMu.RLock()
	defer e.closeMu.RUnlock()
	if e.closed {
		return ErrClosed
	}
	if err := e.failed.Load(); err != nil {
		return *err
	}
	e.inflight.Add(1)
	return nil
}

// Close flushes and closes the store. Operations in progress finish first;
// later ones fail with ErrClosed. Close is idempotent.
func (e *Engine) Close() error {
	e.closeMu.Lock()
	if e.closed {
		e.closeMu.Unlock()
		return nil
	}
	e.closed = true
	close(e.done)
	e.closeMu.Unlock()
	e.mu.Lock()
	e.cursorsClosed = true
	open := make([]*Cursor, 0, len(e.cursors))
	for c := range e.cursors {
		open = append(open, c)
	}
	e.mu.Unlock()
	for _, c := range open {
		c.closeEngine()
	}
	e.inflight.Wait()
	e.releasePins()
	var err error
	if f := e.failed.Load(); f != nil {
		// The log could not be written: flushing would fail the same way
		// (Pebble does not survive it); the next open replays the log.
		return *f
	}
	if !e.memory {
		err = e.db.Flush()
	}
	err = errors.Join(err, e.db.Close())
	if e.acks != nil {
		err = errors.Join(err, e.acks.close())
	}
	return err
}

// Memory reports whether the engine keeps its data in memory only.
func (e *Engine) Memory() bool { return e.memory }

// lock takes the writer lock.
func (e *Engine) lock(ctx context.Context) error {
	select {
	case e.wsem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-e.done:
		return ErrClosed
	}
}

func (e *Engine) unlock() { <-e.wsem }

// nextTS returns a cluster time after every earlier one: seconds since the
// epoch in the high half, an increment in the low half. Under wsem.
func (e *Engine) nextTS() uint64 {
	now := uint64(time.Now().Unix()) << 32
	ts := e.state.LastTS + 1
	if now > ts {
		ts = now
	}
	return ts
}

// fail puts the engine in the failed state and wakes everyone waiting.
func (e *Engine) fail(err error) {
	// %w twice: callers match ErrFailed, and the cause too (a full disk
	// is syscall.ENOSPC, which the server reports as such).
	err = fmt.Errorf("%w: the store could not write or sync a commit to disk (%w); restart annals to recover from the log", ErrFailed, err)
	if e.failed.CompareAndSwap(nil, &err) {
		e.opts.Logger.Error("store failed", "error", err)
	}
	e.mu.Lock()
	close(e.changed)
	e.changed = make(chan struct{})
	e.mu.Unlock()
}

// markDurable records that every commit up to ts is synced and wakes
// change streams.
func (e *Engine) markDurable(ts uint64) {
	e.mu.Lock()
	if ts > e.durable.Load() {
		e.durable.Store(ts)
		e.pending.release(ts)
		if e.acks != nil {
			if err := e.acks.write(ts); err != nil {
				e.opts.Logger.Error("record acknowledged commits", "error", err)
			}
		}
		close(e.changed)
		e.changed = make(chan struct{})
	}
	e.mu.Unlock()
}

// changedChan returns a channel closed when durable next advances.
func (e *Engine) changedChan() <-chan struct{} {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.changed
}

// waitDurable waits until everything visible now is synced, so that an
// answer does not depend on a commit a crash could still take away.
func (e *Engine) waitDurable(ctx context.Context) error {
	return e.waitUntil(ctx, e.latest.Load())
}

// waitUntil waits until every commit up to target is synced.
func (e *Engine) waitUntil(ctx context.Context, target uint64) error {
	for e.durable.Load() < target {
		ch := e.changedChan()
		if e.durable.Load() >= target {
			return nil
		}
		if err := e.failed.Load(); err != nil {
			return *err
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-e.done:
			return ErrClosed
		}
	}
	return nil
}

// quietLogger sends Pebble's informational lines to debug and its errors
// to error.
type quietLogger struct{ l *slog.Logger }

func (q quietLogger) Infof(format string, args ...any) {
	q.l.Debug(fmt.Sprintf(format, args...), "component", "pebble")
}
func (q quietLogger) Errorf(format string, args ...any) {
	q.l.Error(fmt.Sprintf(format, args...), "component", "pebble")
}
func (q quietLogger) Fatalf(format string, args ...any) {
	q.l.Error(fmt.Sprintf(format, args...), "component", "pebble")
	panic(fmt.Sprintf(format, args...))
}
