package projections_test

import (
	"context"
	"fmt"
	"time"

	"github.com/annalsdb/annals/mongostore"
	"github.com/annalsdb/annals/projections"
	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo/options"
)

func Example() {
	ctx := context.Background()
	store, err := mongostore.Open(ctx, "memory:")
	if err != nil {
		panic(err)
	}
	defer store.Close(ctx)

	balances := projections.New("balances", []string{"Deposited", "Withdrawn"},
		func(ctx context.Context, tx *projections.Tx, ev mongostore.Event) error {
			var d struct {
				Amount int64 `bson:"amount"`
			}
			if err := ev.Decode(&d); err != nil {
				return err
			}
			if ev.Name == "Withdrawn" {
				d.Amount = -d.Amount
			}
			_, err := tx.Collection().UpdateOne(ctx, bson.M{"_id": ev.Stream.String()},
				bson.M{"$inc": bson.M{"balance": d.Amount}}, options.Update().SetUpsert(true))
			return err
		})
	runner := projections.NewRunner(store, balances)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- runner.Run(runCtx) }()

	account := uuid.New()
	store.Append(ctx, account, mongostore.NoStream,
		mongostore.EventData{Name: "Deposited", Data: map[string]any{"amount": 100}},
		mongostore.EventData{Name: "Withdrawn", Data: map[string]any{"amount": 30}})

	waitCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	st, err := runner.WaitLive(waitCtx, "balances")
	if err != nil {
		panic(err)
	}
	coll, _ := runner.Collection(ctx, "balances", "")
	var doc struct {
		Balance int64 `bson:"balance"`
	}
	coll.FindOne(ctx, bson.M{"_id": account.String()}).Decode(&doc)
	fmt.Println(st.State, st.Applied, doc.Balance)

	stop()
	<-done
	// Output: live 2 70
}
