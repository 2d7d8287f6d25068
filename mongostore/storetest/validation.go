package storetest

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/annalsdb/annals/mongostore"
	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
)

func runValidation(t *testing.T, open Opener) {
	s := open(t, mongostore.WithMaxBatchBytes(4<<20))
	big := strings.Repeat("x", mongostore.MaxDocumentBytes)
	third := strings.Repeat("y", 1500<<10)
	fixed := uuid.New()
	cases := []struct {
		name   string
		stream uuid.UUID
		events []mongostore.EventData
		want   error
		field  string
	}{
		{"empty batch", uuid.New(), nil, mongostore.ErrInvalidInput, "events"},
		{"nil stream", uuid.Nil, []mongostore.EventData{ev("A", nil)}, mongostore.ErrInvalidInput, "stream"},
		{"empty name", uuid.New(), []mongostore.EventData{ev("", nil)}, mongostore.ErrInvalidInput, "name"},
		{"name with a control character", uuid.New(), []mongostore.EventData{ev("Order\x07Created", nil)}, mongostore.ErrInvalidInput, "name"},
		{"name with a newline", uuid.New(), []mongostore.EventData{ev("Order\nCreated", nil)}, mongostore.ErrInvalidInput, "name"},
		{"name with a zero-width space", uuid.New(), []mongostore.EventData{ev("Order\u200bCreated", nil)}, mongostore.ErrInvalidInput, "name"},
		{"name not UTF-8", uuid.New(), []mongostore.EventData{ev("Order\xffCreated", nil)}, mongostore.ErrInvalidInput, "name"},
		{"name with a leading space", uuid.New(), []mongostore.EventData{ev(" OrderCreated", nil)}, mongostore.ErrInvalidInput, "name"},
		{"name with a trailing space", uuid.New(), []mongostore.EventData{ev("OrderCreated ", nil)}, mongostore.ErrInvalidInput, "name"},
		{"name with a dollar", uuid.New(), []mongostore.EventData{ev("$where", nil)}, mongostore.ErrInvalidInput, "name"},
		{"name of 201 bytes in 2-byte characters", uuid.New(), []mongostore.EventData{ev("A"+strings.Repeat("é", 100), nil)}, mongostore.ErrInvalidInput, "name"},
		{"name too long", uuid.New(), []mongostore.EventData{ev("A"+strings.Repeat("a", 200), nil)}, mongostore.ErrInvalidInput, "name"},
		{"negative schema version", uuid.New(), []mongostore.EventData{{Name: "A", SchemaVersion: -2}}, mongostore.ErrInvalidInput, "schema_version"},
		{"string data", uuid.New(), []mongostore.EventData{ev("A", "hello")}, mongostore.ErrInvalidInput, "data"},
		{"number data", uuid.New(), []mongostore.EventData{ev("A", 42)}, mongostore.ErrInvalidInput, "data"},
		{"array data", uuid.New(), []mongostore.EventData{ev("A", []int{1, 2})}, mongostore.ErrInvalidInput, "data"},
		{"byte slice data", uuid.New(), []mongostore.EventData{ev("A", []byte("{}"))}, mongostore.ErrInvalidInput, "data"},
		{"JSON array data", uuid.New(), []mongostore.EventData{ev("A", json.RawMessage(`[1]`))}, mongostore.ErrInvalidInput, "data"},
		{"malformed JSON data", uuid.New(), []mongostore.EventData{ev("A", json.RawMessage(`{"a":`))}, mongostore.ErrInvalidInput, "data"},
		{"corrupt BSON data", uuid.New(), []mongostore.EventData{ev("A", bson.Raw{9, 0, 0, 0, 1})}, mongostore.ErrInvalidInput, "data"},
		{"operator key in data", uuid.New(), []mongostore.EventData{ev("A", map[string]any{"$set": 1})}, mongostore.ErrInvalidInput, "data"},
		{"nested operator key in data", uuid.New(), []mongostore.EventData{ev("A", map[string]any{"a": map[string]any{"$gt": 1}})}, mongostore.ErrInvalidInput, "data"},
		{"MinKey in data", uuid.New(), []mongostore.EventData{ev("A", bson.D{{Key: "k", Value: primitive.MinKey{}}})}, mongostore.ErrInvalidInput, "data"},
		{"JavaScript in data", uuid.New(), []mongostore.EventData{ev("A", bson.D{{Key: "k", Value: primitive.JavaScript("1")}})}, mongostore.ErrInvalidInput, "data"},
		{"Undefined in metadata", uuid.New(), []mongostore.EventData{{Name: "A", Metadata: mongostore.Metadata{Extra: map[string]any{"u": primitive.Undefined{}}}}}, mongostore.ErrInvalidInput, "metadata"},
		{"nested operator key in metadata", uuid.New(), []mongostore.EventData{{Name: "A", Metadata: mongostore.Metadata{Extra: map[string]any{"x": map[string]any{"$gt": 1}}}}}, mongostore.ErrInvalidInput, "metadata"},
		{"empty metadata key", uuid.New(), []mongostore.EventData{{Name: "A", Metadata: mongostore.Metadata{Extra: map[string]any{"": 1}}}}, mongostore.ErrInvalidInput, "metadata"},
		{"metadata key repeating a named field", uuid.New(), []mongostore.EventData{{Name: "A", Metadata: mongostore.Metadata{Extra: map[string]any{"actor": "x"}}}}, mongostore.ErrInvalidInput, "metadata"},
		{"some events with ids, some without", uuid.New(), []mongostore.EventData{{ID: uuid.New(), Name: "A"}, {Name: "B"}}, mongostore.ErrInvalidInput, "id"},
		{"duplicate ids in a batch", uuid.New(), []mongostore.EventData{{ID: fixed, Name: "A"}, {ID: fixed, Name: "B"}}, mongostore.ErrInvalidInput, "id"},
		{"document over 16 MiB", uuid.New(), []mongostore.EventData{ev("A", map[string]string{"blob": big})}, mongostore.ErrTooLarge, "data"},
		{"batch over the limit", uuid.New(), []mongostore.EventData{
			ev("A", map[string]string{"blob": third}), ev("A", map[string]string{"blob": third}), ev("A", map[string]string{"blob": third}),
		}, mongostore.ErrTooLarge, "events"},
		{"last event invalid", uuid.New(), []mongostore.EventData{ev("A", nil), ev("B", nil), ev("bad\tname", nil)}, mongostore.ErrInvalidInput, "name"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := countAll(t, s)
			_, err := s.Append(ctxFor(t), c.stream, mongostore.Any, c.events...)
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
			var ve *mongostore.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("got %T, want *ValidationError", err)
			}
			if ve.Field != c.field {
				t.Errorf("got field %q, want %q (%v)", ve.Field, c.field, err)
			}
			if ve.Reason == "" || !strings.Contains(err.Error(), ve.Reason) {
				t.Errorf("error %q does not say why", err)
			}
			if after := countAll(t, s); after != before {
				t.Errorf("a refused append wrote %d events", after-before)
			}
		})
	}

	t.Run("IndexNamesTheEvent", func(t *testing.T) {
		_, err := s.Append(ctxFor(t), uuid.New(), mongostore.Any, ev("A", nil), ev("B", nil), ev("not\tvalid", nil))
		var ve *mongostore.ValidationError
		if !errors.As(err, &ve) || ve.Index != 2 {
			t.Fatalf("got %v, want a ValidationError for event 2", err)
		}
		if !strings.Contains(err.Error(), "event 2") {
			t.Errorf("error %q does not name the event", err)
		}
	})

	t.Run("BadAggregateType", func(t *testing.T) {
		for _, typ := range []string{"$Order", "Order\tLine", "Order\x00", " Order"} {
			_, err := s.AppendStreams(ctxFor(t), mongostore.StreamAppend{Stream: uuid.New(), Type: typ, Events: []mongostore.EventData{ev("A", nil)}})
			var ve *mongostore.ValidationError
			if !errors.As(err, &ve) || ve.Field != "aggregate_type" {
				t.Errorf("type %q: got %v, want a ValidationError on aggregate_type", typ, err)
			}
		}
	})

	t.Run("NoStreams", func(t *testing.T) {
		if _, err := s.AppendStreams(ctxFor(t)); !errors.Is(err, mongostore.ErrInvalidInput) {
			t.Fatalf("got %v, want ErrInvalidInput", err)
		}
	})
}

func runAtomicity(t *testing.T, open Opener) {
	t.Run("InvalidLastEventWritesNothing", func(t *testing.T) {
		s := open(t)
		id := uuid.New()
		mustAppend(t, s, id, mongostore.NoStream, ev("Opened", nil))
		_, err := s.Append(ctxFor(t), id, mongostore.Exact(1), ev("Deposited", nil), ev("Deposited", nil), ev("Deposited", "not a document"))
		if !errors.Is(err, mongostore.ErrInvalidInput) {
			t.Fatalf("got %v, want ErrInvalidInput", err)
		}
		if got := versions(t, s, id); len(got) != 1 {
			t.Fatalf("got versions %v, want only the first event", got)
		}
	})

	t.Run("ConflictInOneStreamWritesNoStream", func(t *testing.T) {
		s := open(t)
		a, b := uuid.New(), uuid.New()
		mustAppend(t, s, a, mongostore.NoStream, ev("Opened", nil))
		mustAppend(t, s, b, mongostore.NoStream, ev("Opened", nil), ev("Deposited", nil))
		_, err := s.AppendStreams(ctxFor(t),
			mongostore.StreamAppend{Stream: a, Expected: mongostore.Exact(1), Events: []mongostore.EventData{ev("Withdrawn", nil), ev("Withdrawn", nil)}},
			mongostore.StreamAppend{Stream: b, Expected: mongostore.Exact(1), Events: []mongostore.EventData{ev("Deposited", nil)}},
		)
		var ce *mongostore.ConcurrencyError
		if !errors.As(err, &ce) || ce.Stream != b || ce.Actual != 2 {
			t.Fatalf("got %v, want a conflict on the second stream at version 2", err)
		}
		if got := versions(t, s, a); len(got) != 1 {
			t.Errorf("the first stream got events %v from a refused transfer", got)
		}
		if got := versions(t, s, b); len(got) != 2 {
			t.Errorf("the second stream got events %v from a refused transfer", got)
		}
	})

	t.Run("LostRaceInOneStreamWritesNoStream", func(t *testing.T) {
		// The second stream is new and expected to be; another writer
		// creates it after the check would have passed. The unique index
		// refuses the insert; nothing of the first stream survives.
		s := open(t)
		a, b := uuid.New(), uuid.New()
		mustAppend(t, s, b, mongostore.NoStream, ev("Opened", nil))
		_, err := s.AppendStreams(ctxFor(t),
			mongostore.StreamAppend{Stream: a, Expected: mongostore.NoStream, Events: []mongostore.EventData{ev("Opened", nil)}},
			mongostore.StreamAppend{Stream: b, Expected: mongostore.NoStream, Events: []mongostore.EventData{ev("Opened", nil)}},
		)
		var ce *mongostore.ConcurrencyError
		if !errors.As(err, &ce) || ce.Stream != b || ce.Actual != 1 {
			t.Fatalf("got %v, want a conflict on the second stream at version 1", err)
		}
		if got := versions(t, s, a); got != nil {
			t.Errorf("the first stream got events %v", got)
		}
	})
}
