package engine

import (
	"context"
	"testing"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
)

// TestClusteredHintedQuery: a hinted query plans over a view of the
// collection with the hinted index only; over a clustered collection it
// must still read the documents where they are (a hint of another index,
// of _id, or of the clustered index itself), and so must an index built
// later (its backfill walks the _id keyspace, which holds references).
func TestClusteredHintedQuery(t *testing.T) {
	ctx := context.Background()
	e, err := Open(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	c := e.Client().Database("d").Collection("c")
	_, err = c.Indexes().CreateMany(ctx, []mongo.IndexModel{
		{Keys: bson.D{{Key: "k", Value: 1}, {Key: "v", Value: 1}}, Options: options.Index().SetName("kv").SetUnique(true).SetStorageEngine(ClusteredIndex())},
		{Keys: bson.D{{Key: "t", Value: 1}}, Options: options.Index().SetName("t")},
	})
	if err != nil {
		t.Fatal(err)
	}
	var docs []any
	for i := range 50 {
		docs = append(docs, bson.D{{Key: "_id", Value: i}, {Key: "k", Value: i % 5}, {Key: "v", Value: i}, {Key: "t", Value: i % 7}, {Key: "u", Value: i % 3}})
	}
	if _, err := c.InsertMany(ctx, docs); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "u", Value: 1}}, Options: options.Index().SetName("u")}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		hint   any
		filter bson.D
		want   int
	}{
		{"t", bson.D{{Key: "t", Value: 3}}, 7},
		{"_id_", bson.D{{Key: "_id", Value: bson.D{{Key: "$gte", Value: 40}}}}, 10},
		{"kv", bson.D{{Key: "k", Value: 2}}, 10},
		{"u", bson.D{{Key: "u", Value: 1}}, 17},
		{bson.D{{Key: "t", Value: 1}}, bson.D{{Key: "k", Value: 4}}, 10},
	} {
		cur, err := c.Find(ctx, tc.filter, options.Find().SetHint(tc.hint))
		if err != nil {
			t.Fatalf("hint %v: %v", tc.hint, err)
		}
		var got []bson.M
		if err := cur.All(ctx, &got); err != nil {
			t.Fatalf("hint %v: %v", tc.hint, err)
		}
		if len(got) != tc.want {
			t.Errorf("hint %v, filter %v: got %d documents, want %d", tc.hint, tc.filter, len(got), tc.want)
		}
		for _, d := range got {
			if _, ok := d["k"]; !ok {
				t.Fatalf("hint %v: got %v, not a document", tc.hint, d)
			}
		}
	}
}
