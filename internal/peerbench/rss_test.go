package peerbench

// TestServeRSS checks annals' promise that a file: store's memory is
// bounded by its cache, not by its data: a store of 1,000,000 events
// serves with a peak RSS under 300 MiB. It runs every step in a child
// process of its own (the test binary again, told its role by the
// environment), so that each peak is that step's alone:
//
//   - seed: creates a file: store and appends N events to it, 10-event
//     streams in transactions of 1,000 events (as the benchmarks seed),
//     through mongostore; the peak while writing.
//   - floor: opens the store and loads one stream; what serving costs
//     before any work.
//   - serve: opens the store and serves rssLoads loads of random streams,
//     rssAppends one-event exact-version appends, a scan of every event,
//     and the catch-up of a new projection until it is live; then, as the
//     benchmarks' catch-up does, deletes what the projection left: its
//     checkpoint, its collection and its positions, one per stream, in
//     one DeleteMany (the runner's rebuild deletes a generation's
//     positions the same way). That is a phase of its own, and counts.
//
// Each child prints, as one line on stdout, its memory after each phase:
// peak and current RSS from /proc/self/status (VmHWM, VmRSS, RssAnon,
// RssFile) and the Go runtime's MemStats. The parent logs them and fails
// if floor or serve peaked at rssLimit or more. It is skipped unless
// ANNALS_RSS_EVENTS is set, and needs Linux (/proc). A million events
// takes minutes:
//
//	ANNALS_RSS_EVENTS=1000000 go test -run TestServeRSS -v -timeout 0 ./internal/peerbench/
//
// With ANNALS_RSS_HEAPPROFILE=DIR, each child also writes Go heap
// profiles: DIR/ROLE.heap at the end of its work, and DIR/ROLE-peak.heap
// near the peak of its Go heap (go tool pprof -sample_index=inuse_space
// DIR/serve-peak.heap). Memory Pebble allocates outside the Go heap (its
// block cache and memtables, when built with cgo) shows in RssAnon but
// not in the profiles; the log estimates it as RssAnon less what the Go
// runtime holds.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

const (
	// rssEventsEnv is the number of events TestServeRSS stores; unset, it
	// is skipped.
	rssEventsEnv = "ANNALS_RSS_EVENTS"
	// rssProfileEnv is a directory the children write heap profiles to.
	rssProfileEnv = "ANNALS_RSS_HEAPPROFILE"
	// rssRoleEnv and rssDirEnv tell a child its role and the store's
	// directory; set by TestServeRSS only.
	rssRoleEnv = "ANNALS_RSS_ROLE"
	rssDirEnv  = "ANNALS_RSS_DIR"
	// rssLinePrefix starts the line a child reports on.
	rssLinePrefix = "peerbench-rss: "

	// rssLimit is the peak RSS a serving process stays under.
	rssLimit = 300 << 20
	// rssLoads and rssAppends are the serve child's loads and appends.
	rssLoads   = 20_000
	rssAppends = 5_000
)

// rssRoles are the children, in the order they run, and whether rssLimit
// applies to them.
var rssRoles = []struct {
	name  string
	limit bool
	run   func(ctx context.Context, r *rssRecorder, dir string, stored int) error
}{
	{"seed", false, rssSeed},
	{"floor", true, rssFloor},
	{"serve", true, rssServe},
}

func TestServeRSS(t *testing.T) {
	if role := os.Getenv(rssRoleEnv); role != "" {
		rssChild(t, role)
		return
	}
	v := os.Getenv(rssEventsEnv)
	if v == "" {
		t.Skipf("set %s to the number of events to store (e.g. %s=1000000) to measure the RSS of a file: store serving them", rssEventsEnv, rssEventsEnv)
	}
	stored := rssStored(t)
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skipf("%s needs /proc/self/status (Linux): %v", rssEventsEnv, err)
	}
	dir := newDir(t, "rss")
	t.Cleanup(func() {
		if err := os.RemoveAll(dir); err != nil {
			t.Error(err)
		}
	})
	t.Logf("%d events, limit %s (VmHWM of floor and serve)", stored, mib(rssLimit))
	for _, role := range rssRoles {
		rep := runRSSChild(t, role.name, dir)
		for _, p := range rep.Phases {
			t.Logf("%-5s %s", role.name, p)
		}
		if role.name == "seed" {
			if disk, size, err := diskUsage(dir); err == nil {
				t.Logf("seed  store on disk: %s allocated, %s of files", mib(disk), mib(size))
			}
		}
		peak := rep.peak()
		t.Logf("%-5s peak RSS (VmHWM) %s, current RSS (VmRSS, end of work) %s, took %.1fs",
			role.name, mib(peak), mib(rep.current().RSS), rep.Phases[len(rep.Phases)-1].Seconds)
		if role.limit && peak >= rssLimit {
			t.Errorf("%s: peak RSS %s serving %d events (over the limit from phase %q on), want under %s",
				role.name, mib(peak), stored, rep.firstOver(rssLimit), mib(rssLimit))
		}
	}
}

// rssStored parses rssEventsEnv.
func rssStored(tb testing.TB) int {
	tb.Helper()
	v := os.Getenv(rssEventsEnv)
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < eventsPerStream || n%eventsPerStream != 0 {
		tb.Fatalf("%s=%q: want a number of events that is a multiple of %d, e.g. 1000000", rssEventsEnv, v, eventsPerStream)
	}
	return n
}

// runRSSChild runs the test binary again as the child of role, on the
// store in dir, and returns what it reported.
func runRSSChild(t *testing.T, role, dir string) rssReport {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestServeRSS$", "-test.count=1")
	cmd.Env = append(os.Environ(), rssRoleEnv+"="+role, rssDirEnv+"="+dir)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s child: %v\n%s%s", role, err, stdout.Bytes(), stderr.Bytes())
	}
	sc := bufio.NewScanner(&stdout)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), rssLinePrefix)
		if !ok {
			continue
		}
		var rep rssReport
		if err := json.Unmarshal([]byte(line), &rep); err != nil {
			t.Fatalf("%s child's report %q: %v", role, line, err)
		}
		if rep.Role != role || len(rep.Phases) == 0 {
			t.Fatalf("%s child reported %q with %d phases", role, rep.Role, len(rep.Phases))
		}
		return rep
	}
	t.Fatalf("%s child printed no %q line:\n%s%s", role, rssLinePrefix, stdout.Bytes(), stderr.Bytes())
	return rssReport{}
}

// rssChild is the child process of role: it does its work on the store
// of rssDirEnv and prints its report.
func rssChild(t *testing.T, role string) {
	ctx := t.Context()
	dir := os.Getenv(rssDirEnv)
	stored := rssStored(t)
	r := newRSSRecorder(role)
	var run func(context.Context, *rssRecorder, string, int) error
	for _, c := range rssRoles {
		if c.name == role {
			run = c.run
		}
	}
	if run == nil || dir == "" {
		t.Fatalf("%s=%q %s=%q: unknown role or no directory", rssRoleEnv, role, rssDirEnv, dir)
	}
	err := run(ctx, r, dir, stored)
	if err := errors.Join(err, r.stop()); err != nil {
		t.Fatalf("%s: %v", role, err)
	}
	line, err := json.Marshal(r.report)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("%s%s\n", rssLinePrefix, line)
}

// rssSeed creates the store and appends stored events to it, marking
// each tenth.
func rssSeed(ctx context.Context, r *rssRecorder, dir string, stored int) error {
	l, err := openAnnalsFile(ctx, dir)
	if err != nil {
		return err
	}
	r.mark("open")
	streams := streamIDs(stored / eventsPerStream)
	for i := range 10 {
		part := streams[len(streams)*i/10 : len(streams)*(i+1)/10]
		if _, _, err := ingest(ctx, l, part, seedBatchStreams, math.MaxInt); err != nil {
			_ = l.close(ctx)
			return fmt.Errorf("seed: %w", err)
		}
		r.mark(fmt.Sprintf("seed %d%%", (i+1)*10))
	}
	return r.finish(ctx, l)
}

// rssFloor opens the store and loads one stream.
func rssFloor(ctx context.Context, r *rssRecorder, dir string, stored int) error {
	l, err := openAnnalsFile(ctx, dir)
	if err != nil {
		return err
	}
	r.mark("open")
	if n, _, err := l.load(ctx, streamIDs(1)[0]); err != nil || n != eventsPerStream {
		_ = l.close(ctx)
		return fmt.Errorf("load: %d events, %v; want %d", n, err, eventsPerStream)
	}
	r.mark("load 1")
	return r.finish(ctx, l)
}

// rssServe opens the store and serves loads, appends, a scan and a
// projection's catch-up, then drops the projection.
func rssServe(ctx context.Context, r *rssRecorder, dir string, stored int) error {
	l, err := openAnnalsFile(ctx, dir)
	if err != nil {
		return err
	}
	r.mark("open")
	if err := rssWorkload(ctx, r, l, streamIDs(stored/eventsPerStream)); err != nil {
		_ = l.close(ctx)
		return err
	}
	return r.finish(ctx, l)
}

func rssWorkload(ctx context.Context, r *rssRecorder, l eventLog, streams []uuid.UUID) error {
	rng := rand.New(rand.NewPCG(1, uint64(len(streams))))
	for range rssLoads {
		n, v, err := l.load(ctx, streams[rng.IntN(len(streams))])
		if err != nil {
			return fmt.Errorf("load: %w", err)
		}
		if n != eventsPerStream || v != eventsPerStream {
			return fmt.Errorf("loaded %d events up to version %d, want %d", n, v, eventsPerStream)
		}
	}
	r.mark(fmt.Sprintf("load %d", rssLoads))

	batch := make([]streamAppend, 1)
	for i := range rssAppends {
		batch[0] = streamAppend{stream: streams[i%len(streams)], expected: int64(eventsPerStream + i/len(streams)), n: 1}
		if err := l.appendStreams(ctx, batch); err != nil {
			return fmt.Errorf("append %d: %w", i, err)
		}
	}
	r.mark(fmt.Sprintf("append %d", rssAppends))

	want := len(streams)*eventsPerStream + rssAppends
	var scanned int
	if err := l.scan(ctx, func(uuid.UUID, int64) error { scanned++; return nil }); err != nil {
		return fmt.Errorf("scan: %w", err)
	}
	if scanned != want {
		return fmt.Errorf("scanned %d events, want %d", scanned, want)
	}
	r.mark("scan")

	// catchUp stops its timer when the projection is live, then deletes
	// what the projection left (checkpoint, its positions: one per
	// stream, collection): two phases.
	applied, err := l.catchUp(ctx, markTimer{r, "project"})
	if err != nil {
		return fmt.Errorf("catch up: %w", err)
	}
	if applied != int64(want) {
		return fmt.Errorf("projection applied %d events, want %d", applied, want)
	}
	r.mark("drop proj.")
	return nil
}

// markTimer is the timer of a catch-up that marks a phase when it stops.
type markTimer struct {
	r     *rssRecorder
	phase string
}

func (markTimer) StartTimer()  {}
func (m markTimer) StopTimer() { m.r.mark(m.phase) }

// rssReport is what a child reports: its memory after each phase.
type rssReport struct {
	Role   string
	Phases []memSnapshot
	// Current is the index in Phases of the snapshot at the end of the
	// work, before the store closed.
	Current int
}

// current is the snapshot at the end of the work.
func (r rssReport) current() memSnapshot { return r.Phases[r.Current] }

// firstOver is the first phase whose VmHWM reached limit.
func (r rssReport) firstOver(limit int64) string {
	for _, s := range r.Phases {
		if s.HWM >= limit {
			return s.Phase
		}
	}
	return ""
}

// peak is the highest VmHWM of the snapshots. The kernel updates a
// process's RSS counters in batches, so a later VmHWM can read a little
// lower than an earlier one.
func (r rssReport) peak() int64 {
	var p int64
	for _, s := range r.Phases {
		p = max(p, s.HWM)
	}
	return p
}

// memSnapshot is a process's memory at one moment: the kernel's view
// (bytes, from /proc/self/status) and the Go runtime's.
type memSnapshot struct {
	Phase   string
	Seconds float64 // since the child started
	// HWM is the peak RSS so far (VmHWM); RSS the current one (VmRSS),
	// RSSAnon and RSSFile two of its parts.
	HWM, RSS, RSSAnon, RSSFile int64
	// From runtime.MemStats.
	HeapAlloc, HeapInuse, HeapSys, HeapReleased, Sys uint64
	NumGC                                            uint32
}

// nonGo estimates the resident memory the Go runtime does not hold:
// anonymous RSS less what the runtime obtained and has not released.
func (m memSnapshot) nonGo() int64 {
	return m.RSSAnon - int64(m.Sys-m.HeapReleased)
}

func (m memSnapshot) String() string {
	return fmt.Sprintf("%-11s %6.1fs  peak %s  rss %s (anon %s, file %s)  go: heap alloc %s inuse %s sys %s, runtime sys %s, %d GCs  non-go ≈ %s",
		m.Phase, m.Seconds, mib(m.HWM), mib(m.RSS), mib(m.RSSAnon), mib(m.RSSFile),
		mib(int64(m.HeapAlloc)), mib(int64(m.HeapInuse)), mib(int64(m.HeapSys)), mib(int64(m.Sys)), m.NumGC, mib(m.nonGo()))
}

// rssRecorder takes a child's snapshots. With rssProfileEnv set, it also
// watches the Go heap and writes a profile whenever it grew by a tenth.
type rssRecorder struct {
	start  time.Time
	report rssReport
	err    error
	// profiles is the directory of heap profiles, "" for none.
	profiles string
	// stop ends the heap watch and waits for it.
	stop func() error
}

// newRSSRecorder starts recording the child of role.
func newRSSRecorder(role string) *rssRecorder {
	r := &rssRecorder{start: time.Now(), report: rssReport{Role: role}, profiles: os.Getenv(rssProfileEnv)}
	r.stop = func() error { return nil }
	if r.profiles != "" {
		done, errc := make(chan struct{}), make(chan error, 1)
		go func() { errc <- r.watchHeap(done) }()
		r.stop = func() error { close(done); return <-errc }
	}
	return r
}

// watchHeap samples the Go heap every rssHeapSample until done is closed,
// and writes ROLE-peak.heap whenever the heap in use grew by a tenth
// since the last profile: the profile nearest the heap's peak.
func (r *rssRecorder) watchHeap(done <-chan struct{}) error {
	tick := time.NewTicker(rssHeapSample)
	defer tick.Stop()
	var peak uint64
	for {
		select {
		case <-done:
			return nil
		case <-tick.C:
		}
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		if ms.HeapInuse > peak+peak/10 {
			peak = ms.HeapInuse
			if err := writeHeapProfile(filepath.Join(r.profiles, r.report.Role+"-peak.heap"), false); err != nil {
				return err
			}
		}
	}
}

// rssHeapSample is how often watchHeap looks at the heap.
const rssHeapSample = 100 * time.Millisecond

// mark takes a snapshot at the end of phase.
func (r *rssRecorder) mark(phase string) {
	s := memSnapshot{Phase: phase, Seconds: time.Since(r.start).Seconds()}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s.HeapAlloc, s.HeapInuse, s.HeapSys, s.HeapReleased, s.Sys, s.NumGC =
		ms.HeapAlloc, ms.HeapInuse, ms.HeapSys, ms.HeapReleased, ms.Sys, ms.NumGC
	status, err := procStatus()
	if err != nil && r.err == nil {
		r.err = err
	}
	s.HWM, s.RSS, s.RSSAnon, s.RSSFile = status["VmHWM"], status["VmRSS"], status["RssAnon"], status["RssFile"]
	r.report.Phases = append(r.report.Phases, s)
}

// finish marks the end of the work, writes the heap profile if asked,
// closes the store and marks that too.
func (r *rssRecorder) finish(ctx context.Context, l eventLog) error {
	r.report.Current = len(r.report.Phases) - 1
	if r.profiles != "" {
		if err := writeHeapProfile(filepath.Join(r.profiles, r.report.Role+".heap"), true); err != nil {
			_ = l.close(ctx)
			return err
		}
	}
	if err := l.close(ctx); err != nil {
		return fmt.Errorf("close: %w", err)
	}
	r.mark("close")
	return r.err
}

// writeHeapProfile writes the heap profile to path, after a collection
// if gc (the profile shows the heap as of the last one).
func writeHeapProfile(path string, gc bool) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if gc {
		runtime.GC()
	}
	return errors.Join(pprof.WriteHeapProfile(f), f.Close())
}

// procStatus reads the kB fields of /proc/self/status, in bytes.
func procStatus() (map[string]int64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return nil, err
	}
	fields := map[string]int64{}
	for line := range strings.SplitSeq(string(b), "\n") {
		key, val, ok := strings.Cut(line, ":")
		num, isKB := strings.CutSuffix(strings.TrimSpace(val), " kB")
		if !ok || !isKB {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("/proc/self/status %s: %w", key, err)
		}
		fields[key] = n << 10
	}
	if fields["VmHWM"] == 0 || fields["VmRSS"] == 0 {
		return nil, fmt.Errorf("/proc/self/status has no VmHWM or VmRSS")
	}
	return fields, nil
}

// mib formats bytes as MiB.
func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
