package engine

import (
	"bufio"
	"bytes"
	"context"
	"encoding/gob"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestCorruptionIsNeverSilent damages a store file by file — a flipped
// byte at dense sample positions, a flipped bit at random ones, truncation,
// deletion — and checks the engine's promise: every damage is refused
// (Open, a read or Verify fails with an error wrapping ErrCorrupt that
// names the store) or harmless (everything reads back as it was written);
// none is silent (the store opens and answers other content than was
// acknowledged). A store refused at Open must be left as it was.
//
// It runs on two stores: one closed cleanly, and the copy of one taken
// while the engine was open after acknowledged commits (what a crash
// leaves: recent commits only in the WAL).
//
// Each case runs in a child process (this test binary, run again), so that
// a panic in a goroutine no caller owns — Pebble's background work — is
// reported as a crashed case instead of ending the test.
//
// Sampling, kept to about 20 s in go test ./...: files under 1 KiB have
// every other byte flipped; files of 1 to 4 KiB every 16th byte; larger
// files every 32nd byte of their first and last 512 bytes and about
// ANNALS_CORRUPT_BUDGET bytes (default 150) between, spread over all of
// them: about 1,000 cases. ANNALS_CORRUPT_DENSE=1 samples four times
// denser (about 4,000 cases, a minute and a half);
// ANNALS_CORRUPT_EXHAUSTIVE=1 flips every byte of files under 4 KiB and
// of the first and last 512 bytes of larger ones (about 13,000 cases:
// several minutes); -short runs about 250. ANNALS_CORRUPT_SEED sets the
// random choices (default 1).
func TestCorruptionIsNeverSilent(t *testing.T) {
	if root := os.Getenv(cxChildEnv); root != "" {
		cxChild(t, root)
		return
	}
	ctx := context.Background()
	start := time.Now()
	seed := cxEnvInt(t, "ANNALS_CORRUPT_SEED", 1)
	sampling := cxSampling{tinyEvery: 2, smallEvery: 16, edge: 512, edgeEvery: 32, randomBits: 4, randomTruncs: 3, budget: 150}
	switch {
	case os.Getenv("ANNALS_CORRUPT_DENSE") == "1":
		sampling = cxSampling{tinyEvery: 1, smallEvery: 4, edge: 512, edgeEvery: 8, randomBits: 12, randomTruncs: 3, budget: 500}
	case os.Getenv("ANNALS_CORRUPT_EXHAUSTIVE") == "1":
		sampling = cxSampling{tinyEvery: 1, smallEvery: 1, edge: 512, edgeEvery: 1, randomBits: 16, randomTruncs: 3, budget: 1000}
	case testing.Short():
		sampling = cxSampling{tinyEvery: 16, smallEvery: 97, edge: 512, edgeEvery: 128, randomBits: 1, randomTruncs: 1, budget: 30}
	}
	sampling.budget = int(cxEnvInt(t, "ANNALS_CORRUPT_BUDGET", int64(sampling.budget)))
	g := newCXGen(uint64(seed))

	root := cxScratch(t)
	work := filepath.Join(root, "work")
	clean := &cxVariant{name: "clean", root: root, dir: filepath.Join(root, "clean")}
	crash := &cxVariant{name: "crash", root: root, dir: filepath.Join(root, "crash")}
	variants := []*cxVariant{clean, crash}
	clean.want = cxBuildStore(ctx, t, work, g)
	if err := cxCopyDir(work, clean.dir); err != nil {
		t.Fatalf("copy store: %v", err)
	}
	crash.want = cxCrashCopy(ctx, t, work, crash.dir, g)
	for _, v := range variants {
		files, err := cxFiles(v.dir)
		if err != nil {
			t.Fatal(err)
		}
		v.files = files
		if err := v.save(); err != nil {
			t.Fatalf("save the %s store's content: %v", v.name, err)
		}
		var list []string
		for _, f := range files {
			list = append(list, fmt.Sprintf("%s (%d B)", f.name, f.size))
		}
		t.Logf("%s store: %d documents in %d collections, %d records; files: %s",
			v.name, v.want.docs(), len(v.want.Colls), len(v.want.Raw), strings.Join(list, ", "))
	}
	t.Logf("fixture built in %v", time.Since(start).Round(time.Millisecond))

	// The undamaged copies must read back intact, or the cases below would
	// measure the fixture instead of the engine.
	for _, v := range variants {
		out := cxRun(ctx, v, cxCase{variant: v, op: "none"}, filepath.Join(root, "baseline-"+v.name))
		if out.Class != cxIntact {
			t.Fatalf("%s store as copied: %s: %s%s", v.name, out.Class, out.Err, out.Diff)
		}
	}

	var cases []cxCase
	r := rand.New(rand.NewPCG(uint64(seed), 0x5eed))
	stride := sampling.stride(variants)
	for _, v := range variants {
		cases = append(cases, sampling.cases(v, stride, r)...)
	}
	t.Logf("%d cases (seed %d); flipped: %s", len(cases), seed, sampling.describe(stride))

	results := cxRunAll(t, root, cases)
	elapsed := time.Since(start)
	cxReport(t, variants, cases, results)
	t.Logf("%d cases in %v (%v a case, %d workers)", len(cases), elapsed.Round(time.Millisecond),
		(elapsed / time.Duration(max(1, len(cases)))).Round(time.Microsecond), cxWorkers())
}

// cxScratch returns the directory the test works in: in memory when
// /dev/shm is there (the cases damage bytes, they do not cut power, so
// fsyncs need not reach a disk), else the test's temporary directory.
func cxScratch(t *testing.T) string {
	t.Helper()
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		if dir, err := os.MkdirTemp("/dev/shm", "annals-corrupt-"); err == nil {
			t.Cleanup(func() { _ = os.RemoveAll(dir) })
			return dir
		}
	}
	return t.TempDir()
}

// cxVariant is one store the cases damage.
type cxVariant struct {
	name  string
	root  string
	dir   string
	want  *cxContent
	files []cxFile
}

// save writes the variant's content beside its store, for the child
// processes.
func (v *cxVariant) save() error {
	f, err := os.Create(filepath.Join(v.root, v.name+".want"))
	if err != nil {
		return err
	}
	if err := gob.NewEncoder(f).Encode(v.want); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// cxLoadVariant reads what save wrote.
func cxLoadVariant(root, name string) (*cxVariant, error) {
	f, err := os.Open(filepath.Join(root, name+".want"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var c cxContent
	if err := gob.NewDecoder(f).Decode(&c); err != nil {
		return nil, err
	}
	return &cxVariant{name: name, root: root, dir: filepath.Join(root, name), want: &c}, nil
}

type cxFile struct {
	name string
	size int64
}

func cxFiles(dir string) ([]cxFile, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var files []cxFile
	for _, ent := range entries {
		info, err := ent.Info()
		if err != nil {
			return nil, err
		}
		files = append(files, cxFile{name: ent.Name(), size: info.Size()})
	}
	return files, nil
}

// cxCase is one damage to one file of a copy of a store.
type cxCase struct {
	variant *cxVariant
	file    string
	// op is "flip" (xor 0xFF at off), "bit" (xor mask at off),
	// "truncate" (to off bytes), "delete" or "none".
	op   string
	off  int64
	mask byte
}

func (c cxCase) String() string {
	switch c.op {
	case "flip":
		return fmt.Sprintf("%s %s: byte %d xor 0xFF", c.variant.name, c.file, c.off)
	case "bit":
		return fmt.Sprintf("%s %s: byte %d xor %#02x", c.variant.name, c.file, c.off, c.mask)
	case "truncate":
		return fmt.Sprintf("%s %s: truncated to %d bytes", c.variant.name, c.file, c.off)
	case "delete":
		return fmt.Sprintf("%s %s: deleted", c.variant.name, c.file)
	}
	return c.variant.name + ": undamaged"
}

// damage applies the case to the copy of the store in dir.
func (c cxCase) damage(dir string) error {
	path := filepath.Join(dir, c.file)
	switch c.op {
	case "flip", "bit":
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			return err
		}
		defer f.Close()
		b := make([]byte, 1)
		if _, err := f.ReadAt(b, c.off); err != nil {
			return err
		}
		mask := c.mask
		if c.op == "flip" {
			mask = 0xFF
		}
		b[0] ^= mask
		if _, err := f.WriteAt(b, c.off); err != nil {
			return err
		}
		return f.Close()
	case "truncate":
		return os.Truncate(path, c.off)
	case "delete":
		return os.Remove(path)
	}
	return nil
}

// cxSampling decides which bytes are damaged.
type cxSampling struct {
	// tinyEvery and smallEvery: every how many bytes of a file under
	// cxTinyFile, and under cxSmallFile, are flipped.
	tinyEvery, smallEvery int
	// edge is how many bytes at the start and at the end of larger files
	// are flipped every edgeEvery bytes.
	edge, edgeEvery int
	// randomBits is how many random single bits are flipped per file;
	// randomTruncs at how many random sizes it is truncated, besides 0, 1,
	// half and all but one byte.
	randomBits, randomTruncs int
	// budget is about how many flipped-byte cases to make between the
	// edges of the larger files of all the stores: it sets the stride.
	budget int
}

const (
	cxTinyFile  = 1 << 10
	cxSmallFile = 4 << 10
)

// stride returns the step between flipped bytes between the edges of the
// larger files, so those flips stay near the budget.
func (s cxSampling) stride(variants []*cxVariant) int64 {
	var middle int64
	for _, v := range variants {
		for _, f := range v.files {
			if f.size >= cxSmallFile {
				middle += f.size - 2*int64(s.edge)
			}
		}
	}
	return max(1, (middle+int64(s.budget)-1)/int64(max(1, s.budget)))
}

func (s cxSampling) describe(stride int64) string {
	return fmt.Sprintf("every %d byte(s) of files under %d B, every %d of files under %d B; in larger files every %d of the first and last %d bytes and every %d between",
		s.tinyEvery, cxTinyFile, s.smallEvery, cxSmallFile, s.edgeEvery, s.edge, stride)
}

// cases returns every case on the variant's files.
func (s cxSampling) cases(v *cxVariant, stride int64, r *rand.Rand) []cxCase {
	var out []cxCase
	for _, f := range v.files {
		add := func(op string, off int64, mask byte) {
			out = append(out, cxCase{variant: v, file: f.name, op: op, off: off, mask: mask})
		}
		n := f.size
		for _, off := range s.positions(n, stride) {
			add("flip", off, 0)
		}
		for range min(int64(s.randomBits), n) {
			add("bit", r.Int64N(n), 1<<r.IntN(8))
		}
		truncs := []int64{0, 1, n / 2, n - 1}
		if n > 2 {
			for range s.randomTruncs {
				truncs = append(truncs, 1+r.Int64N(n-1))
			}
		}
		slices.Sort(truncs)
		for _, off := range slices.Compact(truncs) {
			if off >= 0 && off < n {
				add("truncate", off, 0)
			}
		}
		add("delete", 0, 0)
	}
	return out
}

// positions returns the offsets of the flipped bytes of a file of n bytes.
func (s cxSampling) positions(n, stride int64) []int64 {
	var out []int64
	if n < cxSmallFile {
		every := int64(s.smallEvery)
		if n < cxTinyFile {
			every = int64(s.tinyEvery)
		}
		for off := int64(0); off < n; off += every {
			out = append(out, off)
		}
		return out
	}
	edge := int64(s.edge)
	for off := int64(0); off < edge; off += int64(s.edgeEvery) {
		out = append(out, off)
	}
	for off := edge; off < n-edge; off += stride {
		out = append(out, off)
	}
	for off := n - edge; off < n; off += int64(s.edgeEvery) {
		out = append(out, off)
	}
	return out
}

// Outcome classes.
const (
	// cxRefused: Open, a read or Verify failed with an error wrapping
	// ErrCorrupt and naming the store directory.
	cxRefused = "refused"
	// cxUnclear: it failed with another error.
	cxUnclear = "refused-unclear"
	// cxPanic: a panic reached the caller.
	cxPanic = "panic"
	// cxCrash: the process died (a panic in a goroutine no caller owns).
	cxCrash = "crash"
	// cxHang: no answer in cxCaseTimeout.
	cxHang = "hang"
	// cxIntact: it opened and read back everything as written.
	cxIntact = "intact"
	// cxSilent: it opened and read back without error, but other content.
	cxSilent = "silent"
	// cxSetup: the test could not set the case up.
	cxSetup = "setup"
)

const cxCaseTimeout = 2 * time.Minute

// cxOutcome is what one case came to. Its fields are exported for the
// child process to send it as JSON.
type cxOutcome struct {
	Class string
	// Stage is where a refusal or panic came from: open, read or verify.
	Stage string
	Err   string
	Diff  string
	// DirChanges lists what a refused Open changed in the store directory;
	// LockCreated says it created an empty LOCK file (not counted as a
	// change: Pebble takes its file lock there).
	DirChanges  []string
	LockCreated bool
}

// cxRun copies the variant's store to dir, damages it, opens it, reads
// everything and verifies it.
func cxRun(ctx context.Context, v *cxVariant, c cxCase, dir string) (out cxOutcome) {
	setup := func(err error) cxOutcome { return cxOutcome{Class: cxSetup, Err: err.Error()} }
	if err := cxCopyDir(v.dir, dir); err != nil {
		return setup(err)
	}
	if err := c.damage(dir); err != nil {
		return setup(err)
	}
	before, err := cxFingerprintOf(dir)
	if err != nil {
		return setup(err)
	}
	// checkDir records what a refused Open changed in the directory.
	checkDir := func(o *cxOutcome) {
		after, err := cxFingerprintOf(dir)
		if err != nil {
			o.DirChanges = []string{"fingerprint: " + err.Error()}
			return
		}
		o.DirChanges, o.LockCreated = cxChanges(before, after)
	}
	ctx, cancel := context.WithTimeout(ctx, cxCaseTimeout)
	defer cancel()

	var e *Engine
	stage := "open"
	defer func() {
		if p := recover(); p != nil {
			out = cxOutcome{Class: cxPanic, Stage: stage, Err: cxShort(fmt.Sprint(p))}
			if stage == "open" {
				checkDir(&out)
			}
		}
		if e != nil {
			func() {
				defer func() { _ = recover() }()
				_ = e.Close()
			}()
		}
	}()
	refuse := func(err error) cxOutcome {
		o := cxOutcome{Class: cxRefused, Stage: stage, Err: cxShort(err.Error())}
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), dir) {
			o.Class = cxUnclear
		}
		return o
	}
	e, err = Open(ctx, Options{Path: dir})
	if err != nil {
		o := refuse(err)
		checkDir(&o)
		return o
	}
	stage = "read"
	same, err := cxMatches(ctx, e, v.want)
	if err != nil {
		return refuse(err)
	}
	if !same {
		// Read it all, with the index walks, to say what differs; reading
		// on past the first difference may also meet an error.
		got, err := cxRead(ctx, e, true)
		if err != nil {
			return refuse(err)
		}
		stage = "verify"
		if err := e.Verify(ctx); err != nil {
			return refuse(err)
		}
		d := cxDiff(v.want, got)
		if d == "" {
			d = "cxMatches and cxDiff disagree: a bug of the test"
		}
		return cxOutcome{Class: cxSilent, Diff: d}
	}
	stage = "verify"
	if err := e.Verify(ctx); err != nil {
		return refuse(err)
	}
	return cxOutcome{Class: cxIntact}
}

func cxWorkers() int { return runtime.GOMAXPROCS(0) + 1 }

// cxChildEnv names the environment variable that makes the test a child
// process running cases: it holds the test's directory.
const cxChildEnv = "ANNALS_CORRUPT_CHILD"

const cxResultPrefix = "CXRESULT "

// cxRunAll runs the cases in child processes, a few at a time.
func cxRunAll(t *testing.T, root string, cases []cxCase) []cxOutcome {
	t.Helper()
	results := make([]cxOutcome, len(cases))
	next := make(chan int)
	var wg sync.WaitGroup
	for range cxWorkers() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := &cxWorker{root: root}
			defer w.stop()
			for i := range next {
				results[i] = w.run(i, cases[i])
				if c := results[i].Class; c == cxPanic || c == cxCrash || c == cxHang {
					// The child that ran it is gone; so is its cleanup.
					_ = os.RemoveAll(filepath.Join(root, "cases", strconv.Itoa(i)))
				}
			}
		}()
	}
	for i := range cases {
		next <- i
	}
	close(next)
	wg.Wait()
	for i, r := range results {
		if r.Class == cxSetup {
			t.Fatalf("%s: setting up the case: %s", cases[i], r.Err)
		}
	}
	return results
}

// cxWorker feeds cases to one child process at a time, and starts another
// when the last one exited, died or hung.
type cxWorker struct {
	root   string
	cmd    *exec.Cmd
	in     io.WriteCloser
	lines  chan string
	stderr *bytes.Buffer
}

func (w *cxWorker) start() error {
	cmd := exec.Command(os.Args[0], "-test.run=^TestCorruptionIsNeverSilent$", "-test.count=1", "-test.timeout=0")
	cmd.Env = append(os.Environ(), cxChildEnv+"="+w.root)
	in, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	w.stderr = &bytes.Buffer{}
	cmd.Stderr = w.stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	// The reader ends when the child's stdout closes: when it exits.
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 16<<20)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	w.cmd, w.in, w.lines = cmd, in, lines
	return nil
}

// stop ends the child (closing its input ends it; kill ends it now) and
// waits for it.
func (w *cxWorker) stop() { w.end(false) }

func (w *cxWorker) end(kill bool) error {
	if w.cmd == nil {
		return nil
	}
	w.in.Close()
	if kill {
		_ = w.cmd.Process.Kill()
	}
	for range w.lines {
	}
	err := w.cmd.Wait()
	w.cmd = nil
	return err
}

func (w *cxWorker) run(i int, c cxCase) cxOutcome {
	if w.cmd == nil {
		if err := w.start(); err != nil {
			return cxOutcome{Class: cxSetup, Err: err.Error()}
		}
	}
	if _, err := fmt.Fprintf(w.in, "%d %s %s %s %d %d\n", i, c.variant.name, c.file, c.op, c.off, c.mask); err != nil {
		return w.died()
	}
	timeout := time.NewTimer(cxCaseTimeout)
	defer timeout.Stop()
	for {
		select {
		case line, ok := <-w.lines:
			if !ok {
				return w.died()
			}
			res, ok := strings.CutPrefix(line, cxResultPrefix)
			if !ok {
				continue
			}
			var o cxOutcome
			if err := json.Unmarshal([]byte(res), &o); err != nil {
				return cxOutcome{Class: cxSetup, Err: fmt.Sprintf("child sent %q: %v", line, err)}
			}
			if o.Class == cxPanic {
				w.stop() // it exits after a panic; see cxChild
			}
			return o
		case <-timeout.C:
			_ = w.end(true)
			return cxOutcome{Class: cxHang, Err: fmt.Sprintf("no answer in %v; killed", cxCaseTimeout)}
		}
	}
}

// died reports the case the child was running when it died.
func (w *cxWorker) died() cxOutcome {
	err := w.end(false)
	stack := w.stderr.String()
	msg := fmt.Sprintf("child process died (%v)", err)
	for _, head := range []string{"panic: ", "fatal error: "} {
		if i := strings.Index(stack, head); i >= 0 {
			msg = cxShort(stack[i:])
			break
		}
	}
	where := "unknown goroutine"
	if _, after, ok := strings.Cut(stack, "\ncreated by "); ok {
		fn, _, _ := strings.Cut(after, "\n")
		where = "goroutine created by " + strings.TrimSpace(fn)
	}
	return cxOutcome{Class: cxCrash, Stage: where, Err: msg}
}

// cxChild runs the cases its parent sends on stdin, one a line, and
// answers each on stdout. It exits after a panic: an engine that panicked
// inside Open cannot be closed, and its background work could otherwise
// crash a later case.
func cxChild(t *testing.T, root string) {
	ctx := context.Background()
	variants := map[string]*cxVariant{}
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		var (
			i          int
			name, file string
			c          cxCase
		)
		if _, err := fmt.Sscanf(sc.Text(), "%d %s %s %s %d %d", &i, &name, &file, &c.op, &c.off, &c.mask); err != nil {
			t.Fatalf("case %q: %v", sc.Text(), err)
		}
		v := variants[name]
		if v == nil {
			var err error
			if v, err = cxLoadVariant(root, name); err != nil {
				t.Fatal(err)
			}
			variants[name] = v
		}
		c.variant, c.file = v, file
		dir := filepath.Join(root, "cases", strconv.Itoa(i))
		o := cxRun(ctx, v, c, dir)
		b, err := json.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Printf("%s%s\n", cxResultPrefix, b)
		if o.Class == cxPanic {
			return
		}
		_ = os.RemoveAll(dir)
	}
}

// cxCounts are the outcomes of a group of cases.
type cxCounts struct {
	cases, refused, unclear, panics, crashes, intact, silent int
	// late counts refusals by a read or Verify after Open succeeded;
	// dirChanged refusals at Open that left the directory changed;
	// lock refusals at Open that created an empty LOCK file.
	late, dirChanged, lock int
}

func (n *cxCounts) add(o cxOutcome) {
	n.cases++
	switch o.Class {
	case cxRefused:
		n.refused++
	case cxUnclear:
		n.unclear++
	case cxPanic:
		n.panics++
	case cxCrash, cxHang:
		n.crashes++
	case cxIntact:
		n.intact++
	case cxSilent:
		n.silent++
	}
	if (o.Class == cxRefused || o.Class == cxUnclear) && o.Stage != "open" {
		n.late++
	}
	if len(o.DirChanges) > 0 {
		n.dirChanged++
	}
	if o.LockCreated {
		n.lock++
	}
}

func (n cxCounts) row(label string) string {
	return fmt.Sprintf("%-34s %6d %8d %9d %6d %6d %7d %7d %6d %8d %5d", label,
		n.cases, n.refused, n.unclear, n.panics, n.crashes, n.intact, n.silent, n.late, n.dirChanged, n.lock)
}

const cxHeader = "                                    cases  refused  ref-uncl  panic  crash  intact  SILENT   late  dir-chg  LOCK"

// cxReport logs the tables, and fails on silent damage, on damage not
// refused with a clear error, and on refused stores that were changed.
func cxReport(t *testing.T, variants []*cxVariant, cases []cxCase, results []cxOutcome) {
	t.Helper()
	byKind := map[string]*cxCounts{}
	byKindOp := map[string]*cxCounts{}
	var total cxCounts
	for i, c := range cases {
		for _, k := range []string{c.variant.name + " " + cxKind(c.file), c.variant.name + " " + cxKind(c.file) + " " + c.op} {
			m := byKind
			if strings.HasSuffix(k, " "+c.op) {
				m = byKindOp
			}
			if m[k] == nil {
				m[k] = &cxCounts{}
			}
			m[k].add(results[i])
		}
		total.add(results[i])
	}
	var b strings.Builder
	b.WriteString("outcomes by file kind\n" +
		"  refused: Open, a read or Verify failed with ErrCorrupt naming the store; ref-uncl: failed with another error;\n" +
		"  panic: a panic reached the caller; crash: a panic in a background goroutine killed the process (or it hung);\n" +
		"  intact: read back as written; SILENT: read back without error, other content;\n" +
		"  late: refused by a read or Verify after Open succeeded; dir-chg: refused at Open (or panicked in it) and the\n" +
		"  directory changed; LOCK: refused at Open and an empty LOCK file appeared (not counted as a change)\n")
	b.WriteString(cxHeader + "\n")
	for _, v := range variants {
		for _, kind := range cxKindOrder {
			if n := byKind[v.name+" "+kind]; n != nil {
				b.WriteString(n.row(v.name+" "+kind) + "\n")
			}
		}
	}
	b.WriteString(total.row("total") + "\n")
	b.WriteString("\nby file kind and damage\n" + cxHeader + "\n")
	for _, v := range variants {
		for _, kind := range cxKindOrder {
			for _, op := range []string{"flip", "bit", "truncate", "delete"} {
				if n := byKindOp[v.name+" "+kind+" "+op]; n != nil {
					b.WriteString(n.row(v.name+" "+kind+" "+op) + "\n")
				}
			}
		}
	}
	t.Log(b.String())

	type finding struct {
		c cxCase
		o cxOutcome
	}
	var silent, unclear, changed, late []finding
	for i, o := range results {
		f := finding{cases[i], o}
		switch o.Class {
		case cxSilent:
			silent = append(silent, f)
		case cxUnclear, cxPanic, cxCrash, cxHang:
			unclear = append(unclear, f)
		case cxRefused:
			if o.Stage != "open" {
				late = append(late, f)
			}
		}
		if len(o.DirChanges) > 0 {
			changed = append(changed, f)
		}
	}
	sortFindings := func(fs []finding) {
		sort.SliceStable(fs, func(i, j int) bool {
			a, b := fs[i].c, fs[j].c
			if a.variant.name != b.variant.name || a.file != b.file || a.op != b.op {
				return a.variant.name+a.file+a.op < b.variant.name+b.file+b.op
			}
			return a.off < b.off
		})
	}
	// list names the first findings one by one.
	list := func(fs []finding, show func(finding) string) string {
		sortFindings(fs)
		var s strings.Builder
		for i, f := range fs {
			if i == 30 {
				fmt.Fprintf(&s, "\n\t… and %d more", len(fs)-i)
				break
			}
			fmt.Fprintf(&s, "\n\t%s: %s", f.c, show(f))
		}
		return s.String()
	}
	// groups sums findings up by store, file, damage and key, with the
	// range of offsets and the first one's details.
	groups := func(fs []finding, key, show func(finding) string) string {
		sortFindings(fs)
		type group struct {
			n      int
			lo, hi int64
			first  finding
		}
		var order []string
		m := map[string]*group{}
		for _, f := range fs {
			k := fmt.Sprintf("%s %s %s|%s", f.c.variant.name, f.c.file, f.c.op, key(f))
			g := m[k]
			if g == nil {
				g = &group{lo: f.c.off, first: f}
				m[k] = g
				order = append(order, k)
			}
			g.n++
			g.hi = f.c.off
		}
		var s strings.Builder
		for _, k := range order {
			g := m[k]
			c := g.first.c
			where := ""
			switch c.op {
			case "flip", "bit":
				where = fmt.Sprintf(" at bytes %d–%d of %d", g.lo, g.hi, cxSize(c))
			case "truncate":
				where = fmt.Sprintf(" to %d–%d of %d bytes", g.lo, g.hi, cxSize(c))
			}
			fmt.Fprintf(&s, "\n\t%s %s %s ×%d%s: %s", c.variant.name, c.file, c.op, g.n, where, show(g.first))
		}
		return s.String()
	}
	if len(late) > 0 {
		t.Logf("%d damages passed Open and were refused by a later read or Verify (Open reads every block of stores under %d bytes):%s",
			len(late), VerifyOnOpenLimit, groups(late, func(f finding) string { return f.o.Stage },
				func(f finding) string { return f.o.Stage + ": " + f.o.Err }))
	}
	if total.lock > 0 {
		t.Logf("%d refused Opens created an empty LOCK file (Pebble's file lock, deleted by the case); not counted as a change", total.lock)
	}
	if len(silent) > 0 {
		t.Errorf("%d damages were SILENT: the store opened and read back without error, but its content differs. By file:%s\nCases:%s",
			len(silent), groups(silent, func(finding) string { return "" }, func(f finding) string { return "first: " + f.o.Diff }),
			list(silent, func(f finding) string { return f.o.Diff }))
	}
	if len(unclear) > 0 {
		t.Errorf("%d damages were not refused with an error wrapping ErrCorrupt that names the store (another error, a panic, a crashed or hung process):%s",
			len(unclear), groups(unclear, func(f finding) string { return f.o.Class + f.o.Stage },
				func(f finding) string { return f.o.Class + " at " + f.o.Stage + ", first: " + f.o.Err }))
	}
	if len(changed) > 0 {
		t.Errorf("%d refused stores were changed by the failed Open:%s",
			len(changed), groups(changed, func(f finding) string { return strings.Join(f.o.DirChanges, ", ") },
				func(f finding) string {
					return strings.Join(f.o.DirChanges, ", ") + "; first: " + f.o.Class + ": " + f.o.Err
				}))
	}
}

// cxSize is the size of the file a case damages.
func cxSize(c cxCase) int64 {
	for _, f := range c.variant.files {
		if f.name == c.file {
			return f.size
		}
	}
	return -1
}

// cxShort is the first line of an error, cut to a readable length.
func cxShort(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 400 {
		s = s[:400] + "…"
	}
	return s
}

func cxEnvInt(t *testing.T, name string, def int64) int64 {
	t.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatalf("%s=%q: %v", name, s, err)
	}
	return n
}
