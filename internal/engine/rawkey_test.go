package engine

import (
	"bytes"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
)

// keyAppendRaw must append exactly what appendKey appends for the decoded
// value: index entries written by either path are found by the other.
func TestKeyAppendRawMatchesAppendKey(t *testing.T) {
	dec, err := primitive.ParseDecimal128("-12345.6789E-3")
	if err != nil {
		t.Fatal(err)
	}
	values := []any{
		"", "a", "a\x00b", "\x00", "\x00\xff", "héllo wörld", strings.Repeat("x", 300),
		primitive.Binary{Subtype: 4, Data: []byte("0123456789abcdef")},
		primitive.Binary{Subtype: 0, Data: nil}, primitive.Binary{Subtype: 0x80, Data: []byte{0, 0, 1}},
		int32(math.MinInt32), int32(-1), int32(0), int32(1), int32(math.MaxInt32),
		int64(math.MinInt64), int64(-(1 << 53) - 1), int64(-7), int64(0), int64(255), int64(256),
		int64(1<<53 + 1), int64(math.MaxInt64),
		math.NaN(), math.Inf(-1), -1.5, math.Copysign(0, -1), 0.0, 1e-300, 2.5, float64(1 << 63), math.Inf(1),
		primitive.NewDateTimeFromTime(time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC)), primitive.DateTime(0),
		primitive.NewDateTimeFromTime(time.Date(2026, 12, 2, 22, 0, 0, 0, time.UTC)),
		primitive.NewObjectID(), primitive.ObjectID{},
		true, false, primitive.Null{}, primitive.Undefined{}, primitive.MinKey{}, primitive.MaxKey{},
		primitive.Timestamp{T: 7, I: 9}, dec, primitive.Symbol("sym\x00bol"),
	}
	for _, v := range values {
		typ, data, err := bson.MarshalValue(v)
		if err != nil {
			t.Fatalf("marshal %#v: %v", v, err)
		}
		raw := bson.RawValue{Type: typ, Value: data}
		want, err := appendKey([]byte{0xAA}, mustScalar(t, raw))
		if err != nil {
			t.Fatalf("appendKey(%#v): %v", v, err)
		}
		got, ok, err := keyAppendRaw([]byte{0xAA}, raw)
		if err != nil || !ok {
			t.Fatalf("keyAppendRaw(%#v) = ok %v, error %v", v, ok, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("keyAppendRaw(%#v) = %x, want %x", v, got, want)
		}
	}
	for _, v := range []any{bson.A{1, 2}, bson.D{{Key: "a", Value: 1}}} {
		typ, data, err := bson.MarshalValue(v)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok, err := keyAppendRaw(nil, bson.RawValue{Type: typ, Value: data}); ok || err != nil {
			t.Errorf("keyAppendRaw(%v) = ok %v, error %v; want it left to the decoded document", v, ok, err)
		}
	}
}

func mustScalar(t *testing.T, v bson.RawValue) any {
	t.Helper()
	x, ok := rawScalar(v)
	if !ok {
		t.Fatalf("rawScalar(%v) not ok", v)
	}
	return x
}

func TestSplitPath(t *testing.T) {
	for _, f := range []string{"a", "a.b", "a.b.c", "", "a..b", ".a"} {
		want := strings.Split(f, ".")
		for range 2 { // computed, then cached
			got := splitPath(f)
			if !slices.Equal(got, want) {
				t.Fatalf("splitPath(%q) = %q, want %q", f, got, want)
			}
			_ = append(got, "extra") // must not reach the cached answer
		}
		if got := splitPath(f); !slices.Equal(got, want) {
			t.Fatalf("after an append, splitPath(%q) = %q, want %q", f, got, want)
		}
	}
}
