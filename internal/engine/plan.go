package engine

import (
	"bytes"
	"slices"
	"strings"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
)

// A plan says how a query walks the store: an index (or the _id order of
// the documents themselves) and the key spans to visit, in order. Every
// document a plan yields is still matched against the whole filter, so
// spans may be wider than the filter, never narrower.
type plan struct {
	// index is the secondary index walked; nil walks documents by _id.
	index *indexMeta
	// spans are disjoint, sorted key ranges below the index's (or the
	// documents') prefix; nil means everything.
	spans []span
	// reverse walks the spans backwards.
	reverse bool
	// sorted reports that the walk yields documents in the requested sort
	// order, so no in-memory sort is needed and a limit stops the walk.
	sorted bool
	// bounded reports that spans narrow the walk (an index is used for
	// the filter, not only for the order).
	bounded bool
	// prefixSeek reports that the store's keys have index prefixes
	// (comparer.go): a forward walk of a span within one prefix seeks
	// with SeekPrefixGE.
	prefixSeek bool
	// prefixFilters reports that a backward walk of one index prefix can
	// skip the blocks without it (blockfilter.go).
	prefixFilters bool
}

// span is a key range [start, end); nil end means no upper bound.
type span struct{ start, end []byte }

// Explain describes a plan the way tests and operators read it:
// "IXSCAN <index>" for a bounded index walk, "IXSCAN <index> (order)" when
// an index only gives the order, "IDHACK" for _id look-ups, "COLLSCAN"
// otherwise; with " +SORT" when documents are sorted in memory.
func (p *plan) String() string {
	var s string
	switch {
	case p.index != nil && p.bounded:
		s = "IXSCAN " + p.index.Name
	case p.index != nil:
		s = "IXSCAN " + p.index.Name + " (order)"
	case p.bounded:
		s = "IDHACK"
	default:
		s = "COLLSCAN"
	}
	if !p.sorted {
		s += " +SORT"
	}
	return s
}

// pred is what a filter says about one field, as far as bounds go.
type pred struct {
	points []any // equality or $in
	lo, hi any   // range bounds; nil when absent
	loIncl bool
	hiIncl bool
	// none reports that the field has equality and range at once or
	// something else bounds cannot express; it is then left unbounded.
	none bool
}

// conjuncts collects the per-field predicates of the top level of a
// filter (and of nested $and), and its $or branches.
func conjuncts(filter bson.D, preds map[string]*pred, ors *[]bson.A) {
	for _, e := range filter {
		switch {
		case e.Key == "$and":
			if list, ok := e.Value.(bson.A); ok {
				for _, c := range list {
					if d, ok := c.(bson.D); ok {
						conjuncts(d, preds, ors)
					}
				}
			}
		case e.Key == "$or":
			if list, ok := e.Value.(bson.A); ok {
				*ors = append(*ors, list)
			}
		case strings.HasPrefix(e.Key, "$"):
		default:
			p := preds[e.Key]
			if p == nil {
				p = &pred{}
				preds[e.Key] = p
			}
			addPred(p, e.Value)
		}
	}
}

func addPred(p *pred, v any) {
	d, ok := v.(bson.D)
	if !ok || len(d) == 0 || !strings.HasPrefix(d[0].Key, "$") {
		if !indexable(v) {
			p.none = true
			return
		}
		p.intersectPoints([]any{v})
		return
	}
	for _, op := range d {
		switch op.Key {
		case "$eq":
			if !indexable(op.Value) {
				p.none = true
				continue
			}
			p.intersectPoints([]any{op.Value})
		case "$in":
			list, ok := op.Value.(bson.A)
			if !ok {
				p.none = true
				continue
			}
			pts := make([]any, 0, len(list))
			good := true
			for _, x := range list {
				if !indexable(x) {
					good = false
					break
				}
				pts = append(pts, x)
			}
			if !good {
				p.none = true
				continue
			}
			p.intersectPoints(pts)
		case "$gt", "$gte":
			if !rangeable(op.Value) {
				continue
			}
			if p.lo == nil || compareKeys(op.Value, p.lo) > 0 || (compareKeys(op.Value, p.lo) == 0 && op.Key == "$gt") {
				p.lo, p.loIncl = op.Value, op.Key == "$gte"
			}
		case "$lt", "$lte":
			if !rangeable(op.Value) {
				continue
			}
			if p.hi == nil || compareKeys(op.Value, p.hi) < 0 || (compareKeys(op.Value, p.hi) == 0 && op.Key == "$lt") {
				p.hi, p.hiIncl = op.Value, op.Key == "$lte"
			}
		}
	}
}

// intersectPoints narrows a predicate's equality points.
func (p *pred) intersectPoints(pts []any) {
	if p.points == nil {
		p.points = pts
		return
	}
	var keep []any
	for _, a := range p.points {
		for _, b := range pts {
			if compareKeys(a, b) == 0 {
				keep = append(keep, a)
				break
			}
		}
	}
	if keep == nil {
		keep = []any{}
	}
	p.points = keep
}

// indexable reports whether an equality on v can use an index: not a
// regex (which matches by pattern), not an array (which matches elements).
func indexable(v any) bool {
	switch x := v.(type) {
	case primitive.Regex, bson.A, []any:
		return false
	case bson.D:
		return len(x) == 0 || !strings.HasPrefix(x[0].Key, "$")
	}
	_, err := keyBracket(v)
	return err == nil
}

// rangeable reports whether a range bound on v stays within v's type
// bracket in MongoDB (MinKey and MaxKey bounds do not).
func rangeable(v any) bool {
	switch v.(type) {
	case primitive.MinKey, primitive.MaxKey, primitive.Regex, bson.A, bson.D, []any, nil, primitive.Null:
		return false
	}
	_, err := keyBracket(v)
	return err == nil
}

func compareKeys(a, b any) int {
	ka, err1 := appendKey(nil, a)
	kb, err2 := appendKey(nil, b)
	if err1 != nil || err2 != nil {
		return 0
	}
	return bytes.Compare(ka, kb)
}

// fieldSpans are the spans of one index field's values given a predicate,
// and whether the field is pinned to points (so later fields can be
// bounded too).
func fieldSpans(p *pred) (spans []span, points bool, ok bool) {
	if p == nil || p.none {
		return nil, false, false
	}
	if p.points != nil {
		for _, v := range p.points {
			k, err := appendKey(nil, v)
			if err != nil {
				return nil, false, false
			}
			spans = append(spans, span{start: k, end: k})
		}
		slices.SortFunc(spans, func(a, b span) int { return bytes.Compare(a.start, b.start) })
		spans = slices.CompactFunc(spans, func(a, b span) bool { return bytes.Equal(a.start, b.start) })
		return spans, true, true
	}
	if p.lo == nil && p.hi == nil {
		return nil, false, false
	}
	var s span
	var bracket byte
	if p.lo != nil {
		k, err := appendKey(nil, p.lo)
		if err != nil {
			return nil, false, false
		}
		bracket, _ = keyBracket(p.lo)
		if p.loIncl {
			s.start = k
		} else {
			s.start = prefixEnd(k)
		}
	}
	if p.hi != nil {
		k, err := appendKey(nil, p.hi)
		if err != nil {
			return nil, false, false
		}
		if p.hiIncl {
			s.end = prefixEnd(k)
		} else {
			s.end = k
		}
		if p.lo == nil {
			b, _ := keyBracket(p.hi)
			s.start = []byte{b}
		}
	} else {
		s.end = []byte{bracket + 1}
	}
	return []span{s}, false, true
}

// indexSpans computes the spans of an index for one conjunction of
// predicates, and how many leading fields they bound. The returned spans'
// ends are exclusive; point spans are closed by prefixEnd.
func indexSpans(fields []string, preds map[string]*pred) (spans []span, bound int, pinned int) {
	prefixes := [][]byte{nil}
	for _, f := range fields {
		fs, points, ok := fieldSpans(preds[f])
		if !ok {
			break
		}
		bound++
		if points {
			next := make([][]byte, 0, len(prefixes)*len(fs))
			for _, p := range prefixes {
				for _, s := range fs {
					next = append(next, append(slices.Clip(p), s.start...))
				}
			}
			prefixes = next
			pinned++
			continue
		}
		out := make([]span, 0, len(prefixes))
		for _, p := range prefixes {
			for _, s := range fs {
				out = append(out, span{start: append(slices.Clip(p), s.start...), end: append(slices.Clip(p), s.end...)})
			}
		}
		return out, bound, pinned
	}
	if bound == 0 {
		return nil, 0, 0
	}
	out := make([]span, 0, len(prefixes))
	for _, p := range prefixes {
		out = append(out, span{start: p, end: prefixEnd(p)})
	}
	return out, bound, pinned
}

// mergeSpans sorts spans and joins overlapping ones.
func mergeSpans(spans []span) []span {
	slices.SortFunc(spans, func(a, b span) int { return bytes.Compare(a.start, b.start) })
	out := spans[:0]
	for _, s := range spans {
		if n := len(out); n > 0 && (out[n-1].end == nil || bytes.Compare(s.start, out[n-1].end) <= 0) {
			if out[n-1].end != nil && (s.end == nil || bytes.Compare(s.end, out[n-1].end) > 0) {
				out[n-1].end = s.end
			}
			continue
		}
		out = append(out, s)
	}
	return out
}

// sortField is one key of a sort document.
type sortField struct {
	path string
	desc bool
}

func parseSort(sort bson.D) ([]sortField, error) {
	out := make([]sortField, 0, len(sort))
	for _, e := range sort {
		switch toFloat(e.Value) {
		case 1:
			out = append(out, sortField{path: e.Key})
		case -1:
			out = append(out, sortField{path: e.Key, desc: true})
		default:
			return nil, unsupported("sort %s: %v: only 1 and -1", e.Key, e.Value)
		}
	}
	return out, nil
}

// candidate is one way to walk a collection.
type candidate struct {
	index  *indexMeta // nil: the documents by _id
	fields []string
	unique bool
}

// planQuery chooses how to run a query on a collection.
func planQuery(m *collMeta, filter bson.D, sort []sortField) *plan {
	preds := map[string]*pred{}
	var ors []bson.A
	conjuncts(filter, preds, &ors)
	// Branches: the top-level conjunction, or one per $or branch (with the
	// top-level predicates added), when there is exactly one $or.
	var branches []map[string]*pred
	if len(ors) == 1 {
		for _, b := range ors[0] {
			d, ok := b.(bson.D)
			if !ok {
				branches = nil
				break
			}
			bp := map[string]*pred{}
			var nested []bson.A
			conjuncts(d, bp, &nested)
			for f, p := range preds {
				if q, ok := bp[f]; ok {
					merged := *q
					if p.points != nil {
						merged.intersectPoints(p.points)
					}
					if p.none {
						merged.none = true
					}
					bp[f] = &merged
				} else {
					bp[f] = p
				}
			}
			branches = append(branches, bp)
		}
	}
	if branches == nil {
		branches = []map[string]*pred{preds}
	}

	cands := []candidate{{fields: []string{"_id"}, unique: true}}
	for _, ix := range m.Indexes {
		if !ix.Multikey {
			cands = append(cands, candidate{index: ix, fields: ix.Fields, unique: ix.Unique})
		}
	}
	var best *plan
	bestScore := -1
	for _, c := range cands {
		var spans []span
		minBound, minPinned := -1, -1
		for _, bp := range branches {
			s, bound, pinned := indexSpans(c.fields, bp)
			if bound == 0 {
				minBound, minPinned, spans = 0, 0, nil
				break
			}
			spans = append(spans, s...)
			if minBound < 0 || bound < minBound {
				minBound = bound
			}
			if minPinned < 0 || pinned < minPinned {
				minPinned = pinned
			}
		}
		p := &plan{index: c.index}
		if minBound > 0 {
			p.spans = mergeSpans(spans)
			p.bounded = true
		}
		p.sorted, p.reverse = sortFromIndex(c.fields, sort, p.spans, minPinned, p.bounded)
		score := minBound * 4
		if p.sorted {
			score += 2
		}
		if c.unique && minBound == len(c.fields) {
			score++
		}
		if !p.bounded && !p.sorted {
			score = -1
		}
		if score > bestScore {
			best, bestScore = p, score
		}
	}
	if best == nil {
		return &plan{sorted: len(sort) == 0}
	}
	return best
}

// sortFromIndex reports whether walking the spans yields the sort order,
// and whether backwards.
func sortFromIndex(fields []string, sort []sortField, spans []span, pinned int, bounded bool) (sorted, reverse bool) {
	if len(sort) == 0 {
		return true, false
	}
	desc := sort[0].desc
	for _, s := range sort {
		if s.desc != desc {
			return false, false
		}
	}
	// The sort must be the index's fields from some j on, with fields
	// before j pinned to one point across all spans.
	for j := 0; j <= len(fields)-len(sort); j++ {
		if j > 0 && (!bounded || j > pinned || len(spans) != 1) {
			break
		}
		match := true
		for i, s := range sort {
			if fields[j+i] != s.path {
				match = false
				break
			}
		}
		if match {
			return true, desc
		}
	}
	// Sorting by _id after the index fields is how entries are ordered
	// too, but only unique entries are ordered by the fields alone; keep
	// it simple and sort in memory then.
	return false, false
}
