package storetest

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/annalsdb/annals/mongostore"
	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/bson"
)

// OrderPlaced is a typed payload used by the encoding cases.
type OrderPlaced struct {
	OrderID  string    `bson:"order_id"`
	Amount   float64   `bson:"amount"`
	Quantity int64     `bson:"quantity"`
	Lines    []string  `bson:"lines"`
	At       time.Time `bson:"at"`
	Paid     bool      `bson:"paid"`
}

func runEncoding(t *testing.T, open Opener) {
	s := open(t)
	at := time.Date(2026, 3, 4, 5, 6, 7, 891_000_000, time.UTC)

	t.Run("Payloads", func(t *testing.T) {
		placed := OrderPlaced{OrderID: "o-1", Amount: 1.0, Quantity: 3, Lines: []string{"a", "b"}, At: at, Paid: true}
		raw, err := bson.Marshal(placed)
		if err != nil {
			t.Fatal(err)
		}
		cases := []struct {
			name string
			data any
		}{
			{"struct", placed},
			{"pointer to struct", &placed},
			{"map", map[string]any{"order_id": "o-1", "amount": 1.0, "quantity": int64(3), "lines": []string{"a", "b"}, "at": at, "paid": true}},
			{"bson.D", bson.D{{Key: "order_id", Value: "o-1"}, {Key: "amount", Value: 1.0}, {Key: "quantity", Value: int64(3)},
				{Key: "lines", Value: bson.A{"a", "b"}}, {Key: "at", Value: at}, {Key: "paid", Value: true}}},
			{"bson.Raw", bson.Raw(raw)},
			{"JSON", json.RawMessage(`{"order_id":"o-1","amount":{"$numberDouble":"1.0"},"quantity":{"$numberLong":"3"},"lines":["a","b"],"at":{"$date":"2026-03-04T05:06:07.891Z"},"paid":true}`)},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				id := uuid.New()
				mustAppend(t, s, id, mongostore.NoStream, ev("OrderPlaced", c.data))
				st, err := s.Load(ctxFor(t), id)
				if err != nil {
					t.Fatal(err)
				}
				var got OrderPlaced
				if err := st.Events[0].Decode(&got); err != nil {
					t.Fatal(err)
				}
				got.At = got.At.UTC()
				if !reflect.DeepEqual(got, placed) {
					t.Errorf("got %+v, want %+v", got, placed)
				}
				var generic map[string]any
				if err := st.Events[0].Decode(&generic); err != nil {
					t.Fatal(err)
				}
				if _, ok := generic["amount"].(float64); !ok {
					t.Errorf("amount decoded as %T, want float64", generic["amount"])
				}
			})
		}
	})

	t.Run("NilData", func(t *testing.T) {
		id := uuid.New()
		var nilPtr *OrderPlaced
		mustAppend(t, s, id, mongostore.NoStream, ev("Pinged", nil), ev("Pinged", nilPtr))
		st, err := s.Load(ctxFor(t), id)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range st.Events {
			if n, _ := e.Data.Elements(); len(n) != 0 {
				t.Errorf("nil data stored as %v, want {}", e.Data)
			}
		}
	})

	t.Run("Metadata", func(t *testing.T) {
		meta := mongostore.Metadata{
			CorrelationID: "req-42",
			CausationID:   uuid.NewString(),
			Actor:         "ana@example.com",
			Extra: map[string]any{
				"float":  1.0,
				"pi":     3.14159,
				"int":    7,
				"int64":  int64(1) << 40,
				"int32":  int32(5),
				"string": "x",
				"bool":   true,
				"time":   at,
				"nested": map[string]any{"a": 2.5, "b": "c"},
				"list":   []any{1.5, "two"},
			},
		}
		want := mongostore.Metadata{
			CorrelationID: meta.CorrelationID, CausationID: meta.CausationID, Actor: meta.Actor,
			Extra: map[string]any{
				"float": 1.0, "pi": 3.14159, "int": int64(7), "int64": int64(1) << 40, "int32": int32(5),
				"string": "x", "bool": true, "time": at,
				"nested": map[string]any{"a": 2.5, "b": "c"}, "list": []any{1.5, "two"},
			},
		}
		id := uuid.New()
		mustAppend(t, s, id, mongostore.NoStream, mongostore.EventData{Name: "Tagged", Metadata: meta})
		st, err := s.Load(ctxFor(t), id)
		if err != nil {
			t.Fatal(err)
		}
		got := st.Events[0].Metadata
		if !reflect.DeepEqual(got, want) {
			t.Errorf("metadata did not round-trip:\n got %#v\nwant %#v", got, want)
		}
		if f, ok := got.Extra["float"].(float64); !ok || f != 1.0 {
			t.Errorf("1.0 came back as %T %v, want float64", got.Extra["float"], got.Extra["float"])
		}
	})

	t.Run("NamesOtherStoresAccept", func(t *testing.T) {
		// Names users already have: eventhorizon's "todolist:created",
		// paths, versions, non-ASCII letters, spaces, a leading digit.
		for _, name := range []string{"todolist:created", "Order/Created", "orders@v2", "Commande créée",
			"Order Created", "1stOrderPlaced", "urn:event#7", "注文作成", strings.Repeat("é", 100)} {
			id := uuid.New()
			mustAppend(t, s, id, mongostore.NoStream, mongostore.EventData{Name: name})
			if _, err := s.AppendStreams(ctxFor(t), mongostore.StreamAppend{Stream: id, Type: name, Events: []mongostore.EventData{{Name: name}}}); err != nil {
				t.Fatalf("aggregate type %q: %v", name, err)
			}
			st, err := s.Load(ctxFor(t), id)
			if err != nil {
				t.Fatal(err)
			}
			if st.Events[0].Name != name || st.Type != name {
				t.Errorf("name %q came back as %q, type as %q", name, st.Events[0].Name, st.Type)
			}
		}
	})

	t.Run("MetadataKeysRoundTrip", func(t *testing.T) {
		// Dotted OpenTelemetry keys, a leading '$', the escape character
		// itself and keys that look like escapes: each comes back byte for
		// byte, and none collides with another.
		keys := []string{"http.method", "trace.id", "a..b", ".", "$x", "$", "x$", "100%", "%", "%2E", "a%2Eb",
			"%25", "%24x", "a.%2E", "$%", "émoji.🙂", "service.name"}
		extra := map[string]any{}
		for i, k := range keys {
			extra[k] = int64(i)
		}
		id := uuid.New()
		mustAppend(t, s, id, mongostore.NoStream, mongostore.EventData{Name: "Traced", Metadata: mongostore.Metadata{Extra: extra}})
		st, err := s.Load(ctxFor(t), id)
		if err != nil {
			t.Fatal(err)
		}
		if got := st.Events[0].Metadata.Extra; !reflect.DeepEqual(got, extra) {
			t.Errorf("metadata keys did not round-trip:\n got %#v\nwant %#v", got, extra)
		}
		// The stored field names keep MongoDB's rules.
		var raw bson.Raw
		if err := s.EventsCollection().FindOne(ctxFor(t), bson.D{{Key: "_id", Value: mongostore.UUIDValue(st.Events[0].ID)}}).Decode(&raw); err != nil {
			t.Fatal(err)
		}
		elems, err := raw.Lookup("metadata").Document().Elements()
		if err != nil {
			t.Fatal(err)
		}
		for _, el := range elems {
			if k := el.Key(); strings.Contains(k, ".") || strings.HasPrefix(k, "$") {
				t.Errorf("stored metadata field name %q breaks MongoDB's rules", k)
			}
		}
		if len(elems) != len(keys) {
			t.Errorf("%d stored metadata fields for %d keys", len(elems), len(keys))
		}
	})

	t.Run("EmptyMetadata", func(t *testing.T) {
		id := uuid.New()
		mustAppend(t, s, id, mongostore.NoStream, ev("Pinged", nil))
		st, err := s.Load(ctxFor(t), id)
		if err != nil {
			t.Fatal(err)
		}
		if !st.Events[0].Metadata.IsZero() {
			t.Errorf("got metadata %+v, want none", st.Events[0].Metadata)
		}
	})

	t.Run("SchemaVersionAndIDs", func(t *testing.T) {
		id, eventID := uuid.New(), uuid.New()
		first := mustAppend(t, s, id, mongostore.NoStream, mongostore.EventData{ID: eventID, Name: "OrderPlaced", SchemaVersion: 3})
		res := mustAppend(t, s, id, mongostore.Exact(1), ev("OrderPaid", nil))
		res.IDs = append(first.IDs, res.IDs...)
		st, err := s.Load(ctxFor(t), id)
		if err != nil {
			t.Fatal(err)
		}
		if st.Events[0].ID != eventID || res.IDs[0] != eventID {
			t.Errorf("got event id %s (result %s), want %s", st.Events[0].ID, res.IDs[0], eventID)
		}
		if st.Events[1].ID == uuid.Nil || st.Events[1].ID != res.IDs[1] {
			t.Errorf("generated id %s, result says %s", st.Events[1].ID, res.IDs[1])
		}
		if st.Events[0].SchemaVersion != 3 || st.Events[1].SchemaVersion != 1 {
			t.Errorf("got schema versions %d and %d, want 3 and 1 (the default)", st.Events[0].SchemaVersion, st.Events[1].SchemaVersion)
		}
	})

	t.Run("RecordedAtPrecision", func(t *testing.T) {
		before := time.Now().UTC().Truncate(time.Millisecond)
		id := uuid.New()
		res := mustAppend(t, s, id, mongostore.NoStream, ev("Pinged", nil))
		after := time.Now().UTC()
		st, err := s.Load(ctxFor(t), id)
		if err != nil {
			t.Fatal(err)
		}
		got := st.Events[0].RecordedAt
		if !got.Equal(res.RecordedAt) {
			t.Errorf("loaded recorded_at %v, append reported %v", got, res.RecordedAt)
		}
		if got.Before(before) || got.After(after) || got.Location() != time.UTC || got.Nanosecond()%int(time.Millisecond) != 0 {
			t.Errorf("recorded_at %v not a UTC millisecond between %v and %v", got, before, after)
		}
	})
}
