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
	// Stored names that are not canonical escapes are left as they are.
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
// keys were escaped (keys with no '.', no leading '$', maybe a '%', even
// one that reads as an escape: "x%2Ey", "%24where", "100%25") loads with
// its keys unchanged, and an event appended now with the very keys those
// would unescape to round-trips too.
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
		{Key: "metadata", Value: bson.D{{Key: "actor", Value: "ana"}, {Key: "100%", Value: "a"}, {Key: "plain", Value: "b"}, {Key: "x%2e", Value: "c"},
			{Key: "x%2Ey", Value: "d"}, {Key: "%24where", Value: "e"}, {Key: "100%25", Value: "f"}}},
		{Key: "recorded_at", Value: primitive.NewDateTimeFromTime(time.Now())},
	}
	if _, err := s.EventsCollection().InsertOne(ctx, doc); err != nil {
		t.Fatal(err)
	}
	st, err := s.Load(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"100%": "a", "plain": "b", "x%2e": "c", "x%2Ey": "d", "%24where": "e", "100%25": "f"}
	if got := st.Events[0].Metadata.Extra; !reflect.DeepEqual(got, want) {
		t.Errorf("old event: got %#v, want %#v", got, want)
	}
	now := map[string]any{"x.y": "d", "$where": "e", "100%": "f", "x%2Ey": "g"}
	if _, err := s.Append(ctx, stream, mongostore.Exact(1), mongostore.EventData{Name: "New", Metadata: mongostore.Metadata{Extra: now}}); err != nil {
		t.Fatal(err)
	}
	if st, err = s.Load(ctx, stream); err != nil {
		t.Fatal(err)
	}
	if got := st.Events[1].Metadata.Extra; !reflect.DeepEqual(got, now) {
		t.Errorf("new event: got %#v, want %#v", got, now)
	}
}
