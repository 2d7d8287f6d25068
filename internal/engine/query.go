package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/256dpi/lungo/bsonkit"
	"github.com/256dpi/lungo/mongokit"
	"github.com/cockroachdb/pebble/v2"
	"go.mongodb.org/mongo-driver/bson"

	"github.com/annalsdb/annals/internal/bsoncheck"
)

// query is a find, count, update or delete's selection.
type query struct {
	filter bson.D
	sort   bson.D
	skip   int64
	limit  int64 // 0: no limit
}

// selection is the query of an update or delete: the documents filter
// matches, or only the first of them unless many.
func selection(filter any, many bool) (query, error) {
	f, err := toDoc(filter)
	if err != nil {
		return query{}, err
	}
	q := query{filter: f}
	if !many {
		q.limit = 1
	}
	return q, nil
}

// prepared is a query with its plan.
type prepared struct {
	query
	sortFields []sortField
	plan       *plan
}

func prepare(m *collMeta, q query) (*prepared, error) {
	sf, err := parseSort(q.sort)
	if err != nil {
		return nil, err
	}
	if q.skip < 0 {
		return nil, commandError(codeBadValue, "BadValue", "skip must be non-negative")
	}
	if q.limit < 0 {
		q.limit = -q.limit
	}
	p := &prepared{query: q, sortFields: sf}
	if m != nil {
		p.plan = planQuery(m, q.filter, sf)
	}
	return p, nil
}

// run yields the documents a query selects, in order, skipped and
// limited, until fn returns false. r is what it reads: the store, a
// snapshot, or a transaction's batch. obs, when not nil, is told of each
// document selected (or skipped past).
func run(ctx context.Context, r pebble.Reader, obs *observer, m *collMeta, p *prepared, fn func(stored) bool) error {
	if m == nil {
		return nil
	}
	skip, limit := p.skip, p.limit
	if p.plan.sorted {
		n := int64(0)
		return walk(ctx, r, obs, m, p.plan, p.filter, func(s stored) bool {
			if skip > 0 {
				skip--
				return true
			}
			n++
			return fn(s) && (limit == 0 || n < limit)
		})
	}
	var all []stored
	err := walk(ctx, r, obs, m, p.plan, p.filter, func(s stored) bool {
		all = append(all, s)
		return true
	})
	if err != nil {
		return err
	}
	all, err = sortStored(all, p.sort)
	if err != nil {
		return err
	}
	for i, s := range all {
		if int64(i) < skip {
			continue
		}
		if limit > 0 && int64(i)-skip >= limit {
			break
		}
		if !fn(s) {
			break
		}
	}
	return nil
}

// sortStored sorts documents as MongoDB does, stably.
func sortStored(all []stored, sort bson.D) ([]stored, error) {
	if len(sort) == 0 || len(all) < 2 {
		return all, nil
	}
	list := make(bsonkit.List, len(all))
	byDoc := make(map[*bson.D]stored, len(all))
	for i := range all {
		d := all[i].d()
		list[i] = d
		byDoc[d] = all[i]
	}
	sd := sort
	sorted, err := mongokit.Sort(list, &sd)
	if err != nil {
		return nil, fmt.Errorf("engine: sort: %w", err)
	}
	out := make([]stored, len(sorted))
	for i, d := range sorted {
		out[i] = byDoc[d]
	}
	return out, nil
}

// pointFetches is how many documents a walk fetches with point reads
// before it switches to an iterator.
const pointFetches = 32

// spanKeys are the keys a span covers under prefix: from lo up to hi,
// where a span without an end runs to upper, the prefix's end.
func spanKeys(prefix, upper []byte, s span) (lo, hi []byte) {
	lo = append(bytes.Clone(prefix), s.start...)
	hi = upper
	if s.end != nil {
		hi = append(bytes.Clone(prefix), s.end...)
	}
	return lo, hi
}

// docFetcher reads the documents a walk's references point at.
type docFetcher struct {
	r pebble.Reader
	m *collMeta
	// fetched counts the point reads made.
	fetched int
	// it is the iterator long walks fetch with; key is its seek key.
	it  *pebble.Iterator
	key []byte
}

// get returns a copy of the document ref points at: an encoded _id, or
// in a clustered collection a clustered key.
func (f *docFetcher) get(ref []byte) ([]byte, error) {
	f.key = f.key[:0]
	if f.m.ClusteredIndex == 0 {
		f.key = appendDocKey(f.key, f.m.ID, ref)
	} else {
		f.key = append(f.key, ref...)
	}
	if f.fetched < pointFetches || f.m.ClusteredIndex != 0 {
		// The first documents of a walk are point reads, which bloom
		// filters keep to the one table holding each. So are all of a
		// clustered collection's: references from another index come in
		// that index's order, not the clustered one, and a seek for each
		// would position (read a block) in every level.
		f.fetched++
		v, closer, err := f.r.Get(f.key)
		if errors.Is(err, pebble.ErrNotFound) {
			return nil, f.missing(ref)
		}
		if err != nil {
			return nil, err
		}
		raw := bytes.Clone(v)
		return raw, closer.Close()
	}
	// Long walks fetch through a second iterator: cheaper than a Get per
	// entry once the tables are warm, and its seeks reuse their position
	// when references come in order (_ids that are UUIDv7 or ObjectIds,
	// in the order of an index on time).
	if f.it == nil {
		p := docPrefix(f.m.ID)
		var err error
		if f.it, err = f.r.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: prefixEnd(p)}); err != nil {
			return nil, err
		}
	}
	if !f.it.SeekGE(f.key) || !bytes.Equal(f.it.Key(), f.key) {
		if err := f.it.Error(); err != nil {
			return nil, err
		}
		return nil, f.missing(ref)
	}
	v, err := f.it.ValueAndErr()
	if err != nil {
		return nil, err
	}
	return bytes.Clone(v), nil
}

func (f *docFetcher) missing(ref []byte) error {
	return fmt.Errorf("%w: collection %s: a reference %x points at no document", ErrCorrupt, f.m.ns(), ref)
}

func (f *docFetcher) close() {
	if f.it != nil {
		f.it.Close()
	}
}

// walk visits the documents of a plan's spans that match filter, telling
// obs of each.
func walk(ctx context.Context, r pebble.Reader, obs *observer, m *collMeta, p *plan, filter bson.D, fn func(stored) bool) error {
	var prefix []byte
	if p.index != nil {
		prefix = indexPrefix(m.ID, p.index.ID)
	} else {
		prefix = docPrefix(m.ID)
	}
	spans := p.spans
	if !p.bounded {
		spans = []span{{}}
	}
	if len(spans) == 0 {
		return nil
	}
	upper := prefixEnd(prefix)
	bounds := &pebble.IterOptions{LowerBound: prefix, UpperBound: upper}
	if len(spans) == 1 {
		// One span (a stream load, a head read): the iterator's bounds
		// are the span's, so that past its last entry Pebble stops at the
		// index separators instead of reading the next block to find the
		// first key beyond it. Many spans (a long $in) keep the whole
		// prefix: bounds narrowed span by span would close and reopen the
		// table iterators outside them again and again.
		lo, hi := spanKeys(prefix, upper, spans[0])
		if bytes.Compare(lo, hi) >= 0 {
			return nil // an empty span (a > 1 and a < 0)
		}
		bounds = &pebble.IterOptions{LowerBound: lo, UpperBound: hi}
		if p.reverse && p.prefixFilters && p.index != nil && seekPrefix(lo, hi) {
			// A backward walk cannot seek by prefix: the blocks' prefix
			// filters skip those without it instead (blockfilter.go).
			n, _ := indexPrefixLen(lo)
			bounds.PointKeyFilters = make([]pebble.BlockPropertyFilter, 1, 2)
			bounds.PointKeyFilters[0] = newPrefixFilter(lo[:n])
		}
	}
	it, err := r.NewIter(bounds)
	if err != nil {
		return err
	}
	defer it.Close()
	var f *bson.D
	var rf *rawFilter
	if len(filter) > 0 {
		f = &filter
		rf = compileRaw(filter)
	}
	// Where the documents are: under their _id, or in the clustered
	// index's entries. A walk of any other keyspace reads references to
	// them: the _id key of a plain collection's index entries, the
	// clustered key of a clustered collection's index and _id entries.
	clustered := m.ClusteredIndex != 0
	inPlace := p.index == nil && !clustered || p.index != nil && m.isClustered(p.index)
	fetch := docFetcher{r: r, m: m}
	defer fetch.close()
	visit := func() (bool, error) {
		var raw []byte
		if inPlace {
			v, err := it.ValueAndErr()
			if err != nil {
				return false, err
			}
			raw = bytes.Clone(v)
		} else {
			ref, err := it.ValueAndErr()
			if err != nil {
				return false, err
			}
			if raw, err = fetch.get(ref); err != nil {
				return false, err
			}
		}
		if err := bsoncheck.WellFormed(raw); err != nil {
			return false, fmt.Errorf("%w: document %x: %v", ErrCorrupt, it.Key(), err)
		}
		s := stored{raw: raw}
		decided := false
		if rf != nil {
			var ok bool
			if ok, decided = rf.match(raw); decided && !ok {
				return true, nil
			}
		}
		if f != nil && !decided {
			ok, err := mongokit.Match(s.d(), f)
			if err != nil {
				return false, fmt.Errorf("engine: filter: %w", err)
			}
			if !ok {
				return true, nil
			}
		}
		switch {
		case p.index == nil:
			obs.selected(m.ID, it.Key()[len(prefix):])
		case !clustered:
			obs.selected(m.ID, it.Value())
		default:
			obs.selectedDoc(m.ID, &s)
		}
		return fn(s), nil
	}
	n := 0
	step := func() error {
		if n++; n%1024 == 0 {
			return ctx.Err()
		}
		return nil
	}
	for i := range spans {
		s := spans[i]
		if p.reverse {
			s = spans[len(spans)-1-i]
		}
		lo, hi := spanKeys(prefix, upper, s)
		if bytes.Compare(lo, hi) >= 0 {
			continue // an empty span (a > 1 and a < 0)
		}
		if p.reverse {
			for valid := it.SeekLT(hi); valid && bytes.Compare(it.Key(), lo) >= 0; valid = it.Prev() {
				if err := step(); err != nil {
					return err
				}
				more, err := visit()
				if err != nil || !more {
					return err
				}
			}
		} else {
			seek := it.SeekGE
			if p.prefixSeek && p.index != nil && seekPrefix(lo, hi) {
				// Bloom filters skip the tables without the span's prefix.
				seek = it.SeekPrefixGE
			}
			for valid := seek(lo); valid && bytes.Compare(it.Key(), hi) < 0; valid = it.Next() {
				if err := step(); err != nil {
					return err
				}
				more, err := visit()
				if err != nil || !more {
					return err
				}
			}
		}
		if err := it.Error(); err != nil {
			return err
		}
	}
	return it.Error()
}
