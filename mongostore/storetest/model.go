package storetest

import (
	"errors"
	"testing"

	"github.com/annalsdb/annals/mongostore"
	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/bsontype"
)

func runDataModel(t *testing.T, open Opener) {
	s := open(t)
	id, eventID := uuid.New(), uuid.New()
	if _, err := s.AppendStreams(ctxFor(t), mongostore.StreamAppend{Stream: id, Type: "Order", Expected: mongostore.NoStream,
		Events: []mongostore.EventData{{ID: eventID, Name: "OrderCreated", SchemaVersion: 2, Data: map[string]any{"total": 12.5},
			Metadata: mongostore.Metadata{CorrelationID: "c-1"}}}}); err != nil {
		t.Fatal(err)
	}

	t.Run("Fields", func(t *testing.T) {
		var raw bson.Raw
		if err := s.EventsCollection().FindOne(ctxFor(t), bson.D{}).Decode(&raw); err != nil {
			t.Fatal(err)
		}
		want := []struct {
			key string
			typ bsontype.Type
		}{
			{"_id", bsontype.Binary}, {"aggregate_uuid", bsontype.Binary}, {"aggregate_type", bsontype.String},
			{"version", bsontype.Int64}, {"name", bsontype.String}, {"schema_version", bsontype.Int32},
			{"data", bsontype.EmbeddedDocument}, {"metadata", bsontype.EmbeddedDocument}, {"recorded_at", bsontype.DateTime},
		}
		for _, w := range want {
			v, err := raw.LookupErr(w.key)
			if err != nil {
				t.Errorf("field %s missing: %v", w.key, err)
				continue
			}
			if v.Type != w.typ {
				t.Errorf("field %s is BSON %s, want %s", w.key, v.Type, w.typ)
			}
		}
		for key, want := range map[string]uuid.UUID{"_id": eventID, "aggregate_uuid": id} {
			sub, data, ok := raw.Lookup(key).BinaryOK()
			if !ok || sub != bsontype.BinaryUUID || uuid.UUID(data) != want {
				t.Errorf("%s stored as subtype %#x %x, want UUID subtype 4 %s", key, sub, data, want)
			}
		}
		if v := raw.Lookup("version").Int64(); v != 1 {
			t.Errorf("version %d, want 1", v)
		}
		if v := raw.Lookup("schema_version").Int32(); v != 2 {
			t.Errorf("schema_version %d, want 2", v)
		}
		if v := raw.Lookup("aggregate_type").StringValue(); v != "Order" {
			t.Errorf("aggregate_type %q, want Order", v)
		}
		if v := raw.Lookup("metadata", "correlation_id").StringValue(); v != "c-1" {
			t.Errorf("metadata.correlation_id %q, want c-1", v)
		}
		if v := raw.Lookup("data", "total").Double(); v != 12.5 {
			t.Errorf("data.total %v, want 12.5", v)
		}
	})

	t.Run("QueryByUUID", func(t *testing.T) {
		n, err := s.EventsCollection().CountDocuments(ctxFor(t), bson.D{{Key: "aggregate_uuid", Value: mongostore.UUIDValue(id)}})
		if err != nil || n != 1 {
			t.Fatalf("got %d, %v; want the event found by its subtype-4 aggregate_uuid", n, err)
		}
	})

	t.Run("UniqueIndex", func(t *testing.T) {
		cur, err := s.EventsCollection().Indexes().List(ctxFor(t))
		if err != nil {
			t.Fatal(err)
		}
		var specs []bson.Raw
		if err := cur.All(ctxFor(t), &specs); err != nil {
			t.Fatal(err)
		}
		found := false
		for _, spec := range specs {
			if name, _ := spec.Lookup("name").StringValueOK(); name != mongostore.IndexStreamVersion {
				continue
			}
			found = true
			keys, _ := spec.Lookup("key").Document().Elements()
			unique, _ := spec.Lookup("unique").BooleanOK()
			if !unique || len(keys) != 2 || keys[0].Key() != "aggregate_uuid" || keys[1].Key() != "version" {
				t.Errorf("index %s is %v, want unique {aggregate_uuid: 1, version: 1}", mongostore.IndexStreamVersion, spec)
			}
		}
		if !found {
			t.Fatalf("no index %s among %v", mongostore.IndexStreamVersion, specs)
		}
		// The index itself refuses a second version 1, whoever writes it.
		dup := bson.D{{Key: "_id", Value: mongostore.UUIDValue(uuid.New())}, {Key: "aggregate_uuid", Value: mongostore.UUIDValue(id)}, {Key: "version", Value: int64(1)}}
		if _, err := s.EventsCollection().InsertOne(ctxFor(t), dup); err == nil {
			t.Fatal("the events collection accepted a second version 1")
		}
	})

	t.Run("ReopenIsIdempotent", func(t *testing.T) {
		for range 2 {
			again, err := mongostore.New(ctxFor(t), s.Client(), mongostore.WithDatabase(s.Database().Name()))
			if err != nil {
				t.Fatalf("open again: %v", err)
			}
			if _, err := again.Load(ctxFor(t), id); err != nil {
				t.Fatalf("load through the second store: %v", err)
			}
		}
	})
}

func runLifecycle(t *testing.T, open Opener) {
	s := open(t)
	id := uuid.New()
	mustAppend(t, s, id, mongostore.NoStream, ev("Opened", nil))
	if err := s.Close(ctxFor(t)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(ctxFor(t)); err != nil {
		t.Fatalf("second close: %v", err)
	}
	if _, err := s.Append(ctxFor(t), id, mongostore.Any, ev("Deposited", nil)); !errors.Is(err, mongostore.ErrClosed) {
		t.Errorf("append after close: got %v, want ErrClosed", err)
	}
	if _, err := s.Load(ctxFor(t), id); !errors.Is(err, mongostore.ErrClosed) {
		t.Errorf("load after close: got %v, want ErrClosed", err)
	}
}
