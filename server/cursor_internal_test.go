package server

import (
	"encoding/json"
	"errors"
	"testing"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
)

// TestCursorValueTypes: even under a valid tag, a cursor value must be
// one a page can end on and a comparison takes literally.
func TestCursorValueTypes(t *testing.T) {
	key := make([]byte, signingKeyLen)
	ok := []any{"alice", int32(1), int64(2), 1.5, true, nil, primitive.NewObjectID(),
		primitive.NewDateTimeFromTime(primitive.NewObjectID().Timestamp()), primitive.Binary{Subtype: 4, Data: make([]byte, 16)},
		bson.D{{Key: "a", Value: int64(1)}}, bson.A{"x", int32(2)}}
	bad := map[string]string{
		"$minKey":            `{"v":{"$minKey":1}}`,
		"$maxKey":            `{"v":{"$maxKey":1}}`,
		"regex":              `{"v":{"$regularExpression":{"pattern":".*","options":""}}}`,
		"code":               `{"v":{"$code":"1"}}`,
		"symbol":             `{"v":{"$symbol":"x"}}`,
		"undefined":          `{"v":{"$undefined":true}}`,
		"operator in a doc":  `{"v":{"a":{"$minKey":1}}}`,
		"$-key in a doc":     `{"v":{"$where":"1"}}`,
		"minKey in an array": `{"v":[{"$minKey":1}]}`,
		"not a value":        `{"w":1}`,
	}
	for _, v := range ok {
		raw, err := bson.Marshal(bson.D{{Key: "v", Value: v}})
		if err != nil {
			t.Fatal(err)
		}
		j, err := valueJSON(bson.Raw(raw).Lookup("v"))
		if err != nil {
			t.Fatal(err)
		}
		p := pageCursor{ID: j, Sort: j, Field: "f"}
		s, err := p.encode(key, "scope")
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeCursor(key, "scope", s)
		if err != nil {
			t.Fatalf("%v: %v", v, err)
		}
		if _, err := got.filter("f", 1); err != nil {
			t.Errorf("value %#v refused: %v", v, err)
		}
	}
	for name, j := range bad {
		p := pageCursor{ID: json.RawMessage(j)}
		s, err := p.encode(key, "scope")
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeCursor(key, "scope", s)
		if err != nil {
			t.Fatalf("%s: tag refused: %v", name, err)
		}
		if _, err := got.filter("", 1); !errors.Is(err, errBadRequest) {
			t.Errorf("%s: got %v, want a bad request", name, err)
		}
	}
	// Another scope or key is refused.
	s, _ := pageCursor{ID: json.RawMessage(`{"v":"a"}`)}.encode(key, "scope")
	if _, err := decodeCursor(key, "other", s); !errors.Is(err, errBadRequest) {
		t.Errorf("another scope: %v", err)
	}
	other := make([]byte, signingKeyLen)
	other[0] = 1
	if _, err := decodeCursor(other, "scope", s); !errors.Is(err, errBadRequest) {
		t.Errorf("another key: %v", err)
	}
}
