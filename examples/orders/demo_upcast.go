package main

import (
	"context"
	"fmt"
	"io"

	"github.com/annalsdb/annals/mongostore"
	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/bson"
)

// demoUpcast stores an OrderCreated in its first shape, as an old version
// of the application did, and loads it through the repository, which
// lifts it to the current shape.
func demoUpcast(ctx context.Context, store *mongostore.Store, orders *Orders, out io.Writer) (uuid.UUID, error) {
	id := uuid.New()
	_, err := store.AppendStreams(ctx, mongostore.StreamAppend{Stream: id, Type: orderType, Expected: mongostore.NoStream,
		Events: []mongostore.EventData{{Name: "OrderCreated", SchemaVersion: 1, Data: bson.D{{Key: "customer", Value: "cy"}, {Key: "amount", Value: 12}}}}})
	if err != nil {
		return id, err
	}
	stream, err := store.Load(ctx, id)
	if err != nil {
		return id, err
	}
	stored := stream.Events[0]
	raw, err := bson.MarshalExtJSON(stored.Data, false, false)
	if err != nil {
		return id, err
	}
	fmt.Fprintf(out, "legacy order %s: OrderCreated stored at schema version %d: %s\n", id, stored.SchemaVersion, raw)
	lifted, err := orders.reg.Decode(stored)
	if err != nil {
		return id, err
	}
	fmt.Fprintf(out, "  decoded through the registry: %T%+v\n", lifted, lifted)
	if err := show(ctx, out, orders, id, "  loaded through the repository: "); err != nil {
		return id, err
	}
	if err := orders.Confirm(ctx, id, "cy"); err != nil {
		return id, err
	}
	return id, show(ctx, out, orders, id, "  confirmed on top of the old event: ")
}
