// Package bsoncheck checks that bytes are one well-formed BSON document
// before anything indexes by the lengths inside them.
//
// The driver's bsoncore Validate and reflection decoder trust a document's
// length prefixes enough to panic on some damaged ones (a length of zero
// or less), and accept strings without their closing NUL and booleans
// other than 0 and 1, which MongoDB refuses. WellFormed checks all of it
// and returns an error instead:
//
//	if err := bsoncheck.WellFormed(raw); err != nil {
//		return fmt.Errorf("not a BSON document: %w", err)
//	}
package bsoncheck

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"go.mongodb.org/mongo-driver/bson/bsontype"
)

// MaxDepth bounds how deeply WellFormed follows nested documents: as
// deep as MongoDB stores (100), with room.
const MaxDepth = 200

// errTruncated reports a length that runs past its document.
var errTruncated = errors.New("a length runs past the end of its document")

// WellFormed checks that doc is one well-formed BSON document: every
// length within its bounds, every string closed by its NUL, every boolean
// 0 or 1, every type known, nesting at most MaxDepth deep. A document that
// passes is safe for the driver's decoders and bsoncore's Validate.
func WellFormed(doc []byte) error {
	return wellFormedDoc(doc, 0)
}

func wellFormedDoc(doc []byte, depth int) error {
	if depth > MaxDepth {
		return fmt.Errorf("documents nested more than %d deep", MaxDepth)
	}
	if len(doc) < 5 {
		return fmt.Errorf("%d bytes is too short for a document", len(doc))
	}
	if n := binary.LittleEndian.Uint32(doc); int64(n) != int64(len(doc)) {
		return fmt.Errorf("document length %d, %d bytes given", n, len(doc))
	}
	if doc[len(doc)-1] != 0 {
		return errors.New("document does not end with a NUL")
	}
	rest := doc[4 : len(doc)-1]
	for len(rest) > 0 {
		t := bsontype.Type(rest[0])
		end := bytes.IndexByte(rest[1:], 0)
		if end < 0 {
			return errors.New("element name without its NUL")
		}
		key := rest[1 : 1+end]
		rest = rest[2+end:]
		n, err := valueLen(t, rest, depth)
		if err != nil {
			return fmt.Errorf("element %q: %w", key, err)
		}
		rest = rest[n:]
	}
	return nil
}

// valueLen returns the length of the value of type t at the start of b,
// checked.
func valueLen(t bsontype.Type, b []byte, depth int) (int, error) {
	fixed := func(n int) (int, error) {
		if len(b) < n {
			return 0, errTruncated
		}
		return n, nil
	}
	switch t {
	case bsontype.Double, bsontype.DateTime, bsontype.Timestamp, bsontype.Int64:
		return fixed(8)
	case bsontype.Int32:
		return fixed(4)
	case bsontype.Decimal128:
		return fixed(16)
	case bsontype.ObjectID:
		return fixed(12)
	case bsontype.Null, bsontype.Undefined, bsontype.MinKey, bsontype.MaxKey:
		return 0, nil
	case bsontype.Boolean:
		if len(b) < 1 {
			return 0, errTruncated
		}
		if b[0] > 1 {
			return 0, fmt.Errorf("boolean byte %#x", b[0])
		}
		return 1, nil
	case bsontype.String, bsontype.JavaScript, bsontype.Symbol:
		return stringLen(b)
	case bsontype.EmbeddedDocument, bsontype.Array:
		n, err := docLen(b, 5)
		if err != nil {
			return 0, err
		}
		return n, wellFormedDoc(b[:n], depth+1)
	case bsontype.Binary:
		if len(b) < 5 {
			return 0, errTruncated
		}
		l := int64(int32(binary.LittleEndian.Uint32(b)))
		if l < 0 || l > int64(len(b)-5) {
			return 0, errTruncated
		}
		if b[4] == byte(bsontype.BinaryBinaryOld) {
			if l < 4 || int64(binary.LittleEndian.Uint32(b[5:])) != l-4 {
				return 0, errors.New("old binary subtype with a wrong inner length")
			}
		}
		return 5 + int(l), nil
	case bsontype.Regex:
		p := bytes.IndexByte(b, 0)
		if p < 0 {
			return 0, errTruncated
		}
		o := bytes.IndexByte(b[p+1:], 0)
		if o < 0 {
			return 0, errTruncated
		}
		return p + 1 + o + 1, nil
	case bsontype.DBPointer:
		n, err := stringLen(b)
		if err != nil {
			return 0, err
		}
		if len(b)-n < 12 {
			return 0, errTruncated
		}
		return n + 12, nil
	case bsontype.CodeWithScope:
		n, err := docLen(b, 14)
		if err != nil {
			return 0, err
		}
		s, err := stringLen(b[4:n])
		if err != nil {
			return 0, err
		}
		if err := wellFormedDoc(b[4+s:n], depth+1); err != nil {
			return 0, err
		}
		return n, nil
	default:
		return 0, fmt.Errorf("unknown BSON type %#x", byte(t))
	}
}

// stringLen returns the length of a string value (its length prefix,
// bytes and closing NUL) at the start of b, checked.
func stringLen(b []byte) (int, error) {
	if len(b) < 4 {
		return 0, errTruncated
	}
	l := int64(int32(binary.LittleEndian.Uint32(b)))
	if l < 1 || 4+l > int64(len(b)) {
		return 0, errTruncated
	}
	if b[4+l-1] != 0 {
		return 0, errors.New("string does not end with a NUL")
	}
	return int(4 + l), nil
}

// docLen returns the length prefix at the start of b, the length of a
// value that counts itself (a document, a code with scope), checked to be
// at least min and within b.
func docLen(b []byte, min int64) (int, error) {
	if len(b) < 4 {
		return 0, errTruncated
	}
	l := int64(int32(binary.LittleEndian.Uint32(b)))
	if l < min || l > int64(len(b)) {
		return 0, errTruncated
	}
	return int(l), nil
}
