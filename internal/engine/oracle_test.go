package engine

// Differential test: the engine against lungo, the previous engine, as an
// oracle. lungo's own tests check its semantics against MongoDB; where lungo
// is known to differ from MongoDB (or to crash), the difference is in
// oracleTolerated below with its reason, and the test checks what it can of
// ours instead. Anything else where ours disagrees with lungo is reported.
//
// One lungo difference is avoided rather than tolerated: for a unique index
// over a path through an array of subdocuments ("c.x" with c: [{y}, {x}]),
// MongoDB (and ours) index a null key for an element without the field
// (mongo jstests/core/indexv.js), lungo indexes none, so the engines disagree
// on duplicates. Sequences with a unique c.x index get no such arrays.
//
// Each sequence stops at its first real difference (later ones would
// cascade). Replay one (printed with each difference) with
//
//	go test ./internal/engine -run TestOracle -oracle.only=SEED/SEQ -oracle.v

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/256dpi/lungo"
	"github.com/256dpi/lungo/bsonkit"
	"github.com/256dpi/lungo/mongokit"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
)

var (
	oracleOnly    = flag.String("oracle.only", "", "run only this differential sequence, given as SEED/SEQ")
	oracleVerbose = flag.Bool("oracle.v", false, "log every operation of the differential test")
)

// Differences between the engines that the test tolerates. Each is counted
// in the summary; where the test can, it checks ours some other way.
const (
	tolLungoPanic          = "lungo-panic"
	tolLungoPanicUnchecked = "lungo-panic-unchecked"
	tolMultiUpdate         = "multi-update-per-document"
	tolAmbiguous           = "ambiguous-one-target"
	tolErrorText           = "error-text"
	tolTieOrder            = "sort-tie-order"
	tolTieCut              = "sort-tie-at-skip-limit-cut"
	tolEventOrder          = "event-order-within-op"
	tolDistinctType        = "distinct-numeric-type"
	tolUpsertIDFirst       = "upsert-id-position"
)

var oracleTolerated = map[string]string{
	tolLungoPanic: "lungo panics comparing binary (UUID) _ids with == in update/replace; " +
		"ours' effect is checked against mongokit.Apply, then lungo is resynced from ours",
	tolLungoPanicUnchecked: "of those, panics inside a bulk write or transaction: that op of ours is not checked, lungo is resynced from ours",
	tolMultiUpdate: "multi-document update: MongoDB and ours apply it document by document and keep those done before a failure; " +
		"lungo applies all or none and checks unique indexes on the final set; ours' partial effect and its error are verified",
	tolAmbiguous: "update/replace/delete-one whose filter matches several documents may act on any of them (MongoDB: unspecified); " +
		"lungo is re-run on the document ours chose, checked to be a candidate",
	tolErrorText:     "error messages and codes differ; errors are compared by class (none / duplicate key / no document / other)",
	tolTieOrder:      "documents with equal sort keys come in scan order, which differs between the engines",
	tolTieCut:        "at a skip/limit cut through documents with equal sort keys the engines may keep different ones",
	tolEventOrder:    "change events of one multi-document operation (or transaction) come in scan order",
	tolUpsertIDFirst: "lungo leaves an upserted document's _id where the filter had it; MongoDB and ours put _id first (lungo's documents are compared with _id moved first)",
	tolDistinctType: "Distinct keeps the first of numerically equal values (1, 1.0, NumberLong(1)), " +
		"whose type depends on scan order",
}

const (
	ours = 0
	ref  = 1 // lungo
)

var sideName = [2]string{"ours", "lungo"}

func TestOracle(t *testing.T) {
	seeds := []uint64{1, 2, 3, 4}
	perSeed, nops := 50, 60
	if testing.Short() {
		perSeed, nops = 10, 40
	}
	st := &oracleStats{ops: map[string]int{}, tol: map[string]int{}, plans: map[string]int{}}
	start := time.Now()
	if *oracleOnly != "" {
		var seed uint64
		var seq int
		if _, err := fmt.Sscanf(*oracleOnly, "%d/%d", &seed, &seq); err != nil {
			t.Fatalf("-oracle.only=%q: want SEED/SEQ", *oracleOnly)
		}
		runOracleSeq(t, st, seed, seq, nops)
	} else {
		for _, seed := range seeds {
			for seq := 0; seq < perSeed; seq++ {
				runOracleSeq(t, st, seed, seq, nops)
			}
		}
	}
	st.report(t, time.Since(start))
}

// oracleStats is what the summary prints.
type oracleStats struct {
	seqs, opsRun int
	ops          map[string]int
	tol          map[string]int
	plans        map[string]int
	diffs        []string
}

func (st *oracleStats) report(t *testing.T, took time.Duration) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "oracle: %d sequences, %d operations in %v; %d stopped at a difference\n", st.seqs, st.opsRun, took.Round(time.Millisecond), len(st.diffs))
	b.WriteString("operations run per kind:\n")
	for _, k := range sortedKeys(st.ops) {
		fmt.Fprintf(&b, "  %-20s %6d\n", k, st.ops[k])
	}
	b.WriteString("tolerated differences per reason:\n")
	for _, k := range sortedKeys(oracleTolerated) {
		fmt.Fprintf(&b, "  %-28s %6d  %s\n", k, st.tol[k], oracleTolerated[k])
	}
	b.WriteString("plans of our finds and counts (Explain):\n")
	for _, k := range sortedKeys(st.plans) {
		fmt.Fprintf(&b, "  %-32s %6d\n", k, st.plans[k])
	}
	t.Log(b.String())
	const show = 12
	for i, d := range st.diffs {
		if i == show {
			t.Errorf("... and %d more differences", len(st.diffs)-show)
			break
		}
		t.Error(d)
	}
}

// sortedKeys are m's keys in order.
func sortedKeys[K cmp.Ordered, V any](m map[K]V) []K {
	return slices.Sorted(maps.Keys(m))
}

// oracleIndex is an index a sequence may create.
type oracleIndex struct {
	keys   bson.D
	unique bool
}

func (ix oracleIndex) name() string {
	parts := make([]string, 0, len(ix.keys))
	for _, k := range ix.keys {
		parts = append(parts, fmt.Sprintf("%s_%v", k.Key, k.Value))
	}
	return strings.Join(parts, "_")
}

func (ix oracleIndex) String() string {
	s := ix.name()
	if ix.unique {
		s += " (unique)"
	}
	return s
}

// oracleSeq is one random sequence of operations run on both engines.
type oracleSeq struct {
	t      *testing.T
	ctx    context.Context
	name   string
	r      *rand.Rand
	st     *oracleStats
	cl     [2]lungo.IClient
	coll   [2]lungo.ICollection
	stream [2]lungo.IChangeStream
	// gen maps the ObjectIDs each engine generated (upserts, inserts
	// without _id) to a shared index, so the two can be compared.
	gen   [2]map[primitive.ObjectID]int
	ngen  int
	state [2][]bson.D // the collection after the last operation, by _id
	menu  []oracleIndex
	// uniqueCX is set when the menu has a unique index on c.x.
	uniqueCX bool
	made     []oracleIndex
	log      []string
	// seenIDFirst are lungo's documents idFirst reordered.
	seenIDFirst map[string]bool
	i           int
	// failed stops the sequence at its first real difference; poisoned
	// means ours panicked and its engine may hold its lock.
	failed, poisoned bool
}

func runOracleSeq(t *testing.T, st *oracleStats, seed uint64, seq, nops int) {
	t.Helper()
	ctx := context.Background()
	e, err := Open(ctx, Options{})
	if err != nil {
		t.Fatalf("open engine: %v", err)
	}
	lc, le, err := lungo.Open(ctx, lungo.Options{Store: lungo.NewMemoryStore(), MinOplogSize: 1 << 20, MaxOplogSize: 1 << 21})
	if err != nil {
		t.Fatalf("open lungo: %v", err)
	}
	s := &oracleSeq{
		t: t, ctx: ctx, st: st, name: fmt.Sprintf("%d/%d", seed, seq),
		r:           rand.New(rand.NewPCG(seed, uint64(seq))),
		cl:          [2]lungo.IClient{e.Client(), lc},
		gen:         [2]map[primitive.ObjectID]int{{}, {}},
		seenIDFirst: map[string]bool{},
	}
	defer func() {
		le.Close()
		if !s.poisoned {
			_ = e.Close()
		}
	}()
	for side := range 2 {
		s.coll[side] = s.cl[side].Database("oracle").Collection("c")
		cs, err := s.coll[side].Watch(ctx, bson.A{})
		if err != nil {
			t.Fatalf("%s: watch: %v", sideName[side], err)
		}
		s.stream[side] = cs
		defer cs.Close(ctx)
	}
	st.seqs++
	s.menu = s.pickIndexes()
	s.uniqueCX = slices.ContainsFunc(s.menu, func(ix oracleIndex) bool { return ix.unique && ix.keys[0].Key == "c.x" })
	for _, ix := range s.menu {
		if s.r.IntN(2) == 0 && !s.failed {
			s.step(s.createIndexOp(ix))
		}
	}
	for s.i = 0; s.i < nops && !s.failed; s.i++ {
		s.step(s.genOp())
	}
}

func (s *oracleSeq) logf(format string, args ...any) {
	line := fmt.Sprintf("#%d ", s.i) + fmt.Sprintf(format, args...)
	s.log = append(s.log, line)
	if *oracleVerbose {
		s.t.Log(s.name + " " + line)
	}
}

// differ records a real difference and stops the sequence.
func (s *oracleSeq) differ(op *oracleOp, before []bson.D, format string, args ...any) {
	s.failed = true
	recent := lastLines(s.log, 14)
	made := make([]string, len(s.made))
	for i, ix := range s.made {
		made[i] = ix.String()
	}
	s.st.diffs = append(s.st.diffs, fmt.Sprintf("oracle %s op #%d %s:\n  %s\n  indexes: %v\n  collection before (ours): %s\n  recent ops (replay: -oracle.only=%s -oracle.v):\n    %s",
		s.name, s.i, op.desc, fmt.Sprintf(format, args...), made, s.canonList(ours, before), s.name, strings.Join(recent, "\n    ")))
}

// ---------------------------------------------------------------------------
// Operations

// outcome is what one engine answered to an operation.
type outcome struct {
	err               error
	panic             any
	matched, modified int64
	n                 string        // the result counts, printed
	ids               []any         // inserted or upserted ids, in order
	upserted          map[int64]any // bulk write: upserted ids by model
	failed            []string      // bulk write: "index:class" of failed models
	docs              []bson.D      // documents returned
	vals              []any         // Distinct
	hasVals           bool
}

type docMode int

const (
	docsNone   docMode = iota
	docsSet            // order does not matter
	docsSorted         // sorted by sortSpec; ties may come in any order
	docsSingle         // one document
)

// oracleOp is one operation, run the same way on each engine.
type oracleOp struct {
	kind string
	desc string
	run  func(ctx context.Context, c lungo.ICollection, filter bson.D) outcome

	filter  bson.D
	sort    bson.D // find / findOneAnd* sort
	skip    bool   // find with skip
	limit   int64  // find limit
	mode    docMode
	partial bool // results are meaningful with an error (InsertMany, BulkWrite)

	// For *One updates, replaces and deletes: they act on the first
	// matching document, which is ambiguous when several match.
	one        bool
	returnsDoc bool
	// For checking ours where lungo cannot tell (see verifyEffect).
	update  bson.D
	replace bson.D
	many    bool
	upsert  bool

	txn   []*oracleOp // a transaction's operations
	after func(o0, o1 outcome)
}

func (s *oracleSeq) step(op *oracleOp) {
	s.st.ops[op.kind]++
	s.st.opsRun++
	s.logf("%s", op.desc)
	if op.txn != nil {
		s.runTxn(op)
		return
	}
	before := s.state[ours]
	if op.one {
		if cands := s.candidates(op); len(cands) > 1 {
			s.st.tol[tolAmbiguous]++
			s.runAmbiguous(op, before, cands)
			return
		}
	}
	o0 := s.exec(s.ctx, ours, op, op.filter)
	o1 := s.exec(s.ctx, ref, op, op.filter)
	s.settle(op, before, o0, o1)
}

// exec runs op on one engine, turning a panic into an outcome.
func (s *oracleSeq) exec(ctx context.Context, side int, op *oracleOp, filter bson.D) (o outcome) {
	defer func() {
		if p := recover(); p != nil {
			o = outcome{panic: p, err: fmt.Errorf("panic: %v", p)}
			if side == ours {
				s.poisoned = true
			}
		}
	}()
	o = op.run(ctx, s.coll[side], dcopy(filter))
	if side == ref {
		for i := range o.docs {
			o.docs[i] = s.idFirst(o.docs[i])
		}
	}
	return o
}

// settle compares the outcomes, the collections and the change events of
// an operation both engines ran.
func (s *oracleSeq) settle(op *oracleOp, before []bson.D, o0, o1 outcome) {
	after0, after1 := s.dump(ours), s.dump(ref)
	ev0, ev1 := s.drain(ours), s.drain(ref)
	s.pair(collectIDs(after0, ev0, o0), collectIDs(after1, ev1, o1))
	if o0.panic != nil {
		s.differ(op, before, "ours panicked: %v", o0.panic)
		return
	}
	if o1.panic != nil {
		s.st.tol[tolLungoPanic]++
		if op.update == nil && op.replace == nil {
			s.st.tol[tolLungoPanicUnchecked]++
			s.resync(op, before, after0)
			return
		}
		if msg := s.verifyEffect(op, before, after0, o0); msg != "" {
			s.differ(op, before, "lungo panicked (%v) and ours' effect is wrong: %s", o1.panic, msg)
			return
		}
		s.resync(op, before, after0)
		return
	}
	msg := s.compareOutcome(op, o0, o1)
	if msg == "" {
		msg = s.compareStates(after0, after1)
	}
	if msg == "" {
		msg = s.compareEvents(ev0, ev1)
	}
	if msg == "" {
		s.state = [2][]bson.D{after0, after1}
		if op.after != nil {
			op.after(o0, o1)
		}
		return
	}
	if op.many && o0.err != nil && (o1.err == nil || s.canonList(ref, after1) == s.canonList(ref, s.state[ref])) {
		if v := s.verifyEffect(op, before, after0, o0); v == "" {
			s.st.tol[tolMultiUpdate]++
			s.resync(op, before, after0)
			return
		}
	}
	s.differ(op, before, "%s\n  ours:  %s\n  lungo: %s", msg, s.describe(ours, o0), s.describe(ref, o1))
}

// candidates returns the documents a *One operation may act on (per lungo).
func (s *oracleSeq) candidates(op *oracleOp) []bson.D {
	fo := options.Find()
	if len(op.sort) > 0 {
		fo.SetSort(op.sort)
	}
	cur, err := s.coll[ref].Find(s.ctx, dcopy(op.filter), fo)
	if err != nil {
		return nil
	}
	docs, err := readAll(s.ctx, cur)
	if err != nil {
		return nil
	}
	if len(op.sort) > 0 && len(docs) > 1 {
		sd := op.sort
		cols, err := mongokit.Columns(&sd)
		if err != nil {
			return nil
		}
		docs = docs[:tieEnd(docs, 0, cols)]
	}
	return docs
}

// runAmbiguous runs a *One operation whose filter matches several
// documents: ours first, then lungo on the document ours chose.
func (s *oracleSeq) runAmbiguous(op *oracleOp, before []bson.D, cands []bson.D) {
	o0 := s.exec(s.ctx, ours, op, op.filter)
	if o0.panic != nil {
		s.settle(op, before, o0, outcome{})
		return
	}
	after0 := s.dump(ours)
	var chosen any
	found := false
	if op.returnsDoc && o0.err == nil && len(o0.docs) == 1 {
		chosen, found = lookup(o0.docs[0], "_id")
	} else if ch := changedIDs(s, before, after0); len(ch) == 1 {
		chosen, found = ch[0], true
	}
	if found {
		ok := false
		for _, c := range cands {
			if id, _ := lookup(c, "_id"); s.canon(ours, chosen) == s.canon(ref, id) {
				ok = true
			}
		}
		if !ok {
			s.differ(op, before, "ours acted on _id %s, which is not among the documents the filter selects first: %s",
				s.canon(ours, chosen), s.canonList(ref, cands))
			return
		}
		f := bson.D{{Key: "$and", Value: bson.A{op.filter, bson.D{{Key: "_id", Value: s.toRef(chosen)}}}}}
		o1 := s.exec(s.ctx, ref, op, f)
		s.settle(op, before, o0, o1)
		return
	}
	// Ours changed nothing (a no-op or an error): some candidate must give
	// lungo the same outcome, which probe finds without changing lungo.
	if s.canonList(ours, after0) != s.canonList(ours, before) {
		s.differ(op, before, "ours changed several documents: %s", s.canonList(ours, after0))
		return
	}
	var tried []string
	for _, c := range cands {
		id, _ := lookup(c, "_id")
		f := bson.D{{Key: "$and", Value: bson.A{op.filter, bson.D{{Key: "_id", Value: id}}}}}
		o1 := s.probe(op, f)
		if o1.panic != nil {
			s.st.tol[tolLungoPanic]++
			s.settle(op, before, o0, o1)
			return
		}
		if s.compareOutcome(op, o0, o1) == "" {
			s.settle(op, before, o0, outcome{err: o0.err, matched: o0.matched, modified: o0.modified, n: o0.n, docs: o1.docs})
			return
		}
		tried = append(tried, s.describe(ref, o1))
	}
	s.differ(op, before, "no candidate document gives ours' outcome\n  ours: %s\n  lungo per candidate: %s", s.describe(ours, o0), strings.Join(tried, " | "))
}

// probe runs op on lungo in a transaction it aborts.
func (s *oracleSeq) probe(op *oracleOp, filter bson.D) outcome {
	var o outcome
	err := probeTxn(s.ctx, s.cl[ref], func(sc lungo.ISessionContext) {
		o = s.exec(sc, ref, op, filter)
	})
	if err != nil {
		return outcome{err: err}
	}
	return o
}

// runTxn runs a transaction's operations on both engines, stopping (and
// aborting) at the first one that fails.
func (s *oracleSeq) runTxn(op *oracleOp) {
	before := s.state[ours]
	var outs [2][]outcome
	var errs [2]error
	lungoPanic := false
	errPanic := errors.New("operation panicked")
	for side := range 2 {
		var err error
		errs[side], err = inSessionTxn(s.ctx, s.cl[side], func(sc lungo.ISessionContext) error {
			outs[side] = outs[side][:0]
			for _, sub := range op.txn {
				o := s.exec(sc, side, sub, sub.filter)
				outs[side] = append(outs[side], o)
				if o.panic != nil {
					return errPanic
				}
				if o.err != nil {
					return o.err
				}
			}
			return nil
		})
		if err != nil {
			s.t.Fatalf("%s: start session: %v", sideName[side], err)
		}
		if side == ref && errors.Is(errs[ref], errPanic) {
			lungoPanic = true
		}
	}
	after0, after1 := s.dump(ours), s.dump(ref)
	ev0, ev1 := s.drain(ours), s.drain(ref)
	var ids [2][]any
	for side, after := range [2][]bson.D{after0, after1} {
		evs := [2][]bson.D{ev0, ev1}[side]
		ids[side] = collectIDs(after, evs, outcome{})
		for _, o := range outs[side] {
			ids[side] = append(ids[side], collectIDs(nil, nil, o)...)
		}
	}
	s.pair(ids[ours], ids[ref])
	if errors.Is(errs[ours], errPanic) {
		s.differ(op, before, "ours panicked: %v", outs[ours][len(outs[ours])-1].panic)
		return
	}
	if lungoPanic {
		s.st.tol[tolLungoPanic]++
		s.st.tol[tolLungoPanicUnchecked]++
		s.resync(op, before, after0)
		return
	}
	if errs[ours] != nil && s.canonList(ours, after0) != s.canonList(ours, before) {
		s.differ(op, before, "the transaction failed (%v) but its changes are visible: %s", errs[ours], s.canonList(ours, after0))
		return
	}
	if errs[ours] != nil && len(ev0) > 0 {
		s.differ(op, before, "the transaction failed (%v) but change events were emitted: %s", errs[ours], s.eventList(ours, ev0))
		return
	}
	var msg string
	for i := 0; i < max(len(outs[0]), len(outs[1])) && msg == ""; i++ {
		switch {
		case i >= len(outs[ours]):
			msg = fmt.Sprintf("operation %d (%s) ran on lungo only: %s", i, op.txn[i].desc, s.describe(ref, outs[ref][i]))
		case i >= len(outs[ref]):
			msg = fmt.Sprintf("operation %d (%s) ran on ours only: %s", i, op.txn[i].desc, s.describe(ours, outs[ours][i]))
		default:
			if m := s.compareOutcome(op.txn[i], outs[ours][i], outs[ref][i]); m != "" {
				msg = fmt.Sprintf("operation %d (%s): %s\n  ours:  %s\n  lungo: %s", i, op.txn[i].desc, m,
					s.describe(ours, outs[ours][i]), s.describe(ref, outs[ref][i]))
			}
		}
	}
	if msg == "" && errClass(errs[ours]) != errClass(errs[ref]) {
		msg = fmt.Sprintf("transaction error class: ours %s (%v), lungo %s (%v)", errClass(errs[ours]), errs[ours], errClass(errs[ref]), errs[ref])
	}
	if msg == "" {
		msg = s.compareStates(after0, after1)
	}
	if msg == "" {
		msg = s.compareEvents(ev0, ev1)
	}
	if msg != "" {
		s.differ(op, before, "%s", msg)
		return
	}
	s.state = [2][]bson.D{after0, after1}
}

// resync makes lungo's collection what ours is, after a tolerated
// divergence that was verified.
func (s *oracleSeq) resync(op *oracleOp, before, after0 []bson.D) {
	c := s.coll[ref]
	if _, err := c.DeleteMany(s.ctx, bson.D{}); err != nil {
		s.differ(op, before, "resync: lungo delete: %v", err)
		return
	}
	if len(after0) > 0 {
		docs := make([]any, len(after0))
		for i, d := range after0 {
			docs[i] = dcopy(d)
		}
		if _, err := c.InsertMany(s.ctx, docs, options.InsertMany().SetOrdered(true)); err != nil {
			s.differ(op, before, "resync: ours' collection does not fit lungo's indexes: %v", err)
			return
		}
	}
	// lungo now holds ours' _ids.
	s.gen[ref] = maps.Clone(s.gen[ours])
	s.drain(ref)
	after1 := s.dump(ref)
	if msg := s.compareStates(after0, after1); msg != "" {
		s.differ(op, before, "resync failed: %s", msg)
		return
	}
	s.state = [2][]bson.D{after0, after1}
}

// verifyEffect checks what ours did to the collection for an update or
// replace that lungo could not answer (it panicked) or answers differently
// by design (multi-document updates): every changed document matched the
// filter and is what mongokit.Apply makes of it, and an error is justified
// by a matching document still unchanged whose update fails or breaks a
// unique index.
func (s *oracleSeq) verifyEffect(op *oracleOp, before, after []bson.D, o outcome) string {
	if op.update == nil && op.replace == nil {
		return "not an update"
	}
	bm, am := map[string]bson.D{}, map[string]bson.D{}
	for _, d := range before {
		bm[s.idKey(ours, d)] = d
	}
	for _, d := range after {
		am[s.idKey(ours, d)] = d
	}
	for k := range bm {
		if _, ok := am[k]; !ok {
			return "document " + k + " disappeared"
		}
	}
	for k := range am {
		if _, ok := bm[k]; !ok {
			return "document " + k + " appeared"
		}
	}
	changed := 0
	var matching []bson.D
	for _, d := range before {
		k := s.idKey(ours, d)
		match, err := matches(d, op.filter)
		if err != nil {
			return "filter: " + err.Error()
		}
		now := am[k]
		same := s.canon(ours, d) == s.canon(ours, now)
		if !match {
			if !same {
				return "changed document " + k + ", which does not match the filter"
			}
			continue
		}
		matching = append(matching, d)
		if same {
			continue
		}
		changed++
		want, err := applyOp(op, d)
		if err != nil {
			return fmt.Sprintf("changed document %s, whose update fails: %v", k, err)
		}
		if s.canon(ours, want) != s.canon(ours, now) {
			return fmt.Sprintf("document %s became %s, want %s", k, s.canon(ours, now), s.canon(ours, want))
		}
	}
	if op.one && changed > 1 {
		return fmt.Sprintf("a *One operation changed %d documents", changed)
	}
	if o.err == nil {
		if op.many && o.n != "" && o.matched != int64(len(matching)) {
			return fmt.Sprintf("matched %d, %d documents match", o.matched, len(matching))
		}
		if o.n != "" && o.modified != int64(changed) {
			return fmt.Sprintf("modified %d, %d documents changed", o.modified, changed)
		}
		if op.many {
			for _, d := range matching {
				if now := am[s.idKey(ours, d)]; s.canon(ours, now) == s.canon(ours, d) {
					if want, err := applyOp(op, d); err != nil || s.canon(ours, want) != s.canon(ours, d) {
						return "matching document " + s.idKey(ours, d) + " was left unchanged"
					}
				}
			}
		}
		return ""
	}
	// The error must come from a matching document left unchanged.
	for _, d := range matching {
		k := s.idKey(ours, d)
		if s.canon(ours, am[k]) != s.canon(ours, d) {
			continue
		}
		want, err := applyOp(op, d)
		if err != nil {
			return ""
		}
		var others []bson.D
		for _, a := range after {
			if s.idKey(ours, a) != k {
				others = append(others, a)
			}
		}
		if mongo.IsDuplicateKeyError(o.err) && s.conflicts(want, others) {
			return ""
		}
	}
	return fmt.Sprintf("ours failed (%v) but no unchanged matching document fails", o.err)
}

// conflicts reports whether doc breaks a unique index among others.
func (s *oracleSeq) conflicts(doc bson.D, others []bson.D) bool {
	for _, ix := range s.made {
		if !ix.unique {
			continue
		}
		keys := dcopy(ix.keys)
		idx, err := mongokit.CreateIndex(mongokit.IndexConfig{Key: &keys, Unique: true})
		if err != nil {
			continue
		}
		for i := range others {
			o := dcopy(others[i])
			_, _ = idx.Add(&o)
		}
		d := dcopy(doc)
		if ok, _ := idx.Add(&d); !ok {
			return true
		}
	}
	return false
}

func applyOp(op *oracleOp, old bson.D) (bson.D, error) {
	id, _ := lookup(old, "_id")
	if op.replace != nil {
		d := bson.D{{Key: "_id", Value: id}}
		for _, e := range dcopy(op.replace) {
			if e.Key != "_id" {
				d = append(d, e)
			}
		}
		return d, nil
	}
	d, f, u := dcopy(old), dcopy(op.filter), dcopy(op.update)
	if _, err := mongokit.Apply(&d, &f, &u, false, nil); err != nil {
		return nil, err
	}
	return d, nil
}

func matches(d, filter bson.D) (bool, error) {
	dd, f := dcopy(d), dcopy(filter)
	return mongokit.Match(&dd, &f)
}

// changedIDs lists the _ids (ours) of documents changed or removed.
func changedIDs(s *oracleSeq, before, after []bson.D) []any {
	am := map[string]string{}
	for _, d := range after {
		am[s.idKey(ours, d)] = s.canon(ours, d)
	}
	var out []any
	for _, d := range before {
		if now, ok := am[s.idKey(ours, d)]; !ok || now != s.canon(ours, d) {
			id, _ := lookup(d, "_id")
			out = append(out, id)
		}
	}
	return out
}

// ---------------------------------------------------------------------------
// Comparison

func errClass(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, mongo.ErrNoDocuments):
		return "no-document"
	case mongo.IsDuplicateKeyError(err) || lungo.IsUniquenessError(err):
		return "duplicate-key"
	}
	return "error"
}

func (s *oracleSeq) compareOutcome(op *oracleOp, o0, o1 outcome) string {
	if o0.panic != nil {
		return fmt.Sprintf("ours panicked: %v", o0.panic)
	}
	if c0, c1 := errClass(o0.err), errClass(o1.err); c0 != c1 {
		return fmt.Sprintf("error class: ours %s, lungo %s", c0, c1)
	}
	if o0.err != nil {
		if o0.err.Error() != o1.err.Error() {
			s.st.tol[tolErrorText]++
		}
		if !op.partial {
			return ""
		}
	}
	if o0.n != o1.n {
		return "result counts differ"
	}
	if a, b := s.canonSlice(ours, o0.ids), s.canonSlice(ref, o1.ids); a != b {
		return "ids differ"
	}
	if a, b := s.canonMap(ours, o0.upserted), s.canonMap(ref, o1.upserted); a != b {
		return "upserted ids differ"
	}
	if !slices.Equal(o0.failed, o1.failed) {
		return "failed models differ"
	}
	if o0.hasVals != o1.hasVals {
		return "values differ"
	}
	if o0.hasVals {
		if m := s.compareValues(o0.vals, o1.vals); m != "" {
			return m
		}
	}
	return s.compareDocs(op, o0.docs, o1.docs)
}

// compareValues compares two Distinct answers with the generated
// ObjectIDs mapped (see sameDistinct).
func (s *oracleSeq) compareValues(v0, v1 []any) string {
	if len(v0) != len(v1) {
		return "distinct values differ"
	}
	a := make([]any, len(v0))
	b := make([]any, len(v1))
	for i := range v0 {
		a[i], b[i] = s.mapv(ours, v0[i]), s.mapv(ref, v1[i])
	}
	same, typed := sameDistinct(a, b, func(v any) string { return s.canon(ours, v) })
	if !same {
		return "distinct values differ"
	}
	if typed > 0 {
		s.st.tol[tolDistinctType]++
	}
	return ""
}

func (s *oracleSeq) compareDocs(op *oracleOp, d0, d1 []bson.D) string {
	if len(d0) != len(d1) {
		return fmt.Sprintf("%d documents returned, lungo %d", len(d0), len(d1))
	}
	c0, c1 := s.canonDocs(ours, d0), s.canonDocs(ref, d1)
	// Compare with the generated ObjectIDs mapped, so they sort alike.
	m0, m1 := make([]bson.D, len(d0)), make([]bson.D, len(d1))
	for i := range d0 {
		m0[i], m1[i] = s.mapv(ours, d0[i]).(bson.D), s.mapv(ref, d1[i]).(bson.D)
	}
	d0, d1 = m0, m1
	switch op.mode {
	case docsSingle:
		if !slices.Equal(c0, c1) {
			return "returned document differs"
		}
	case docsSet:
		if !slices.Equal(sorted(c0), sorted(c1)) {
			return "returned documents differ"
		}
	case docsSorted:
		sd := op.sort
		cols, err := mongokit.Columns(&sd)
		if err != nil {
			return err.Error()
		}
		for side, docs := range [2][]bson.D{d0, d1} {
			if i := sortBreak(docs, cols); i >= 0 {
				return fmt.Sprintf("%s's documents are not in sort order at %d", sideName[side], i)
			}
		}
		for i := range d0 {
			if bsonkit.Order(&d0[i], &d1[i], cols, false) != 0 {
				return fmt.Sprintf("sort keys differ at %d", i)
			}
		}
		if slices.Equal(c0, c1) {
			return ""
		}
		// Runs of equal sort keys: the same documents in any order, except
		// where a skip or limit cuts through a run.
		cut := false
		for start := 0; start < len(d0); {
			end := tieEnd(d1, start, cols)
			atCut := (op.skip && start == 0) || (op.limit > 0 && int64(len(d0)) == op.limit && end == len(d0))
			same := slices.Equal(sorted(c0[start:end]), sorted(c1[start:end]))
			switch {
			case !same && atCut:
				cut = true
			case !same:
				return fmt.Sprintf("documents with equal sort keys at %d..%d differ", start, end-1)
			}
			start = end
		}
		if cut {
			s.st.tol[tolTieCut]++
		} else {
			s.st.tol[tolTieOrder]++
		}
	}
	return ""
}

func (s *oracleSeq) compareStates(a0, a1 []bson.D) string {
	c0, c1 := s.canonDocs(ours, a0), s.canonDocs(ref, a1)
	if slices.Equal(c0, c1) {
		return ""
	}
	var only0, only1 []string
	in1 := map[string]bool{}
	for _, c := range c1 {
		in1[c] = true
	}
	in0 := map[string]bool{}
	for _, c := range c0 {
		in0[c] = true
		if !in1[c] {
			only0 = append(only0, c)
		}
	}
	for _, c := range c1 {
		if !in0[c] {
			only1 = append(only1, c)
		}
	}
	if len(only0) == 0 && len(only1) == 0 {
		return fmt.Sprintf("collections sorted by _id differ in order:\n  ours:  %s\n  lungo: %s", strings.Join(c0, " "), strings.Join(c1, " "))
	}
	return fmt.Sprintf("collections differ:\n  only in ours:  %s\n  only in lungo: %s", strings.Join(only0, " "), strings.Join(only1, " "))
}

func (s *oracleSeq) compareEvents(e0, e1 []bson.D) string {
	c0, c1 := s.eventStrings(ours, e0), s.eventStrings(ref, e1)
	if slices.Equal(c0, c1) {
		return ""
	}
	if slices.Equal(sorted(c0), sorted(c1)) {
		s.st.tol[tolEventOrder]++
		return ""
	}
	return fmt.Sprintf("change events differ:\n  ours:  %s\n  lungo: %s", strings.Join(c0, " "), strings.Join(c1, " "))
}

// ---------------------------------------------------------------------------
// Reading the engines

func readAll(ctx context.Context, cur lungo.ICursor) ([]bson.D, error) {
	defer cur.Close(ctx)
	var out []bson.D
	for cur.Next(ctx) {
		var d bson.D
		if err := cur.Decode(&d); err != nil {
			return out, err
		}
		out = append(out, d)
	}
	return out, cur.Err()
}

// dump reads a collection sorted by _id.
func (s *oracleSeq) dump(side int) []bson.D {
	cur, err := s.coll[side].Find(s.ctx, bson.D{}, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		s.t.Fatalf("%s: dump: %v", sideName[side], err)
	}
	docs, err := readAll(s.ctx, cur)
	if err != nil {
		s.t.Fatalf("%s: dump: %v", sideName[side], err)
	}
	if side == ref {
		for i := range docs {
			docs[i] = s.idFirst(docs[i])
		}
	}
	return docs
}

// idFirst moves the _id of one of lungo's documents first: lungo leaves an
// upserted document's _id where the filter had it, MongoDB (and ours) put
// it first.
func (s *oracleSeq) idFirst(d bson.D) bson.D {
	i := slices.IndexFunc(d, func(e bson.E) bool { return e.Key == "_id" })
	if i <= 0 {
		return d
	}
	out := append(bson.D{d[i]}, d[:i]...)
	out = append(out, d[i+1:]...)
	if k := s.canon(ref, out); !s.seenIDFirst[k] {
		s.seenIDFirst[k] = true
		s.st.tol[tolUpsertIDFirst]++
	}
	return out
}

// drain reads the change events available now.
func (s *oracleSeq) drain(side int) []bson.D {
	var out []bson.D
	cs := s.stream[side]
	for cs.TryNext(s.ctx) {
		var d bson.D
		if err := cs.Decode(&d); err != nil {
			s.t.Fatalf("%s: decode change: %v", sideName[side], err)
		}
		out = append(out, d)
	}
	if err := cs.Err(); err != nil {
		s.t.Fatalf("%s: change stream: %v", sideName[side], err)
	}
	return out
}

// ---------------------------------------------------------------------------
// Canonical forms: extended JSON (canonical, so types count), with the
// ObjectIDs each engine generated replaced by shared stand-ins.

var (
	oidPool = []primitive.ObjectID{
		{11: 1}, {11: 2}, {11: 3},
	}
	uuidPool = []primitive.Binary{
		{Subtype: 4, Data: []byte{0x1f, 0x2e, 0x3d, 0x4c, 0x5b, 0x6a, 0x49, 0x88, 0x97, 0xa6, 0xb5, 0xc4, 0xd3, 0xe2, 0xf1, 0x00}},
		{Subtype: 4, Data: []byte{0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x47, 0x08, 0x89, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10}},
	}
)

func genOID(k int) primitive.ObjectID {
	var o primitive.ObjectID
	o[0], o[1], o[2], o[3] = 0xff, 0xff, 0xff, 0xff
	o[8], o[9], o[10], o[11] = byte(k>>24), byte(k>>16), byte(k>>8), byte(k)
	return o
}

func inPool(id primitive.ObjectID) bool { return slices.Contains(oidPool, id) }

// collectIDs lists the _ids an operation's results mention.
func collectIDs(docs, events []bson.D, o outcome) []any {
	var out []any
	for _, d := range docs {
		if id, ok := lookup(d, "_id"); ok {
			out = append(out, id)
		}
	}
	for _, d := range o.docs {
		if id, ok := lookup(d, "_id"); ok {
			out = append(out, id)
		}
	}
	for _, ev := range events {
		if k, ok := lookup(ev, "documentKey"); ok {
			if kd, ok := k.(bson.D); ok {
				if id, ok := lookup(kd, "_id"); ok {
					out = append(out, id)
				}
			}
		}
	}
	out = append(out, o.ids...)
	for _, id := range o.upserted {
		out = append(out, id)
	}
	return out
}

// pair maps the ObjectIDs the engines generated, in generation order.
func (s *oracleSeq) pair(ids0, ids1 []any) {
	u0, u1 := s.unmapped(ours, ids0), s.unmapped(ref, ids1)
	if len(u0) != len(u1) {
		return
	}
	for i := range u0 {
		s.gen[ours][u0[i]] = s.ngen
		s.gen[ref][u1[i]] = s.ngen
		s.ngen++
	}
}

func (s *oracleSeq) unmapped(side int, ids []any) []primitive.ObjectID {
	var out []primitive.ObjectID
	for _, id := range ids {
		o, ok := id.(primitive.ObjectID)
		if !ok || inPool(o) {
			continue
		}
		if _, ok := s.gen[side][o]; ok || slices.Contains(out, o) {
			continue
		}
		out = append(out, o)
	}
	slices.SortFunc(out, func(a, b primitive.ObjectID) int { return bytes.Compare(a[:], b[:]) })
	return out
}

// toRef translates an _id of ours to lungo's.
func (s *oracleSeq) toRef(id any) any {
	o, ok := id.(primitive.ObjectID)
	if !ok {
		return id
	}
	k, ok := s.gen[ours][o]
	if !ok {
		return id
	}
	for raw, kk := range s.gen[ref] {
		if kk == k {
			return raw
		}
	}
	return id
}

func (s *oracleSeq) mapv(side int, v any) any {
	switch x := v.(type) {
	case primitive.ObjectID:
		if k, ok := s.gen[side][x]; ok {
			return genOID(k)
		}
		return x
	case bson.D:
		out := make(bson.D, len(x))
		for i, e := range x {
			out[i] = bson.E{Key: e.Key, Value: s.mapv(side, e.Value)}
		}
		return out
	case bson.A:
		out := make(bson.A, len(x))
		for i, e := range x {
			out[i] = s.mapv(side, e)
		}
		return out
	}
	return v
}

func (s *oracleSeq) canon(side int, v any) string {
	b, err := bson.MarshalExtJSON(bson.D{{Key: "v", Value: s.mapv(side, v)}}, true, false)
	if err != nil {
		return fmt.Sprintf("<%v>", err)
	}
	return string(b[len(`{"v":`) : len(b)-1])
}

func (s *oracleSeq) idKey(side int, d bson.D) string {
	id, _ := lookup(d, "_id")
	return s.canon(side, id)
}

func (s *oracleSeq) canonDocs(side int, docs []bson.D) []string {
	out := make([]string, len(docs))
	for i, d := range docs {
		out[i] = s.canon(side, d)
	}
	return out
}

func (s *oracleSeq) canonList(side int, docs []bson.D) string {
	return "[" + strings.Join(s.canonDocs(side, docs), ", ") + "]"
}

func (s *oracleSeq) canonSlice(side int, vals []any) string {
	parts := make([]string, len(vals))
	for i, v := range vals {
		parts[i] = s.canon(side, v)
	}
	return strings.Join(parts, ",")
}

func (s *oracleSeq) canonMap(side int, m map[int64]any) string {
	keys := sortedKeys(m)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%d=%s", k, s.canon(side, m[k]))
	}
	return strings.Join(parts, ",")
}

func (s *oracleSeq) eventStrings(side int, evs []bson.D) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		op, _ := lookup(ev, "operationType")
		key, _ := lookup(ev, "documentKey")
		str := fmt.Sprintf("%v %s", op, s.canon(side, key))
		if op == "insert" || op == "replace" {
			full, _ := lookup(ev, "fullDocument")
			if fd, ok := full.(bson.D); ok && side == ref {
				full = s.idFirst(fd)
			}
			str += " " + s.canon(side, full)
		}
		out[i] = str
	}
	return out
}

func (s *oracleSeq) eventList(side int, evs []bson.D) string {
	return strings.Join(s.eventStrings(side, evs), "; ")
}

func (s *oracleSeq) describe(side int, o outcome) string {
	var parts []string
	if o.panic != nil {
		parts = append(parts, fmt.Sprintf("panic %v", o.panic))
	} else {
		parts = append(parts, errClass(o.err))
	}
	if o.err != nil && o.panic == nil {
		parts = append(parts, fmt.Sprintf("(%v)", o.err))
	}
	if o.n != "" {
		parts = append(parts, o.n)
	}
	if len(o.ids) > 0 {
		parts = append(parts, "ids=["+s.canonSlice(side, o.ids)+"]")
	}
	if len(o.upserted) > 0 {
		parts = append(parts, "upserted={"+s.canonMap(side, o.upserted)+"}")
	}
	if len(o.failed) > 0 {
		parts = append(parts, "failed="+strings.Join(o.failed, ","))
	}
	if o.hasVals {
		parts = append(parts, "values=["+s.canonSlice(side, o.vals)+"]")
	}
	if o.docs != nil {
		parts = append(parts, "docs="+s.canonList(side, o.docs))
	}
	return strings.Join(parts, " ")
}

func sorted(ss []string) []string {
	out := slices.Clone(ss)
	sort.Strings(out)
	return out
}

func lookup(d bson.D, key string) (any, bool) {
	for _, e := range d {
		if e.Key == key {
			return e.Value, true
		}
	}
	return nil, false
}

// dcopy deep-copies documents and arrays, so neither engine sees what the
// other did to its arguments.
func dcopy[T any](v T) T {
	return dcopyAny(v).(T)
}

func dcopyAny(v any) any {
	switch x := v.(type) {
	case bson.D:
		if x == nil {
			return x
		}
		out := make(bson.D, len(x))
		for i, e := range x {
			out[i] = bson.E{Key: e.Key, Value: dcopyAny(e.Value)}
		}
		return out
	case bson.A:
		if x == nil {
			return x
		}
		out := make(bson.A, len(x))
		for i, e := range x {
			out[i] = dcopyAny(e)
		}
		return out
	case primitive.Binary:
		return primitive.Binary{Subtype: x.Subtype, Data: slices.Clone(x.Data)}
	}
	return v
}

// roundTrip gives a document the value types mongokit works on (int32
// rather than int).
func roundTrip(d bson.D) bson.D {
	raw, err := bson.Marshal(d)
	if err != nil {
		panic(err)
	}
	var out bson.D
	if err := bson.Unmarshal(raw, &out); err != nil {
		panic(err)
	}
	return out
}

func j(v any) string {
	b, err := bson.MarshalExtJSON(bson.D{{Key: "v", Value: v}}, false, false)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b[len(`{"v":`) : len(b)-1])
}

// ---------------------------------------------------------------------------
// Generators

func (s *oracleSeq) pickIndexes() []oracleIndex {
	r := s.r
	all := []oracleIndex{
		{keys: bson.D{{Key: "a", Value: int32(1)}}, unique: r.IntN(10) < 3},
		{keys: bson.D{{Key: "b", Value: int32(1)}, {Key: "a", Value: int32(1)}}, unique: r.IntN(10) < 7},
		{keys: bson.D{{Key: "c.x", Value: int32(1)}}, unique: r.IntN(10) < 2},
		{keys: bson.D{{Key: "d", Value: int32(1)}}, unique: r.IntN(10) < 2},
		{keys: bson.D{{Key: "b", Value: int32(1)}}},
		{keys: bson.D{{Key: "a", Value: int32(-1)}, {Key: "e", Value: int32(1)}}},
	}
	r.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	return all[:r.IntN(4)]
}

func (s *oracleSeq) num() any {
	r := s.r
	v := r.IntN(4)
	switch r.IntN(24) {
	case 0, 1, 2, 3, 4, 5, 6:
		return int32(v)
	case 7, 8, 9, 10, 11:
		return int64(v)
	case 12, 13, 14, 15:
		return float64(v)
	case 16, 17, 18:
		return float64(v) + 0.5
	case 19:
		return int64(1<<53 + 1)
	case 20:
		return float64(1 << 53)
	case 21:
		return math.Copysign(0, -1)
	case 22:
		return math.NaN()
	default:
		return int32(-1)
	}
}

func (s *oracleSeq) str() string {
	pool := []string{"", "x", "x", "y", "y", "z", "xy", "é", "x\x00y"}
	return pool[s.r.IntN(len(pool))]
}

func (s *oracleSeq) id() any {
	r := s.r
	switch r.IntN(20) {
	case 0, 1, 2, 3:
		return int32(r.IntN(6))
	case 4, 5:
		return int64(r.IntN(6))
	case 6:
		return float64(r.IntN(6))
	case 7:
		return []any{2.5, int64(1<<53 + 1), float64(1 << 53), int32(-3)}[r.IntN(4)]
	case 8, 9, 10, 11:
		return fmt.Sprintf("k%d", r.IntN(5))
	case 12, 13, 14, 15:
		return oidPool[r.IntN(len(oidPool))]
	case 16, 17:
		return dcopy(uuidPool[r.IntN(len(uuidPool))])
	default:
		return int32(r.IntN(3))
	}
}

func (s *oracleSeq) arr() bson.A {
	n := s.r.IntN(4)
	a := bson.A{}
	for i := 0; i < n; i++ {
		a = append(a, int32(s.r.IntN(5)))
	}
	return a
}

// doc makes a document; withID false leaves _id out (the engine adds one).
func (s *oracleSeq) doc(withID bool) bson.D {
	r := s.r
	d := bson.D{}
	if withID {
		d = append(d, bson.E{Key: "_id", Value: s.id()})
	}
	if r.IntN(10) < 8 {
		if r.IntN(8) == 0 {
			d = append(d, bson.E{Key: "a", Value: nil})
		} else {
			d = append(d, bson.E{Key: "a", Value: s.num()})
		}
	}
	if r.IntN(10) < 8 {
		d = append(d, bson.E{Key: "b", Value: s.str()})
	}
	if r.IntN(10) < 6 {
		sub := func() bson.D {
			c := bson.D{}
			if r.IntN(5) > 0 {
				c = append(c, bson.E{Key: "x", Value: s.num()})
			}
			return append(c, bson.E{Key: "y", Value: s.str()})
		}
		switch r.IntN(12) {
		case 0:
			if s.uniqueCX {
				// lungo indexes no null key for an element without the
				// field; MongoDB does (see the file comment).
				d = append(d, bson.E{Key: "c", Value: sub()})
				break
			}
			d = append(d, bson.E{Key: "c", Value: bson.A{sub(), sub()}})
		case 1:
			d = append(d, bson.E{Key: "c", Value: s.num()})
		default:
			d = append(d, bson.E{Key: "c", Value: sub()})
		}
	}
	if r.IntN(10) < 4 {
		d = append(d, bson.E{Key: "d", Value: s.arr()})
	}
	if r.IntN(10) < 5 {
		d = append(d, bson.E{Key: "e", Value: int32(r.IntN(3))})
	}
	return d
}

func cond(op string, v any) bson.D { return bson.D{{Key: op, Value: v}} }

func (s *oracleSeq) cmpOp() string {
	return []string{"$eq", "$ne", "$gt", "$gte", "$lt", "$lte"}[s.r.IntN(6)]
}

// simpleFilter is a condition on one field.
func (s *oracleSeq) simpleFilter() bson.D {
	r := s.r
	var num = s.num
	if r.IntN(6) == 0 {
		num = func() any { return nil }
	}
	switch r.IntN(26) {
	case 0, 1, 2:
		return bson.D{{Key: "a", Value: num()}}
	case 3, 4, 5:
		return bson.D{{Key: "a", Value: cond(s.cmpOp(), num())}}
	case 6:
		return bson.D{{Key: "a", Value: bson.D{{Key: "$gt", Value: s.num()}, {Key: "$lt", Value: s.num()}}}}
	case 7:
		return bson.D{{Key: "a", Value: cond("$in", bson.A{num(), s.num(), s.num()})}}
	case 8:
		return bson.D{{Key: "a", Value: cond("$nin", bson.A{s.num(), num()})}}
	case 9:
		return bson.D{{Key: "a", Value: cond("$exists", r.IntN(2) == 0)}}
	case 10, 11:
		return bson.D{{Key: "b", Value: s.str()}}
	case 12:
		return bson.D{{Key: "b", Value: cond(s.cmpOp(), s.str())}}
	case 13:
		return bson.D{{Key: "b", Value: cond("$in", bson.A{s.str(), s.str()})}}
	case 14:
		return bson.D{{Key: "b", Value: s.str()}, {Key: "a", Value: cond([]string{"$gt", "$gte", "$lt", "$lte"}[r.IntN(4)], s.num())}}
	case 15:
		return bson.D{{Key: "c.x", Value: num()}}
	case 16:
		return bson.D{{Key: "c.x", Value: cond(s.cmpOp(), s.num())}}
	case 17:
		if r.IntN(2) == 0 {
			return bson.D{{Key: "c", Value: nil}}
		}
		return bson.D{{Key: "c", Value: bson.D{{Key: "x", Value: s.num()}, {Key: "y", Value: s.str()}}}}
	case 18:
		return bson.D{{Key: "c.y", Value: cond([]string{"$eq", "$ne", "$gt"}[r.IntN(3)], s.str())}}
	case 19:
		return bson.D{{Key: "d", Value: int32(r.IntN(5))}}
	case 20:
		switch r.IntN(4) {
		case 0:
			return bson.D{{Key: "d", Value: s.arr()}}
		case 1:
			return bson.D{{Key: "d", Value: cond(s.cmpOp(), int32(r.IntN(5)))}}
		case 2:
			return bson.D{{Key: "d.0", Value: int32(r.IntN(5))}}
		default:
			return bson.D{{Key: "d", Value: cond("$exists", r.IntN(2) == 0)}}
		}
	case 21, 22:
		return bson.D{{Key: "_id", Value: s.id()}}
	case 23:
		switch r.IntN(3) {
		case 0:
			return bson.D{{Key: "_id", Value: cond("$in", bson.A{s.id(), s.id(), s.id()})}}
		case 1:
			return bson.D{{Key: "_id", Value: cond([]string{"$gt", "$gte", "$lt", "$lte"}[r.IntN(4)], s.id())}}
		default:
			return bson.D{{Key: "_id", Value: cond("$nin", bson.A{s.id(), s.id()})}}
		}
	case 24:
		return bson.D{{Key: "e", Value: int32(r.IntN(3))}}
	default:
		return bson.D{}
	}
}

func (s *oracleSeq) filter() bson.D {
	r := s.r
	switch r.IntN(10) {
	case 0:
		return bson.D{}
	case 1:
		return bson.D{{Key: "$or", Value: bson.A{s.simpleFilter(), s.simpleFilter()}}}
	case 2:
		return bson.D{{Key: "$and", Value: bson.A{s.simpleFilter(), s.simpleFilter()}}}
	case 3:
		// Two conditions on different fields.
		f := s.simpleFilter()
		g := s.simpleFilter()
		for _, e := range g {
			if _, dup := lookup(f, e.Key); !dup {
				f = append(f, e)
			}
		}
		return f
	case 4:
		return append(s.simpleFilter(), bson.E{Key: "$or", Value: bson.A{s.simpleFilter(), s.simpleFilter()}})
	case 5:
		switch r.IntN(3) {
		case 0:
			return bson.D{{Key: "$nor", Value: bson.A{s.simpleFilter()}}}
		case 1:
			return bson.D{{Key: "a", Value: cond("$not", cond([]string{"$gt", "$lt", "$eq"}[r.IntN(3)], s.num()))}}
		default:
			return bson.D{{Key: "$or", Value: bson.A{
				bson.D{{Key: "$and", Value: bson.A{s.simpleFilter(), s.simpleFilter()}}},
				s.simpleFilter(),
			}}}
		}
	default:
		return s.simpleFilter()
	}
}

// update makes an update document; fields are not repeated across
// operators.
func (s *oracleSeq) update() bson.D {
	r := s.r
	used := map[string]bool{}
	u := bson.D{}
	add := func(op, field string, v any) {
		top := strings.Split(field, ".")[0]
		if used[top] {
			return
		}
		used[top] = true
		u = withOperator(u, op, field, v)
	}
	inc := func() any { return []any{int32(1), int64(-1), 0.5, int32(2)}[r.IntN(4)] }
	for n := 1 + r.IntN(2); len(u) == 0 || n > 0; n-- {
		switch r.IntN(16) {
		case 0, 1:
			if r.IntN(6) == 0 {
				add("$set", "a", nil)
			} else {
				add("$set", "a", s.num())
			}
		case 2:
			add("$set", "b", s.str())
		case 3:
			add("$set", "c.x", s.num())
		case 4:
			add("$set", "e", int32(r.IntN(3)))
		case 5:
			if r.IntN(3) == 0 {
				add("$set", "d", int32(r.IntN(5)))
			} else {
				add("$set", "d", s.arr())
			}
		case 6, 7:
			add("$inc", "a", inc())
		case 8:
			add("$inc", "c.x", inc())
		case 9:
			add("$inc", "e", int32(1))
		case 10:
			add("$unset", []string{"a", "b", "c", "d", "c.x"}[r.IntN(5)], "")
		case 11, 12:
			add("$push", "d", int32(r.IntN(5)))
		case 13:
			add("$min", "a", s.num())
		case 14:
			add("$max", "a", s.num())
		default:
			add("$set", "b", s.str())
		}
	}
	return u
}

func (s *oracleSeq) sortSpec() bson.D {
	specs := []bson.D{
		{{Key: "a", Value: int32(1)}},
		{{Key: "a", Value: int32(-1)}},
		{{Key: "b", Value: int32(1)}, {Key: "a", Value: int32(1)}},
		{{Key: "b", Value: int32(-1)}, {Key: "a", Value: int32(-1)}},
		{{Key: "b", Value: int32(1)}, {Key: "a", Value: int32(-1)}},
		{{Key: "a", Value: int32(-1)}, {Key: "e", Value: int32(1)}},
		{{Key: "c.x", Value: int32(1)}},
		{{Key: "_id", Value: int32(-1)}},
		{{Key: "a", Value: int32(1)}, {Key: "_id", Value: int32(1)}},
		{{Key: "d", Value: int32(1)}},
		{{Key: "d", Value: int32(-1)}},
		{{Key: "e", Value: int32(1)}, {Key: "b", Value: int32(1)}},
		{{Key: "b", Value: int32(1)}},
	}
	return dcopy(specs[s.r.IntN(len(specs))])
}

// projection returns a projection that keeps the sort fields (and _id
// when the sort uses it), or nil.
func (s *oracleSeq) projection(sortSpec bson.D, keepID bool) bson.D {
	projs := []bson.D{
		{{Key: "a", Value: int32(1)}},
		{{Key: "b", Value: int32(1)}, {Key: "c.x", Value: int32(1)}},
		{{Key: "d", Value: int32(1)}, {Key: "e", Value: int32(1)}},
		{{Key: "_id", Value: int32(0)}, {Key: "a", Value: int32(1)}, {Key: "b", Value: int32(1)}},
		{{Key: "c", Value: int32(0)}},
		{{Key: "d", Value: int32(0)}, {Key: "e", Value: int32(0)}},
		{{Key: "b", Value: int32(0)}},
	}
	p := dcopy(projs[s.r.IntN(len(projs))])
	inclusive := false
	for _, e := range p {
		if e.Key != "_id" && toFloat(e.Value) == 1 {
			inclusive = true
		}
	}
	if v, ok := lookup(p, "_id"); ok && toFloat(v) == 0 && keepID {
		return nil
	}
	for _, k := range sortSpec {
		top := strings.Split(k.Key, ".")[0]
		if k.Key == "_id" {
			if v, ok := lookup(p, "_id"); ok && toFloat(v) == 0 {
				return nil
			}
			continue
		}
		if inclusive {
			has := false
			for _, e := range p {
				if e.Key == k.Key || e.Key == top {
					has = true
				}
			}
			if !has {
				p = append(p, bson.E{Key: k.Key, Value: int32(1)})
			}
		} else {
			for _, e := range p {
				if e.Key == top {
					return nil
				}
			}
		}
	}
	return p
}

// existingID picks an _id of the collection most of the time (never a
// generated one, whose value differs between the engines).
func (s *oracleSeq) existingID() any {
	var ids []any
	for _, d := range s.state[ours] {
		id, _ := lookup(d, "_id")
		if o, ok := id.(primitive.ObjectID); ok && !inPool(o) {
			continue // generated: the engines' values differ
		}
		ids = append(ids, id)
	}
	if len(ids) == 0 || s.r.IntN(4) == 0 {
		return s.id()
	}
	return dcopy(ids[s.r.IntN(len(ids))])
}

func (s *oracleSeq) genOp() *oracleOp {
	return pickWeighted(s.r, []weighted[*oracleOp]{
		{10, s.insertOneOp},
		{6, s.insertManyOp},
		{8, func() *oracleOp { return s.updateOp(false) }},
		{6, func() *oracleOp { return s.updateOp(true) }},
		{4, s.replaceOneOp},
		{4, func() *oracleOp { return s.deleteOp(false) }},
		{2, func() *oracleOp { return s.deleteOp(true) }},
		{4, s.findOneAndUpdateOp},
		{2, s.findOneAndReplaceOp},
		{2, s.findOneAndDeleteOp},
		{14, s.findOp},
		{4, s.countOp},
		{3, s.distinctOp},
		{5, s.bulkOp},
		{4, s.txnOp},
		{2, func() *oracleOp {
			if len(s.menu) == 0 {
				return s.findOp()
			}
			return s.createIndexOp(s.menu[s.r.IntN(len(s.menu))])
		}},
	})
}

func (s *oracleSeq) createIndexOp(ix oracleIndex) *oracleOp {
	op := &oracleOp{kind: "CreateIndex", desc: "CreateIndex " + ix.String()}
	op.run = func(ctx context.Context, c lungo.ICollection, _ bson.D) outcome {
		o := options.Index()
		if ix.unique {
			o.SetUnique(true)
		}
		name, err := c.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: dcopy(ix.keys), Options: o})
		out := outcome{err: err}
		if err == nil {
			out.n = "name=" + name
		}
		return out
	}
	op.after = func(o0, _ outcome) {
		if o0.err == nil && !slices.ContainsFunc(s.made, func(m oracleIndex) bool { return m.name() == ix.name() }) {
			s.made = append(s.made, ix)
		}
	}
	return op
}

func (s *oracleSeq) insertOneOp() *oracleOp {
	doc := s.doc(s.r.IntN(12) > 0)
	return &oracleOp{
		kind: "InsertOne", desc: "InsertOne " + j(doc),
		run: func(ctx context.Context, c lungo.ICollection, _ bson.D) outcome {
			res, err := c.InsertOne(ctx, dcopy(doc))
			o := outcome{err: err}
			if err == nil {
				o.ids = []any{res.InsertedID}
			}
			return o
		},
	}
}

func (s *oracleSeq) insertManyOp() *oracleOp {
	n := 1 + s.r.IntN(4)
	docs := make([]bson.D, n)
	for i := range docs {
		docs[i] = s.doc(true)
	}
	if n > 1 && s.r.IntN(3) == 0 {
		// A deliberate duplicate _id inside the batch.
		id, _ := lookup(docs[0], "_id")
		docs[n-1][0].Value = dcopy(id)
	}
	ordered := s.r.IntN(2) == 0
	return &oracleOp{
		kind: "InsertMany", desc: fmt.Sprintf("InsertMany ordered=%v %s", ordered, j(docs)), partial: true,
		run: func(ctx context.Context, c lungo.ICollection, _ bson.D) outcome {
			list := make([]any, len(docs))
			for i, d := range docs {
				list[i] = dcopy(d)
			}
			res, err := c.InsertMany(ctx, list, options.InsertMany().SetOrdered(ordered))
			o := outcome{err: err}
			if res != nil {
				o.ids = res.InsertedIDs
			}
			return o
		},
	}
}

func updateOutcome(res *mongo.UpdateResult, err error) outcome {
	o := outcome{err: err}
	if err == nil && res != nil {
		o.matched, o.modified = res.MatchedCount, res.ModifiedCount
		o.n = fmt.Sprintf("matched=%d modified=%d upserted=%d", res.MatchedCount, res.ModifiedCount, res.UpsertedCount)
		if res.UpsertedID != nil {
			o.ids = []any{res.UpsertedID}
		}
	}
	return o
}

func (s *oracleSeq) updateOp(many bool) *oracleOp {
	filter, update := s.filter(), s.update()
	upsert := s.r.IntN(4) == 0
	kind := "UpdateOne"
	if many {
		kind = "UpdateMany"
	}
	return &oracleOp{
		kind: kind, desc: fmt.Sprintf("%s filter=%s update=%s upsert=%v", kind, j(filter), j(update), upsert),
		filter: filter, update: update, upsert: upsert, one: !many, many: many,
		run: func(ctx context.Context, c lungo.ICollection, f bson.D) outcome {
			return updateOutcome(updateDocs(ctx, c, f, update, upsert, many))
		},
	}
}

func (s *oracleSeq) replacement() bson.D {
	d := s.doc(false)
	if len(d) == 0 {
		d = bson.D{{Key: "e", Value: int32(0)}}
	}
	return d
}

func (s *oracleSeq) replaceOneOp() *oracleOp {
	filter, repl := s.filter(), s.replacement()
	upsert := s.r.IntN(4) == 0
	return &oracleOp{
		kind: "ReplaceOne", desc: fmt.Sprintf("ReplaceOne filter=%s replacement=%s upsert=%v", j(filter), j(repl), upsert),
		filter: filter, replace: repl, upsert: upsert, one: true,
		run: func(ctx context.Context, c lungo.ICollection, f bson.D) outcome {
			return updateOutcome(c.ReplaceOne(ctx, f, dcopy(repl), options.Replace().SetUpsert(upsert)))
		},
	}
}

func (s *oracleSeq) deleteOp(many bool) *oracleOp {
	filter := s.filter()
	kind := "DeleteOne"
	if many {
		kind = "DeleteMany"
	}
	return &oracleOp{
		kind: kind, desc: fmt.Sprintf("%s filter=%s", kind, j(filter)),
		filter: filter, one: !many,
		run: func(ctx context.Context, c lungo.ICollection, f bson.D) outcome {
			n, err := deleteDocs(ctx, c, f, many)
			return outcome{err: err, n: n}
		},
	}
}

// findAndModifyOpts picks a sort (sometimes), a projection (sometimes,
// keeping _id) and the document to return, with upsert as given.
func (s *oracleSeq) findAndModifyOpts(upsert bool) (findOneAndOpts, string) {
	fo := findOneAndOpts{upsert: upsert}
	if s.r.IntN(2) == 0 {
		fo.sort = s.sortSpec()
	}
	if s.r.IntN(4) == 0 {
		fo.proj = s.projection(nil, true)
	}
	fo.after = s.r.IntN(2) == 0
	return fo, fmt.Sprintf(" sort=%s projection=%s returnAfter=%v", j(fo.sort), j(fo.proj), fo.after)
}

func (s *oracleSeq) findOneAndUpdateOp() *oracleOp {
	filter, update := s.filter(), s.update()
	upsert := s.r.IntN(4) == 0
	fo, desc := s.findAndModifyOpts(upsert)
	return &oracleOp{
		kind: "FindOneAndUpdate", desc: fmt.Sprintf("FindOneAndUpdate filter=%s update=%s upsert=%v%s", j(filter), j(update), upsert, desc),
		filter: filter, sort: fo.sort, update: update, upsert: upsert, one: true, returnsDoc: true, mode: docsSingle,
		run: func(ctx context.Context, c lungo.ICollection, f bson.D) outcome {
			docs, err := fo.update(ctx, c, f, update)
			return outcome{err: err, docs: docs}
		},
	}
}

func (s *oracleSeq) findOneAndReplaceOp() *oracleOp {
	filter, repl := s.filter(), s.replacement()
	upsert := s.r.IntN(4) == 0
	fo, desc := s.findAndModifyOpts(upsert)
	return &oracleOp{
		kind: "FindOneAndReplace", desc: fmt.Sprintf("FindOneAndReplace filter=%s replacement=%s upsert=%v%s", j(filter), j(repl), upsert, desc),
		filter: filter, sort: fo.sort, replace: repl, upsert: upsert, one: true, returnsDoc: true, mode: docsSingle,
		run: func(ctx context.Context, c lungo.ICollection, f bson.D) outcome {
			docs, err := fo.replace(ctx, c, f, repl)
			return outcome{err: err, docs: docs}
		},
	}
}

func (s *oracleSeq) findOneAndDeleteOp() *oracleOp {
	filter := s.filter()
	fo, desc := s.findAndModifyOpts(false)
	return &oracleOp{
		kind: "FindOneAndDelete", desc: fmt.Sprintf("FindOneAndDelete filter=%s%s", j(filter), desc),
		filter: filter, sort: fo.sort, one: true, returnsDoc: true, mode: docsSingle,
		run: func(ctx context.Context, c lungo.ICollection, f bson.D) outcome {
			docs, err := fo.delete(ctx, c, f)
			return outcome{err: err, docs: docs}
		},
	}
}

func (s *oracleSeq) findOp() *oracleOp {
	r := s.r
	filter := s.filter()
	op := &oracleOp{kind: "Find", filter: filter, mode: docsSet}
	var skip, limit int64
	var proj bson.D
	if r.IntN(2) == 0 {
		op.sort = s.sortSpec()
		op.mode = docsSorted
	}
	if r.IntN(5) == 0 {
		skip = int64(1 + r.IntN(3))
		op.skip = true
	}
	if r.IntN(10) < 3 {
		limit = int64(1 + r.IntN(4))
		op.limit = limit
	}
	if r.IntN(4) == 0 {
		proj = s.projection(op.sort, false)
	}
	if op.mode == docsSet && (skip > 0 || limit > 0) {
		// Without a sort, which documents a skip or limit keeps is
		// unspecified; sort by _id to make it defined.
		op.sort = bson.D{{Key: "_id", Value: int32(1 - 2*r.IntN(2))}}
		op.mode = docsSorted
		if v, ok := lookup(proj, "_id"); ok && toFloat(v) == 0 {
			proj = nil
		}
	}
	op.desc = fmt.Sprintf("Find filter=%s sort=%s skip=%d limit=%d projection=%s", j(filter), j(op.sort), skip, limit, j(proj))
	op.run = func(ctx context.Context, c lungo.ICollection, f bson.D) outcome {
		if oc, ok := c.(*Collection); ok {
			s.plan(ctx, oc, f, op.sort)
		}
		docs, err := findSpec{sort: op.sort, proj: proj, skip: skip, limit: limit}.find(ctx, c, f)
		return outcome{err: err, docs: docs}
	}
	return op
}

// plan counts the plan ours chooses for a find or count.
func (s *oracleSeq) plan(ctx context.Context, c *Collection, filter, sortSpec bson.D) {
	if sessionFrom(ctx) != nil {
		return
	}
	var sortArg any
	if len(sortSpec) > 0 {
		sortArg = sortSpec
	}
	p, err := c.Explain(ctx, filter, sortArg)
	if err != nil {
		p = "error"
	}
	s.st.plans[p]++
}

func (s *oracleSeq) countOp() *oracleOp {
	filter := s.filter()
	skip, limit := skipLimit(s.r, 5)
	return &oracleOp{
		kind: "CountDocuments", desc: fmt.Sprintf("CountDocuments filter=%s skip=%d limit=%d", j(filter), skip, limit),
		filter: filter,
		run: func(ctx context.Context, c lungo.ICollection, f bson.D) outcome {
			if oc, ok := c.(*Collection); ok {
				s.plan(ctx, oc, f, nil)
			}
			n, err := countDocs(ctx, c, f, skip, limit)
			return outcome{err: err, n: n}
		},
	}
}

func (s *oracleSeq) distinctOp() *oracleOp {
	filter := s.filter()
	field := []string{"a", "b", "c.x", "d", "c", "e"}[s.r.IntN(6)]
	return &oracleOp{
		kind: "Distinct", desc: fmt.Sprintf("Distinct field=%s filter=%s", field, j(filter)),
		filter: filter,
		run: func(ctx context.Context, c lungo.ICollection, f bson.D) outcome {
			vals, err := c.Distinct(ctx, field, f)
			return outcome{err: err, vals: vals, hasVals: err == nil}
		},
	}
}

// bulkOp is a BulkWrite whose single-document models select by _id, so
// their target is never ambiguous, and whose update-many models cannot fail.
func (s *oracleSeq) bulkOp() *oracleOp {
	r := s.r
	n := 2 + r.IntN(5)
	var models bulkModels
	for i := 0; i < n; i++ {
		switch r.IntN(7) {
		case 0, 1:
			models.insertOne(s.doc(true))
		case 2:
			f, u, up := bson.D{{Key: "_id", Value: s.existingID()}}, s.update(), r.IntN(3) == 0
			models.updateOne(f, u, up)
		case 3:
			f, rep, up := bson.D{{Key: "_id", Value: s.existingID()}}, s.replacement(), r.IntN(3) == 0
			models.replaceOne(f, rep, up)
		case 4:
			models.deleteOne(bson.D{{Key: "_id", Value: s.existingID()}})
		case 5:
			models.deleteMany(s.filter())
		default:
			f, u := s.filter(), bson.D{{Key: "$set", Value: bson.D{{Key: "e", Value: int32(r.IntN(3))}}}}
			models.updateMany(f, u)
		}
	}
	ordered := r.IntN(2) == 0
	return &oracleOp{
		kind: "BulkWrite", desc: models.desc(ordered), partial: true,
		run: func(ctx context.Context, c lungo.ICollection, _ bson.D) outcome {
			res, err := models.write(ctx, c, ordered)
			o := outcome{err: err}
			if res != nil {
				o.n = fmt.Sprintf("inserted=%d matched=%d modified=%d deleted=%d upserted=%d",
					res.InsertedCount, res.MatchedCount, res.ModifiedCount, res.DeletedCount, res.UpsertedCount)
				if len(res.UpsertedIDs) > 0 {
					o.upserted = res.UpsertedIDs
				}
			}
			o.failed = failedModels(err)
			return o
		},
	}
}

// failedModels lists a bulk write's failed models as "index:class".
func failedModels(err error) []string {
	var out []string
	var bwe mongo.BulkWriteException
	var wes mongo.WriteErrors
	switch {
	case errors.As(err, &bwe):
		for _, we := range bwe.WriteErrors {
			c := "error"
			if we.Code == 11000 || lungo.IsUniquenessError(errors.New(we.Message)) {
				c = "duplicate-key"
			}
			out = append(out, fmt.Sprintf("%d:%s", we.Index, c))
		}
	case errors.As(err, &wes):
		for _, we := range wes {
			c := "error"
			if we.Code == 11000 || lungo.IsUniquenessError(errors.New(we.Message)) {
				c = "duplicate-key"
			}
			out = append(out, fmt.Sprintf("%d:%s", we.Index, c))
		}
	case err != nil:
		out = append(out, "whole:"+errClass(err))
	}
	return out
}

// txnOp is a transaction of a few operations whose targets are never
// ambiguous; some of them fail (a duplicate _id), which aborts it.
func (s *oracleSeq) txnOp() *oracleOp {
	r := s.r
	n := 2 + r.IntN(3)
	var subs []*oracleOp
	for i := 0; i < n; i++ {
		switch r.IntN(8) {
		case 0, 1:
			subs = append(subs, s.insertOneOp())
		case 2:
			op := s.insertManyOp()
			subs = append(subs, op)
		case 3:
			f, u := bson.D{{Key: "_id", Value: s.existingID()}}, s.update()
			up := r.IntN(3) == 0
			subs = append(subs, &oracleOp{kind: "UpdateOne", desc: fmt.Sprintf("UpdateOne filter=%s update=%s upsert=%v", j(f), j(u), up), filter: f,
				run: func(ctx context.Context, c lungo.ICollection, f bson.D) outcome {
					return updateOutcome(c.UpdateOne(ctx, f, dcopy(u), options.Update().SetUpsert(up)))
				}})
		case 4:
			f := bson.D{{Key: "_id", Value: s.existingID()}}
			op := s.deleteOp(false)
			op.filter, op.desc = f, "DeleteOne filter="+j(f)
			subs = append(subs, op)
		case 5:
			subs = append(subs, s.deleteOp(true))
		case 6:
			f, u := s.filter(), bson.D{{Key: "$set", Value: bson.D{{Key: "e", Value: int32(r.IntN(3))}}}}
			subs = append(subs, &oracleOp{kind: "UpdateMany", desc: fmt.Sprintf("UpdateMany filter=%s update=%s", j(f), j(u)), filter: f,
				run: func(ctx context.Context, c lungo.ICollection, f bson.D) outcome {
					return updateOutcome(c.UpdateMany(ctx, f, dcopy(u)))
				}})
		default:
			switch r.IntN(5) {
			case 0, 1:
				subs = append(subs, s.findOp())
			case 2:
				subs = append(subs, s.countOp())
			case 3:
				subs = append(subs, s.distinctOp())
			default:
				f := bson.D{{Key: "_id", Value: s.existingID()}}
				op := s.findOneAndUpdateOp()
				op.desc = strings.Replace(op.desc, "filter="+j(op.filter), "filter="+j(f), 1)
				op.filter, op.sort = f, nil
				subs = append(subs, op)
			}
		}
	}
	if r.IntN(5) < 2 && len(s.state[ours]) > 0 {
		// Insert an _id that exists: the transaction must abort.
		d := s.doc(false)
		d = append(bson.D{{Key: "_id", Value: s.existingID()}}, d...)
		at := r.IntN(len(subs) + 1)
		subs = slices.Insert(subs, at, &oracleOp{kind: "InsertOne", desc: "InsertOne " + j(d),
			run: func(ctx context.Context, c lungo.ICollection, _ bson.D) outcome {
				res, err := c.InsertOne(ctx, dcopy(d))
				o := outcome{err: err}
				if err == nil {
					o.ids = []any{res.InsertedID}
				}
				return o
			}})
	}
	descs := make([]string, len(subs))
	for i, op := range subs {
		descs[i] = op.desc
	}
	return &oracleOp{kind: "Transaction", desc: "WithTransaction [" + strings.Join(descs, "; ") + "]", txn: subs}
}

// ---------------------------------------------------------------------------
// Index use

// TestExplainUsesIndexes proves that the planner walks the indexes the
// differential test creates: equality on an index prefix (with a range or
// sort on the next key) is an index scan without an in-memory sort, _id
// equality a direct look-up, and a filter on an unindexed field a
// collection scan. It also checks each query returns what a scan returns.
func TestExplainUsesIndexes(t *testing.T) {
	ctx := context.Background()
	e, err := Open(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	coll := e.Client().Database("oracle").Collection("explain").(*Collection)
	for _, m := range []mongo.IndexModel{
		{Keys: bson.D{{Key: "a", Value: 1}}},
		{Keys: bson.D{{Key: "b", Value: 1}, {Key: "a", Value: 1}}, Options: options.Index().SetUnique(true)},
		{Keys: bson.D{{Key: "c.x", Value: 1}}},
		{Keys: bson.D{{Key: "d", Value: 1}}},
	} {
		if _, err := coll.Indexes().CreateOne(ctx, m); err != nil {
			t.Fatalf("create index %v: %v", m.Keys, err)
		}
	}
	var all []bson.D
	for i := 0; i < 40; i++ {
		d := bson.D{
			{Key: "_id", Value: int32(i)},
			{Key: "a", Value: []any{int32(i % 10), int64(i % 10), float64(i%10) + 0.5}[i%3]},
			{Key: "b", Value: []string{"x", "y", "z", "w"}[i/10]},
			{Key: "c", Value: bson.D{{Key: "x", Value: int32(i % 7)}}},
			{Key: "d", Value: bson.A{int32(i % 3), int32(i % 4)}},
			{Key: "e", Value: int32(i % 2)},
		}
		if _, err := coll.InsertOne(ctx, d); err != nil {
			t.Fatalf("insert: %v", err)
		}
		all = append(all, d)
	}
	a, b := func(v ...bson.E) bson.D { return bson.D(v) }, func(k string, v any) bson.E { return bson.E{Key: k, Value: v} }
	tests := []struct {
		name         string
		filter, sort bson.D
		want         string
	}{
		{"equality on a single-field index", a(b("a", 2)), nil, "IXSCAN a_1"},
		{"$in on a single-field index", a(b("a", cond("$in", bson.A{1, 3.5}))), nil, "IXSCAN a_1"},
		{"range on a single-field index", a(b("a", bson.D{{Key: "$gte", Value: 1}, {Key: "$lt", Value: 3}})), nil, "IXSCAN a_1"},
		{"range and sort on the same key", a(b("a", cond("$gt", 1))), a(b("a", 1)), "IXSCAN a_1"},
		{"range and descending sort on the same key", a(b("a", cond("$lte", 3))), a(b("a", -1)), "IXSCAN a_1"},
		{"equality on a compound index prefix", a(b("b", "y")), nil, "IXSCAN b_1_a_1"},
		{"prefix equality and range on the next key", a(b("b", "y"), b("a", cond("$gt", 1))), nil, "IXSCAN b_1_a_1"},
		{"prefix equality and sort on the next key", a(b("b", "y")), a(b("a", 1)), "IXSCAN b_1_a_1"},
		{"prefix equality, range and descending sort on the next key", a(b("b", "z"), b("a", cond("$lt", 4))), a(b("a", -1)), "IXSCAN b_1_a_1"},
		{"equality on the whole compound key", a(b("b", "x"), b("a", 3)), nil, "IXSCAN b_1_a_1"},
		{"equality on a dotted path", a(b("c.x", 4)), nil, "IXSCAN c.x_1"},
		{"_id equality", a(b("_id", 7)), nil, "IDHACK"},
		{"_id $in", a(b("_id", cond("$in", bson.A{3, 9}))), nil, "IDHACK"},
		{"unindexed field", a(b("e", 1)), nil, "COLLSCAN"},
		{"unindexed field sorted by itself", a(b("e", 1)), a(b("e", 1)), "COLLSCAN +SORT"},
		{"$ne cannot bound an index", a(b("a", cond("$ne", 1))), nil, "COLLSCAN"},
		// By design the planner does not use multikey indexes.
		{"equality on a multikey index", a(b("d", 2)), nil, "COLLSCAN"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var sortArg any
			if tc.sort != nil {
				sortArg = tc.sort
			}
			got, err := coll.Explain(ctx, tc.filter, sortArg)
			if err != nil {
				t.Fatalf("explain: %v", err)
			}
			if got != tc.want {
				t.Errorf("Explain(%s, sort %s) = %q, want %q", j(tc.filter), j(tc.sort), got, tc.want)
			}
			// The plan must also return what a scan returns, in order.
			o := options.Find()
			if tc.sort != nil {
				o.SetSort(tc.sort)
			}
			cur, err := coll.Find(ctx, tc.filter, o)
			if err != nil {
				t.Fatalf("find: %v", err)
			}
			gotDocs, err := readAll(ctx, cur)
			if err != nil {
				t.Fatalf("find: %v", err)
			}
			var want bsonkit.List
			for i := range all {
				d := dcopy(all[i])
				want = append(want, &d)
			}
			f := roundTrip(tc.filter)
			want, err = mongokit.Filter(want, &f, 0)
			if err != nil {
				t.Fatal(err)
			}
			if tc.sort != nil {
				sd := roundTrip(tc.sort)
				if want, err = mongokit.Sort(want, &sd); err != nil {
					t.Fatal(err)
				}
			}
			if len(gotDocs) != len(want) {
				t.Fatalf("find returned %d documents, a scan %d", len(gotDocs), len(want))
			}
			var sortCols []bsonkit.Column
			if tc.sort != nil {
				sd := roundTrip(tc.sort)
				sortCols, _ = mongokit.Columns(&sd)
			}
			gotIDs, wantIDs := map[string]bool{}, map[string]bool{}
			for i := range gotDocs {
				gotIDs[j(gotDocs[i][0].Value)] = true
				wantIDs[j((*want[i])[0].Value)] = true
				if sortCols != nil && bsonkit.Order(&gotDocs[i], want[i], sortCols, false) != 0 {
					t.Errorf("document %d: got %s, a sorted scan has %s", i, j(gotDocs[i]), j(*want[i]))
				}
			}
			for id := range wantIDs {
				if !gotIDs[id] {
					t.Errorf("find misses _id %s", id)
				}
			}
		})
	}
}
