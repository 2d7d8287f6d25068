package engine

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/256dpi/lungo"
	"go.mongodb.org/mongo-driver/bson"
)

// insertID inserts {_id: id} into c and reports whether the engine
// refused it as a duplicate; any other error fails the test.
func insertID(t *testing.T, c lungo.ICollection, id int) (dup bool) {
	t.Helper()
	_, err := c.InsertOne(context.Background(), bson.D{{Key: "_id", Value: id}})
	if err != nil && !lungo.IsUniquenessError(err) {
		t.Fatalf("insert _id %d: %v", id, err)
	}
	return err != nil
}

// probesOfInsert inserts {_id: id} into db.coll in a transaction it then
// aborts, and returns how many _id probe iterators the insert made.
func probesOfInsert(t *testing.T, e *Engine, db, coll string, id int) int {
	t.Helper()
	ctx := context.Background()
	tx, err := e.begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.abort()
	m, err := tx.collection(db, coll, false)
	if err != nil || m == nil {
		t.Fatalf("collection %s.%s: %v, %v", db, coll, m, err)
	}
	raw, err := bson.Marshal(bson.D{{Key: "_id", Value: id}})
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.insert(m, stored{raw: raw}); err != nil {
		t.Fatalf("insert _id %d: %v", id, err)
	}
	n := 0
	for _, p := range tx.probers {
		if p.slot == (probeSlot{coll: m.ID}) {
			n++
		}
	}
	return n
}

func TestIDCeiling(t *testing.T) {
	ctx := context.Background()
	t.Run("ascending ids skip the probe, others are probed", func(t *testing.T) {
		e := openMemEngine(t)
		c := e.Client().Database("db").Collection("asc")
		for id := 1; id <= 5; id++ {
			if insertID(t, c, id) {
				t.Fatalf("_id %d refused as a duplicate", id)
			}
		}
		if got := probesOfInsert(t, e, "db", "asc", 6); got != 0 {
			t.Errorf("an _id above every stored one made %d probe iterators, want 0", got)
		}
		if got := probesOfInsert(t, e, "db", "asc", 0); got != 1 {
			t.Errorf("an _id below the stored ones made %d probe iterators, want 1", got)
		}
	})
	t.Run("duplicates at and below the ceiling are refused", func(t *testing.T) {
		e := openMemEngine(t)
		c := e.Client().Database("db").Collection("dups")
		for id := 1; id <= 5; id++ {
			insertID(t, c, id)
		}
		for _, id := range []int{5, 3, 1} {
			if !insertID(t, c, id) {
				t.Errorf("_id %d stored twice", id)
			}
		}
	})
	t.Run("a reopened store reads its ceiling", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "store")
		e, err := Open(ctx, Options{Path: dir})
		if err != nil {
			t.Fatal(err)
		}
		c := e.Client().Database("db").Collection("reopen")
		for id := 1; id <= 3; id++ {
			insertID(t, c, id)
		}
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
		e, err = Open(ctx, Options{Path: dir})
		if err != nil {
			t.Fatal(err)
		}
		defer e.Close()
		c = e.Client().Database("db").Collection("reopen")
		if !insertID(t, c, 3) {
			t.Error("after reopening, the greatest _id was stored twice")
		}
		if insertID(t, c, 4) {
			t.Error("after reopening, a new greatest _id was refused")
		}
	})
	t.Run("aborts and deletes leave the ceiling above what exists", func(t *testing.T) {
		e := openMemEngine(t)
		c := e.Client().Database("db").Collection("gaps")
		insertID(t, c, 1)
		probesOfInsert(t, e, "db", "gaps", 10) // aborted: the ceiling is 10, the greatest _id 1
		if insertID(t, c, 7) {
			t.Fatal("_id 7, below the ceiling of an aborted insert, refused")
		}
		if !insertID(t, c, 7) {
			t.Error("_id 7 stored twice")
		}
		if _, err := c.DeleteOne(ctx, bson.D{{Key: "_id", Value: 7}}); err != nil {
			t.Fatal(err)
		}
		if insertID(t, c, 7) {
			t.Error("_id 7, deleted, refused")
		}
		if n, err := c.CountDocuments(ctx, bson.D{}); err != nil || n != 2 {
			t.Errorf("count %d, %v; want 2", n, err)
		}
	})
}
