package mongostore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/annalsdb/annals/mongostore"
	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/bson"
)

// TestCorruptEventIsNamed: a document written around the store that is not
// a well-formed event fails reads with a *DecodeError naming it.
func TestCorruptEventIsNamed(t *testing.T) {
	s := openURI(t, "memory:")
	ctx := context.Background()
	stream, bad := uuid.New(), uuid.New()
	if _, err := s.Append(ctx, stream, mongostore.NoStream, mongostore.EventData{Name: "Opened"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.EventsCollection().InsertOne(ctx, bson.D{
		{Key: "_id", Value: mongostore.UUIDValue(bad)}, {Key: "aggregate_uuid", Value: mongostore.UUIDValue(stream)},
		{Key: "version", Value: "two"}, {Key: "name", Value: "Broken"}, {Key: "recorded_at", Value: time.Now()},
	}); err != nil {
		t.Fatal(err)
	}
	_, err := s.Load(ctx, stream)
	var de *mongostore.DecodeError
	if !errors.Is(err, mongostore.ErrCorruptEvent) || !errors.As(err, &de) || de.ID != bad {
		t.Fatalf("got %v, want a *DecodeError naming %s", err, bad)
	}
	for _, err := range s.Scan(ctx, mongostore.ScanQuery{}) {
		if err != nil && !errors.Is(err, mongostore.ErrCorruptEvent) {
			t.Fatalf("scan: got %v, want ErrCorruptEvent", err)
		}
	}
}
