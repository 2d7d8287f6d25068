package engine

import (
	"context"
	"fmt"
	"testing"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/256dpi/lungo"
)

// TestFindPastTheFirstBatch: a find returns its first batch (firstBatch
// documents, or its batch size) at once and reads the rest lazily,
// walking the snapshot again and passing over what it returned. Answers of every length around the batch, in index order,
// in sorted order with ties (sorted in memory) and with skip and limit,
// must equal the same find read at once in a transaction, and writes
// after the find must not show in it.
func TestFindPastTheFirstBatch(t *testing.T) {
	ctx := context.Background()
	e := openMemEngine(t)
	c := e.Client().Database("d").Collection("c")
	if _, err := c.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "g", Value: 1}, {Key: "n", Value: 1}}}); err != nil {
		t.Fatal(err)
	}
	const total = 3*firstBatch + 7
	docs := make([]any, total)
	for i := range docs {
		// g groups the documents; tie holds few values, so a sort on it
		// has ties that only a stable sort keeps in one order.
		docs[i] = bson.D{{Key: "_id", Value: i}, {Key: "g", Value: i % 2}, {Key: "n", Value: i}, {Key: "tie", Value: i % 3}}
	}
	if _, err := c.InsertMany(ctx, docs); err != nil {
		t.Fatal(err)
	}
	ids := func(t *testing.T, cur lungo.ICursor) []int32 {
		t.Helper()
		var docs []struct {
			ID int32 `bson:"_id"`
		}
		if err := cur.All(ctx, &docs); err != nil {
			t.Fatal(err)
		}
		out := make([]int32, len(docs))
		for i, d := range docs {
			out[i] = d.ID
		}
		return out
	}
	for _, limit := range []int64{0, firstBatch - 1, firstBatch, firstBatch + 1, 2 * firstBatch} {
		for _, q := range []struct {
			name   string
			filter bson.D
			sort   bson.D
			skip   int64
			batch  int32
		}{
			{"scan", bson.D{}, nil, 0, 0},
			{"index", bson.D{{Key: "g", Value: 1}}, bson.D{{Key: "n", Value: -1}}, 0, 0},
			{"ties", bson.D{}, bson.D{{Key: "tie", Value: 1}}, 0, 0},
			{"ties skipped", bson.D{{Key: "g", Value: 0}}, bson.D{{Key: "tie", Value: -1}}, 5, 0},
			{"batches of 7", bson.D{}, bson.D{{Key: "tie", Value: 1}}, 0, 7},
		} {
			t.Run(fmt.Sprintf("%s/limit=%d", q.name, limit), func(t *testing.T) {
				opts := options.Find().SetSkip(q.skip).SetLimit(limit)
				if q.sort != nil {
					opts.SetSort(q.sort)
				}
				if q.batch > 0 {
					opts.SetBatchSize(q.batch)
				}
				cur, err := c.Find(ctx, q.filter, opts)
				if err != nil {
					t.Fatal(err)
				}
				// Written after the find: not in its answer.
				if _, err := c.InsertOne(ctx, bson.D{{Key: "_id", Value: total + int(limit)}, {Key: "g", Value: 1}, {Key: "n", Value: -1}, {Key: "tie", Value: 0}}); err != nil {
					t.Fatal(err)
				}
				got := ids(t, cur)
				if _, err := c.DeleteOne(ctx, bson.D{{Key: "_id", Value: total + int(limit)}}); err != nil {
					t.Fatal(err)
				}
				var want []int32
				sess, err := e.Client().StartSession()
				if err != nil {
					t.Fatal(err)
				}
				defer sess.EndSession(ctx)
				_, err = sess.WithTransaction(ctx, func(sc lungo.ISessionContext) (any, error) {
					cur, err := c.Find(sc, q.filter, opts)
					if err != nil {
						return nil, err
					}
					want = ids(t, cur)
					return nil, nil
				})
				if err != nil {
					t.Fatal(err)
				}
				if len(want) == 0 || fmt.Sprint(got) != fmt.Sprint(want) {
					t.Fatalf("find read %d documents:\n%v\nat once, %d:\n%v", len(got), got, len(want), want)
				}
			})
		}
	}
}
