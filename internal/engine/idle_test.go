package engine

import (
	"context"
	"errors"
	"math/rand/v2"
	"testing"

	"go.mongodb.org/mongo-driver/bson"
)

// TestWaitIdle writes a burst of random keys into small memtables, which
// leaves flushes and compactions behind it, and checks that WaitIdle
// returns only once they are done: nothing running, and level 0 back
// under the size that starts a compaction.
func TestWaitIdle(t *testing.T) {
	ctx := context.Background()
	e, err := Open(ctx, Options{MemTableSize: 256 << 10})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	c := e.Client().Database("d").Collection("c")
	rng := rand.New(rand.NewPCG(1, 2))
	pad := make([]byte, 512)
	docs := make([]any, 100)
	for range 200 {
		for i := range docs {
			docs[i] = bson.D{{Key: "_id", Value: rng.Int64()}, {Key: "pad", Value: pad}}
		}
		if _, err := c.InsertMany(ctx, docs); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	m := e.db.Metrics()
	if m.Compact.Count == 0 {
		t.Fatalf("the burst started no compaction: the test tests nothing")
	}
	if m.Flush.NumInProgress != 0 || m.Compact.NumInProgress != 0 {
		t.Errorf("after WaitIdle: %d flushes and %d compactions running, want none", m.Flush.NumInProgress, m.Compact.NumInProgress)
	}
	if l0 := m.Levels[0].Sublevels; l0 >= 4 {
		t.Errorf("after WaitIdle: %d sublevels in level 0, want fewer than the 4 that start a compaction", l0)
	}
}

// TestWaitIdleEnds checks that WaitIdle returns the context's error and
// ErrClosed.
func TestWaitIdleEnds(t *testing.T) {
	ctx := context.Background()
	e, err := Open(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if err := e.WaitIdle(canceled); !errors.Is(err, context.Canceled) {
		t.Errorf("WaitIdle with a canceled context: %v, want context.Canceled", err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if err := e.WaitIdle(ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("WaitIdle after Close: %v, want ErrClosed", err)
	}
}
