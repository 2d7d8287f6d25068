package mongostore_test

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/annalsdb/annals/mongostore"
	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
)

// TestMetadataKeyEscape: the stored name keeps MongoDB's field-name rules,
// unescaping gives the key back, and keys without '%', '.' or a leading
// '$' (all that stores written before escaping hold) are stored as they
// are.
func TestMetadataKeyEscape(t *testing.T) {
	cases := []struct{ key, stored string }{
		{"http.method", "http%2Emethod"},
		{"$x", "%24x"},
		{"x$", "x$"},
		{"100%", "100%25"},
		{"%2E", "%252E"},
		{"plain_key", "plain_key"},
		{"émoji.🙂", "émoji%2E🙂"},
	}
	for _, c := range cases {
		if got := mongostore.EscapeMetadataKey(c.key); got != c.stored {
			t.Errorf("EscapeMetadataKey(%q) = %q, want %q", c.key, got, c.stored)
		}
		if got := mongostore.UnescapeMetadataKey(c.stored); got != c.key {
			t.Errorf("UnescapeMetadataKey(%q) = %q, want %q", c.stored, got, c.key)
		}
	}
	// Stored names written before escaping, with a '%' that starts no
	// escape, load unchanged.
	for _, old := range []string{"100%", "50%off", "a%2eb", "x%24", "%", "%2"} {
		if got := mongostore.UnescapeMetadataKey(old); got != old {
			t.Errorf("UnescapeMetadataKey(%q) = %q, want it unchanged", old, got)
		}
	}
}

// FuzzMetadataKeyEscape: escaping is injective (unescape inverts it) and
// its output never holds '.' or starts with '$'.
func FuzzMetadataKeyEscape(f *testing.F) {
	for _, s := range []string{"a.b", "$", "%", "%25", "%2E.", "$%24", ".$.", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		stored := mongostore.EscapeMetadataKey(key)
		if strings.Contains(stored, ".") || strings.HasPrefix(stored, "$") {
			t.Fatalf("EscapeMetadataKey(%q) = %q breaks MongoDB's rules", key, stored)
		}
		if back := mongostore.UnescapeMetadataKey(stored); back != key {
			t.Fatalf("UnescapeMetadataKey(EscapeMetadataKey(%q)) = %q", key, back)
		}
	})
}

// TestMetadataWrittenBeforeEscapingLoads: an event stored before metadata
// keys were escaped (keys with no '.', no leading '$', maybe a '%') loads
// with its keys unchanged.
func TestMetadataWrittenBeforeEscapingLoads(t *testing.T) {
	ctx := context.Background()
	s, err := mongostore.Open(ctx, "memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	id, stream := uuid.New(), uuid.New()
	doc := bson.D{
		{Key: "_id", Value: mongostore.UUIDValue(id)}, {Key: "aggregate_uuid", Value: mongostore.UUIDValue(stream)},
		{Key: "aggregate_type", Value: "Order"}, {Key: "version", Value: int64(1)}, {Key: "name", Value: "Old"},
		{Key: "schema_version", Value: int32(1)}, {Key: "data", Value: bson.D{}},
		{Key: "metadata", Value: bson.D{{Key: "actor", Value: "ana"}, {Key: "100%", Value: "a"}, {Key: "plain", Value: "b"}, {Key: "x%2e", Value: "c"}}},
		{Key: "recorded_at", Value: primitive.NewDateTimeFromTime(time.Now())},
	}
	if _, err := s.EventsCollection().InsertOne(ctx, doc); err != nil {
		t.Fatal(err)
	}
	st, err := s.Load(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"100%": "a", "plain": "b", "x%2e": "c"}
	if got := st.Events[0].Metadata.Extra; !reflect.DeepEqual(got, want) {
		t.Errorf("got %#v, want %#v", got, want)
	}
}
