package engine

import (
	"context"
	"errors"
	"testing"

	"github.com/256dpi/lungo"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo/options"
)

// TestSnapshotSession: every read of a snapshot session sees the store as
// it was at the session's first read, across collections and whatever
// commits in between; other sessions see the commits.
func TestSnapshotSession(t *testing.T) {
	ctx := context.Background()
	e, err := Open(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	db := e.Client().Database("d")
	a, b := db.Collection("a"), db.Collection("b")
	if _, err := a.InsertMany(ctx, []any{bson.D{{Key: "_id", Value: 1}, {Key: "n", Value: 1}}, bson.D{{Key: "_id", Value: 2}, {Key: "n", Value: 1}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.InsertOne(ctx, bson.D{{Key: "_id", Value: 1}, {Key: "n", Value: 1}}); err != nil {
		t.Fatal(err)
	}
	counts := func(ctx context.Context) (na, sumA, nb int64) {
		t.Helper()
		na, err := a.CountDocuments(ctx, bson.D{})
		if err != nil {
			t.Fatal(err)
		}
		cur, err := a.Find(ctx, bson.D{}, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}))
		if err != nil {
			t.Fatal(err)
		}
		var docs []struct{ N int64 }
		if err := cur.All(ctx, &docs); err != nil {
			t.Fatal(err)
		}
		for _, d := range docs {
			sumA += d.N
		}
		var one struct{ N int64 }
		if err := b.FindOne(ctx, bson.D{{Key: "_id", Value: 1}}).Decode(&one); err != nil {
			t.Fatal(err)
		}
		return na, sumA, one.N
	}
	err = e.Client().UseSessionWithOptions(ctx, options.Session().SetSnapshot(true), func(sc lungo.ISessionContext) error {
		na, sum, nb := counts(sc)
		if na != 2 || sum != 2 || nb != 1 {
			t.Fatalf("first read: %d docs summing %d, b %d; want 2, 2, 1", na, sum, nb)
		}
		// Commits after the session's first read: an insert, an update
		// and a delete, in both collections.
		if _, err := a.InsertOne(ctx, bson.D{{Key: "_id", Value: 3}, {Key: "n", Value: 5}}); err != nil {
			t.Fatal(err)
		}
		if _, err := a.DeleteOne(ctx, bson.D{{Key: "_id", Value: 1}}); err != nil {
			t.Fatal(err)
		}
		if _, err := b.UpdateOne(ctx, bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "$inc", Value: bson.D{{Key: "n", Value: 1}}}}); err != nil {
			t.Fatal(err)
		}
		na, sum, nb = counts(sc)
		if na != 2 || sum != 2 || nb != 1 {
			t.Errorf("snapshot read after commits: %d docs summing %d, b %d; want 2, 2, 1", na, sum, nb)
		}
		if na, sum, nb := counts(ctx); na != 2 || sum != 6 || nb != 2 {
			t.Errorf("read outside the session: %d docs summing %d, b %d; want 2, 6, 2", na, sum, nb)
		}
		ids, err := a.Distinct(sc, "_id", bson.D{})
		if err != nil {
			t.Fatal(err)
		}
		if len(ids) != 2 {
			t.Errorf("distinct in the snapshot: %v, want 2 ids", ids)
		}
		if err := sc.StartTransaction(); err == nil {
			t.Error("a transaction started in a snapshot session")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(e.pins); n != 0 {
		t.Errorf("%d snapshots held after the session ended", n)
	}
	if _, err := e.Client().StartSession(options.Session().SetSnapshot(true).SetCausalConsistency(true)); err == nil {
		t.Error("a session both snapshot and causally consistent was started")
	}
}

// TestSnapshotSessionOutlivesClose: closing the engine releases the
// snapshot of a session still open; the session's later reads fail.
func TestSnapshotSessionOutlivesClose(t *testing.T) {
	ctx := context.Background()
	e, err := Open(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := e.Client().Database("d").Collection("c")
	if _, err := c.InsertOne(ctx, bson.D{{Key: "_id", Value: 1}}); err != nil {
		t.Fatal(err)
	}
	sess, err := e.Client().StartSession(options.Session().SetSnapshot(true))
	if err != nil {
		t.Fatal(err)
	}
	sc := sess.(*Session).context(ctx)
	if err := c.FindOne(sc, bson.D{}).Err(); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatalf("close with a snapshot session open: %v", err)
	}
	if err := c.FindOne(sc, bson.D{}).Err(); !errors.Is(err, ErrClosed) {
		t.Errorf("snapshot read after close: %v, want ErrClosed", err)
	}
	sess.EndSession(ctx)
}
