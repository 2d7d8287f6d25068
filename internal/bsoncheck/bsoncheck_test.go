package bsoncheck

import (
	"math/rand/v2"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/x/bsonx/bsoncore"
)

// everyType is a document holding a value of every BSON type.
func everyType(t testing.TB) []byte {
	t.Helper()
	oid := primitive.NewObjectID()
	d128, _ := primitive.ParseDecimal128("12.5")
	raw, err := bson.Marshal(bson.D{
		{Key: "double", Value: 1.5}, {Key: "string", Value: "s"}, {Key: "empty", Value: ""},
		{Key: "doc", Value: bson.D{{Key: "a", Value: bson.A{1, "b", bson.D{}}}}}, {Key: "array", Value: bson.A{}},
		{Key: "binary", Value: primitive.Binary{Subtype: 4, Data: make([]byte, 16)}},
		{Key: "old", Value: primitive.Binary{Subtype: 2, Data: []byte{1, 2, 3}}},
		{Key: "undefined", Value: primitive.Undefined{}}, {Key: "oid", Value: oid}, {Key: "bool", Value: true},
		{Key: "date", Value: primitive.NewDateTimeFromTime(time.Unix(1, 0))}, {Key: "null", Value: nil},
		{Key: "regex", Value: primitive.Regex{Pattern: "^a", Options: "i"}},
		{Key: "dbpointer", Value: primitive.DBPointer{DB: "db.c", Pointer: oid}},
		{Key: "js", Value: primitive.JavaScript("x")}, {Key: "symbol", Value: primitive.Symbol("y")},
		{Key: "scope", Value: primitive.CodeWithScope{Code: "z", Scope: bson.D{{Key: "v", Value: int32(1)}}}},
		{Key: "int32", Value: int32(2)}, {Key: "ts", Value: primitive.Timestamp{T: 1, I: 2}},
		{Key: "int64", Value: int64(3)}, {Key: "decimal", Value: d128},
		{Key: "min", Value: primitive.MinKey{}}, {Key: "max", Value: primitive.MaxKey{}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestWellFormed(t *testing.T) {
	if err := WellFormed(everyType(t)); err != nil {
		t.Fatalf("a document of every type: %v", err)
	}
	deep := []byte{5, 0, 0, 0, 0}
	for range MaxDepth + 1 {
		deep = bsoncore.BuildDocument(nil, bsoncore.AppendDocumentElement(nil, "d", deep))
	}
	for _, c := range []struct {
		name string
		doc  []byte
	}{
		{"empty input", nil},
		{"length zero", []byte{0, 0, 0, 0, 0}},
		{"negative length", []byte{0xfb, 0xff, 0xff, 0xff, 0}},
		{"length past the end", []byte{6, 0, 0, 0, 0}},
		{"no closing NUL", []byte{5, 0, 0, 0, 1}},
		{"element name without NUL", []byte{7, 0, 0, 0, 0x0a, 'a', 0}},
		{"nested length zero", []byte{12, 0, 0, 0, 3, 'a', 0, 0, 0, 0, 0, 0}},
		{"nested negative length", []byte{12, 0, 0, 0, 3, 'a', 0, 0xfb, 0xff, 0xff, 0xff, 0}},
		{"string without NUL", []byte{14, 0, 0, 0, 2, 'a', 0, 2, 0, 0, 0, 'x', 'y', 0}},
		{"string of length zero", []byte{12, 0, 0, 0, 2, 'a', 0, 0, 0, 0, 0, 0}},
		{"boolean 2", []byte{9, 0, 0, 0, 8, 'a', 0, 2, 0}},
		{"int64 cut short", []byte{12, 0, 0, 0, 0x12, 'a', 0, 1, 2, 3, 4, 0}},
		{"binary of negative length", []byte{13, 0, 0, 0, 5, 'a', 0, 0xff, 0xff, 0xff, 0xff, 0, 0}},
		{"unknown type", []byte{8, 0, 0, 0, 0x20, 'a', 0, 0}},
		{"nested too deep", deep},
	} {
		if err := WellFormed(c.doc); err == nil {
			t.Errorf("%s (%x): accepted", c.name, c.doc)
		}
	}
}

// TestWellFormedIsSafeForTheDriver damages a document of every type in
// many ways: whatever WellFormed accepts, bsoncore's Validate accepts
// without panicking, and the driver decodes.
func TestWellFormedIsSafeForTheDriver(t *testing.T) {
	src := everyType(t)
	rng := rand.New(rand.NewPCG(4, 4))
	accepted := 0
	for range 20000 {
		doc := append([]byte(nil), src...)
		for range 1 + rng.IntN(3) {
			doc[rng.IntN(len(doc))] = byte(rng.IntN(256))
		}
		if WellFormed(doc) != nil {
			continue
		}
		accepted++
		if err := bsoncore.Document(doc).Validate(); err != nil {
			t.Fatalf("%x: accepted, and bsoncore refuses it: %v", doc, err)
		}
		var d bson.D
		if err := bson.Unmarshal(doc, &d); err != nil {
			t.Fatalf("%x: accepted, and the driver cannot decode it: %v", doc, err)
		}
	}
	if accepted == 0 {
		t.Fatal("no damaged copy was accepted: the comparison is empty")
	}
	t.Logf("%d of 20000 damaged copies still well-formed", accepted)
}
