package engine

import (
	"bytes"
	"math"
	"strings"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/bsontype"
	"go.mongodb.org/mongo-driver/bson/primitive"
)

// A rawFilter decides common filters on a document's bytes, without
// decoding it: conjunctions and disjunctions of equality, $in and range
// predicates on scalar values, which is what stream loads, scans and
// read-model look-ups ask. It compares through the order-preserving key
// encoding, so it orders and equates values exactly as the index does
// (and as mongokit does). Whatever it cannot decide — arrays or documents
// in the compared fields, NaN, other operators — it leaves to mongokit
// on the decoded document.
type rawFilter struct {
	and []rawNode
}

type rawNode struct {
	pred *rawPred
	or   []*rawFilter
}

// Predicate kinds.
const (
	rawEq = iota
	rawGt
	rawGte
	rawLt
	rawLte
)

type rawPred struct {
	path []string
	op   int
	// keys are the encoded operands: several for $in, one otherwise.
	keys    [][]byte
	bracket byte
	null    bool // the operand of an equality is null: missing matches
}

// compileRaw compiles a filter, or returns nil when it uses something the
// raw matcher does not decide.
func compileRaw(filter bson.D) *rawFilter {
	f := &rawFilter{}
	for _, e := range filter {
		switch {
		case e.Key == "$and":
			list, ok := e.Value.(bson.A)
			if !ok || len(list) == 0 {
				return nil
			}
			for _, c := range list {
				d, ok := c.(bson.D)
				if !ok {
					return nil
				}
				sub := compileRaw(d)
				if sub == nil {
					return nil
				}
				f.and = append(f.and, sub.and...)
			}
		case e.Key == "$or":
			list, ok := e.Value.(bson.A)
			if !ok || len(list) == 0 {
				return nil
			}
			n := rawNode{}
			for _, c := range list {
				d, ok := c.(bson.D)
				if !ok {
					return nil
				}
				sub := compileRaw(d)
				if sub == nil {
					return nil
				}
				n.or = append(n.or, sub)
			}
			f.and = append(f.and, n)
		case strings.HasPrefix(e.Key, "$"):
			return nil
		default:
			preds := compilePreds(e.Key, e.Value)
			if preds == nil {
				return nil
			}
			for _, p := range preds {
				f.and = append(f.and, rawNode{pred: p})
			}
		}
	}
	return f
}

func compilePreds(field string, v any) []*rawPred {
	path := splitPath(field)
	for _, seg := range path {
		if seg == "" || (seg[0] >= '0' && seg[0] <= '9') {
			return nil // positional paths reach into arrays
		}
	}
	d, isDoc := v.(bson.D)
	if !isDoc || len(d) == 0 || !strings.HasPrefix(d[0].Key, "$") {
		p := eqPred(path, []any{v})
		if p == nil {
			return nil
		}
		return []*rawPred{p}
	}
	var out []*rawPred
	for _, op := range d {
		var p *rawPred
		switch op.Key {
		case "$eq":
			p = eqPred(path, []any{op.Value})
		case "$in":
			list, ok := op.Value.(bson.A)
			if !ok {
				return nil
			}
			p = eqPred(path, list)
		case "$gt", "$gte", "$lt", "$lte":
			p = rangePred(path, op.Key, op.Value)
		}
		if p == nil {
			return nil
		}
		out = append(out, p)
	}
	return out
}

// scalarOperand reports whether v can be compared through its encoding.
func scalarOperand(v any) bool {
	switch x := v.(type) {
	case bson.D, bson.A, []any, primitive.Regex, primitive.MinKey, primitive.MaxKey, primitive.Undefined:
		return false
	case float64:
		return !math.IsNaN(x)
	case primitive.Decimal128:
		return false
	}
	_, err := keyBracket(v)
	return err == nil
}

func eqPred(path []string, vals []any) *rawPred {
	p := &rawPred{path: path, op: rawEq}
	for _, v := range vals {
		if v == nil || v == (primitive.Null{}) {
			p.null = true
		}
		if !scalarOperand(v) && v != nil && v != (primitive.Null{}) {
			return nil
		}
		k, err := appendKey(nil, v)
		if err != nil {
			return nil
		}
		p.keys = append(p.keys, k)
	}
	return p
}

func rangePred(path []string, op string, v any) *rawPred {
	if v == nil || v == (primitive.Null{}) || !scalarOperand(v) {
		return nil
	}
	k, err := appendKey(nil, v)
	if err != nil {
		return nil
	}
	b, _ := keyBracket(v)
	p := &rawPred{path: path, keys: [][]byte{k}, bracket: b}
	switch op {
	case "$gt":
		p.op = rawGt
	case "$gte":
		p.op = rawGte
	case "$lt":
		p.op = rawLt
	default:
		p.op = rawLte
	}
	return p
}

// match decides the filter on doc's bytes; decided is false when the
// document holds something the raw matcher leaves to mongokit.
func (f *rawFilter) match(doc bson.Raw) (ok, decided bool) {
	var buf [64]byte
	return f.matchBuf(doc, buf[:0])
}

func (f *rawFilter) matchBuf(doc bson.Raw, buf []byte) (ok, decided bool) {
	for _, n := range f.and {
		if n.pred != nil {
			m, d := n.pred.match(doc, buf)
			if !d {
				return false, false
			}
			if !m {
				return false, true
			}
			continue
		}
		any := false
		for _, sub := range n.or {
			m, d := sub.matchBuf(doc, buf)
			if !d {
				return false, false
			}
			if m {
				any = true
				break
			}
		}
		if !any {
			return false, true
		}
	}
	return true, true
}

func (p *rawPred) match(doc bson.Raw, buf []byte) (ok, decided bool) {
	v, found, decided := lookupRaw(doc, p.path)
	if !decided {
		return false, false
	}
	if !found {
		return p.op == rawEq && p.null, true
	}
	x, ok := rawScalar(v)
	if !ok {
		return false, false
	}
	if f, isFloat := x.(float64); isFloat && math.IsNaN(f) {
		return false, false
	}
	k, err := appendKey(buf[:0], x)
	if err != nil {
		return false, false
	}
	switch p.op {
	case rawEq:
		for _, want := range p.keys {
			if bytes.Equal(k, want) {
				return true, true
			}
		}
		return false, true
	}
	if len(k) == 0 || k[0] != p.bracket {
		return false, true
	}
	c := bytes.Compare(k, p.keys[0])
	switch p.op {
	case rawGt:
		return c > 0, true
	case rawGte:
		return c >= 0, true
	case rawLt:
		return c < 0, true
	}
	return c <= 0, true
}

// lookupRaw finds a dotted path in a document's bytes. decided is false
// when the path crosses an array (MongoDB then matches elements).
func lookupRaw(doc bson.Raw, path []string) (v bson.RawValue, found, decided bool) {
	cur := doc
	for i, seg := range path {
		val, err := cur.LookupErr(seg)
		if err != nil {
			return v, false, true
		}
		if i == len(path)-1 {
			if val.Type == bsontype.Array {
				return v, false, false
			}
			return val, true, true
		}
		switch val.Type {
		case bsontype.EmbeddedDocument:
			cur = val.Document()
		case bsontype.Array:
			return v, false, false
		default:
			return v, false, true
		}
	}
	return v, false, true
}

// rawScalar converts a scalar BSON value to the Go value bsonkit uses; ok
// is false for documents and arrays.
func rawScalar(v bson.RawValue) (any, bool) {
	switch v.Type {
	case bsontype.Double:
		return v.Double(), true
	case bsontype.String:
		return v.StringValue(), true
	case bsontype.Binary:
		st, data := v.Binary()
		return primitive.Binary{Subtype: st, Data: data}, true
	case bsontype.ObjectID:
		return v.ObjectID(), true
	case bsontype.Boolean:
		return v.Boolean(), true
	case bsontype.DateTime:
		return primitive.DateTime(v.DateTime()), true
	case bsontype.Null:
		return nil, true
	case bsontype.Int32:
		return v.Int32(), true
	case bsontype.Int64:
		return v.Int64(), true
	case bsontype.Timestamp:
		t, i := v.Timestamp()
		return primitive.Timestamp{T: t, I: i}, true
	case bsontype.Decimal128:
		return v.Decimal128(), true
	case bsontype.Symbol:
		return primitive.Symbol(v.Symbol()), true
	case bsontype.MinKey:
		return primitive.MinKey{}, true
	case bsontype.MaxKey:
		return primitive.MaxKey{}, true
	case bsontype.Undefined:
		return primitive.Undefined{}, true
	}
	return nil, false
}
