package engine

import (
	"encoding/binary"
	"strings"
	"sync"
	"sync/atomic"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/bsontype"
)

// keyAppendRaw appends the key encoding of a field read from a stored
// document's bytes: what appendKey appends for rawScalar(v), without
// boxing the value (every insert keys each indexed field). ok is false
// when rawScalar does not decode v (an array or an embedded document);
// the caller then keys the decoded document.
func keyAppendRaw(dst []byte, v bson.RawValue) (_ []byte, ok bool, err error) {
	switch v.Type {
	case bsontype.String:
		if s, ok := rawString(v.Value); ok {
			return keyAppendString(dst, s), true, nil
		}
	case bsontype.Binary:
		if st, data, ok := v.BinaryOK(); ok {
			dst, err = keyAppendBinary(dst, st, data)
			return dst, err == nil, err
		}
	case bsontype.Int32:
		if n, ok := v.Int32OK(); ok {
			return keyAppendPoint(dst, float64(n)), true, nil
		}
	case bsontype.Int64:
		if n, ok := v.Int64OK(); ok {
			return keyAppendInt64(dst, n), true, nil
		}
	case bsontype.Double:
		if f, ok := v.DoubleOK(); ok {
			return keyAppendPoint(dst, f), true, nil
		}
	case bsontype.DateTime:
		if ms, ok := v.DateTimeOK(); ok {
			return keyAppendDate(dst, ms), true, nil
		}
	case bsontype.ObjectID:
		if id, ok := v.ObjectIDOK(); ok {
			return append(append(dst, kbObjectID), id[:]...), true, nil
		}
	}
	// The rarer scalars, and malformed values as rawScalar reads them.
	x, ok := rawScalar(v)
	if !ok {
		return dst, false, nil
	}
	dst, err = appendKey(dst, x)
	return dst, err == nil, err
}

// rawString returns the bytes of a BSON string value (length, bytes, NUL)
// without copying them.
func rawString(b []byte) ([]byte, bool) {
	if len(b) < 5 {
		return nil, false
	}
	n := int(int32(binary.LittleEndian.Uint32(b)))
	if n < 1 || 4+n > len(b) || b[4+n-1] != 0 {
		return nil, false
	}
	return b[4 : 4+n-1], true
}

// splitPaths caches splitPath's answers: field paths come from index
// definitions and filters, few and repeated at every insert and query.
var splitPaths struct {
	sync.Map // string → []string
	n        atomic.Int32
}

// splitPathsMax bounds the cache, should filters name fields without
// end.
const splitPathsMax = 4096

// splitPath splits a dotted field path into its segments. The answer is
// shared: callers must not modify it (appending to it copies).
func splitPath(field string) []string {
	if p, ok := splitPaths.Load(field); ok {
		return p.([]string)
	}
	p := strings.Split(field, ".")
	p = p[:len(p):len(p)]
	if splitPaths.n.Load() < splitPathsMax {
		if _, loaded := splitPaths.LoadOrStore(field, p); !loaded {
			splitPaths.n.Add(1)
		}
	}
	return p
}
