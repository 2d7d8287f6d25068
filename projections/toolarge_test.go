package projections_test

import (
	"context"
	"testing"
	"time"

	"github.com/256dpi/lungo"
	"github.com/annalsdb/annals/internal/engine"
	"github.com/annalsdb/annals/mongostore"
	"github.com/annalsdb/annals/projections"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
)

// tooLargeOnResume wraps a client so that resuming a change stream after a
// token fails as MongoDB does when the next change is over 16 MiB (an
// event stored near 16 MiB before annals kept room for the change
// event's envelope): BSONObjectTooLarge, however often it is tried.
// Streams opened without a token work.
type tooLargeOnResume struct{ lungo.IClient }

func (c tooLargeOnResume) Unwrap() lungo.IClient { return c.IClient }

func (c tooLargeOnResume) Database(name string, opts ...*options.DatabaseOptions) lungo.IDatabase {
	return tooLargeDB{c.IClient.Database(name, opts...)}
}

type tooLargeDB struct{ lungo.IDatabase }

func (d tooLargeDB) Collection(name string, opts ...*options.CollectionOptions) lungo.ICollection {
	return tooLargeColl{d.IDatabase.Collection(name, opts...)}
}

type tooLargeColl struct{ lungo.ICollection }

func (c tooLargeColl) Watch(ctx context.Context, pipeline any, opts ...*options.ChangeStreamOptions) (lungo.IChangeStream, error) {
	if o := options.MergeChangeStreamOptions(opts...); o.ResumeAfter != nil || o.StartAfter != nil {
		return nil, mongo.CommandError{Code: 10334, Name: "BSONObjectTooLarge", Message: "BSONObj size: 16793600 (0x1003000) is invalid"}
	}
	return c.ICollection.Watch(ctx, pipeline, opts...)
}

// A projection whose change stream cannot resume past a change too large
// to return catches up from the events collection, which reads the event
// as a document, and opens a new stream after it, instead of retrying the
// same resume token for ever.
func TestChangeTooLargeCatchesUp(t *testing.T) {
	ctx := context.Background()
	eng, err := engine.Open(ctx, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	s, err := mongostore.New(ctx, tooLargeOnResume{eng.Client()})
	if err != nil {
		t.Fatal(err)
	}
	b := &bank{t: t, s: s}
	b.open(3)
	r1 := fast(projections.NewRunner(s, accountsProjection()))
	stop := start(t, r1)
	waitLive(t, r1, "accounts")
	b.activity(10) // live batches record a resume token
	st := waitLive(t, r1, "accounts")
	stop()
	if len(st.Checkpoint.ResumeToken) == 0 {
		t.Fatal("no resume token recorded: the test would not resume")
	}
	b.activity(10)
	r2 := fast(projections.NewRunner(s, accountsProjection()))
	start(t, r2)
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	st, err = r2.WaitLive(wctx, "accounts")
	if err != nil {
		t.Fatalf("the projection did not get past the change: %v", err)
	}
	if st.HistoryLost != 1 {
		t.Errorf("HistoryLost = %d, want 1 (one catch-up past the change)", st.HistoryLost)
	}
	checkTruth(t, s, r2)
}
