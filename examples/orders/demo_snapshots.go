package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/annalsdb/annals/mongostore"
	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
)

// bulkItems is how many items the bulk order gets, one save each.
const bulkItems = 25

// demoSnapshots builds an order of many lines, shows the snapshot the
// repository took, and that deleting every snapshot changes nothing but
// the cost of the next load.
func demoSnapshots(ctx context.Context, store *mongostore.Store, orders *Orders, out io.Writer) (uuid.UUID, error) {
	id, err := orders.Create(ctx, "bo", 0)
	if err != nil {
		return id, err
	}
	for i := range bulkItems {
		if err := orders.AddItem(ctx, id, fmt.Sprintf("bolt-%02d", i+1), 12_50); err != nil {
			return id, err
		}
	}
	v, ok, err := snapshotVersion(ctx, store, id)
	if err != nil {
		return id, err
	}
	if !ok {
		return id, fmt.Errorf("no snapshot of %s after %d events", id, bulkItems+1)
	}
	fmt.Fprintf(out, "bulk order %s: %d items added one save at a time, snapshot every %d events: latest at version %d\n",
		id, bulkItems, snapshotEvery, v)
	if err := show(ctx, out, orders, id, "  from the snapshot and the events after it: "); err != nil {
		return id, err
	}
	if err := store.DeleteSnapshots(ctx); err != nil {
		return id, err
	}
	return id, show(ctx, out, orders, id, "  after deleting every snapshot, from the events alone: ")
}

// snapshotVersion reads the version of an aggregate's stored snapshot.
func snapshotVersion(ctx context.Context, store *mongostore.Store, id uuid.UUID) (int64, bool, error) {
	var snap struct {
		Version int64 `bson:"version"`
	}
	err := store.Database().Collection(mongostore.CollectionSnapshots).
		FindOne(ctx, bson.D{{Key: "_id", Value: id.String()}}).Decode(&snap)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("read snapshot of %s: %w", id, err)
	}
	return snap.Version, true, nil
}
