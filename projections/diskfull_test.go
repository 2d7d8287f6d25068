package projections_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/256dpi/lungo"
	"github.com/annalsdb/annals/mongostore"
	"github.com/annalsdb/annals/projections"
	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
)

// errOutOfDiskSpace is how MongoDB refuses a write on a full disk.
var errOutOfDiskSpace = mongo.WriteException{WriteErrors: []mongo.WriteError{{Code: 14031, Message: "Both data and log files are too large: /data/db"}}}

// failingCommits wraps a client so that, while fail is set, every
// transaction fails at commit with OutOfDiskSpace, after its writes
// succeeded: as MongoDB usually reports a full disk in a transaction.
type failingCommits struct {
	lungo.IClient
	fail *atomic.Bool
}

func (c failingCommits) Unwrap() lungo.IClient { return c.IClient }

func (c failingCommits) StartSession(opts ...*options.SessionOptions) (lungo.ISession, error) {
	s, err := c.IClient.StartSession(opts...)
	if err != nil {
		return nil, err
	}
	return failingCommitSession{ISession: s, fail: c.fail}, nil
}

type failingCommitSession struct {
	lungo.ISession
	fail *atomic.Bool
}

func (s failingCommitSession) WithTransaction(ctx context.Context, fn func(lungo.ISessionContext) (any, error), opts ...*options.TransactionOptions) (any, error) {
	return s.ISession.WithTransaction(ctx, func(sc lungo.ISessionContext) (any, error) {
		res, err := fn(sc)
		if err == nil && s.fail.Load() {
			return nil, mongo.CommandError{Code: 14031, Name: "OutOfDiskSpace", Message: "Both data and log files are too large: /data/db"}
		}
		return res, err
	}, opts...)
}

// auditProjection inserts a document per Audited event.
func auditProjection() *projections.Projection {
	return projections.New("audit", []string{"Audited"}, func(ctx context.Context, tx *projections.Tx, ev mongostore.Event) error {
		_, err := tx.Collection().InsertOne(ctx, bson.D{{Key: "_id", Value: ev.ID.String()}})
		return err
	})
}

// TestStallCountsFailedCommits: while every batch's transaction fails at
// commit with a full disk (its writes, the checkpoint's included, went
// through), Status.Stalled counts the attempts from the first failure:
// neither the checkpoint write inside the failed transaction nor the
// lease renewals between attempts clear it. Once commits succeed the
// projection catches up and the stall clears.
func TestStallCountsFailedCommits(t *testing.T) {
	ctx := context.Background()
	inner := openEmbedded(t)
	fail := &atomic.Bool{}
	s, err := mongostore.New(ctx, failingCommits{IClient: inner.Client(), fail: fail})
	if err != nil {
		t.Fatal(err)
	}
	r := fast(projections.NewRunner(s, auditProjection()))
	start(t, r)
	waitLive(t, r, "audit")
	fail.Store(true)
	// Appended through the store that commits: only the runner's fail.
	if _, err := inner.Append(ctx, uuid.New(), mongostore.NoStream, mongostore.EventData{Name: "Audited"}); err != nil {
		t.Fatal(err)
	}
	first := waitStatus(t, r, "audit", func(st projections.Status) bool { return st.Stalled != nil }).Stalled
	later := waitStatus(t, r, "audit", func(st projections.Status) bool {
		return st.Stalled != nil && (st.Stalled.Attempts >= first.Attempts+3 || !st.Stalled.Since.Equal(first.Since))
	})
	if got := later.Stalled; got.Attempts < first.Attempts+3 || !got.Since.Equal(first.Since) {
		t.Errorf("stalled %+v after %+v: want the attempts counted since %s", *got, *first, first.Since)
	}
	if got := later.Stalled.Reason; got != projections.StallDiskFull {
		t.Errorf("reason %q, want %q", got, projections.StallDiskFull)
	}
	fail.Store(false)
	waitStatus(t, r, "audit", func(st projections.Status) bool {
		return st.Stalled == nil && st.State == projections.StateLive && st.Behind == 0
	})
}

// TestHandlerDiskFullStalls: a handler whose write fails because the disk
// is full does not fail the projection: it stalls with reason disk_full
// and catches up once the disk has room again.
func TestHandlerDiskFullStalls(t *testing.T) {
	ctx := context.Background()
	s := openEmbedded(t)
	full := &atomic.Bool{}
	full.Store(true)
	p := projections.New("audit", []string{"Audited"}, func(ctx context.Context, tx *projections.Tx, ev mongostore.Event) error {
		if full.Load() {
			return errOutOfDiskSpace
		}
		_, err := tx.Collection().InsertOne(ctx, bson.D{{Key: "_id", Value: ev.ID.String()}})
		return err
	})
	r := fast(projections.NewRunner(s, p))
	start(t, r)
	if _, err := s.Append(ctx, uuid.New(), mongostore.NoStream, mongostore.EventData{Name: "Audited"}); err != nil {
		t.Fatal(err)
	}
	st := waitStatus(t, r, "audit", func(st projections.Status) bool {
		return st.State == projections.StateFailed || (st.Stalled != nil && st.Stalled.Attempts >= 2)
	})
	if st.State == projections.StateFailed {
		t.Fatalf("state failed (%+v), want stalled disk_full", st.Failure)
	}
	if got := st.Stalled.Reason; got != projections.StallDiskFull {
		t.Errorf("reason %q, want %q", got, projections.StallDiskFull)
	}
	full.Store(false)
	waitStatus(t, r, "audit", func(st projections.Status) bool {
		return st.Stalled == nil && st.State == projections.StateLive && st.Behind == 0 && st.Applied == 1
	})
}
