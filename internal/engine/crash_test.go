package engine

// Crash tests: they prove the engine's durability promise. An acknowledged
// commit survives the death of the process (kill -9) and the loss of power;
// after either, the store holds exactly the acknowledged commits plus at
// most whole unacknowledged ones, never part of a transaction.
//
// TestCrashKill and TestCrashKillLargeTxn re-execute the test binary as a
// child (TestCrashChild) that writes to a store on disk and reports every
// commit that returned on stdout; the parent kills it with SIGKILL at a
// seeded random moment, reopens the store in-process and checks it against
// the reports, then starts the next child on the recovered store.
//
// SIGKILL keeps what the process had written into the operating system's
// page cache, so it proves atomicity, recovery and that a commit reached
// the operating system before it was acknowledged, but not that it was
// synced. TestCrashPowerLoss proves that: it runs the same workload
// in-process on Pebble's crashable in-memory file system and cuts the
// power by cloning it with only synced data (plus a random part of the
// unsynced data, as a torn write would leave it).
//
//	go test ./internal/engine -run TestCrash -v
//
// logs the seed and the numbers; ANNALS_ENGINE_CRASH_TEST_SEED repeats a
// seed's workload and kill moments (the scheduling still differs).

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/256dpi/lungo"
	"github.com/cockroachdb/pebble/v2/vfs"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
)

// Environment of the child process; TestCrashChild skips without them.
const (
	crashEnvDir   = "ANNALS_ENGINE_CRASH_DIR"
	crashEnvSeed  = "ANNALS_ENGINE_CRASH_SEED"
	crashEnvCycle = "ANNALS_ENGINE_CRASH_CYCLE"
	crashEnvMode  = "ANNALS_ENGINE_CRASH_MODE"
)

// Workload modes.
const (
	// crashModeSmall runs four writers of small transactions.
	crashModeSmall = "small"
	// crashModeBig runs one writer of large transactions beside two
	// writers of small ones.
	crashModeBig = "big"
)

// The store's layout.
const (
	crashDB       = "crash"
	crashDocs     = "docs"     // {_id: "<txn>/<i>", txn, i, k, w, p}
	crashCounters = "counters" // {_id: <writer>, n}: the writer's committed transactions
	crashSolo     = "solo"     // {_id, p}: single-document writes outside transactions
	crashIndex    = "txn_1_i_1"
	// crashBigWriter is the name of the writer of large transactions.
	crashBigWriter = "big"
	// crashBigK is the number of documents of a large transaction: about
	// 6 MB of documents and as much again in the change log, a batch over
	// Pebble's large-batch threshold (half the default memtable).
	crashBigK = 2000
)

// crashTxn is a transaction of the workload. Everything about it follows
// from the seed and its id, so the checker knows what a transaction must
// contain without being told.
type crashTxn struct {
	id     string
	writer string
	k      int  // number of documents
	large  int  // index of the ~100 KB document, or -1
	abort  bool // the writer rolls it back: it must never be seen
}

// crashTxnID names the n-th transaction of a writer in a cycle.
func crashTxnID(writer string, cycle, n int) string {
	return fmt.Sprintf("%s.c%03d.%06d", writer, cycle, n)
}

func crashHash(seed uint64, s string, i int) uint64 {
	h := fnv.New64a()
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], seed)
	h.Write(b[:])
	h.Write([]byte(s))
	binary.BigEndian.PutUint64(b[:], uint64(i))
	h.Write(b[:])
	// splitmix64 finaliser, for well-mixed low bits.
	x := h.Sum64()
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

func crashSpec(seed uint64, id string) crashTxn {
	writer, _, _ := strings.Cut(id, ".")
	h := crashHash(seed, id, -1)
	if writer == crashBigWriter {
		return crashTxn{id: id, writer: writer, k: crashBigK, large: -1, abort: h%5 == 0}
	}
	t := crashTxn{id: id, writer: writer, k: 1 + int(h%8), large: -1, abort: (h>>8)%12 == 0}
	if (h>>16)%10 == 0 {
		t.large = int((h >> 24) % uint64(t.k))
	}
	return t
}

// crashPayload is the content of the i-th document of a transaction (or of
// a single-document write, with i 0).
func crashPayload(seed uint64, id string, i int) []byte {
	h := crashHash(seed, id, i)
	var n int
	switch t := crashSpec(seed, id); {
	case t.writer == crashBigWriter:
		n = 2048 + int(h%2048)
	case t.large == i:
		n = 96<<10 + int(h%(8<<10))
	default:
		n = 8 + int(h%200)
	}
	p := make([]byte, n+7)
	r := rand.New(rand.NewPCG(h, ^h))
	for j := 0; j < n; j += 8 {
		binary.LittleEndian.PutUint64(p[j:], r.Uint64())
	}
	return p[:n]
}

// crashDoc is a document of the docs collection.
type crashDoc struct {
	ID  string `bson:"_id"`
	Txn string `bson:"txn"`
	I   int32  `bson:"i"`
	K   int32  `bson:"k"`
	W   string `bson:"w"`
	P   []byte `bson:"p"`
}

// crashReport receives what the workload did. ack is called once a commit
// returned nil: kind "ack" (a transaction, with its k) or "solo".
type crashReport interface {
	ack(kind, id string, k int)
	// committing is called when a large transaction's callback is done and
	// WithTransaction is about to commit it.
	committing(id string)
}

var errCrashRollback = errors.New("crash test: roll back on purpose")

// crashWriter commits transactions until ctx is done or a write fails.
func crashWriter(ctx context.Context, client lungo.IClient, seed uint64, cycle int, writer string, rng *rand.Rand, rep crashReport) error {
	db := client.Database(crashDB)
	docs, counters, solo := db.Collection(crashDocs), db.Collection(crashCounters), db.Collection(crashSolo)
	sess, err := client.StartSession()
	if err != nil {
		return fmt.Errorf("start session: %w", err)
	}
	defer sess.EndSession(context.Background())
	for n := 0; ctx.Err() == nil; n++ {
		t := crashSpec(seed, crashTxnID(writer, cycle, n))
		batch := make([]any, t.k)
		for i := range batch {
			batch[i] = crashDoc{ID: fmt.Sprintf("%s/%d", t.id, i), Txn: t.id, I: int32(i), K: int32(t.k), W: writer, P: crashPayload(seed, t.id, i)}
		}
		many := rng.IntN(2) == 0
		_, err := sess.WithTransaction(ctx, func(sc lungo.ISessionContext) (any, error) {
			if many {
				if _, err := docs.InsertMany(sc, batch); err != nil {
					return nil, fmt.Errorf("insert many: %w", err)
				}
			} else {
				for _, d := range batch {
					if _, err := docs.InsertOne(sc, d); err != nil {
						return nil, fmt.Errorf("insert one: %w", err)
					}
				}
			}
			if _, err := counters.UpdateOne(sc, bson.M{"_id": writer}, bson.M{"$inc": bson.M{"n": int64(1)}},
				options.Update().SetUpsert(true)); err != nil {
				return nil, fmt.Errorf("count: %w", err)
			}
			if t.abort {
				return nil, errCrashRollback
			}
			if writer == crashBigWriter {
				rep.committing(t.id)
			}
			return nil, nil
		})
		switch {
		case ctx.Err() != nil:
			return nil
		case t.abort && errors.Is(err, errCrashRollback):
			continue
		case err != nil:
			return fmt.Errorf("transaction %s: %w", t.id, err)
		case t.abort:
			return fmt.Errorf("transaction %s: committed, want the rollback error", t.id)
		}
		rep.ack("ack", t.id, t.k)
		if rng.IntN(4) == 0 {
			id := fmt.Sprintf("solo.%s.c%03d.%06d", writer, cycle, n)
			if _, err := solo.InsertOne(ctx, bson.D{{Key: "_id", Value: id}, {Key: "p", Value: crashPayload(seed, id, 0)}}); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return fmt.Errorf("insert %s: %w", id, err)
			}
			rep.ack("solo", id, 0)
		}
	}
	return nil
}

// crashWriters are the writers of a mode.
func crashWriters(mode string) []string {
	if mode == crashModeBig {
		return []string{crashBigWriter, "w0", "w1"}
	}
	return []string{"w0", "w1", "w2", "w3"}
}

// crashSetup creates the collections' unique index on a new store:
// clustered (the documents in the index, as mongostore's events) or plain.
func crashSetup(ctx context.Context, t *testing.T, opts Options, clustered bool) {
	t.Helper()
	e, err := Open(ctx, opts)
	if err != nil {
		t.Fatalf("create store: %v", err)
	}
	defer e.Close()
	o := options.Index().SetUnique(true)
	if clustered {
		o.SetStorageEngine(ClusteredIndex())
	}
	_, err = e.Client().Database(crashDB).Collection(crashDocs).Indexes().CreateOne(ctx, mongo.IndexModel{
		Keys:    bson.D{{Key: "txn", Value: 1}, {Key: "i", Value: 1}},
		Options: o,
	})
	if err != nil {
		t.Fatalf("create index: %v", err)
	}
	if err := e.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
}

// crashLedger is what the checker knows was acknowledged.
type crashLedger struct {
	acked map[string]int // transaction id → k
	solos map[string]bool
}

func newCrashLedger() *crashLedger {
	return &crashLedger{acked: map[string]int{}, solos: map[string]bool{}}
}

func (l *crashLedger) clone() *crashLedger {
	return &crashLedger{acked: maps.Clone(l.acked), solos: maps.Clone(l.solos)}
}

// crashTally is what a check found.
type crashTally struct {
	txns      int // transactions present
	unacked   int // of which were never acknowledged
	docs      int // documents in docs
	solos     int // documents in solo
	soloExtra int // of which were never acknowledged
	events    int // change-log entries read
	storeSize int64
	// present maps the transactions present to their documents.
	present map[string]int
}

// violations collects what a check found wrong, keeping the first few.
type violations struct {
	n     int
	first []string
}

func (v *violations) add(format string, args ...any) {
	v.n++
	if len(v.first) < 25 {
		v.first = append(v.first, fmt.Sprintf(format, args...))
	}
}

// crashCheck opens the store after a crash and checks it against the
// ledger: every acknowledged commit is there, whole and intact; every
// transaction there is whole; no rolled-back transaction is there; each
// writer's counter equals its transactions present; the unique index agrees
// with the documents and still refuses duplicates; the change log holds
// exactly the changes of what is there; Verify reads every block back.
func crashCheck(ctx context.Context, t *testing.T, opts Options, seed uint64, l *crashLedger, what string) crashTally {
	t.Helper()
	var v violations
	var tally crashTally
	e, err := Open(ctx, opts)
	if err != nil {
		t.Fatalf("%s: reopen after the crash: %v", what, err)
	}
	defer e.Close()
	if err := e.Verify(ctx); err != nil {
		v.add("Verify: %v", err)
	}
	db := e.Client().Database(crashDB)

	// Documents, in _id order.
	count := map[string]int{}
	ids := map[string]bool{}
	cur, err := db.Collection(crashDocs).Find(ctx, bson.D{})
	if err != nil {
		t.Fatalf("%s: find docs: %v", what, err)
	}
	for cur.Next(ctx) {
		var d crashDoc
		if err := cur.Decode(&d); err != nil {
			v.add("decode a document: %v", err)
			continue
		}
		tally.docs++
		ids[d.ID] = true
		s := crashSpec(seed, d.Txn)
		switch {
		case d.ID != fmt.Sprintf("%s/%d", d.Txn, d.I):
			v.add("document %s: txn %q i %d do not match its _id", d.ID, d.Txn, d.I)
		case s.abort:
			v.add("document %s of rolled-back transaction %s is in the store", d.ID, d.Txn)
		case int(d.K) != s.k || d.I < 0 || int(d.I) >= s.k || d.W != s.writer:
			v.add("document %s: k %d i %d w %q, want k %d w %q", d.ID, d.K, d.I, d.W, s.k, s.writer)
		case !bytes.Equal(d.P, crashPayload(seed, d.Txn, int(d.I))):
			v.add("document %s: payload of %d bytes differs from the %d written", d.ID, len(d.P), len(crashPayload(seed, d.Txn, int(d.I))))
		}
		count[d.Txn]++
	}
	if err := cur.Err(); err != nil {
		v.add("read docs: %v", err)
	}
	cur.Close(ctx)

	// Whole transactions only; every acknowledged one.
	perWriter := map[string]int64{}
	for id, n := range count {
		s := crashSpec(seed, id)
		if n != s.k {
			v.add("PARTIAL transaction %s: %d of its %d documents are in the store (acknowledged: %v)", id, n, s.k, l.acked[id] != 0)
		}
		perWriter[s.writer]++
		tally.txns++
		if _, ok := l.acked[id]; !ok {
			tally.unacked++
		}
	}
	for id, k := range l.acked {
		if s := crashSpec(seed, id); k != s.k {
			v.add("acknowledged transaction %s reported k %d, want %d", id, k, s.k)
		}
		if count[id] == 0 {
			v.add("LOST acknowledged transaction %s (%d documents)", id, k)
		}
	}

	// Counters: atomic with the documents, in another collection.
	counters := map[string]int64{}
	cur, err = db.Collection(crashCounters).Find(ctx, bson.D{})
	if err != nil {
		t.Fatalf("%s: find counters: %v", what, err)
	}
	for cur.Next(ctx) {
		var c struct {
			ID string `bson:"_id"`
			N  int64  `bson:"n"`
		}
		if err := cur.Decode(&c); err != nil {
			v.add("decode a counter: %v", err)
			continue
		}
		counters[c.ID] = c.N
	}
	if err := cur.Err(); err != nil {
		v.add("read counters: %v", err)
	}
	cur.Close(ctx)
	for _, w := range slices.Sorted(maps.Keys(perWriter)) {
		if counters[w] != perWriter[w] {
			v.add("counter of writer %s is %d, but %d of its transactions are in the store", w, counters[w], perWriter[w])
		}
	}
	for w, n := range counters {
		if _, ok := perWriter[w]; !ok && n != 0 {
			v.add("counter of writer %s is %d, but none of its transactions is in the store", w, n)
		}
	}

	// Single-document writes outside transactions.
	solos := map[string]bool{}
	cur, err = db.Collection(crashSolo).Find(ctx, bson.D{})
	if err != nil {
		t.Fatalf("%s: find solo: %v", what, err)
	}
	for cur.Next(ctx) {
		var s struct {
			ID string `bson:"_id"`
			P  []byte `bson:"p"`
		}
		if err := cur.Decode(&s); err != nil {
			v.add("decode a solo document: %v", err)
			continue
		}
		solos[s.ID] = true
		if !bytes.Equal(s.P, crashPayload(seed, s.ID, 0)) {
			v.add("solo %s: payload differs from the one written", s.ID)
		}
		if !l.solos[s.ID] {
			tally.soloExtra++
		}
	}
	if err := cur.Err(); err != nil {
		v.add("read solo: %v", err)
	}
	cur.Close(ctx)
	tally.solos = len(solos)
	for id := range l.solos {
		if !solos[id] {
			v.add("LOST acknowledged single-document write %s", id)
		}
	}

	// The unique index: the same entries as the documents, in order.
	cur, err = db.Collection(crashDocs).Find(ctx, bson.D{}, options.Find().SetHint(crashIndex).
		SetProjection(bson.D{{Key: "txn", Value: 1}, {Key: "i", Value: 1}}))
	if err != nil {
		t.Fatalf("%s: walk index %s: %v", what, crashIndex, err)
	}
	var prev crashDoc
	walked := 0
	for cur.Next(ctx) {
		var d crashDoc
		if err := cur.Decode(&d); err != nil {
			v.add("index walk: decode: %v", err)
			continue
		}
		if walked > 0 && (d.Txn < prev.Txn || d.Txn == prev.Txn && d.I <= prev.I) {
			v.add("index %s out of order: (%s, %d) after (%s, %d)", crashIndex, d.Txn, d.I, prev.Txn, prev.I)
		}
		if !ids[d.ID] {
			v.add("index %s has an entry for %s, which the collection does not hold", crashIndex, d.ID)
		}
		prev = d
		walked++
	}
	if err := cur.Err(); err != nil {
		v.add("walk index: %v", err)
	}
	cur.Close(ctx)
	if walked != len(ids) {
		v.add("index %s has %d entries, the collection %d documents", crashIndex, walked, len(ids))
	}
	if n, err := db.Collection(crashDocs).CountDocuments(ctx, bson.D{}); err != nil || int(n) != len(ids) {
		v.add("CountDocuments = %d, %v; want %d", n, err, len(ids))
	}
	// and it still refuses duplicates (the probes write nothing).
	if walked > 0 {
		probe := bson.D{{Key: "_id", Value: "probe/" + prev.ID}, {Key: "txn", Value: prev.Txn}, {Key: "i", Value: prev.I}}
		if _, err := db.Collection(crashDocs).InsertOne(ctx, probe); !mongo.IsDuplicateKeyError(err) {
			v.add("insert of a second (%s, %d): %v, want a duplicate key error on %s", prev.Txn, prev.I, err, crashIndex)
		}
		if _, err := db.Collection(crashDocs).InsertOne(ctx, bson.D{{Key: "_id", Value: prev.ID}}); !mongo.IsDuplicateKeyError(err) {
			v.add("insert of a second _id %s: %v, want a duplicate key error", prev.ID, err)
		}
	}

	// The change log, written in the same batches: one insert per document,
	// one counter change per transaction, nothing of the rest.
	cs, err := db.Watch(ctx, nil, options.ChangeStream().SetStartAtOperationTime(&primitive.Timestamp{T: 0, I: 1}))
	var ce mongo.CommandError
	switch {
	case errors.As(err, &ce) && ce.Code == codeHistoryLost:
		t.Logf("%s: the change log was trimmed; its check is skipped", what)
	case err != nil:
		v.add("open the change log from its start: %v", err)
	default:
		logged := map[string]int{}
		counterChanges := map[string]int64{}
		for cs.TryNext(ctx) {
			tally.events++
			var ev struct {
				Op  string                `bson:"operationType"`
				NS  struct{ Coll string } `bson:"ns"`
				Key struct {
					ID string `bson:"_id"`
				} `bson:"documentKey"`
			}
			if err := cs.Decode(&ev); err != nil {
				v.add("decode change: %v", err)
				continue
			}
			switch {
			case ev.Op == "insert" && ev.NS.Coll == crashDocs:
				logged["docs "+ev.Key.ID]++
			case ev.Op == "insert" && ev.NS.Coll == crashSolo:
				logged["solo "+ev.Key.ID]++
			case (ev.Op == "insert" || ev.Op == "update") && ev.NS.Coll == crashCounters:
				counterChanges[ev.Key.ID]++
			default:
				v.add("unexpected change %s on %s of %q", ev.Op, ev.NS.Coll, ev.Key.ID)
			}
		}
		if err := cs.Err(); err != nil {
			v.add("read the change log: %v", err)
		}
		cs.Close(ctx)
		for k, n := range logged {
			kind, id, _ := strings.Cut(k, " ")
			if n != 1 || kind == "docs" && !ids[id] || kind == "solo" && !solos[id] {
				v.add("change log: %d inserts of %s %s, which the store holds: %v", n, kind, id, kind == "docs" && ids[id] || kind == "solo" && solos[id])
			}
		}
		if len(logged) != len(ids)+len(solos) {
			v.add("change log has %d inserts, the store %d documents", len(logged), len(ids)+len(solos))
		}
		for w, n := range counters {
			if counterChanges[w] != n {
				v.add("change log has %d changes of counter %s, which is %d", counterChanges[w], w, n)
			}
		}
	}

	if err := e.Close(); err != nil {
		v.add("close: %v", err)
	}
	if opts.FS == nil {
		tally.storeSize = dirSize(opts.Path)
	}
	tally.present = count
	if v.n > 0 {
		t.Errorf("%s: %d violations; the first:\n  %s", what, v.n, strings.Join(v.first, "\n  "))
		t.FailNow()
	}
	return tally
}

func dirSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}

// TestCrashChild is the process the kill tests kill. It skips unless they
// started it.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashEnvDir)
	if dir == "" {
		t.Skip("the child of TestCrashKill*: runs only when they start it with " + crashEnvDir)
	}
	seed, err := strconv.ParseUint(os.Getenv(crashEnvSeed), 10, 64)
	if err != nil {
		t.Fatalf("%s: %v", crashEnvSeed, err)
	}
	cycle, err := strconv.Atoi(os.Getenv(crashEnvCycle))
	if err != nil {
		t.Fatalf("%s: %v", crashEnvCycle, err)
	}
	mode := os.Getenv(crashEnvMode)
	out := &crashStdout{}
	// Nobody kills a child whose parent died: stop after a while.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out.line("opening")
	e, err := Open(ctx, Options{Path: dir})
	if err != nil {
		out.line("error open: %v", err)
		t.Fatalf("open: %v", err)
	}
	defer e.Close()
	out.line("ready")
	var wg sync.WaitGroup
	for i, w := range crashWriters(mode) {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(seed, uint64(cycle)<<8|uint64(i)))
			if err := crashWriter(ctx, e.Client(), seed, cycle, w, rng, out); err != nil {
				out.line("error %s: %v", w, err)
				t.Errorf("writer %s: %v", w, err)
				cancel()
			}
		})
	}
	wg.Wait()
	if !t.Failed() {
		out.line("error not killed")
		t.Errorf("not killed within the minute")
	}
}

// crashStdout reports to the parent, one line per write, unbuffered.
type crashStdout struct{ mu sync.Mutex }

func (o *crashStdout) line(format string, args ...any) {
	o.mu.Lock()
	defer o.mu.Unlock()
	fmt.Fprintf(os.Stdout, format+"\n", args...)
}

func (o *crashStdout) ack(kind, id string, k int) {
	if kind == "ack" {
		o.line("ack %s %d", id, k)
	} else {
		o.line("%s %s", kind, id)
	}
}

func (o *crashStdout) committing(id string) { o.line("committing %s", id) }

// crashKillStats are the numbers of a kill test.
type crashKillStats struct {
	cycles, openKills int
	// big transactions committing (callback done, not acknowledged as
	// seen by the parent) when the kill was sent, and what became of them.
	inFlight, inFlightPresent, inFlightAbsent int
	last                                      crashTally
}

func TestCrashKill(t *testing.T) {
	cycles := 30
	if testing.Short() {
		cycles = 5
	}
	// Small transactions on a clustered collection, as appends are.
	crashKillTest(t, crashModeSmall, cycles, true)
}

// TestCrashKillLargeTxn kills the child while a transaction of 2,000
// documents (a batch of over 12 MB, written by Pebble as a flushable batch)
// is committing, with small transactions committing beside it.
func TestCrashKillLargeTxn(t *testing.T) {
	cycles := 5
	if testing.Short() {
		cycles = 2
	}
	crashKillTest(t, crashModeBig, cycles, false)
}

func crashKillTest(t *testing.T, mode string, cycles int, clustered bool) {
	switch runtime.GOOS {
	case "windows", "plan9", "js", "wasip1", "ios", "android":
		t.Skipf("needs a unix that can re-execute the test binary and SIGKILL it; %s cannot", runtime.GOOS)
	}
	start := time.Now()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("ANNALS_ENGINE_CRASH_TEST_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("ANNALS_ENGINE_CRASH_TEST_SEED: %v", err)
		}
	}
	t.Logf("seed %d (set ANNALS_ENGINE_CRASH_TEST_SEED to repeat the kill moments)", seed)
	rng := rand.New(rand.NewPCG(seed, 0x6b696c6c))
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "store")
	crashSetup(ctx, t, Options{Path: dir}, clustered)

	k := &crashKiller{t: t, dir: dir, seed: seed, mode: mode, rng: rng, ledger: newCrashLedger(),
		openDur: 20 * time.Millisecond, commitDur: 300 * time.Millisecond}
	for c := 0; c < cycles; c++ {
		k.cycle(ctx, c)
		k.stats.last = crashCheck(ctx, t, Options{Path: dir}, seed, k.ledger, fmt.Sprintf("cycle %d", c))
		k.stats.cycles++
		for _, id := range k.inFlight {
			k.stats.inFlight++
			if _, acked := k.ledger.acked[id]; acked {
				continue // its ack was already in the pipe
			}
			if k.stats.last.present[id] > 0 {
				k.stats.inFlightPresent++
			} else {
				k.stats.inFlightAbsent++
			}
		}
	}
	s := k.stats
	t.Logf("%s: %d kill/reopen cycles (%d killed while opening) in %v; %d transactions acknowledged, all present and whole; "+
		"%d present: %d never acknowledged, whole; %d documents (%d single-document writes, %d acknowledged); "+
		"%d change-log entries; store %.1f MB",
		mode, s.cycles, s.openKills, time.Since(start).Round(time.Millisecond), len(k.ledger.acked),
		s.last.txns, s.last.unacked, s.last.docs+s.last.solos, s.last.solos, len(k.ledger.solos),
		s.last.events, float64(s.last.storeSize)/(1<<20))
	if mode == crashModeBig {
		t.Logf("big transactions committing when killed: %d; unacknowledged then: %d present (whole), %d absent",
			s.inFlight, s.inFlightPresent, s.inFlightAbsent)
	}
}

// crashKiller runs the kill cycles of one store.
type crashKiller struct {
	t      *testing.T
	dir    string
	seed   uint64
	mode   string
	rng    *rand.Rand
	ledger *crashLedger
	stats  crashKillStats
	// openDur and commitDur are the last measured times from "opening" to
	// "ready" and from a big transaction's "committing" to its ack: the
	// windows the kill moment is drawn in.
	openDur, commitDur time.Duration
	// inFlight are the big transactions committing at the last kill.
	inFlight []string
}

// cycle starts a child on the store, kills it at a random moment and
// records what it acknowledged.
func (k *crashKiller) cycle(ctx context.Context, c int) {
	t := k.t
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1", "-test.v=false")
	cmd.Env = append(os.Environ(),
		crashEnvDir+"="+k.dir,
		crashEnvSeed+"="+strconv.FormatUint(k.seed, 10),
		crashEnvCycle+"="+strconv.Itoa(c),
		crashEnvMode+"="+k.mode,
	)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start child: %v", err)
	}
	lines := make(chan string, 1024)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()

	// When to kill: mostly a few ms to 300 ms into the writes; sometimes
	// while the child opens (recovering the last crash); in big mode
	// while the first or second big transaction commits.
	const (
		atReady = iota
		atOpening
		atCommitting
	)
	trigger, nth := atReady, 1
	var delay time.Duration
	switch {
	case k.mode == crashModeBig:
		trigger, nth = atCommitting, 1+k.rng.IntN(2)
		delay = time.Duration(k.rng.Int64N(int64(k.commitDur)*13/10 + 1))
	case c > 0 && k.rng.IntN(6) == 0:
		trigger = atOpening
		delay = time.Duration(k.rng.Int64N(int64(k.openDur) + 1))
	default:
		delay = 3*time.Millisecond + time.Duration(k.rng.Int64N(int64(297*time.Millisecond)))
	}

	watchdog := time.NewTimer(30 * time.Second)
	defer watchdog.Stop()
	var kill <-chan time.Time
	killed, sawReady := false, false
	var openedAt time.Time
	committingAt := map[string]time.Time{}
	var tail []string
	doKill := func() {
		if err := cmd.Process.Kill(); err != nil {
			t.Errorf("kill child: %v", err)
		}
		killed = true
		kill = nil
		k.inFlight = k.inFlight[:0]
		for id := range committingAt {
			k.inFlight = append(k.inFlight, id)
		}
		if trigger == atOpening && !sawReady {
			k.stats.openKills++
		}
	}
	arm := func(tr int) {
		if kill == nil && !killed && tr == trigger {
			if nth--; nth == 0 {
				kill = time.After(delay)
			}
		}
	}
	for lines != nil {
		select {
		case line, ok := <-lines:
			if !ok {
				lines = nil
				break
			}
			verb, rest, _ := strings.Cut(line, " ")
			switch verb {
			case "opening":
				openedAt = time.Now()
				arm(atOpening)
			case "ready":
				sawReady = true
				if !killed {
					k.openDur = time.Since(openedAt)
				}
				arm(atReady)
			case "committing":
				committingAt[rest] = time.Now()
				arm(atCommitting)
			case "ack":
				id, n, _ := strings.Cut(rest, " ")
				kk, err := strconv.Atoi(n)
				if err != nil {
					t.Fatalf("child: bad line %q", line)
				}
				if _, dup := k.ledger.acked[id]; dup {
					t.Errorf("child acknowledged %s twice", id)
				}
				k.ledger.acked[id] = kk
				if at, ok := committingAt[id]; ok {
					if !killed {
						k.commitDur = time.Since(at)
					}
					delete(committingAt, id)
				}
			case "solo":
				k.ledger.solos[rest] = true
			case "error":
				t.Errorf("cycle %d: child: %s", c, rest)
			default:
				if len(tail) == 20 {
					tail = tail[1:]
				}
				tail = append(tail, line)
			}
		case <-kill:
			doKill()
		case <-watchdog.C:
			doKill()
			t.Errorf("cycle %d: the child did not reach its kill moment in 30 s", c)
		}
	}
	werr := cmd.Wait()
	if !killed || cmd.ProcessState.ExitCode() != -1 {
		t.Fatalf("cycle %d: the child ended by itself (%v), not by the kill; its output:\n%s\n%s",
			c, werr, strings.Join(tail, "\n"), stderr.String())
	}
	if t.Failed() {
		t.FailNow()
	}
}

// TestCrashPowerLoss cuts the power under the workload: the store lives
// on Pebble's crashable in-memory file system, and a crash keeps only what
// was synced (plus a random part of the rest, as torn writes would).
// Commits acknowledged before the cut must be in the recovered store.
func TestCrashPowerLoss(t *testing.T) {
	cycles := 12
	if testing.Short() {
		cycles = 4
	}
	start := time.Now()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("ANNALS_ENGINE_CRASH_TEST_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("ANNALS_ENGINE_CRASH_TEST_SEED: %v", err)
		}
	}
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0x706f776572))
	ctx := context.Background()
	// A small memtable keeps the WAL files small: the crashable file
	// system copies a whole file at every sync.
	opts := Options{Path: "/store", FS: vfs.NewCrashableMem(), MemTableSize: 2 << 20}
	// Clustered on odd seeds: both layouts lose power.
	clustered := seed%2 == 1
	t.Logf("clustered collection: %v", clustered)
	crashSetup(ctx, t, opts, clustered)
	ledger := newCrashLedger()
	var tally crashTally
	for c := 0; c < cycles; c++ {
		fs := opts.FS.(*vfs.MemFS)
		e, err := Open(ctx, opts)
		if err != nil {
			t.Fatalf("cycle %d: open: %v", c, err)
		}
		p := &crashPower{ledger: ledger, target: 1 + rng.IntN(150), reached: make(chan struct{})}
		wctx, cancel := context.WithCancel(ctx)
		failed := make(chan error, 4)
		var wg sync.WaitGroup
		for i, w := range crashWriters(crashModeSmall) {
			wg.Go(func() {
				wrng := rand.New(rand.NewPCG(seed, uint64(c)<<8|uint64(i)))
				if err := crashWriter(wctx, e.Client(), seed, c, w, wrng, p); err != nil {
					failed <- fmt.Errorf("writer %s: %w", w, err)
				}
			})
		}
		select {
		case <-p.reached:
		case err := <-failed:
			t.Fatalf("cycle %d: %v", c, err)
		}
		// Cut the power: what is acknowledged now must survive.
		unsynced := []int{0, 0, 10, 50, 90, 100}[rng.IntN(6)]
		p.mu.Lock()
		crashed := fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: unsynced, RNG: rand.New(rand.NewPCG(seed, uint64(c)))})
		ledger = p.ledger.clone()
		p.mu.Unlock()
		cancel()
		wg.Wait()
		close(failed)
		for err := range failed {
			t.Errorf("cycle %d: %v", c, err)
		}
		if err := e.Close(); err != nil {
			t.Errorf("cycle %d: close the abandoned engine: %v", c, err)
		}
		opts.FS = crashed
		tally = crashCheck(ctx, t, opts, seed, ledger, fmt.Sprintf("cycle %d (%d%% of unsynced data kept)", c, unsynced))
	}
	t.Logf("%d power cuts in %v; %d transactions acknowledged, all present and whole; %d present: %d never acknowledged, whole; "+
		"%d documents (%d single-document writes, %d acknowledged); %d change-log entries",
		cycles, time.Since(start).Round(time.Millisecond), len(ledger.acked), tally.txns, tally.unacked,
		tally.docs+tally.solos, tally.solos, len(ledger.solos), tally.events)
}

// crashPower records acknowledgements in-process and signals when target
// of them arrived.
type crashPower struct {
	mu      sync.Mutex
	ledger  *crashLedger
	n       int
	target  int
	reached chan struct{}
}

func (p *crashPower) ack(kind, id string, k int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if kind == "ack" {
		p.ledger.acked[id] = k
	} else {
		p.ledger.solos[id] = true
	}
	if p.n++; p.n == p.target {
		close(p.reached)
	}
}

func (p *crashPower) committing(string) {}
