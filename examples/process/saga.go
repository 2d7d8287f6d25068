package main

import (
	"context"
	"fmt"

	"github.com/annalsdb/annals/mongostore"
	"github.com/annalsdb/annals/projections"
	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
)

// Names of the saga's projection and of its query collection.
const (
	sagaProjection = "shipping_saga"
	todoCollection = "shipping_todo"
)

// Todo states.
const (
	todoPending = "pending"
	todoDone    = "done"
)

// Namespaces of the ids the saga derives. Derived ids make the saga
// idempotent: replaying an OrderConfirmed yields the same command id, and
// the store refuses to store one event id twice.
var (
	commandNamespace  = uuid.MustParse("6f1c2f4e-7d0a-4b8e-9a51-3c2b8d9e0f11")
	shipmentNamespace = uuid.MustParse("0b7e9a2c-51d4-4c3f-8e6a-9f2d1c0b4a77")
)

// commandID is the id of the ShipmentRequested event issued because of
// the event triggering.
func commandID(triggering uuid.UUID) uuid.UUID { return uuid.NewSHA1(commandNamespace, triggering[:]) }

// shipmentID is the stream of an order's shipment.
func shipmentID(order uuid.UUID) uuid.UUID { return uuid.NewSHA1(shipmentNamespace, order[:]) }

// Todo is a command the saga decided to issue and the dispatcher has not
// yet confirmed sent. Its _id is the command's event id, as a string (the
// embedded engine cannot update documents whose _id is binary).
type Todo struct {
	ID          string `bson:"_id"`
	Order       string `bson:"order"`
	Shipment    string `bson:"shipment"`
	ConfirmedBy string `bson:"confirmed_by"`
	// CausedBy is the id of the OrderConfirmed event that triggered it.
	CausedBy string `bson:"caused_by"`
	Status   string `bson:"status"`
	// ShipmentVersion is the version ShipmentRequested got, once done.
	ShipmentVersion int64 `bson:"shipment_version,omitempty"`
}

// saga returns the shipping process manager: when an order is confirmed
// it records, in the same transaction as its checkpoint, that a shipment
// must be requested. It does not append the command itself: the handler
// runs inside the runner's transaction, and on the embedded engine a write
// outside that transaction would wait for it forever. The Dispatcher
// sends the recorded commands.
func saga(reg *mongostore.Registry) *projections.Projection {
	p := projections.New(sagaProjection, []string{"OrderConfirmed"},
		func(ctx context.Context, tx *projections.Tx, ev mongostore.Event) error {
			payload, err := reg.Decode(ev)
			if err != nil {
				return err
			}
			confirmed, ok := payload.(OrderConfirmed)
			if !ok {
				return fmt.Errorf("shipping saga: unexpected %T", payload)
			}
			// $setOnInsert: a todo already recorded (and perhaps done) is
			// left as it is.
			_, err = tx.Collection().UpdateOne(ctx, bson.D{{Key: "_id", Value: commandID(ev.ID).String()}},
				bson.D{{Key: "$setOnInsert", Value: bson.D{
					{Key: "order", Value: ev.Stream.String()},
					{Key: "shipment", Value: shipmentID(ev.Stream).String()},
					{Key: "confirmed_by", Value: confirmed.By},
					{Key: "caused_by", Value: ev.ID.String()},
					{Key: "status", Value: todoPending},
				}}}, options.Update().SetUpsert(true))
			return err
		})
	p.Collections = []string{todoCollection}
	p.Registry = reg
	p.Setup = func(ctx context.Context, tx *projections.Tx) error {
		_, err := tx.Collection().Indexes().CreateOne(ctx, mongo.IndexModel{
			Keys: bson.D{{Key: "status", Value: 1}}, Options: options.Index().SetName("status_1"),
		})
		return err
	}
	return p
}
