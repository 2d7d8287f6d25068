package peerbench

// annals itself, through its public API only: mongostore.Open with a
// file: or memory: URI, whatever engine serves them.

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/bson"

	"github.com/annalsdb/annals/internal/engine"
	"github.com/annalsdb/annals/mongostore"
	"github.com/annalsdb/annals/projections"
)

// annalsFile is the name of the store in an annals-file directory.
const annalsFile = "annals.db"

// annalsEventData holds the events annals appends, prebuilt once; appends
// take a prefix of it. The store assigns ids and times.
var annalsEventData = func() []mongostore.EventData {
	evs := make([]mongostore.EventData, 1000)
	for i := range evs {
		evs[i] = mongostore.EventData{
			Name:     eventName,
			Data:     payload,
			Metadata: mongostore.Metadata{CorrelationID: correlationID},
		}
	}
	return evs
}()

// annalsLog is a mongostore.Store.
type annalsLog struct {
	store *mongostore.Store
	// projections counts the projections catchUp created, to name the next.
	projections atomic.Int64
}

var _ eventLog = (*annalsLog)(nil)

func openAnnalsFile(ctx context.Context, dir string) (eventLog, error) {
	return openAnnals(ctx, "file:"+filepath.Join(dir, annalsFile))
}

func openAnnalsMemory(ctx context.Context, _ string) (eventLog, error) {
	return openAnnals(ctx, "memory:")
}

func openAnnals(ctx context.Context, uri string) (eventLog, error) {
	s, err := mongostore.Open(ctx, uri)
	if err != nil {
		return nil, err
	}
	return &annalsLog{store: s}, nil
}

func (a *annalsLog) appendStreams(ctx context.Context, batch []streamAppend) error {
	appends := make([]mongostore.StreamAppend, len(batch))
	for i, s := range batch {
		if s.n > len(annalsEventData) {
			return fmt.Errorf("append %d events: at most %d", s.n, len(annalsEventData))
		}
		appends[i] = mongostore.StreamAppend{
			Stream:   s.stream,
			Type:     streamType,
			Expected: mongostore.Exact(s.expected),
			Events:   annalsEventData[:s.n],
		}
	}
	_, err := a.store.AppendStreams(ctx, appends...)
	if errors.Is(err, mongostore.ErrConcurrency) {
		return fmt.Errorf("%w: %w", errConflict, err)
	}
	return err
}

func (a *annalsLog) load(ctx context.Context, stream uuid.UUID) (int, int64, error) {
	s, err := a.store.Load(ctx, stream)
	if errors.Is(err, mongostore.ErrStreamNotFound) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, err
	}
	return len(s.Events), s.Version, nil
}

func (a *annalsLog) scan(ctx context.Context, fn func(uuid.UUID, int64) error) error {
	for ev, err := range a.store.Scan(ctx, mongostore.ScanQuery{}) {
		if err != nil {
			return err
		}
		if err := fn(ev.Stream, ev.Version); err != nil {
			return err
		}
	}
	return nil
}

// catchUp starts a runner of a new projection of every event, with a
// handler that only counts, and waits until its checkpoint says it is
// live: caught up and following the change stream. It learns so from a
// change stream on the checkpoints, which wakes on each commit: nothing
// polls. The runner's CatchUpMargin is 1 ms: the seeded history is only
// seconds old, and with the default margin (5 minutes) the runner would
// read all of it twice, which it does not for history older than the
// margin. Afterwards, with t stopped, it deletes what the projection left
// (checkpoint, positions, query collection) so that the next catch-up
// starts from the same store.
func (a *annalsLog) catchUp(ctx context.Context, t timer) (int64, error) {
	name := fmt.Sprintf("peerbench_%d", a.projections.Add(1))
	var applied atomic.Int64
	p := projections.New(name, []string{projections.AllEvents},
		func(context.Context, *projections.Tx, mongostore.Event) error {
			applied.Add(1)
			return nil
		})
	r := projections.NewRunner(a.store, p)
	r.CatchUpMargin = time.Millisecond

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	checkpoints := a.store.Database().Collection(projections.CollectionCheckpoints)
	cs, err := checkpoints.Watch(ctx, bson.A{}) // the embedded engine refuses $match
	if err != nil {
		return 0, fmt.Errorf("watch checkpoints: %w", err)
	}
	defer cs.Close(context.Background())

	done := make(chan error, 1)
	t.StartTimer()
	go func() {
		err := r.Run(ctx)
		if err != nil {
			cancel() // unblocks the watch below
		}
		done <- err
	}()
	var state string
	for state != projections.StateLive && state != projections.StateFailed && cs.Next(ctx) {
		var cp struct {
			State string `bson:"state"`
		}
		if err := checkpoints.FindOne(ctx, bson.D{{Key: "_id", Value: name}}).Decode(&cp); err == nil {
			state = cp.State
		}
	}
	t.StopTimer()

	var st projections.Status
	if state == projections.StateLive {
		st, err = r.Status(ctx, name)
	}
	cancel()
	if rerr := <-done; rerr != nil {
		return 0, fmt.Errorf("run: %w", rerr)
	}
	switch {
	case err != nil:
		return 0, fmt.Errorf("status: %w", err)
	case state != projections.StateLive:
		return 0, fmt.Errorf("projection %s ended in state %q: %v", name, state, cs.Err())
	case st.Behind != 0:
		return 0, fmt.Errorf("projection %s live with %d events behind", name, st.Behind)
	}
	return applied.Load(), a.dropProjection(context.Background(), name)
}

// dropProjection deletes what a projection left in the store. It knows the
// runner's bookkeeping (projections/checkpoint.go, positions.go); should
// that change, leftovers only make the store bigger.
func (a *annalsLog) dropProjection(ctx context.Context, name string) error {
	db := a.store.Database()
	if _, err := db.Collection(projections.CollectionCheckpoints).DeleteOne(ctx, bson.D{{Key: "_id", Value: name}}); err != nil {
		return fmt.Errorf("drop checkpoint of %s: %w", name, err)
	}
	if _, err := db.Collection(projections.CollectionPositions).DeleteMany(ctx, bson.D{{Key: "projection", Value: name}}); err != nil {
		return fmt.Errorf("drop positions of %s: %w", name, err)
	}
	if err := db.Collection(name).Drop(ctx); err != nil {
		return fmt.Errorf("drop collection %s: %w", name, err)
	}
	return nil
}

func (a *annalsLog) insertUnchecked(ctx context.Context, stream uuid.UUID, from int64, n int) error {
	docs := make([]any, n)
	at := now()
	for i := range docs {
		d, err := newStoredEvent(stream, from+int64(i), at)
		if err != nil {
			return err
		}
		docs[i] = d
	}
	err := a.store.Transaction(ctx, func(ctx context.Context) error {
		_, err := a.store.EventsCollection().InsertMany(ctx, docs)
		return err
	})
	if mongostore.IsDuplicate(err) {
		return fmt.Errorf("%w: %w", errDuplicate, err)
	}
	return err
}

func (a *annalsLog) bsonBytes(ctx context.Context) (int64, int64, error) {
	cur, err := a.store.EventsCollection().Find(ctx, bson.D{})
	if err != nil {
		return 0, 0, err
	}
	defer cur.Close(ctx)
	var n, size int64
	for cur.Next(ctx) {
		var doc bson.Raw
		if err := cur.Decode(&doc); err != nil {
			return 0, 0, err
		}
		n++
		size += int64(len(doc))
	}
	return n, size, cur.Err()
}

// settle waits until the embedded engine has no flush or compaction
// running.
func (a *annalsLog) settle(ctx context.Context) error {
	c, ok := a.store.Database().Client().(*engine.Client)
	if !ok {
		return fmt.Errorf("annals store on %T, not the embedded engine", a.store.Database().Client())
	}
	return c.Engine().WaitIdle(ctx)
}

func (a *annalsLog) close(ctx context.Context) error { return a.store.Close(ctx) }
