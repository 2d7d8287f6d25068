package engine

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/256dpi/lungo"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
)

// heldSyncs is a file system whose log syncs, once held, wait until
// released: commits are then applied (visible) but not durable.
type heldSyncs struct {
	mu      sync.Mutex
	held    bool
	release chan struct{}
}

func (h *heldSyncs) MaybeError(op errorfs.Op) error {
	if op.Kind != errorfs.OpFileSync && op.Kind != errorfs.OpFileSyncData && op.Kind != errorfs.OpFileSyncTo {
		return nil
	}
	if !strings.HasSuffix(op.Path, ".log") {
		return nil
	}
	h.mu.Lock()
	held, ch := h.held, h.release
	h.mu.Unlock()
	if held {
		<-ch
	}
	return nil
}

func (h *heldSyncs) hold() {
	h.mu.Lock()
	h.held, h.release = true, make(chan struct{})
	h.mu.Unlock()
}

func (h *heldSyncs) let() {
	h.mu.Lock()
	if h.held {
		h.held = false
		close(h.release)
	}
	h.mu.Unlock()
}

func (h *heldSyncs) String() string { return "held syncs" }

// applyUnsynced runs write in the background with syncs held and returns
// once its commit is visible; the returned channel yields write's error
// after the syncs are let go.
func applyUnsynced(t *testing.T, e *Engine, write func() error) <-chan error {
	t.Helper()
	before := e.applied.Load()
	done := make(chan error, 1)
	go func() { done <- write() }()
	for e.applied.Load() == before {
		select {
		case err := <-done:
			t.Fatalf("the write finished with its sync held: %v", err)
		case <-time.After(time.Millisecond):
		}
	}
	return done
}

// waits reports whether op is still waiting when its short deadline
// passes (it returns a deadline error), rather than answering at once.
func waits(op func(ctx context.Context) error) (bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	err := op(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		return true, nil
	}
	return false, err
}

// TestReadsWaitForTheSyncsTheyDependOn: a read outside transactions never
// answers with a commit that is not durable (as MongoDB's majority read
// concern), but it waits only for the commits its answer depends on, so
// that unrelated writers do not make it pay for their fsyncs.
func TestReadsWaitForTheSyncsTheyDependOn(t *testing.T) {
	ctx := context.Background()
	h := &heldSyncs{}
	e, err := Open(ctx, Options{Path: "store", FS: errorfs.Wrap(vfs.NewMem(), h)})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	defer h.let()
	c := e.Client().Database("d").Collection("c")
	if _, err := c.Indexes().CreateOne(ctx, mongo.IndexModel{
		Keys:    bson.D{{Key: "s", Value: 1}, {Key: "v", Value: 1}},
		Options: options.Index().SetUnique(true),
	}); err != nil {
		t.Fatal(err)
	}
	for v := 1; v <= 3; v++ {
		if _, err := c.InsertOne(ctx, bson.D{{Key: "_id", Value: v}, {Key: "s", Value: "a"}, {Key: "v", Value: v}}); err != nil {
			t.Fatal(err)
		}
	}

	h.hold()
	pending := applyUnsynced(t, e, func() error {
		_, err := c.InsertOne(ctx, bson.D{{Key: "_id", Value: 10}, {Key: "s", Value: "b"}, {Key: "v", Value: 1}})
		return err
	})
	head := options.FindOne().SetSort(bson.D{{Key: "v", Value: -1}})
	cases := []struct {
		name string
		want bool // waits
		op   func(ctx context.Context) error
	}{
		{"head of another stream", false, func(ctx context.Context) error {
			return c.FindOne(ctx, bson.D{{Key: "s", Value: "a"}}, head).Err()
		}},
		{"the unsynced document's stream", true, func(ctx context.Context) error {
			return c.FindOne(ctx, bson.D{{Key: "s", Value: "b"}}, head).Err()
		}},
		{"by the unsynced _id", true, func(ctx context.Context) error {
			return c.FindOne(ctx, bson.D{{Key: "_id", Value: 10}}).Err()
		}},
		{"a scan that filters it out", false, func(ctx context.Context) error {
			_, err := c.CountDocuments(ctx, bson.D{{Key: "v", Value: 3}})
			return err
		}},
		{"a count that includes it", true, func(ctx context.Context) error {
			_, err := c.CountDocuments(ctx, bson.D{})
			return err
		}},
		{"a page that skips past it", true, func(ctx context.Context) error {
			cur, err := c.Find(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$gt", Value: 5}}}}, options.Find().SetSkip(1))
			if err != nil {
				return err
			}
			defer cur.Close(ctx)
			for cur.Next(ctx) {
			}
			return cur.Err()
		}},
		{"distinct over it", true, func(ctx context.Context) error {
			_, err := c.Distinct(ctx, "s", bson.D{})
			return err
		}},
		{"the collection's size", true, func(ctx context.Context) error {
			_, err := c.EstimatedDocumentCount(ctx)
			return err
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := waits(tc.op)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("waits: got %v, want %v", got, tc.want)
			}
		})
	}

	t.Run("a transaction that read it, aborted", func(t *testing.T) {
		got, err := waits(func(ctx context.Context) error {
			sess, err := e.Client().StartSession()
			if err != nil {
				return err
			}
			defer sess.EndSession(context.Background())
			conflict := errors.New("the stream moved on")
			_, err = sess.WithTransaction(ctx, func(sc lungo.ISessionContext) (any, error) {
				if err := c.FindOne(sc, bson.D{{Key: "s", Value: "b"}}, head).Err(); err != nil {
					return nil, err
				}
				return nil, conflict
			})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if !got {
			t.Error("the abort returned before the commit the transaction read was durable")
		}
	})

	t.Run("a transaction that read it, aborted by its caller", func(t *testing.T) {
		got, err := waits(func(ctx context.Context) error {
			is, err := e.Client().StartSession()
			if err != nil {
				return err
			}
			defer is.EndSession(context.Background())
			sess := is.(*Session)
			if err := sess.StartTransaction(); err != nil {
				return err
			}
			if err := c.FindOne(sess.context(ctx), bson.D{{Key: "_id", Value: 10}}).Err(); err != nil {
				return err
			}
			return sess.AbortTransaction(ctx)
		})
		if err != nil {
			t.Fatal(err)
		}
		if !got {
			t.Error("the abort returned before the commit the transaction read was durable")
		}
	})

	t.Run("a read-only transaction that read it, committed", func(t *testing.T) {
		got, err := waits(func(ctx context.Context) error {
			sess, err := e.Client().StartSession()
			if err != nil {
				return err
			}
			defer sess.EndSession(context.Background())
			_, err = sess.WithTransaction(ctx, func(sc lungo.ISessionContext) (any, error) {
				return nil, c.FindOne(sc, bson.D{{Key: "_id", Value: 10}}).Err()
			})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if !got {
			t.Error("the commit returned before the commit the transaction read was durable")
		}
	})

	// An update (unlike an insert) can change an answer by what the answer
	// no longer selects: while one is unsynced, every read waits.
	updated := applyUnsynced(t, e, func() error {
		_, err := c.UpdateOne(ctx, bson.D{{Key: "_id", Value: 3}}, bson.D{{Key: "$set", Value: bson.D{{Key: "s", Value: "c"}}}})
		return err
	})
	if got, err := waits(cases[0].op); err != nil || !got {
		t.Errorf("head of a stream an unsynced update moved a document out of: waits %v (%v), want true", got, err)
	}

	h.let()
	for _, ch := range []<-chan error{pending, updated} {
		if err := <-ch; err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range cases {
		if err := tc.op(ctx); err != nil {
			t.Errorf("%s once synced: %v", tc.name, err)
		}
	}
	if n, err := c.CountDocuments(ctx, bson.D{{Key: "s", Value: "a"}}); err != nil || n != 2 {
		t.Errorf("stream a after the update: %d documents (%v), want 2", n, err)
	}
}
