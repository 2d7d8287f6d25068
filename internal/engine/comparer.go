package engine

import (
	"bytes"
	"encoding/binary"

	"github.com/cockroachdb/pebble/v2"
)

// Key prefixes for bloom filters and prefix seeks.
//
// Pebble builds its bloom filters over each key's prefix as the comparer's
// Split defines it, and SeekPrefixGE consults them: a walk that knows its
// keys share a prefix skips every table whose filter lacks it, instead of
// positioning (reading a block) in every level. Stores of format 2 use a
// comparer whose Split ends an index entry's prefix after its first field
// when that field's encoding has a length its first bytes tell (binData —
// UUIDs —, strings, ObjectIds, dates, booleans, timestamps, numbers that
// are doubles, null and the extremes): a stream load ({aggregate_uuid: X}
// sorted by version) then reads only the tables holding stream X. Every
// other key is its own prefix, as with Pebble's default comparer, so point
// reads keep whole-key filters.
//
// Keys still compare bytewise: the encoding is self-delimiting, so no
// prefix is a proper prefix of another and comparing prefixes first, then
// the rest, orders keys as bytes.Compare does.
//
// Format 1 stores were written with Pebble's default comparer; they open
// with it and walk without prefix seeks.

// comparerName names the format 2 comparer in Pebble's manifest.
const comparerName = "annals.keys.v2"

var annalsComparer = func() *pebble.Comparer {
	c := *pebble.DefaultComparer
	c.Name = comparerName
	c.Split = splitKey
	c.ImmediateSuccessor = func(dst, a []byte) []byte {
		if n, ok := indexPrefixLen(a); ok && n == len(a) {
			// Every key greater than a and less than prefixEnd(a) has
			// prefix a.
			if end := prefixEnd(a); end != nil {
				return append(dst, end...)
			}
		}
		return append(append(dst, a...), 0x00)
	}
	return &c
}()

// splitKey is the comparer's Split: the length of key's prefix.
func splitKey(key []byte) int {
	if n, ok := indexPrefixLen(key); ok {
		return n
	}
	return len(key)
}

// indexPrefixLen returns the length of an index entry's prefix (tag,
// collection, index and first field) when key is an index entry whose first
// field has a length its bytes tell; ok is false for any other key.
func indexPrefixLen(key []byte) (n int, ok bool) {
	const head = 9 // 'x' collID(4) indexID(4)
	if len(key) <= head || key[0] != prefixIndex {
		return 0, false
	}
	l, ok := keyValueLen(key[head:])
	if !ok {
		return 0, false
	}
	return head + l, true
}

// keyValueLen returns the length of the key encoding (keyenc.go) at the
// start of b, for the types whose length is quick to tell; ok is false for
// the others (documents, arrays, numbers between doubles, regular
// expressions, code) and for bytes that are not a whole encoding.
func keyValueLen(b []byte) (int, bool) {
	var n int
	switch b[0] {
	case kbMinKey, kbNull, kbMaxKey:
		n = 1
	case kbNumber:
		if len(b) < 10 || b[9] != keyNumPoint {
			return 0, false
		}
		n = 10
	case kbString:
		for i := 1; i+1 < len(b); i++ {
			if b[i] != 0x00 {
				continue
			}
			switch b[i+1] {
			case 0x01:
				return i + 2, true
			case 0xFF:
				i++
			default:
				return 0, false
			}
		}
		return 0, false
	case kbBinary:
		if len(b) < 6 {
			return 0, false
		}
		n = 6 + int(binary.BigEndian.Uint32(b[1:5]))
	case kbObjectID:
		n = 13
	case kbBool:
		n = 2
	case kbDate, kbTimestamp:
		n = 9
	default:
		return 0, false
	}
	if n > len(b) {
		return 0, false
	}
	return n, true
}

// seekPrefix reports whether every key in [lo, hi) has lo's prefix, so a
// walk of the span can seek with SeekPrefixGE and its bloom filters.
func seekPrefix(lo, hi []byte) bool {
	n, ok := indexPrefixLen(lo)
	if !ok {
		return false
	}
	end := prefixEnd(lo[:n])
	return end != nil && hi != nil && bytes.Compare(hi, end) <= 0
}
