package engine

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"strconv"

	"github.com/256dpi/lungo/bsonkit"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
)

// Order-preserving key encoding of BSON values.
//
// appendKey turns a BSON value into bytes whose bytes.Compare order agrees
// with bsonkit.Compare (MongoDB's comparison order as lungo implements it),
// so Pebble's default comparer can order documents by _id and index entries
// by their fields. The encoding is self-delimiting: a compound key is the
// plain concatenation of its parts and still orders part by part.
//
// Every encoding starts with one bracket byte; all values of a type bracket
// (e.g. all numbers) share it and the brackets ascend in comparison order.
// Layout after the bracket byte, per type:
//
//	MinKey                  -
//	null, missing, undef.   -
//	number                  anchor(8) 0x01                  (value is a double)
//	                        anchor(8) 0x02 exact(...)       (value between two doubles)
//	string, symbol          esc(s)
//	document                { esc(key) key(value) }* 0x00 0x00
//	array                   { key(elem) }* 0x00
//	binData                 len(4, big endian) subtype(1) data(len)
//	ObjectId                id(12)
//	bool                    0x00 | 0x01
//	date                    millis(8, big endian, sign bit flipped)
//	timestamp               T(4) I(4), big endian
//	regex                   esc(pattern) esc(options)
//	dbPointer               len(ns)(4) ns pointer(12)
//	javascript              esc(code)
//	javascriptWithScope     esc(code) key(scope document)
//	MaxKey                  -
//
// exact(...) is 0x03 (positive) or 0x01 (negative), the decimal exponent + 0x8000
// (2 bytes), the significant digits packed two per byte as 1..100, and 0x00;
// for negative values all bytes after the sign byte are complemented.
//
// esc(s) is s with every 0x00 replaced by 0x00 0xFF, followed by the
// terminator 0x00 0x01, so a string sorts before its extensions and the
// terminator sorts before every continuation.
//
// Numbers. bsonkit compares int32, int64 and float64 exactly against each
// other (MongoDB semantics), so numbers are laid out on the line of doubles:
// anchor is the order-preserving form of a double (NaN lowest, then -Inf ...
// +Inf, with -0 folded into +0). A value that is exactly a double is that
// point (tag 0x01); a value strictly between two adjacent doubles (an int64
// beyond 2^53, or a Decimal128) uses the lower double as anchor, tag 0x02 and
// then its exact decimal value (see keyAppendExact), which orders the members
// of one gap among themselves. int32(1), int64(1) and 1.0 thus encode to the
// same 10 bytes. Encoding never allocates except for Decimal128 values with
// more than 15 significant digits or a large exponent (one strconv.ParseFloat).
//
// Decimal128 is where bsonkit is not a total order, so no encoding can match
// it on every pair:
//
//   - bsonkit compares a Decimal128 with a double through the double's
//     shortest round-trip decimal (decimal.NewFromFloat: 0.1 == "0.1"), but
//     with int32/int64 and other decimals exactly. We position a decimal on
//     the double line by those shortest representations (so decimal-vs-double
//     and decimal-vs-decimal agree with bsonkit), and compare exactly within a
//     gap. Decimal-vs-int64 can therefore disagree when both lie within one ulp
//     of the same double beyond 2^53, e.g. "1152921504606846980" vs
//     int64(2^60+4): bsonkit has decimal < 2^60.0 < int64 == decimal.
//   - bsonkit converts Decimal128 NaN/±Inf, and double NaN/±Inf compared with a
//     Decimal128, to zero. We encode decimal NaN/±Inf as zero (agreeing with
//     every int, finite double and decimal), and decimals beyond ±MaxFloat64
//     above +Inf / below NaN (agreeing with everything), but keep double
//     NaN/±Inf in their place among doubles, so they disagree with bsonkit
//     against a Decimal128 of the wrong sign: bsonkit says +Inf <
//     NumberDecimal("5"), NaN > NumberDecimal("-5") and NaN == NumberDecimal("NaN").
//
// Types bsonkit.Compare does not know (it panics on them) are placed as in
// MongoDB: MinKey and MaxKey at the ends, undefined equal to null, symbol
// equal to the string with the same text, and dbPointer < javascript <
// javascriptWithScope between regex and MaxKey. A bsonkit.Doc (*bson.D)
// encodes like the bson.D it points to.
//
// Documents follow bsonkit, which compares per element the field name and
// then the value (MongoDB proper compares the value's type bracket before
// the field name).

// Type bracket bytes, in comparison order. 0x00 is reserved for terminators
// and every bracket+1 is unused so [bracket, bracket+1) spans one bracket.
const (
	kbMinKey        byte = 0x10
	kbNull          byte = 0x14
	kbNumber        byte = 0x18
	kbString        byte = 0x1C
	kbDocument      byte = 0x20
	kbArray         byte = 0x24
	kbBinary        byte = 0x28
	kbObjectID      byte = 0x2C
	kbBool          byte = 0x30
	kbDate          byte = 0x34
	kbTimestamp     byte = 0x38
	kbRegex         byte = 0x3C
	kbDBPointer     byte = 0x40
	kbJavaScript    byte = 0x44
	kbCodeWithScope byte = 0x48
	kbMaxKey        byte = 0xF0
)

// Number tags following the 8-byte anchor.
const (
	keyNumPoint byte = 0x01 // the value is the anchor double itself
	keyNumGap   byte = 0x02 // the value lies strictly between the anchor and the next double
)

// Sign markers of the exact decimal encoding used inside number gaps.
const (
	keyExactNeg byte = 0x01
	keyExactPos byte = 0x03
)

// keyAnchorBottom is the anchor of Decimal128 values below -MaxFloat64:
// bsonkit orders them below every double, including -Inf and NaN.
const keyAnchorBottom uint64 = 0

// keyMaxDepth bounds the nesting of documents and arrays, so a cyclic value
// (an array containing itself) returns an error instead of overflowing the
// stack. BSON itself allows about 100 levels.
const keyMaxDepth = 200

// keyMaxExactInt is the largest magnitude up to which every integer is a double.
const keyMaxExactInt = 1 << 53

// errKeyTooDeep is returned for values nested deeper than keyMaxDepth.
var errKeyTooDeep = errors.New("engine: key value nested too deeply")

// keyPow10 holds the powers of ten that are exact doubles.
var keyPow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// appendKey appends the order-preserving encoding of v to dst.
// v is a value as bsonkit/bson decoding produces it: nil, bsonkit.Missing, primitive.Null, primitive.Undefined,
// int32, int64, float64, primitive.Decimal128, string, primitive.Symbol, bson.D (bsonkit.Doc is *bson.D — accept both), bson.A,
// primitive.Binary, primitive.ObjectID, bool, primitive.DateTime, primitive.Timestamp, primitive.Regex,
// primitive.MinKey, primitive.MaxKey, primitive.JavaScript, primitive.CodeWithScope, primitive.DBPointer.
// Unsupported types return an error, never panic. On error dst is returned
// with its original length.
func appendKey(dst []byte, v interface{}) ([]byte, error) {
	n := len(dst)
	out, err := keyAppendValue(dst, v, 0)
	if err != nil {
		return dst[:n], err
	}
	return out, nil
}

// keyBracket returns the first byte every encoding of a value of v's type bracket starts with
// (numbers share one bracket, string and symbol share one, null/missing/undefined share one, ...),
// so that [ {bracket}, {bracket+1} ) spans exactly that bracket. Planner uses it to bound $gt/$lt ranges to one type.
func keyBracket(v interface{}) (byte, error) {
	switch v.(type) {
	case nil, bsonkit.MissingType, primitive.Null, primitive.Undefined:
		return kbNull, nil
	case int32, int64, float64, primitive.Decimal128:
		return kbNumber, nil
	case string, primitive.Symbol:
		return kbString, nil
	case bson.D, *bson.D:
		return kbDocument, nil
	case bson.A:
		return kbArray, nil
	case primitive.Binary:
		return kbBinary, nil
	case primitive.ObjectID:
		return kbObjectID, nil
	case bool:
		return kbBool, nil
	case primitive.DateTime:
		return kbDate, nil
	case primitive.Timestamp:
		return kbTimestamp, nil
	case primitive.Regex:
		return kbRegex, nil
	case primitive.DBPointer:
		return kbDBPointer, nil
	case primitive.JavaScript:
		return kbJavaScript, nil
	case primitive.CodeWithScope:
		return kbCodeWithScope, nil
	case primitive.MinKey:
		return kbMinKey, nil
	case primitive.MaxKey:
		return kbMaxKey, nil
	default:
		return 0, fmt.Errorf("engine: unsupported key type %T", v)
	}
}

// prefixEnd returns the smallest byte string greater than every string with prefix p (nil if none).
// p itself is not modified.
func prefixEnd(p []byte) []byte {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] != 0xFF {
			end := make([]byte, i+1)
			copy(end, p[:i+1])
			end[i]++
			return end
		}
	}
	return nil
}

// keyAppendValue appends the encoding of v at nesting depth depth.
func keyAppendValue(dst []byte, v interface{}, depth int) ([]byte, error) {
	switch x := v.(type) {
	case string:
		return keyAppendString(dst, x), nil
	case int32:
		return keyAppendPoint(dst, float64(x)), nil
	case int64:
		return keyAppendInt64(dst, x), nil
	case float64:
		return keyAppendPoint(dst, x), nil
	case primitive.ObjectID:
		return append(append(dst, kbObjectID), x[:]...), nil
	case bson.D:
		return keyAppendDoc(dst, x, depth)
	case *bson.D:
		if x == nil {
			return dst, errors.New("engine: unsupported key value: nil *bson.D")
		}
		return keyAppendDoc(dst, *x, depth)
	case bson.A:
		return keyAppendArray(dst, x, depth)
	case nil, bsonkit.MissingType, primitive.Null, primitive.Undefined:
		return append(dst, kbNull), nil
	case bool:
		if x {
			return append(dst, kbBool, 1), nil
		}
		return append(dst, kbBool, 0), nil
	case primitive.DateTime:
		return keyAppendDate(dst, int64(x)), nil
	case primitive.Decimal128:
		return keyAppendDecimal(dst, x), nil
	case primitive.Binary:
		return keyAppendBinary(dst, x.Subtype, x.Data)
	case primitive.Timestamp:
		dst = keyAppendU32(append(dst, kbTimestamp), x.T)
		return keyAppendU32(dst, x.I), nil
	case primitive.Regex:
		dst = keyAppendEscaped(append(dst, kbRegex), x.Pattern)
		return keyAppendEscaped(dst, x.Options), nil
	case primitive.Symbol:
		return keyAppendString(dst, string(x)), nil
	case primitive.MinKey:
		return append(dst, kbMinKey), nil
	case primitive.MaxKey:
		return append(dst, kbMaxKey), nil
	case primitive.JavaScript:
		return keyAppendEscaped(append(dst, kbJavaScript), string(x)), nil
	case primitive.CodeWithScope:
		dst = keyAppendEscaped(append(dst, kbCodeWithScope), string(x.Code))
		switch s := x.Scope.(type) {
		case nil:
			return keyAppendDoc(dst, nil, depth)
		case bson.D:
			return keyAppendDoc(dst, s, depth)
		case *bson.D:
			if s != nil {
				return keyAppendDoc(dst, *s, depth)
			}
		}
		return dst, fmt.Errorf("engine: unsupported code with scope scope type %T", x.Scope)
	case primitive.DBPointer:
		if uint64(len(x.DB)) > math.MaxUint32 {
			return dst, errors.New("engine: dbPointer key value too long")
		}
		// MongoDB orders dbPointers by value size (namespace length), then bytes.
		dst = keyAppendU32(append(dst, kbDBPointer), uint32(len(x.DB)))
		dst = append(dst, x.DB...)
		return append(dst, x.Pointer[:]...), nil
	default:
		return dst, fmt.Errorf("engine: unsupported key type %T", v)
	}
}

// keyAppendString appends a string (or symbol): its bracket, then its
// escaped bytes.
func keyAppendString[T string | []byte](dst []byte, s T) []byte {
	return keyAppendEscaped(append(dst, kbString), s)
}

// keyAppendDate appends a date of ms milliseconds since the epoch.
func keyAppendDate(dst []byte, ms int64) []byte {
	return keyAppendU64(append(dst, kbDate), uint64(ms)^(1<<63))
}

// keyAppendBinary appends binData: its length, subtype and bytes.
func keyAppendBinary(dst []byte, subtype byte, data []byte) ([]byte, error) {
	if uint64(len(data)) > math.MaxUint32 {
		return dst, errors.New("engine: binary key value too long")
	}
	dst = keyAppendU32(append(dst, kbBinary), uint32(len(data)))
	dst = append(dst, subtype)
	return append(dst, data...), nil
}

// keyAppendDoc appends a document: field name and value per element, then 0x00 0x00.
func keyAppendDoc(dst []byte, d bson.D, depth int) ([]byte, error) {
	if depth >= keyMaxDepth {
		return dst, errKeyTooDeep
	}
	dst = append(dst, kbDocument)
	var err error
	for i := range d {
		dst = keyAppendEscaped(dst, d[i].Key)
		if dst, err = keyAppendValue(dst, d[i].Value, depth+1); err != nil {
			return dst, err
		}
	}
	return append(dst, 0, 0), nil
}

// keyAppendArray appends an array: the elements' encodings, then 0x00.
func keyAppendArray(dst []byte, a bson.A, depth int) ([]byte, error) {
	if depth >= keyMaxDepth {
		return dst, errKeyTooDeep
	}
	dst = append(dst, kbArray)
	var err error
	for _, e := range a {
		if dst, err = keyAppendValue(dst, e, depth+1); err != nil {
			return dst, err
		}
	}
	return append(dst, 0), nil
}

// keyAppendEscaped appends s with 0x00 escaped as 0x00 0xFF and the
// terminator 0x00 0x01, preserving bytes.Compare order of the raw strings.
func keyAppendEscaped[T string | []byte](dst []byte, s T) []byte {
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, 0x00, 0xFF)
			start = i + 1
		}
	}
	dst = append(dst, s[start:]...)
	return append(dst, 0x00, 0x01)
}

// keyAppendU32 appends v big endian.
func keyAppendU32(dst []byte, v uint32) []byte {
	return append(dst, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

// keyAppendU64 appends v big endian.
func keyAppendU64(dst []byte, v uint64) []byte {
	return append(dst, byte(v>>56), byte(v>>48), byte(v>>40), byte(v>>32),
		byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

// keyFloatOrder maps f to a uint64 whose unsigned order is bsonkit's order of
// doubles: NaN (all NaNs equal) first, then -Inf ... +Inf, with -0 == +0.
// NaN maps to 1, leaving 0 free for keyAnchorBottom.
func keyFloatOrder(f float64) uint64 {
	if f != f {
		return 1
	}
	if f == 0 {
		return 1 << 63
	}
	b := math.Float64bits(f)
	if b>>63 != 0 {
		return ^b
	}
	return b | 1<<63
}

// keyAppendPoint appends the number that is exactly the double f.
func keyAppendPoint(dst []byte, f float64) []byte {
	dst = keyAppendU64(append(dst, kbNumber), keyFloatOrder(f))
	return append(dst, keyNumPoint)
}

// keyAppendGap appends a number strictly between the anchor (a keyFloatOrder
// value or keyAnchorBottom) and the next double up, given by its exact decimal
// value (see keyAppendExact).
func keyAppendGap(dst []byte, anchor uint64, neg bool, digits []byte, exp int) []byte {
	dst = keyAppendU64(append(dst, kbNumber), anchor)
	dst = append(dst, keyNumGap)
	return keyAppendExact(dst, neg, digits, exp)
}

// keyAppendInt64 appends an int64: a point if it is a double (always for
// |n| <= 2^53), else a gap member anchored at the largest double below n.
func keyAppendInt64(dst []byte, n int64) []byte {
	if n >= -keyMaxExactInt && n <= keyMaxExactInt {
		return keyAppendPoint(dst, float64(n))
	}
	f := float64(n) // nearest double; |f| is an integer in [2^53, 2^63]
	var anchor float64
	if f >= 0x1p63 { // n <= MaxInt64 < 2^63
		anchor = math.Nextafter(f, math.Inf(-1))
	} else {
		switch fi := int64(f); {
		case fi == n:
			return keyAppendPoint(dst, f)
		case fi < n:
			anchor = f
		default:
			anchor = math.Nextafter(f, math.Inf(-1))
		}
	}
	u := uint64(n)
	if n < 0 {
		u = -u
	}
	var buf [20]byte
	i := len(buf)
	for u > 0 {
		i--
		buf[i] = byte(u % 10)
		u /= 10
	}
	digits := buf[i:]
	exp := len(digits)
	for len(digits) > 0 && digits[len(digits)-1] == 0 {
		digits = digits[:len(digits)-1]
	}
	return keyAppendGap(dst, keyFloatOrder(anchor), n < 0, digits, exp)
}

// keyAppendExact appends the exact value ±0.d1d2…dk × 10^exp (digits are
// 0-9 values, d1 != 0, dk != 0) order-preservingly: a sign byte, then exp+0x8000
// big endian, then digit pairs as bytes 1..100 and a 0x00 terminator; for
// negative values everything after the sign byte is complemented.
func keyAppendExact(dst []byte, neg bool, digits []byte, exp int) []byte {
	sign := keyExactPos
	if neg {
		sign = keyExactNeg
	}
	start := len(dst) + 1
	e := uint16(exp + 0x8000)
	dst = append(dst, sign, byte(e>>8), byte(e))
	for i := 0; i < len(digits); i += 2 {
		p := digits[i] * 10
		if i+1 < len(digits) {
			p += digits[i+1]
		}
		dst = append(dst, p+1)
	}
	dst = append(dst, 0)
	if neg {
		for i := start; i < len(dst); i++ {
			dst[i] = ^dst[i]
		}
	}
	return dst
}

// keyAppendDecimal appends a Decimal128. NaN and ±Inf encode as zero (bsonkit
// converts them to zero). A finite value equal to the shortest round-trip
// decimal of a double is that double's point; any other value lies in the gap
// between the two doubles whose shortest representations enclose it.
func keyAppendDecimal(dst []byte, d primitive.Decimal128) []byte {
	hi, lo := d.GetBytes()
	if c := hi >> 58 & 0x1F; c == 0x1E || c == 0x1F || hi>>61&3 == 3 {
		// NaN, ±Inf, or the non-canonical form the driver reads as zero.
		return keyAppendPoint(dst, 0)
	}
	neg := hi>>63 != 0
	exp := int(hi>>49&(1<<14-1)) - 6176
	hi &= 1<<49 - 1
	if hi == 0 && lo == 0 {
		return keyAppendPoint(dst, 0)
	}

	// Coefficient digits, most significant first.
	var buf [40]byte
	i := len(buf)
	for hi != 0 {
		var rem uint64
		hi, rem = bits.Div64(0, hi, 1e19)
		lo, rem = bits.Div64(rem, lo, 1e19)
		for j := 0; j < 19; j++ {
			i--
			buf[i] = byte(rem % 10)
			rem /= 10
		}
	}
	for lo != 0 {
		i--
		buf[i] = byte(lo % 10)
		lo /= 10
	}
	for buf[i] == 0 { // leading zeros of the 19-digit chunks
		i++
	}
	digits := buf[i:]
	exp += len(digits) // value = 0.digits × 10^exp
	for digits[len(digits)-1] == 0 {
		digits = digits[:len(digits)-1]
	}

	f := keyNearestDouble(digits, exp)
	switch {
	case math.IsInf(f, 1):
		f = math.MaxFloat64
	case math.IsInf(f, -1):
		f = -math.MaxFloat64
	}
	if neg {
		f = -f
	}
	var anchor float64
	switch keyCompareShortest(neg, digits, exp, f) {
	case 0:
		return keyAppendPoint(dst, f)
	case 1:
		anchor = f
	default:
		anchor = math.Nextafter(f, math.Inf(-1))
	}
	switch anchor {
	case math.MaxFloat64: // beyond every double: above +Inf, as bsonkit has it
		return keyAppendGap(dst, keyFloatOrder(math.Inf(1)), neg, digits, exp)
	case math.Inf(-1): // below every double: below -Inf and NaN, as bsonkit has it
		return keyAppendGap(dst, keyAnchorBottom, neg, digits, exp)
	}
	return keyAppendGap(dst, keyFloatOrder(anchor), neg, digits, exp)
}

// keyNearestDouble returns the double nearest to 0.digits × 10^exp (positive).
func keyNearestDouble(digits []byte, exp int) float64 {
	e := exp - len(digits) // value = int(digits) × 10^e
	if len(digits) <= 15 && e >= -22 && e <= 22 {
		// Both factors are exact doubles: one correctly rounded operation.
		var c uint64
		for _, d := range digits {
			c = c*10 + uint64(d)
		}
		if e >= 0 {
			return float64(c) * keyPow10[e]
		}
		return float64(c) / keyPow10[-e]
	}
	var buf [48]byte
	s := buf[:0]
	for _, d := range digits {
		s = append(s, '0'+d)
	}
	s = append(s, 'e')
	s = strconv.AppendInt(s, int64(e), 10)
	f, _ := strconv.ParseFloat(string(s), 64) // ±Inf on overflow, 0 on underflow
	return f
}

// keyCompareShortest compares ±0.digits × 10^exp with the shortest decimal
// that round-trips to f (what decimal.NewFromFloat yields and bsonkit uses for
// Decimal128-vs-double), where f is 0 or has the same sign.
func keyCompareShortest(neg bool, digits []byte, exp int, f float64) int {
	if f == 0 {
		if neg {
			return -1
		}
		return 1
	}
	var buf [32]byte
	s := strconv.AppendFloat(buf[:0], math.Abs(f), 'e', -1, 64) // d[.ddd]e±XX
	k := bytes.IndexByte(s, 'e')
	x := 0
	for _, c := range s[k+2:] {
		x = x*10 + int(c-'0')
	}
	if s[k+1] == '-' {
		x = -x
	}
	sexp := x + 1
	var sd [20]byte
	n := 0
	for _, c := range s[:k] {
		if c != '.' {
			sd[n] = c - '0'
			n++
		}
	}
	for n > 0 && sd[n-1] == 0 {
		n--
	}
	c := 0
	switch {
	case exp < sexp:
		c = -1
	case exp > sexp:
		c = 1
	default:
		m := min(len(digits), n)
		for j := 0; j < m && c == 0; j++ {
			switch {
			case digits[j] < sd[j]:
				c = -1
			case digits[j] > sd[j]:
				c = 1
			}
		}
		if c == 0 {
			switch {
			case len(digits) < n:
				c = -1
			case len(digits) > n:
				c = 1
			}
		}
	}
	if neg {
		return -c
	}
	return c
}
