package roundtrip_test

import (
	"context"
	"errors"
	"maps"
	"sync"
	"testing"

	"github.com/256dpi/lungo"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/annalsdb/annals/internal/engine"
	"github.com/annalsdb/annals/internal/roundtrip"
)

// open returns a counting client on a fresh in-memory engine and a
// collection reached through it.
func open(t *testing.T) (*roundtrip.Client, lungo.ICollection) {
	t.Helper()
	eng, err := engine.Open(context.Background(), engine.Options{})
	if err != nil {
		t.Fatalf("open engine: %v", err)
	}
	t.Cleanup(func() { eng.Close() })
	c := roundtrip.Wrap(eng.Client())
	return c, c.Database("db").Collection("c")
}

// assertCounts checks the total and the per-operation breakdown.
func assertCounts(t *testing.T, c *roundtrip.Client, want map[string]int64) {
	t.Helper()
	var total int64
	for _, n := range want {
		total += n
	}
	if got := c.Count(); got != total {
		t.Errorf("Count() = %d, want %d (ops %v)", got, total, c.Ops())
	}
	got := c.Ops()
	maps.DeleteFunc(got, func(_ string, n int64) bool { return n == 0 })
	if !maps.Equal(got, want) {
		t.Errorf("Ops() = %v, want %v", got, want)
	}
}

func TestInsertOne(t *testing.T) {
	ctx := context.Background()
	c, coll := open(t)
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "a", Value: 1}}); err != nil {
		t.Fatal(err)
	}
	assertCounts(t, c, map[string]int64{"InsertOne": 1})
}

func TestFind(t *testing.T) {
	ctx := context.Background()
	c, coll := open(t)
	docs := make([]any, 50)
	for i := range docs {
		docs[i] = bson.D{{Key: "i", Value: i}}
	}
	if _, err := coll.InsertMany(ctx, docs); err != nil {
		t.Fatal(err)
	}
	c.Reset()
	assertCounts(t, c, map[string]int64{})

	cur, err := coll.Find(ctx, bson.D{}, options.Find().SetBatchSize(2))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for cur.Next(ctx) {
		n++
	}
	if err := cur.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if n != len(docs) {
		t.Fatalf("found %d documents, want %d", n, len(docs))
	}
	// The embedded engine's cursors hold everything in memory: only the
	// find counts, whatever the batch size.
	assertCounts(t, c, map[string]int64{"Find": 1})

	c.Reset()
	var doc bson.M
	if err := coll.FindOne(ctx, bson.D{{Key: "i", Value: 7}}).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	assertCounts(t, c, map[string]int64{"FindOne": 1})
}

func TestTransaction(t *testing.T) {
	ctx := context.Background()
	c, coll := open(t)
	sess, err := c.StartSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.EndSession(ctx)
	_, err = sess.WithTransaction(ctx, func(sc lungo.ISessionContext) (any, error) {
		if _, err := coll.InsertOne(sc, bson.D{{Key: "_id", Value: "a"}}); err != nil {
			return nil, err
		}
		// The insert ran inside the transaction: it is visible through
		// the session context and not outside it before the commit.
		if err := coll.FindOne(sc, bson.D{{Key: "_id", Value: "a"}}).Err(); err != nil {
			t.Errorf("inside the transaction: %v, want the document", err)
		}
		if err := coll.FindOne(context.Background(), bson.D{{Key: "_id", Value: "a"}}).Err(); !errors.Is(err, mongo.ErrNoDocuments) {
			t.Errorf("outside the transaction before commit: %v, want %v", err, mongo.ErrNoDocuments)
		}
		return nil, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	assertCounts(t, c, map[string]int64{"InsertOne": 1, "FindOne": 2, "CommitTransaction": 1})
	if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: "a"}}).Err(); err != nil {
		t.Errorf("after commit: %v", err)
	}
}

func TestTransactionInsertIsTwo(t *testing.T) {
	ctx := context.Background()
	c, coll := open(t)
	sess, err := c.StartSession()
	if err != nil {
		t.Fatal(err)
	}
	_, err = sess.WithTransaction(ctx, func(sc lungo.ISessionContext) (any, error) {
		return coll.InsertOne(sc, bson.D{{Key: "a", Value: 1}})
	})
	sess.EndSession(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.Count(), int64(2); got != want {
		t.Errorf("insert in a transaction: Count() = %d, want %d (ops %v)", got, want, c.Ops())
	}
}

func TestTransactionAbort(t *testing.T) {
	ctx := context.Background()
	c, coll := open(t)
	sess, err := c.StartSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.EndSession(ctx)
	boom := errors.New("boom")
	_, err = sess.WithTransaction(ctx, func(sc lungo.ISessionContext) (any, error) {
		if _, err := coll.InsertOne(sc, bson.D{{Key: "_id", Value: "a"}}); err != nil {
			return nil, err
		}
		return nil, boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("WithTransaction: %v, want %v", err, boom)
	}
	assertCounts(t, c, map[string]int64{"InsertOne": 1, "AbortTransaction": 1})
	c.Reset()
	if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: "a"}}).Err(); !errors.Is(err, mongo.ErrNoDocuments) {
		t.Errorf("after abort: %v, want %v", err, mongo.ErrNoDocuments)
	}
}

func TestEmptyTransactionAndSessionsAreFree(t *testing.T) {
	ctx := context.Background()
	c, _ := open(t)
	sess, err := c.StartSession()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sess.WithTransaction(ctx, func(lungo.ISessionContext) (any, error) { return nil, nil }); err != nil {
		t.Fatal(err)
	}
	sess.EndSession(ctx)
	assertCounts(t, c, map[string]int64{})
}

func TestUseSessionExplicitTransaction(t *testing.T) {
	ctx := context.Background()
	c, coll := open(t)
	err := c.UseSession(ctx, func(sc lungo.ISessionContext) error {
		if err := sc.StartTransaction(); err != nil {
			return err
		}
		if _, err := coll.InsertOne(sc, bson.D{{Key: "_id", Value: "a"}}); err != nil {
			return err
		}
		if err := coll.FindOne(context.Background(), bson.D{{Key: "_id", Value: "a"}}).Err(); !errors.Is(err, mongo.ErrNoDocuments) {
			t.Errorf("outside the transaction before commit: %v, want %v", err, mongo.ErrNoDocuments)
		}
		return sc.CommitTransaction(sc)
	})
	if err != nil {
		t.Fatal(err)
	}
	assertCounts(t, c, map[string]int64{"InsertOne": 1, "FindOne": 1, "CommitTransaction": 1})
}

func TestBulkWriteCommands(t *testing.T) {
	ctx := context.Background()
	models := []mongo.WriteModel{
		mongo.NewInsertOneModel().SetDocument(bson.D{{Key: "_id", Value: 1}}),
		mongo.NewInsertOneModel().SetDocument(bson.D{{Key: "_id", Value: 2}}),
		mongo.NewUpdateOneModel().SetFilter(bson.D{{Key: "_id", Value: 1}}).SetUpdate(bson.D{{Key: "$set", Value: bson.D{{Key: "a", Value: 1}}}}),
		mongo.NewInsertOneModel().SetDocument(bson.D{{Key: "_id", Value: 3}}),
	}
	tests := []struct {
		name    string
		ordered bool
		want    int64
	}{
		{"ordered", true, 3},
		{"unordered", false, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, coll := open(t)
			if _, err := coll.BulkWrite(ctx, models, options.BulkWrite().SetOrdered(tt.ordered)); err != nil {
				t.Fatal(err)
			}
			assertCounts(t, c, map[string]int64{"BulkWrite": tt.want})
		})
	}
}

func TestSchemaOperations(t *testing.T) {
	ctx := context.Background()
	c, coll := open(t)
	db := coll.Database()
	if _, err := db.ListCollectionNames(ctx, bson.D{}); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateCollection(ctx, "other"); err != nil {
		t.Fatal(err)
	}
	if _, err := coll.Indexes().CreateMany(ctx, []mongo.IndexModel{
		{Keys: bson.D{{Key: "a", Value: 1}}},
		{Keys: bson.D{{Key: "b", Value: 1}}},
	}); err != nil {
		t.Fatal(err)
	}
	assertCounts(t, c, map[string]int64{"ListCollectionNames": 1, "CreateCollection": 1, "Indexes.CreateMany": 1})
}

func TestWrappersStayWrapped(t *testing.T) {
	c, coll := open(t)
	if _, ok := coll.(*roundtrip.Collection); !ok {
		t.Errorf("Collection is %T, want *roundtrip.Collection", coll)
	}
	if got := coll.Database().Client(); got != lungo.IClient(c) {
		t.Errorf("Collection().Database().Client() = %T, want the counting client", got)
	}
	clone, err := coll.Clone()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := clone.(*roundtrip.Collection); !ok {
		t.Errorf("Clone is %T, want *roundtrip.Collection", clone)
	}
	sess, err := c.StartSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.EndSession(context.Background())
	if got := sess.Client(); got != lungo.IClient(c) {
		t.Errorf("Session.Client() = %T, want the counting client", got)
	}
	if _, ok := c.Unwrap().(*engine.Client); !ok {
		t.Errorf("Unwrap() = %T, want *engine.Client", c.Unwrap())
	}
}

func TestConcurrentCounts(t *testing.T) {
	ctx := context.Background()
	c, coll := open(t)
	const workers, each = 8, 25
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range each {
				if _, err := coll.InsertOne(ctx, bson.D{}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	assertCounts(t, c, map[string]int64{"InsertOne": workers * each})
}

// serverCursor behaves like a MongoDB cursor: it holds batches of the
// given sizes, the first one already fetched, and reports an open server
// cursor until the last batch has been fetched.
type serverCursor struct {
	lungo.ICursor
	left    int
	batches []int
}

func (s *serverCursor) ID() int64 {
	if len(s.batches) == 0 {
		return 0
	}
	return 42
}

func (s *serverCursor) RemainingBatchLength() int { return s.left }

func (s *serverCursor) Next(context.Context) bool {
	for s.left == 0 {
		if len(s.batches) == 0 {
			return false
		}
		s.left, s.batches = s.batches[0], s.batches[1:]
	}
	s.left--
	return true
}

func (s *serverCursor) Close(context.Context) error { return nil }

// cursorServer is a client whose every collection's Find returns cur.
type cursorServer struct {
	lungo.IClient
	cur lungo.ICursor
}

func (f *cursorServer) Database(string, ...*options.DatabaseOptions) lungo.IDatabase {
	return cursorDatabase{cur: f.cur}
}

type cursorDatabase struct {
	lungo.IDatabase
	cur lungo.ICursor
}

func (d cursorDatabase) Collection(string, ...*options.CollectionOptions) lungo.ICollection {
	return cursorCollection{cur: d.cur}
}

type cursorCollection struct {
	lungo.ICollection
	cur lungo.ICursor
}

func (c cursorCollection) Find(context.Context, any, ...*options.FindOptions) (lungo.ICursor, error) {
	return c.cur, nil
}

func TestCursorGetMoreAndKillCursors(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name  string
		first int
		more  []int
		read  int // documents to read; -1 reads all
		want  map[string]int64
	}{
		{"exhausted", 2, []int{2, 2, 1}, -1, map[string]int64{"Find": 1, "GetMore": 3}},
		{"single batch", 3, nil, -1, map[string]int64{"Find": 1}},
		{"closed early", 2, []int{2}, 1, map[string]int64{"Find": 1, "KillCursors": 1}},
		{"empty first batch", 0, []int{1}, -1, map[string]int64{"Find": 1, "GetMore": 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := roundtrip.Wrap(&cursorServer{cur: &serverCursor{left: tt.first, batches: tt.more}})
			cur, err := c.Database("db").Collection("c").Find(ctx, bson.D{})
			if err != nil {
				t.Fatal(err)
			}
			for n := 0; (tt.read < 0 || n < tt.read) && cur.Next(ctx); n++ {
			}
			if err := cur.Close(ctx); err != nil {
				t.Fatal(err)
			}
			assertCounts(t, c, tt.want)
		})
	}
}
