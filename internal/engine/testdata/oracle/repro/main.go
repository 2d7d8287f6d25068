// Command repro runs the minimal reproductions of the differences the
// differential test (oracle_test.go) found, on both engines.
package main

import (
	"context"
	"fmt"

	"github.com/256dpi/lungo"
	"github.com/annalsdb/annals/internal/engine"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
)

func main() {
	ctx := context.Background()
	e, err := engine.Open(ctx, engine.Options{})
	if err != nil {
		panic(err)
	}
	defer e.Close()
	lc, le, err := lungo.Open(ctx, lungo.Options{Store: lungo.NewMemoryStore()})
	if err != nil {
		panic(err)
	}
	defer le.Close()
	for i, c := range []lungo.IClient{e.Client(), lc} {
		name := []string{"ours", "lungo"}[i]
		db := c.Database("repro")
		run := func(title string, f func(coll lungo.ICollection)) {
			coll := db.Collection(fmt.Sprintf("c%d", len(title)))
			_ = coll.Drop(ctx)
			fmt.Printf("%s: %s\n", name, title)
			f(coll)
		}
		run("1 lost unique index", func(coll lungo.ICollection) {
			_, err := coll.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "a", Value: 1}}, Options: options.Index().SetUnique(true)})
			fmt.Println("  create a_1 unique:", err)
			_, err = coll.InsertOne(ctx, bson.D{{Key: "_id", Value: 1}, {Key: "a", Value: 1}, {Key: "d", Value: bson.A{1, 2}}})
			fmt.Println("  insert {_id:1,a:1,d:[1,2]}:", err)
			_, err = coll.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "d", Value: 1}}})
			fmt.Println("  create d_1:", err)
			cur, err := coll.Indexes().List(ctx)
			if err == nil {
				var specs []bson.M
				_ = cur.All(ctx, &specs)
				for _, s := range specs {
					fmt.Println("  index:", s["name"])
				}
			}
			_, err = coll.InsertOne(ctx, bson.D{{Key: "_id", Value: 2}, {Key: "a", Value: 1}})
			fmt.Println("  insert {_id:2,a:1} (want duplicate key):", err)
		})
		run("2 empty array vs missing in unique index", func(coll lungo.ICollection) {
			_, err := coll.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "d", Value: 1}}, Options: options.Index().SetUnique(true)})
			fmt.Println("  create d_1 unique:", err)
			_, err = coll.InsertOne(ctx, bson.D{{Key: "_id", Value: 1}})
			fmt.Println("  insert {_id:1}:", err)
			_, err = coll.InsertOne(ctx, bson.D{{Key: "_id", Value: 2}, {Key: "d", Value: bson.A{}}})
			fmt.Println("  insert {_id:2,d:[]} (want ok):", err)
		})
		run("3 bulk write with a non-duplicate write error", func(coll lungo.ICollection) {
			_, _ = coll.InsertOne(ctx, bson.D{{Key: "_id", Value: 1}, {Key: "a", Value: "x"}})
			res, err := coll.BulkWrite(ctx, []mongo.WriteModel{
				mongo.NewInsertOneModel().SetDocument(bson.D{{Key: "_id", Value: 2}}),
				mongo.NewUpdateOneModel().SetFilter(bson.D{{Key: "_id", Value: 1}}).SetUpdate(bson.D{{Key: "$inc", Value: bson.D{{Key: "a", Value: 1}}}}),
				mongo.NewInsertOneModel().SetDocument(bson.D{{Key: "_id", Value: 3}}),
			}, options.BulkWrite().SetOrdered(false))
			fmt.Printf("  unordered bulk [insert 2; $inc a on _id 1 (a is a string); insert 3]: %+v err=%T %v\n", res, err, err)
			n, _ := coll.CountDocuments(ctx, bson.D{})
			fmt.Println("  documents now (want 3):", n)
		})
		run("4 (lungo differs from MongoDB) unique index over an array of subdocuments", func(coll lungo.ICollection) {
			_, err := coll.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "c.x", Value: 1}}, Options: options.Index().SetUnique(true)})
			fmt.Println("  create c.x_1 unique:", err)
			_, err = coll.InsertOne(ctx, bson.D{{Key: "_id", Value: 1}, {Key: "c", Value: bson.A{bson.D{{Key: "y", Value: 1}}, bson.D{{Key: "x", Value: 2}}}}})
			fmt.Println("  insert {_id:1,c:[{y:1},{x:2}]}:", err)
			_, err = coll.InsertOne(ctx, bson.D{{Key: "_id", Value: 2}})
			fmt.Println("  insert {_id:2} (MongoDB: duplicate key on c.x null):", err)
		})
	}
}
