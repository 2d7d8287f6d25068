package engine

// TestClusteredMatchesPlain: random sequences of operations run on two
// collections of one engine, "plain" (a unique index {k: 1, v: 1} and
// {t: 1}) and "clustered" (the same, {k: 1, v: 1} clustered); every
// answer, the contents read three ways (by _id, through {k: 1, v: 1},
// through {t: 1}) and the change events must be the same.
//
// What may differ, because nothing fixes the order a collection walks its
// documents in (a clustered one could walk by clustered key where a plain
// one walks by _id; today both walk by _id and index order), and how the
// test copes:
//   - a *One write or findOneAnd* whose filter (and sort) selects several
//     documents may act on any of them: the clustered collection goes
//     first, the plain one is run on the document it chose (which must be
//     a candidate), or, when it changed nothing, some candidate must give
//     the plain one the same answer (tried in transactions that abort);
//   - an update of many documents that fails on a duplicate key keeps what
//     it did before, which depends on the order, and whether it fails at
//     all does too ($inc v over (1, 1) and (1, 2)): each side's effect is
//     checked against the update applied by mongokit, then the plain
//     collection is made what the clustered one is;
//   - documents with equal sort keys come in either order (a skip or limit
//     is only used with a sort that orders every document), change events
//     of one operation too, and Distinct keeps either of equal numbers of
//     different types.
//
// Replay one sequence with
//
//	go test ./internal/engine -run 'TestClusteredMatchesPlain/seed=N$' -clustered.v
//
// and run more with -clustered.seeds=N.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/256dpi/lungo"
	"github.com/256dpi/lungo/bsonkit"
	"github.com/256dpi/lungo/mongokit"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
)

var (
	clVerbose = flag.Bool("clustered.v", false, "log every operation of TestClusteredMatchesPlain")
	clSeeds   = flag.Int("clustered.seeds", 0, "run TestClusteredMatchesPlain with seeds 1 to N instead of its default few")
)

const (
	clPlain     = 0
	clClustered = 1
)

var clSideName = [2]string{"plain", "clustered"}

func TestClusteredMatchesPlain(t *testing.T) {
	seeds := []uint64{1, 2, 3, 4, 5, 6}
	nops, flushEvery := 300, 20
	if raceEnabled || testing.Short() {
		seeds, nops, flushEvery = seeds[:2], 200, 100
	}
	if *clSeeds > 0 {
		seeds = seeds[:0]
		for n := range *clSeeds {
			seeds = append(seeds, uint64(n+1))
		}
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			s := newClSeq(t, seed)
			for s.i = 0; s.i < nops && !s.failed; s.i++ {
				if s.createTAt == s.i {
					s.step(s.createTOp())
				}
				s.step(s.genOp())
				if seed%2 == 0 && s.i%flushEvery == flushEvery-1 {
					// Even seeds flush now and then: the walks then go
					// through tables (their blocks, bloom filters and
					// prefix seeks), not the memtable alone.
					if err := s.e.db.Flush(); err != nil {
						t.Fatalf("flush: %v", err)
					}
				}
			}
			if !s.failed {
				s.checkFull()
			}
			t.Logf("seed %d: %d operations, %d documents on average, %d at the end, %d tables; answers: %v; plans: %v; tolerated: %v",
				seed, s.i, s.docSum/max(s.i, 1), len(s.state), s.e.db.Metrics().Total().TablesCount, s.answers, s.plans, s.tol)
		})
	}
}

// clSeq is one random sequence run on both collections.
type clSeq struct {
	t    *testing.T
	ctx  context.Context
	seed uint64
	r    *rand.Rand
	// pick chooses the documents checked, apart from r, so that the
	// operations of a seed do not depend on the checks.
	pick   *rand.Rand
	e      *Engine
	coll   [2]*Collection
	stream [2]lungo.IChangeStream
	// state is the contents by _id after the last operation (both sides
	// agreed on it).
	state []bson.D
	// hasT is set once {t: 1} exists; createTAt is the operation before
	// which it is created (-1: at the start), so that some sequences
	// build it over documents already clustered.
	hasT      bool
	createTAt int
	nextID    int
	// keys are the _ids in the change events events() drained last, per side.
	keys   [2][]any
	log    []string
	i      int
	failed bool
	plans  map[string]int
	tol    map[string]int
	// answers counts the operations per error class; docSum sums the
	// documents after each.
	answers map[string]int
	docSum  int
}

func newClSeq(t *testing.T, seed uint64) *clSeq {
	t.Helper()
	ctx := context.Background()
	e, err := Open(ctx, Options{})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { _ = e.Close() })
	s := &clSeq{
		t: t, ctx: ctx, seed: seed, e: e,
		r:         rand.New(rand.NewPCG(seed, 0x636c7573)),
		pick:      rand.New(rand.NewPCG(seed, 1)),
		createTAt: -1,
		plans:     map[string]int{},
		answers:   map[string]int{},
		tol:       map[string]int{},
	}
	s.coll = [2]*Collection{clColl(e, "plain"), clColl(e, "clustered")}
	kv := [2]mongo.IndexModel{{Keys: clKV, Options: options.Index().SetUnique(true)}, clusteredModel(clKV)}
	// The order the indexes are made in: together, {t: 1} first, or
	// {t: 1} later, over documents.
	variant := s.r.IntN(3)
	if variant == 2 {
		s.createTAt = 1 + s.r.IntN(60)
	}
	for side := range 2 {
		var models []mongo.IndexModel
		switch variant {
		case 0:
			models = []mongo.IndexModel{kv[side], clTModel()}
		case 1:
			models = []mongo.IndexModel{clTModel(), kv[side]}
		default:
			models = []mongo.IndexModel{kv[side]}
		}
		for _, m := range models {
			if _, err := s.coll[side].Indexes().CreateOne(ctx, m); err != nil {
				t.Fatalf("%s: create index %s: %v", clSideName[side], j(m.Keys), err)
			}
		}
		s.stream[side] = watch(t, s.coll[side])
	}
	s.hasT = variant != 2
	s.logf("indexes made in variant %d (t at op %d)", variant, s.createTAt)
	return s
}

func (s *clSeq) logf(format string, args ...any) {
	line := fmt.Sprintf("#%d ", s.i) + fmt.Sprintf(format, args...)
	s.log = append(s.log, line)
	if *clVerbose {
		s.t.Log(line)
	}
}

// differ reports a difference and stops the sequence.
func (s *clSeq) differ(op *clOp, format string, args ...any) {
	s.t.Helper()
	s.failed = true
	recent := lastLines(s.log, 12)
	s.t.Errorf("seed %d op #%d %s:\n  %s\n  contents before (by _id): %s\n  recent ops (replay: -run 'TestClusteredMatchesPlain/seed=%d$' -clustered.v):\n    %s",
		s.seed, s.i, op.desc, fmt.Sprintf(format, args...), cjDocs(s.state), s.seed, strings.Join(recent, "\n    "))
}

// ---------------------------------------------------------------------------
// Operations

// clOutcome is what one collection answered.
type clOutcome struct {
	err     error
	n       string   // result counts, printed
	docs    []bson.D // documents returned
	vals    []any    // Distinct
	hasVals bool
	failed  []string // bulk write: "index:class" of failed models
	// panicked holds a panic of the engine.
	panicked any
}

func (o clOutcome) String() string {
	parts := []string{errClass(o.err)}
	if o.err != nil {
		parts = append(parts, "("+o.err.Error()+")")
	}
	if o.panicked != nil {
		parts = append(parts, fmt.Sprintf("panic %v", o.panicked))
	}
	if o.n != "" {
		parts = append(parts, o.n)
	}
	if len(o.failed) > 0 {
		parts = append(parts, "failed="+strings.Join(o.failed, ","))
	}
	if o.hasVals {
		parts = append(parts, "values="+cj(bson.A(o.vals)))
	}
	if o.docs != nil {
		parts = append(parts, "docs="+cjDocs(o.docs))
	}
	return strings.Join(parts, " ")
}

// clOp is one operation, run the same way on each collection.
type clOp struct {
	desc string
	run  func(ctx context.Context, c *Collection, filter bson.D) clOutcome

	filter bson.D
	sort   bson.D
	mode   docMode
	// total is set when sort orders every document (no ties).
	total bool
	// projected: the documents returned may lack fields.
	projected bool
	// one: the operation acts on the first document it selects.
	one        bool
	returnsDoc bool
	// many: an update of many documents (see the file comment).
	many   bool
	update bson.D
	// txn are a transaction's operations; abort makes it abort at the end.
	txn   []*clOp
	abort bool
	after func()
}

func (s *clSeq) step(op *clOp) {
	s.logf("%s", op.desc)
	if op.txn != nil {
		s.runTxn(op)
		return
	}
	if op.one {
		if cands := s.candidates(op); len(cands) > 1 {
			s.tol["ambiguous-one"]++
			s.runAmbiguous(op, cands)
			return
		}
	}
	var o [2]clOutcome
	var evs [2][]string
	for side := range 2 {
		o[side] = s.exec(s.ctx, side, op, op.filter)
		evs[side] = s.events(side)
	}
	s.settle(op, o, evs)
}

// exec runs op on one side, turning a panic into an outcome.
func (s *clSeq) exec(ctx context.Context, side int, op *clOp, filter bson.D) (o clOutcome) {
	defer func() {
		if p := recover(); p != nil {
			o = clOutcome{panicked: p, err: fmt.Errorf("panic: %v", p)}
		}
	}()
	return op.run(ctx, s.coll[side], dcopy(filter))
}

// settle compares what both sides answered, hold and emitted after op.
func (s *clSeq) settle(op *clOp, o [2]clOutcome, evs [2][]string) {
	for side := range 2 {
		if o[side].panicked != nil {
			s.differ(op, "%s panicked: %v", clSideName[side], o[side].panicked)
			return
		}
	}
	got, ok := s.readBoth(op)
	if !ok {
		return
	}
	msg := s.compareOutcome(op, o[0], o[1])
	if msg == "" {
		msg = compareContents(got[0], got[1])
	}
	if msg == "" {
		msg = s.compareEvents(evs)
	}
	if msg != "" && op.many && (o[0].err != nil || o[1].err != nil) {
		v0, v1 := s.verifyMany(op, got[clPlain], o[clPlain]), s.verifyMany(op, got[clClustered], o[clClustered])
		if v0 == "" && v1 == "" {
			s.tol["update-many-order"]++
			s.resync(op, got[clClustered])
			return
		}
		msg += fmt.Sprintf("\n  and the effects do not both follow from the update: plain: %q, clustered: %q", v0, v1)
	}
	if msg != "" {
		s.differ(op, "%s\n  plain:     %s\n  clustered: %s", msg, o[0], o[1])
		return
	}
	s.state = got[clPlain]
	s.answers[errClass(o[clClustered].err)]++
	s.docSum += len(s.state)
	if op.after != nil {
		op.after()
	}
}

// readBoth reads both sides' contents (see contents); when one is wrong it
// reports it and answers false.
func (s *clSeq) readBoth(op *clOp) (got [2][]bson.D, ok bool) {
	for side := range 2 {
		var msg string
		if got[side], msg = s.contents(side); msg != "" {
			s.differ(op, "%s: %s", clSideName[side], msg)
			return got, false
		}
	}
	return got, true
}

// candidates are the documents a *One operation may act on: those its
// filter selects, and of those the first by its sort and its ties.
func (s *clSeq) candidates(op *clOp) []bson.D {
	fo := options.Find()
	if len(op.sort) > 0 {
		fo.SetSort(op.sort)
	}
	docs := findDocs(s.t, s.ctx, s.coll[clPlain], dcopy(op.filter), fo)
	if len(op.sort) > 0 && len(docs) > 1 {
		cols, err := mongokit.Columns(&op.sort)
		if err != nil {
			s.t.Fatalf("sort %s: %v", j(op.sort), err)
		}
		docs = docs[:tieEnd(docs, 0, cols)]
	}
	return docs
}

// runAmbiguous runs a *One operation that may act on any of several
// documents: the clustered side first, then the plain one on the document
// it chose.
func (s *clSeq) runAmbiguous(op *clOp, cands []bson.D) {
	oc := s.exec(s.ctx, clClustered, op, op.filter)
	evc := s.events(clClustered)
	var chosen any
	found := false
	if op.returnsDoc && oc.err == nil && len(oc.docs) == 1 {
		chosen, found = lookup(oc.docs[0], "_id")
	} else if keys := s.keys[clClustered]; len(keys) == 1 {
		chosen, found = keys[0], true
	}
	if found {
		if !slices.ContainsFunc(cands, func(d bson.D) bool { id, _ := lookup(d, "_id"); return cj(id) == cj(chosen) }) {
			s.differ(op, "the clustered collection acted on _id %s, which is not among the documents selected first: %s", cj(chosen), cjDocs(cands))
			return
		}
		narrowed := *op
		narrowed.filter = bson.D{{Key: "$and", Value: bson.A{op.filter, bson.D{{Key: "_id", Value: chosen}}}}}
		po := s.exec(s.ctx, clPlain, &narrowed, narrowed.filter)
		s.settle(op, [2]clOutcome{po, oc}, [2][]string{s.events(clPlain), evc})
		return
	}
	// The clustered side changed nothing (an error or a no-op): some
	// candidate must give the plain side the same answer.
	var tried []string
	for _, c := range cands {
		id, _ := lookup(c, "_id")
		po := s.probe(op, bson.D{{Key: "$and", Value: bson.A{op.filter, bson.D{{Key: "_id", Value: id}}}}})
		if s.compareOutcome(op, po, oc) == "" {
			s.settle(op, [2]clOutcome{po, oc}, [2][]string{s.events(clPlain), evc})
			return
		}
		tried = append(tried, po.String())
	}
	s.differ(op, "no candidate gives the plain collection the clustered one's answer\n  clustered: %s\n  plain, per candidate: %s", oc, strings.Join(tried, " | "))
}

// probe runs op on the plain side in a transaction that aborts.
func (s *clSeq) probe(op *clOp, filter bson.D) clOutcome {
	var o clOutcome
	err := probeTxn(s.ctx, s.e.Client(), func(sc lungo.ISessionContext) {
		o = s.exec(sc, clPlain, op, filter)
	})
	if err != nil {
		s.t.Fatalf("start session: %v", err)
	}
	return o
}

// runTxn runs a transaction's operations on each side in a session
// transaction, stopping at the first that fails.
func (s *clSeq) runTxn(op *clOp) {
	errAbort := errors.New("deliberate abort")
	var outs [2][]clOutcome
	var errs [2]error
	var evs [2][]string
	for side := range 2 {
		var err error
		errs[side], err = inSessionTxn(s.ctx, s.e.Client(), func(sc lungo.ISessionContext) error {
			outs[side] = outs[side][:0]
			for _, sub := range op.txn {
				o := s.exec(sc, side, sub, sub.filter)
				outs[side] = append(outs[side], o)
				if o.err != nil {
					return o.err
				}
			}
			if op.abort {
				return errAbort
			}
			return nil
		})
		if err != nil {
			s.t.Fatalf("start session: %v", err)
		}
		evs[side] = s.events(side)
	}
	got, ok := s.readBoth(op)
	if !ok {
		return
	}
	for side := range 2 {
		if errs[side] != nil && docsKey(got[side]) != docsKey(s.state) {
			s.differ(op, "%s: the transaction failed (%v) but its changes are visible: %s", clSideName[side], errs[side], cjDocs(got[side]))
			return
		}
		if errs[side] != nil && len(evs[side]) > 0 {
			s.differ(op, "%s: the transaction failed (%v) but emitted change events: %v", clSideName[side], errs[side], evs[side])
			return
		}
	}
	var msg string
	for i := 0; i < max(len(outs[0]), len(outs[1])) && msg == ""; i++ {
		switch {
		case i >= len(outs[clPlain]):
			msg = fmt.Sprintf("operation %d (%s) ran on the clustered collection only: %s", i, op.txn[i].desc, outs[clClustered][i])
		case i >= len(outs[clClustered]):
			msg = fmt.Sprintf("operation %d (%s) ran on the plain collection only: %s", i, op.txn[i].desc, outs[clPlain][i])
		default:
			if outs[clPlain][i].panicked != nil || outs[clClustered][i].panicked != nil {
				msg = fmt.Sprintf("operation %d (%s) panicked", i, op.txn[i].desc)
			} else if m := s.compareOutcome(op.txn[i], outs[clPlain][i], outs[clClustered][i]); m != "" {
				msg = fmt.Sprintf("operation %d (%s): %s", i, op.txn[i].desc, m)
			}
			if msg != "" {
				msg += fmt.Sprintf("\n  plain:     %s\n  clustered: %s", outs[clPlain][i], outs[clClustered][i])
			}
		}
	}
	if msg == "" && errClass(errs[0]) != errClass(errs[1]) {
		msg = fmt.Sprintf("transaction error: plain %v, clustered %v", errs[0], errs[1])
	}
	if msg == "" {
		msg = compareContents(got[0], got[1])
	}
	if msg == "" {
		msg = s.compareEvents(evs)
	}
	if msg != "" {
		s.differ(op, "%s", msg)
		return
	}
	s.state = got[clPlain]
}

// verifyMany checks one side's effect of an update of many documents that
// failed on either side: every document it changed matched the filter and
// is the update applied to it, and its error (if any) is a duplicate key
// that a matching document it left unchanged would have made.
func (s *clSeq) verifyMany(op *clOp, after []bson.D, o clOutcome) string {
	before := map[string]bson.D{}
	for _, d := range s.state {
		id, _ := lookup(d, "_id")
		before[cj(id)] = d
	}
	if len(after) != len(before) {
		return fmt.Sprintf("%d documents before, %d after", len(before), len(after))
	}
	var unchanged []bson.D // matching, left as they were
	for _, now := range after {
		id, _ := lookup(now, "_id")
		was, ok := before[cj(id)]
		if !ok {
			return "document " + cj(id) + " appeared"
		}
		match, err := mongokit.Match(ptr(dcopy(was)), ptr(roundTrip(op.filter)))
		if err != nil {
			return err.Error()
		}
		same := cj(was) == cj(now)
		switch {
		case !match && !same:
			return "changed " + cj(id) + ", which does not match"
		case match && same:
			unchanged = append(unchanged, was)
		case match:
			want, err := applyUpdate(op, was)
			if err != nil {
				return fmt.Sprintf("changed %s, whose update fails: %v", cj(id), err)
			}
			if cj(want) != cj(now) {
				return fmt.Sprintf("%s became %s, want %s", cj(id), cj(now), cj(want))
			}
		}
	}
	for _, d := range unchanged {
		id, _ := lookup(d, "_id")
		want, err := applyUpdate(op, d)
		switch {
		case err != nil && o.err != nil && !isDuplicate(o.err):
			return "" // the update fails on d: the error
		case err != nil:
			return fmt.Sprintf("the update fails on %s (%v), but the answer is %v", cj(id), err, o.err)
		case cj(want) == cj(d):
			continue // a no-op on d
		case o.err == nil:
			return "matching document " + cj(id) + " was left unchanged without an error"
		case isDuplicate(o.err) && slices.ContainsFunc(after, func(a bson.D) bool {
			return kvCompare(a, want) == 0 && cj(a) != cj(d)
		}):
			return "" // d's new key is another's: the duplicate
		}
	}
	if o.err != nil {
		return fmt.Sprintf("failed (%v) but no matching document left unchanged explains it", o.err)
	}
	return ""
}

func ptr[T any](v T) *T { return &v }

// applyUpdate is op's update applied to d by mongokit, as the engine
// applies it.
func applyUpdate(op *clOp, d bson.D) (bson.D, error) {
	doc, f, u := roundTrip(d), roundTrip(op.filter), roundTrip(op.update)
	if _, err := mongokit.Apply(&doc, &f, &u, false, nil); err != nil {
		return nil, err
	}
	return roundTrip(doc), nil
}

// resync makes the plain collection hold what the clustered one does,
// after an update of many documents whose effect depends on the order.
func (s *clSeq) resync(op *clOp, want []bson.D) {
	c := s.coll[clPlain]
	if _, err := c.DeleteMany(s.ctx, bson.D{}); err != nil {
		s.t.Fatalf("resync: %v", err)
	}
	insertDocs(s.t, c, want)
	s.events(clPlain)
	got, msg := s.contents(clPlain)
	if msg == "" {
		msg = compareContents(got, want)
	}
	if msg != "" {
		s.differ(op, "resync: %s", msg)
		return
	}
	s.state = want
}

// ---------------------------------------------------------------------------
// Comparing

func (s *clSeq) compareOutcome(op *clOp, p, c clOutcome) string {
	if cp, cc := errClass(p.err), errClass(c.err); cp != cc {
		return fmt.Sprintf("error class: plain %s, clustered %s", cp, cc)
	}
	if p.n != c.n {
		return "result counts differ"
	}
	if !slices.Equal(p.failed, c.failed) {
		return "failed models differ"
	}
	if p.hasVals != c.hasVals {
		return "values differ"
	}
	if p.hasVals {
		same, typed := sameDistinct(p.vals, c.vals, cj)
		if typed > 0 {
			s.tol["distinct-number-type"] += typed
		}
		if !same {
			return "distinct values differ"
		}
	}
	if (p.docs == nil) != (c.docs == nil) {
		return "documents returned by one side only"
	}
	if len(p.docs) != len(c.docs) {
		return fmt.Sprintf("%d documents returned, clustered %d", len(p.docs), len(c.docs))
	}
	switch op.mode {
	case docsSingle:
		if docsKey(p.docs) != docsKey(c.docs) {
			return "returned document differs"
		}
	case docsSet:
		if docsKey(sortByCanon(p.docs)) != docsKey(sortByCanon(c.docs)) {
			return "returned documents differ"
		}
	case docsSorted:
		if op.total {
			if docsKey(p.docs) != docsKey(c.docs) {
				return "returned documents differ (sort orders every document)"
			}
			return ""
		}
		return s.compareSorted(op, p.docs, c.docs)
	}
	return ""
}

// compareSorted compares the answers of a find sorted with ties: each in
// sort order, the same sort keys, each run of equal keys the same
// documents. Sort keys are read from the full documents (a projection may
// drop the sort fields; it keeps _id).
func (s *clSeq) compareSorted(op *clOp, p, c []bson.D) string {
	cols, err := mongokit.Columns(&op.sort)
	if err != nil {
		return err.Error()
	}
	full := func(d bson.D) bson.D {
		if !op.projected {
			return d
		}
		id, _ := lookup(d, "_id")
		for _, x := range s.state {
			if y, _ := lookup(x, "_id"); cj(y) == cj(id) {
				return x
			}
		}
		return d
	}
	var fp, fc []bson.D
	for i := range p {
		fp, fc = append(fp, full(p[i])), append(fc, full(c[i]))
	}
	for side, docs := range [2][]bson.D{fp, fc} {
		if i := sortBreak(docs, cols); i >= 0 {
			return fmt.Sprintf("%s: not in sort order at %d", clSideName[side], i)
		}
	}
	for start := 0; start < len(fp); {
		if bsonkit.Order(&fp[start], &fc[start], cols, false) != 0 {
			return fmt.Sprintf("sort keys differ at %d", start)
		}
		end := tieEnd(fp, start, cols)
		if docsKey(sortByCanon(p[start:end])) != docsKey(sortByCanon(c[start:end])) {
			return fmt.Sprintf("documents with equal sort keys at %d..%d differ", start, end-1)
		}
		if docsKey(p[start:end]) != docsKey(c[start:end]) {
			s.tol["sort-tie-order"]++
		}
		start = end
	}
	return ""
}

// compareContents compares the two sides' contents, read by _id.
func compareContents(p, c []bson.D) string {
	if docsKey(p) == docsKey(c) {
		return ""
	}
	in := func(docs []bson.D) map[string]bool {
		m := map[string]bool{}
		for _, d := range docs {
			m[cj(d)] = true
		}
		return m
	}
	ip, ic := in(p), in(c)
	var onlyP, onlyC []string
	for _, d := range p {
		if !ic[cj(d)] {
			onlyP = append(onlyP, cj(d))
		}
	}
	for _, d := range c {
		if !ip[cj(d)] {
			onlyC = append(onlyC, cj(d))
		}
	}
	return fmt.Sprintf("contents differ:\n  only plain:     %s\n  only clustered: %s", strings.Join(onlyP, " "), strings.Join(onlyC, " "))
}

func (s *clSeq) compareEvents(evs [2][]string) string {
	if slices.Equal(evs[0], evs[1]) {
		return ""
	}
	if slices.Equal(sorted(evs[0]), sorted(evs[1])) {
		s.tol["event-order"]++
		return ""
	}
	return fmt.Sprintf("change events differ:\n  plain:     %s\n  clustered: %s", strings.Join(evs[0], "; "), strings.Join(evs[1], "; "))
}

// ---------------------------------------------------------------------------
// Reading

// contents reads a side three ways — by _id, through {k: 1, v: 1} and
// through {t: 1} — and checks they agree, that each index holds one entry
// per document, and that a few documents are found by _id, by clustered
// key and by t; it returns the contents by _id, or what is wrong.
func (s *clSeq) contents(side int) ([]bson.D, string) {
	c := s.coll[side]
	ctx := s.ctx
	byIDs := findDocs(s.t, ctx, c, bson.D{}, sortByID().SetHint("_id_"))
	want := docsKey(sortByCanon(byIDs))
	viaKV := findDocs(s.t, ctx, c, bson.D{}, throughKV())
	if got := docsKey(sortByCanon(viaKV)); got != want {
		return nil, fmt.Sprintf("through %s: %s\n  by _id: %s", clKVName, cjDocs(viaKV), cjDocs(byIDs))
	}
	for i := 1; i < len(viaKV); i++ {
		if kvCompare(viaKV[i-1], viaKV[i]) >= 0 {
			return nil, fmt.Sprintf("through %s: not in key order at %d: %s", clKVName, i, cjDocs(viaKV))
		}
	}
	if s.hasT {
		viaT := findDocs(s.t, ctx, c, bson.D{}, options.Find().SetSort(bson.D{{Key: "t", Value: int32(1)}}).SetHint(clTName))
		if got := docsKey(sortByCanon(viaT)); got != want {
			return nil, fmt.Sprintf("through %s: %s\n  by _id: %s", clTName, cjDocs(viaT), cjDocs(byIDs))
		}
		for i := 1; i < len(viaT); i++ {
			a, _ := lookup(viaT[i-1], "t")
			b, _ := lookup(viaT[i], "t")
			if bsonkit.Compare(a, b) > 0 {
				return nil, fmt.Sprintf("through %s: not in t order at %d: %s", clTName, i, cjDocs(viaT))
			}
		}
	}
	docs, entries := keyCounts(s.t, s.e, c.Name())
	if docs != len(byIDs) {
		return nil, fmt.Sprintf("%d keys in the _id keyspace for %d documents", docs, len(byIDs))
	}
	for _, name := range sortedKeys(entries) {
		if entries[name] != len(byIDs) {
			return nil, fmt.Sprintf("%d entries in %s for %d documents", entries[name], name, len(byIDs))
		}
	}
	if len(byIDs) > 0 {
		if msg := s.lookups(c, byIDs[s.pick.IntN(len(byIDs))]); msg != "" {
			return nil, msg
		}
	}
	return byIDs, ""
}

// lookups finds d by its _id, by its clustered key and by its t.
func (s *clSeq) lookups(c *Collection, d bson.D) string {
	id, _ := lookup(d, "_id")
	var got bson.D
	if err := c.FindOne(s.ctx, bson.D{{Key: "_id", Value: id}}).Decode(&got); err != nil || cj(got) != cj(d) {
		return fmt.Sprintf("FindOne _id %s: %s %v, want %s", cj(id), cj(got), err, cj(d))
	}
	if got := findDocs(s.t, s.ctx, c, kvFilter(d)); docsKey(got) != docsKey([]bson.D{d}) {
		return fmt.Sprintf("find %s: %s, want %s", j(kvFilter(d)), cjDocs(got), cj(d))
	}
	if s.hasT {
		tv, _ := lookup(d, "t")
		got := findDocs(s.t, s.ctx, c, bson.D{{Key: "t", Value: tv}}, options.Find().SetHint(clTName))
		if !slices.ContainsFunc(got, func(g bson.D) bool { return cj(g) == cj(d) }) {
			return fmt.Sprintf("find t %s through %s: %s, without %s", cj(tv), clTName, cjDocs(got), cj(d))
		}
	}
	return ""
}

// checkFull looks every document up on both sides, at the end.
func (s *clSeq) checkFull() {
	for side := range 2 {
		for _, d := range s.state {
			if msg := s.lookups(s.coll[side], d); msg != "" {
				s.differ(&clOp{desc: "final look-ups"}, "%s: %s", clSideName[side], msg)
				return
			}
		}
	}
}

// events drains a side's change stream, each event without what differs
// between the collections (ns, resume token, cluster and wall time).
func (s *clSeq) events(side int) []string {
	var out []string
	s.keys[side] = nil
	for _, ev := range drainEvents(s.t, s.stream[side]) {
		var kept bson.D
		for _, e := range ev {
			switch e.Key {
			case "_id", "ns", "clusterTime", "wallTime":
				continue
			case "documentKey":
				if kd, ok := e.Value.(bson.D); ok {
					id, _ := lookup(kd, "_id")
					s.keys[side] = append(s.keys[side], id)
				}
			}
			kept = append(kept, e)
		}
		out = append(out, cj(kept))
	}
	return out
}

// ---------------------------------------------------------------------------
// Generators. Values are small so that keys collide: k and v are small
// numbers (sometimes int64 or double of the same value), short strings,
// null or missing, never arrays; t is a number, a string or missing; x is
// anything, arrays included.

func (s *clSeq) num() any {
	n := s.r.IntN(5)
	switch s.r.IntN(10) {
	case 0:
		return int64(n)
	case 1:
		return float64(n)
	case 2:
		return float64(n) + 0.5
	}
	return int32(n)
}

func (s *clSeq) str() string { return []string{"a", "b", "c", "ab"}[s.r.IntN(4)] }

// keyVal is a value for k or v; absent{} leaves the field out.
func (s *clSeq) keyVal() any {
	switch s.r.IntN(10) {
	case 0, 1:
		return absent{}
	case 2:
		return nil
	case 3, 4:
		return s.str()
	}
	return s.num()
}

func (s *clSeq) tVal() any {
	switch s.r.IntN(8) {
	case 0:
		return absent{}
	case 1:
		return s.str()
	}
	return int32(s.r.IntN(4))
}

func (s *clSeq) xVal() any {
	switch s.r.IntN(6) {
	case 0:
		return bson.A{int32(s.r.IntN(3)), s.str()}
	case 1:
		return bson.D{{Key: "p", Value: int32(s.r.IntN(3))}}
	case 2:
		return s.str()
	}
	return s.num()
}

// id is an _id: one likely to exist (sometimes as an equal number of
// another type), a new one, or sometimes a string.
func (s *clSeq) id() any {
	if len(s.state) > 0 && s.r.IntN(3) > 0 {
		id, _ := lookup(s.state[s.r.IntN(len(s.state))], "_id")
		if n, ok := id.(int32); ok && s.r.IntN(8) == 0 {
			return []any{int64(n), float64(n)}[s.r.IntN(2)]
		}
		return id
	}
	if s.r.IntN(10) == 0 {
		return fmt.Sprintf("id%d", s.r.IntN(20))
	}
	return int32(s.r.IntN(90))
}

// freshID is an _id no document has had.
func (s *clSeq) freshID() any {
	s.nextID++
	return int32(1000 + s.nextID)
}

func (s *clSeq) doc(id any) bson.D {
	d := bson.D{{Key: "_id", Value: id}}
	for _, f := range []struct {
		key string
		val func() any
	}{{"k", s.keyVal}, {"v", s.keyVal}, {"t", s.tVal}, {"x", s.xVal}} {
		v := f.val()
		if _, ok := v.(absent); ok || (f.key == "x" && s.r.IntN(2) == 0) {
			continue
		}
		d = append(d, bson.E{Key: f.key, Value: v})
	}
	if s.r.IntN(40) == 0 {
		// Now and then a large document.
		d = append(d, bson.E{Key: "pad", Value: strings.Repeat("p", 1000+s.r.IntN(6000))})
	}
	if s.r.IntN(4) == 0 {
		rest := d[1:]
		s.r.Shuffle(len(rest), func(i, j int) { rest[i], rest[j] = rest[j], rest[i] })
	}
	return d
}

func (s *clSeq) cmpOp() string { return []string{"$gt", "$gte", "$lt", "$lte"}[s.r.IntN(4)] }

// present is a keyVal never absent.
func (s *clSeq) present() any {
	for {
		if v := s.keyVal(); v != (absent{}) {
			return v
		}
	}
}

func (s *clSeq) simpleFilter() bson.D {
	r := s.r
	switch r.IntN(24) {
	case 0:
		return bson.D{}
	case 1, 2:
		return bson.D{{Key: "_id", Value: s.id()}}
	case 3:
		return bson.D{{Key: "_id", Value: cond("$in", bson.A{s.id(), s.id(), s.id()})}}
	case 4:
		return bson.D{{Key: "_id", Value: cond(s.cmpOp(), int32(r.IntN(90)))}}
	case 5, 6:
		return bson.D{{Key: "k", Value: s.present()}}
	case 7:
		return bson.D{{Key: "k", Value: cond("$in", bson.A{s.present(), s.present()})}}
	case 8:
		return bson.D{{Key: "k", Value: cond(s.cmpOp(), s.num())}}
	case 9, 10:
		return bson.D{{Key: "k", Value: s.present()}, {Key: "v", Value: s.present()}}
	case 11:
		return bson.D{{Key: "k", Value: s.present()}, {Key: "v", Value: bson.D{{Key: "$gte", Value: s.num()}, {Key: "$lt", Value: s.num()}}}}
	case 12:
		return bson.D{{Key: "k", Value: s.present()}, {Key: "v", Value: cond("$in", bson.A{s.present(), s.present(), s.present()})}}
	case 13:
		return bson.D{{Key: "k", Value: cond("$in", bson.A{s.present(), s.present()})}, {Key: "v", Value: cond(s.cmpOp(), s.str())}}
	case 14, 15:
		return bson.D{{Key: "t", Value: s.tVal()}}
	case 16:
		return bson.D{{Key: "t", Value: cond(s.cmpOp(), int32(r.IntN(4)))}}
	case 17:
		return bson.D{{Key: "x", Value: s.xVal()}}
	case 18:
		return bson.D{{Key: []string{"k", "v", "t", "x"}[r.IntN(4)], Value: cond("$exists", r.IntN(2) == 0)}}
	case 19:
		return bson.D{{Key: "v", Value: s.present()}}
	case 20:
		return bson.D{{Key: "k", Value: s.present()}, {Key: "t", Value: s.tVal()}}
	case 21:
		return bson.D{{Key: "v", Value: cond("$type", "string")}}
	case 22:
		return bson.D{{Key: "k", Value: cond("$ne", s.present())}}
	default:
		return bson.D{{Key: "x.p", Value: int32(r.IntN(3))}}
	}
}

func (s *clSeq) filter() bson.D {
	f := s.simpleFilter()
	for i := range f {
		if _, ok := f[i].Value.(absent); ok {
			f[i].Value = nil
		}
	}
	switch s.r.IntN(8) {
	case 0:
		return bson.D{{Key: "$or", Value: bson.A{f, s.simpleFilter()}}}
	case 1:
		return bson.D{{Key: "$and", Value: bson.A{f, s.simpleFilter()}}}
	}
	return f
}

// update is an update of k, v, t and x; touchKey allows k and v.
func (s *clSeq) update(touchKey bool) bson.D {
	r := s.r
	used := map[string]bool{}
	u := bson.D{}
	add := func(op, field string, v any) {
		if used[field] || (!touchKey && (field == "k" || field == "v")) {
			return
		}
		used[field] = true
		u = withOperator(u, op, field, v)
	}
	for n := 1 + r.IntN(3); len(u) == 0 || n > 0; n-- {
		field := []string{"k", "v", "v", "t", "x"}[r.IntN(5)]
		switch r.IntN(7) {
		case 0, 1, 2:
			v := s.keyVal()
			switch field {
			case "t":
				v = s.tVal()
			case "x":
				v = s.xVal()
			}
			if _, ok := v.(absent); ok {
				add("$unset", field, "")
			} else {
				add("$set", field, v)
			}
		case 3, 4:
			add("$inc", field, []any{int32(1), int32(-1), int64(1), int32(2)}[r.IntN(4)])
		case 5:
			add("$unset", field, "")
		default:
			add("$set", field, s.num())
		}
	}
	return u
}

// upsertable adds to an upsert's update a $setOnInsert of a fresh _id,
// unless its filter names _id; it reports whether the upsert may run (a
// generated ObjectID would differ between the sides).
func (s *clSeq) upsertable(filter, update bson.D) (bson.D, bool) {
	if v, ok := lookup(filter, "_id"); ok {
		if _, isCond := v.(bson.D); isCond {
			return update, false
		}
		return update, true
	}
	return append(dcopy(update), bson.E{Key: "$setOnInsert", Value: bson.D{{Key: "_id", Value: s.freshID()}}}), true
}

// sortSpec picks a sort; total when it orders every document (the unique
// {k, v} or _id decides).
func (s *clSeq) sortSpec(needTotal bool) (bson.D, bool) {
	d := func() int32 { return int32(1 - 2*s.r.IntN(2)) }
	specs := []struct {
		spec  bson.D
		total bool
	}{
		{bson.D{{Key: "k", Value: d()}, {Key: "v", Value: d()}}, true},
		{bson.D{{Key: "k", Value: d()}, {Key: "v", Value: d()}}, true},
		{bson.D{{Key: "v", Value: d()}, {Key: "k", Value: d()}}, true},
		{bson.D{{Key: "_id", Value: d()}}, true},
		{bson.D{{Key: "t", Value: d()}, {Key: "_id", Value: d()}}, true},
		{bson.D{{Key: "k", Value: d()}, {Key: "_id", Value: d()}}, true},
		{bson.D{{Key: "k", Value: d()}}, false},
		{bson.D{{Key: "t", Value: d()}}, false},
		{bson.D{{Key: "v", Value: d()}}, false},
	}
	for {
		sp := specs[s.r.IntN(len(specs))]
		if sp.total || !needTotal {
			return sp.spec, sp.total
		}
	}
}

// projection keeps _id (answers are matched to documents by it).
func (s *clSeq) projection() bson.D {
	projs := []bson.D{
		nil, nil,
		{{Key: "k", Value: int32(1)}, {Key: "v", Value: int32(1)}},
		{{Key: "t", Value: int32(0)}},
		{{Key: "x", Value: int32(1)}},
		{{Key: "k", Value: int32(0)}, {Key: "x", Value: int32(0)}},
	}
	return dcopy(projs[s.r.IntN(len(projs))])
}

func (s *clSeq) genOp() *clOp {
	return pickWeighted(s.r, []weighted[*clOp]{
		{16, s.insertOneOp},
		{9, s.insertManyOp},
		{8, func() *clOp { return s.updateOp(false) }},
		{5, func() *clOp { return s.updateOp(true) }},
		{4, s.replaceOneOp},
		{3, func() *clOp { return s.deleteOp(false) }},
		{1, func() *clOp { return s.deleteOp(true) }},
		{4, s.findOneAndUpdateOp},
		{2, s.findOneAndReplaceOp},
		{2, s.findOneAndDeleteOp},
		{14, func() *clOp { return s.findOp(false) }},
		{4, s.countOp},
		{3, s.distinctOp},
		{4, s.bulkOp},
		{4, s.txnOp},
		{1, s.indexAgainOp},
	})
}

// createTOp creates {t: 1}, over the documents there are.
func (s *clSeq) createTOp() *clOp {
	return &clOp{
		desc: "CreateIndex t_1",
		run: func(ctx context.Context, c *Collection, _ bson.D) clOutcome {
			name, err := c.Indexes().CreateOne(ctx, clTModel())
			return clOutcome{err: err, n: name}
		},
		after: func() { s.hasT = true },
	}
}

// indexAgainOp asks for {k: 1, v: 1} again as it was made (clustered or
// not), which does nothing, or drops and remakes {t: 1}.
func (s *clSeq) indexAgainOp() *clOp {
	if s.hasT && s.r.IntN(2) == 0 {
		return &clOp{
			desc: "DropOne t_1, CreateIndex t_1",
			run: func(ctx context.Context, c *Collection, _ bson.D) clOutcome {
				if _, err := c.Indexes().DropOne(ctx, clTName); err != nil {
					return clOutcome{err: err}
				}
				name, err := c.Indexes().CreateOne(ctx, clTModel())
				return clOutcome{err: err, n: name}
			},
		}
	}
	return &clOp{
		desc: "CreateIndex k_1_v_1 again",
		run: func(ctx context.Context, c *Collection, _ bson.D) clOutcome {
			m := mongo.IndexModel{Keys: clKV, Options: options.Index().SetUnique(true)}
			if c.Name() == "clustered" {
				m = clusteredModel(clKV)
			}
			name, err := c.Indexes().CreateOne(ctx, m)
			return clOutcome{err: err, n: name}
		},
	}
}

func (s *clSeq) insertOneOp() *clOp {
	d := s.doc(s.id())
	if s.r.IntN(3) > 0 {
		d[0].Value = s.freshID()
	}
	return &clOp{
		desc: "InsertOne " + j(d),
		run: func(ctx context.Context, c *Collection, _ bson.D) clOutcome {
			res, err := c.InsertOne(ctx, dcopy(d))
			o := clOutcome{err: err}
			if err == nil {
				o.n = "id=" + cj(res.InsertedID)
			}
			return o
		},
	}
}

func (s *clSeq) insertManyOp() *clOp {
	docs := make([]any, 1+s.r.IntN(5))
	for i := range docs {
		id := s.id()
		if s.r.IntN(3) > 0 {
			id = s.freshID()
		}
		docs[i] = s.doc(id)
	}
	ordered := s.r.IntN(2) == 0
	return &clOp{
		desc: fmt.Sprintf("InsertMany ordered=%v %s", ordered, j(docs)),
		run: func(ctx context.Context, c *Collection, _ bson.D) clOutcome {
			res, err := c.InsertMany(ctx, dcopy(docs), options.InsertMany().SetOrdered(ordered))
			o := clOutcome{err: err, failed: failedModels(err)}
			if res != nil {
				o.n = "ids=" + cj(bson.A(res.InsertedIDs))
			}
			return o
		},
	}
}

func updateResult2(res *mongo.UpdateResult, err error) clOutcome {
	o := clOutcome{err: err}
	if err == nil && res != nil {
		o.n = fmt.Sprintf("matched=%d modified=%d upserted=%d id=%s", res.MatchedCount, res.ModifiedCount, res.UpsertedCount, cj(res.UpsertedID))
	}
	return o
}

func (s *clSeq) updateOp(many bool) *clOp {
	filter, update := s.filter(), s.update(true)
	upsert := s.r.IntN(4) == 0
	if upsert {
		update, upsert = s.upsertable(filter, update)
	}
	name := "UpdateOne"
	if many {
		name = "UpdateMany"
	}
	return &clOp{
		desc:   fmt.Sprintf("%s filter=%s update=%s upsert=%v", name, j(filter), j(update), upsert),
		filter: filter, update: update, one: !many, many: many,
		run: func(ctx context.Context, c *Collection, f bson.D) clOutcome {
			return updateResult2(updateDocs(ctx, c, f, update, upsert, many))
		},
	}
}

func (s *clSeq) replacement(upsert bool) bson.D {
	d := s.doc(nil)[1:]
	if upsert {
		// An upsert's document gets this _id (a match fails: _id is
		// immutable).
		d = append(bson.D{{Key: "_id", Value: s.freshID()}}, d...)
	}
	return d
}

// replaceArgs picks a replace's filter, whether it upserts (never when
// the filter names _id) and its replacement.
func (s *clSeq) replaceArgs() (filter, repl bson.D, upsert bool) {
	filter = s.filter()
	upsert = s.r.IntN(4) == 0
	if _, ok := lookup(filter, "_id"); ok {
		upsert = false
	}
	return filter, s.replacement(upsert), upsert
}

func (s *clSeq) replaceOneOp() *clOp {
	filter, repl, upsert := s.replaceArgs()
	return &clOp{
		desc:   fmt.Sprintf("ReplaceOne filter=%s replacement=%s upsert=%v", j(filter), j(repl), upsert),
		filter: filter, one: true,
		run: func(ctx context.Context, c *Collection, f bson.D) clOutcome {
			return updateResult2(c.ReplaceOne(ctx, f, dcopy(repl), options.Replace().SetUpsert(upsert)))
		},
	}
}

func (s *clSeq) deleteOp(many bool) *clOp {
	filter := s.filter()
	if many {
		// Narrow, to keep documents.
		filter = bson.D{{Key: "$and", Value: bson.A{filter, bson.D{{Key: "t", Value: s.tVal()}}}}}
	}
	name := "DeleteOne"
	if many {
		name = "DeleteMany"
	}
	return &clOp{
		desc:   fmt.Sprintf("%s filter=%s", name, j(filter)),
		filter: filter, one: !many,
		run: func(ctx context.Context, c *Collection, f bson.D) clOutcome {
			n, err := deleteDocs(ctx, c, f, many)
			return clOutcome{err: err, n: n}
		},
	}
}

// famOpts picks a findOneAnd*'s sort, projection and returned version,
// with upsert as given.
func (s *clSeq) famOpts(upsert bool) (findOneAndOpts, string) {
	fo := findOneAndOpts{upsert: upsert}
	if s.r.IntN(2) == 0 {
		fo.sort, _ = s.sortSpec(false)
	}
	fo.proj = s.projection()
	fo.after = s.r.IntN(2) == 0
	return fo, fmt.Sprintf(" sort=%s projection=%s after=%v", j(fo.sort), j(fo.proj), fo.after)
}

func (s *clSeq) findOneAndUpdateOp() *clOp {
	filter, update := s.filter(), s.update(true)
	upsert := s.r.IntN(4) == 0
	if upsert {
		update, upsert = s.upsertable(filter, update)
	}
	fo, desc := s.famOpts(upsert)
	return &clOp{
		desc:   fmt.Sprintf("FindOneAndUpdate filter=%s update=%s upsert=%v%s", j(filter), j(update), upsert, desc),
		filter: filter, sort: fo.sort, update: update, one: true, returnsDoc: true, mode: docsSingle,
		run: func(ctx context.Context, c *Collection, f bson.D) clOutcome {
			docs, err := fo.update(ctx, c, f, update)
			return clOutcome{err: err, docs: docs}
		},
	}
}

func (s *clSeq) findOneAndReplaceOp() *clOp {
	filter, repl, upsert := s.replaceArgs()
	fo, desc := s.famOpts(upsert)
	return &clOp{
		desc:   fmt.Sprintf("FindOneAndReplace filter=%s replacement=%s upsert=%v%s", j(filter), j(repl), upsert, desc),
		filter: filter, sort: fo.sort, one: true, returnsDoc: true, mode: docsSingle,
		run: func(ctx context.Context, c *Collection, f bson.D) clOutcome {
			docs, err := fo.replace(ctx, c, f, repl)
			return clOutcome{err: err, docs: docs}
		},
	}
}

func (s *clSeq) findOneAndDeleteOp() *clOp {
	filter := s.filter()
	fo, desc := s.famOpts(false)
	return &clOp{
		desc:   fmt.Sprintf("FindOneAndDelete filter=%s%s", j(filter), desc),
		filter: filter, sort: fo.sort, one: true, returnsDoc: true, mode: docsSingle,
		run: func(ctx context.Context, c *Collection, f bson.D) clOutcome {
			docs, err := fo.delete(ctx, c, f)
			return clOutcome{err: err, docs: docs}
		},
	}
}

// findOp is a find; one in a transaction projects nothing (its sort keys
// are read from the documents it returns, not from the contents before).
func (s *clSeq) findOp(inTxn bool) *clOp {
	r := s.r
	op := &clOp{filter: s.filter(), mode: docsSet}
	var skip, limit int64
	if r.IntN(4) == 0 {
		skip = int64(1 + r.IntN(4))
	}
	if r.IntN(3) == 0 {
		limit = int64(1 + r.IntN(5))
	}
	if skip > 0 || limit > 0 || r.IntN(2) == 0 {
		op.sort, op.total = s.sortSpec(skip > 0 || limit > 0)
		op.mode = docsSorted
	}
	proj := s.projection()
	if inTxn {
		proj = nil
	}
	op.projected = proj != nil
	op.desc = fmt.Sprintf("Find filter=%s sort=%s skip=%d limit=%d projection=%s", j(op.filter), j(op.sort), skip, limit, j(proj))
	op.run = func(ctx context.Context, c *Collection, f bson.D) clOutcome {
		var sortArg any
		if op.sort != nil {
			sortArg = op.sort
		}
		plan := "in a transaction"
		if sessionFrom(ctx) == nil {
			var err error
			if plan, err = c.Explain(ctx, f, sortArg); err != nil {
				return clOutcome{err: err}
			}
			if c.Name() == "clustered" {
				s.plans[plan]++
			}
		}
		docs, err := findSpec{sort: op.sort, proj: proj, skip: skip, limit: limit}.find(ctx, c, f)
		return clOutcome{err: err, docs: docs, n: "plan=" + plan}
	}
	return op
}

func (s *clSeq) countOp() *clOp {
	filter := s.filter()
	skip, limit := skipLimit(s.r, 4)
	return &clOp{
		desc:   fmt.Sprintf("CountDocuments filter=%s skip=%d limit=%d", j(filter), skip, limit),
		filter: filter,
		run: func(ctx context.Context, c *Collection, f bson.D) clOutcome {
			n, err := countDocs(ctx, c, f, skip, limit)
			return clOutcome{err: err, n: n}
		},
	}
}

func (s *clSeq) distinctOp() *clOp {
	filter := s.filter()
	field := []string{"k", "v", "t", "x", "_id"}[s.r.IntN(5)]
	return &clOp{
		desc:   fmt.Sprintf("Distinct field=%s filter=%s", field, j(filter)),
		filter: filter,
		run: func(ctx context.Context, c *Collection, f bson.D) clOutcome {
			vals, err := c.Distinct(ctx, field, f)
			return clOutcome{err: err, vals: vals, hasVals: err == nil}
		},
	}
}

// bulkOp is a BulkWrite whose single-document models select by _id (never
// ambiguous) and whose update-many models change neither k nor v (never
// fail, whatever the order).
func (s *clSeq) bulkOp() *clOp {
	r := s.r
	n := 2 + r.IntN(5)
	models := make(bulkModels, 0, n)
	for range n {
		switch r.IntN(7) {
		case 0, 1:
			models.insertOne(s.doc(s.id()))
		case 2:
			f, u := bson.D{{Key: "_id", Value: s.id()}}, s.update(true)
			models.updateOne(f, u, r.IntN(3) == 0)
		case 3:
			f, rep := bson.D{{Key: "_id", Value: s.id()}}, s.replacement(false)
			models.replaceOne(f, rep, r.IntN(3) == 0)
		case 4:
			models.deleteOne(bson.D{{Key: "_id", Value: s.id()}})
		case 5:
			models.deleteMany(bson.D{{Key: "k", Value: s.present()}, {Key: "t", Value: s.tVal()}})
		default:
			models.updateMany(s.filter(), s.update(false))
		}
	}
	ordered := r.IntN(2) == 0
	return &clOp{
		desc: models.desc(ordered),
		run: func(ctx context.Context, c *Collection, _ bson.D) clOutcome {
			res, err := models.write(ctx, c, ordered)
			o := clOutcome{err: err, failed: failedModels(err)}
			if res != nil {
				o.n = fmt.Sprintf("inserted=%d matched=%d modified=%d deleted=%d upserted=%d ids=%s",
					res.InsertedCount, res.MatchedCount, res.ModifiedCount, res.DeletedCount, res.UpsertedCount, cj(upsertedIDs(res.UpsertedIDs)))
			}
			return o
		},
	}
}

func upsertedIDs(m map[int64]any) bson.D {
	d := bson.D{}
	for _, k := range sortedKeys(m) {
		d = append(d, bson.E{Key: strconv.FormatInt(k, 10), Value: m[k]})
	}
	return d
}

// txnOp is a transaction of a few operations whose targets are never
// ambiguous: moves by _id, inserts (sometimes of an _id or key that
// exists, which aborts it), deletes, updates of many that change neither
// k nor v, and reads. Some abort deliberately at the end.
func (s *clSeq) txnOp() *clOp {
	r := s.r
	var subs []*clOp
	for range 2 + r.IntN(4) {
		switch r.IntN(13) {
		case 0, 1:
			subs = append(subs, s.insertOneOp())
		case 2:
			subs = append(subs, s.insertManyOp())
		case 3, 4:
			f, u := bson.D{{Key: "_id", Value: s.id()}}, s.update(true)
			subs = append(subs, &clOp{desc: fmt.Sprintf("UpdateOne filter=%s update=%s", j(f), j(u)), filter: f,
				run: func(ctx context.Context, c *Collection, f bson.D) clOutcome {
					return updateResult2(c.UpdateOne(ctx, f, dcopy(u)))
				}})
		case 8:
			f, u := bson.D{{Key: "_id", Value: s.id()}}, s.update(true)
			after := r.IntN(2) == 0
			subs = append(subs, &clOp{desc: fmt.Sprintf("FindOneAndUpdate filter=%s update=%s after=%v", j(f), j(u), after), filter: f, mode: docsSingle,
				run: func(ctx context.Context, c *Collection, f bson.D) clOutcome {
					docs, err := singleDocs(c.FindOneAndUpdate(ctx, f, dcopy(u), options.FindOneAndUpdate().SetReturnDocument(returnDoc(after))))
					return clOutcome{err: err, docs: docs}
				}})
		case 9:
			f, rep := bson.D{{Key: "_id", Value: s.id()}}, s.replacement(false)
			subs = append(subs, &clOp{desc: fmt.Sprintf("ReplaceOne filter=%s replacement=%s", j(f), j(rep)), filter: f,
				run: func(ctx context.Context, c *Collection, f bson.D) clOutcome {
					return updateResult2(c.ReplaceOne(ctx, f, dcopy(rep)))
				}})
		case 5:
			op := s.deleteOp(false)
			op.filter = bson.D{{Key: "_id", Value: s.id()}}
			op.desc, op.one = "DeleteOne filter="+j(op.filter), false
			subs = append(subs, op)
		case 6:
			op := s.deleteOp(true)
			op.one = false
			subs = append(subs, op)
		case 7:
			f, u := s.filter(), s.update(false)
			subs = append(subs, &clOp{desc: fmt.Sprintf("UpdateMany filter=%s update=%s", j(f), j(u)), filter: f,
				run: func(ctx context.Context, c *Collection, f bson.D) clOutcome {
					return updateResult2(c.UpdateMany(ctx, f, dcopy(u)))
				}})
		default:
			switch r.IntN(3) {
			case 0:
				subs = append(subs, s.findOp(true))
			case 1:
				subs = append(subs, s.countOp())
			default:
				subs = append(subs, s.distinctOp())
			}
		}
	}
	abort := r.IntN(5) == 0
	descs := make([]string, len(subs))
	for i, op := range subs {
		descs[i] = op.desc
	}
	return &clOp{desc: fmt.Sprintf("WithTransaction abort=%v [%s]", abort, strings.Join(descs, "; ")), txn: subs, abort: abort}
}
