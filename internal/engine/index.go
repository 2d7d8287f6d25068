package engine

import (
	"fmt"
	"strings"

	"go.mongodb.org/mongo-driver/bson"
)

// indexValues returns the values a document has at a dotted path for an
// index: the value itself, each element of an array (multikey), null for a
// missing field, undefined for an empty array, as MongoDB indexes them.
func indexValues(doc *bson.D, path string) (vals []any, multikey bool) {
	var walk func(v any, segs []string)
	walk = func(v any, segs []string) {
		if len(segs) == 0 {
			if a, ok := asArray(v); ok {
				multikey = true
				if len(a) == 0 {
					// MongoDB keys an empty array apart from null and
					// missing (as undefined); the empty array's own
					// encoding does the same.
					vals = append(vals, bson.A{})
				}
				vals = append(vals, a...)
				return
			}
			vals = append(vals, v)
			return
		}
		switch x := v.(type) {
		case bson.D:
			for _, e := range x {
				if e.Key == segs[0] {
					walk(e.Value, segs[1:])
					return
				}
			}
			vals = append(vals, nil)
		case *bson.D:
			walk(*x, segs)
		case bson.A:
			multikey = true
			before := len(vals)
			for _, el := range x {
				switch el.(type) {
				case bson.D, *bson.D:
					walk(el, segs)
				}
			}
			if len(vals) == before {
				vals = append(vals, nil)
			}
		default:
			vals = append(vals, nil)
		}
	}
	walk(*doc, splitPath(path))
	return vals, multikey
}

func asArray(v any) (bson.A, bool) {
	switch a := v.(type) {
	case bson.A:
		return a, true
	case []any:
		return a, true
	}
	return nil, false
}

// storedKeys returns the keys of a stored document's entries in an index,
// reading scalar fields from its bytes; a document with an array or an
// embedded document on an indexed path is decoded and keyed as entryKeys
// does.
func storedKeys(m *collMeta, ix *indexMeta, s *stored, idKey []byte) ([][]byte, bool, error) {
	key := indexPrefix(m.ID, ix.ID)
	for _, f := range ix.Fields {
		v, found, decided := lookupRaw(s.raw, splitPath(f))
		if !decided {
			return entryKeys(m, ix, s.d(), idKey)
		}
		if !found {
			key = append(key, kbNull)
			continue
		}
		var ok bool
		var err error
		if key, ok, err = keyAppendRaw(key, v); err != nil {
			return nil, false, fmt.Errorf("engine: index %s field %s: %w", ix.Name, f, err)
		} else if !ok {
			return entryKeys(m, ix, s.d(), idKey)
		}
	}
	if !ix.Unique {
		key = append(key, idKey...)
	}
	return [][]byte{key}, false, nil
}

// entryKeys returns the keys of a document's entries in an index, and
// whether the document makes it multikey.
func entryKeys(m *collMeta, ix *indexMeta, doc *bson.D, idKey []byte) ([][]byte, bool, error) {
	prefix := indexPrefix(m.ID, ix.ID)
	keys := [][]byte{prefix}
	multi := false
	for _, f := range ix.Fields {
		vals, mk := indexValues(doc, f)
		multi = multi || mk
		next := make([][]byte, 0, len(keys)*len(vals))
		for _, k := range keys {
			seen := make([][]byte, 0, len(vals))
			for _, v := range vals {
				enc, err := appendKey(nil, v)
				if err != nil {
					return nil, false, fmt.Errorf("engine: index %s field %s: %w", ix.Name, f, err)
				}
				if containsKey(seen, enc) {
					continue
				}
				seen = append(seen, enc)
				nk := make([]byte, 0, len(k)+len(enc)+len(idKey))
				nk = append(append(nk, k...), enc...)
				next = append(next, nk)
			}
		}
		keys = next
	}
	if !ix.Unique {
		for i := range keys {
			keys[i] = append(keys[i], idKey...)
		}
	}
	return keys, multi, nil
}

// indexSpec validates an index's key document and returns its fields.
func indexSpec(keys bson.D) ([]string, error) {
	if len(keys) == 0 {
		return nil, commandError(67, "CannotCreateIndex", "index keys cannot be empty")
	}
	fields := make([]string, 0, len(keys))
	for _, k := range keys {
		switch v := k.Value.(type) {
		case int32, int64, float64:
			if toFloat(v) != 1 && toFloat(v) != -1 {
				return nil, unsupported("index key %s: only ascending (1) and descending (-1) keys", k.Key)
			}
		default:
			return nil, unsupported("index key %s: %v: only ascending (1) and descending (-1) keys", k.Key, k.Value)
		}
		if k.Key == "" || strings.HasPrefix(k.Key, "$") {
			return nil, commandError(67, "CannotCreateIndex", fmt.Sprintf("bad index key %q", k.Key))
		}
		fields = append(fields, k.Key)
	}
	return fields, nil
}

func toFloat(v any) float64 {
	switch n := v.(type) {
	case int32:
		return float64(n)
	case int64:
		return float64(n)
	case float64:
		return n
	}
	return 0
}

// defaultIndexName is MongoDB's: field_dir joined by underscores.
func defaultIndexName(keys bson.D) string {
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('_')
		}
		fmt.Fprintf(&b, "%s_%v", k.Key, k.Value)
	}
	return b.String()
}

// sameKeys reports whether two index key documents are the same.
func sameKeys(a, b bson.D) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Key != b[i].Key || toFloat(a[i].Value) != toFloat(b[i].Value) {
			return false
		}
	}
	return true
}
