package main

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/annalsdb/annals/mongostore"
	"github.com/annalsdb/annals/projections"
	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo/options"
)

// balancesProjection names the read model of balances and its collection.
const balancesProjection = "balances"

// Balance is one account's document in the balances read model. Its _id
// is the account's UUID as a string: the embedded engine cannot update
// documents whose _id is binary.
type Balance struct {
	ID      string `bson:"_id"`
	Owner   string `bson:"owner"`
	Cents   int64  `bson:"cents"`
	Version int64  `bson:"version"`
}

// balances returns the projection that keeps one Balance per account.
func balances(reg *mongostore.Registry) *projections.Projection {
	p := projections.New(balancesProjection, []string{"AccountOpened", "MoneyDeposited", "MoneyWithdrawn"},
		func(ctx context.Context, tx *projections.Tx, ev mongostore.Event) error {
			payload, err := reg.Decode(ev)
			if err != nil {
				return err
			}
			set := bson.D{{Key: "version", Value: ev.Version}}
			var delta int64
			switch e := payload.(type) {
			case AccountOpened:
				set = append(set, bson.E{Key: "owner", Value: e.Owner})
			case MoneyDeposited:
				delta = e.Cents
			case MoneyWithdrawn:
				delta = -e.Cents
			}
			_, err = tx.Collection().UpdateOne(ctx, bson.D{{Key: "_id", Value: ev.Stream.String()}},
				bson.D{{Key: "$set", Value: set}, {Key: "$inc", Value: bson.D{{Key: "cents", Value: delta}}}},
				options.Update().SetUpsert(true))
			return err
		})
	p.Registry = reg
	return p
}

// readBalances reads the given accounts from the serving balances read
// model, ordered by owner.
func readBalances(ctx context.Context, runner *projections.Runner, ids ...uuid.UUID) ([]Balance, error) {
	coll, err := runner.Collection(ctx, balancesProjection, "")
	if err != nil {
		return nil, fmt.Errorf("read balances: %w", err)
	}
	keys := bson.A{}
	for _, id := range ids {
		keys = append(keys, id.String())
	}
	cur, err := coll.Find(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: keys}}}})
	if err != nil {
		return nil, fmt.Errorf("read balances: %w", err)
	}
	var out []Balance
	if err := cur.All(ctx, &out); err != nil {
		return nil, fmt.Errorf("read balances: %w", err)
	}
	slices.SortFunc(out, func(a, b Balance) int { return strings.Compare(a.Owner, b.Owner) })
	return out, nil
}
