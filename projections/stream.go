package projections

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/256dpi/lungo"
	"github.com/annalsdb/annals/mongostore"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
)

// streamItem is one inserted event from the change stream and the resume
// token after it.
type streamItem struct {
	event mongostore.Event
	token bson.Raw
}

// changeStream owns a change stream on the events collection and the
// goroutine that reads it. Items arrive on items; when reading stops for
// any reason other than close, the error arrives on done.
type changeStream struct {
	cs      lungo.IChangeStream
	initial bson.Raw
	items   chan streamItem
	done    chan error
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	once    sync.Once
}

// changeEvent is the part of a change stream document the runner reads.
type changeEvent struct {
	OperationType string   `bson:"operationType"`
	FullDocument  bson.Raw `bson:"fullDocument"`
}

// watch opens a change stream of inserts into the events collection,
// after token when given. On MongoDB the server filters by operation and
// event name; the embedded engine cannot run a pipeline, so the runner
// filters in Go there.
func (r *Runner) watch(ctx context.Context, p *Projection, token bson.Raw) (*changeStream, error) {
	pipeline := bson.A{}
	if r.store.Engine() == mongostore.EngineMongoDB {
		match := bson.D{{Key: "operationType", Value: "insert"}}
		if names := p.names(); names != nil {
			match = append(match, bson.E{Key: "fullDocument.name", Value: bson.D{{Key: "$in", Value: names}}})
		}
		pipeline = bson.A{bson.D{{Key: "$match", Value: match}}}
	}
	opts := options.ChangeStream()
	if token != nil {
		opts.SetResumeAfter(token)
	}
	cs, err := r.store.EventsCollection().Watch(ctx, pipeline, opts)
	if err != nil {
		return nil, fmt.Errorf("watch events: %w", err)
	}
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s := &changeStream{
		cs:      cs,
		initial: cs.ResumeToken(),
		items:   make(chan streamItem, r.BatchSize),
		done:    make(chan error, 1),
		cancel:  cancel,
	}
	s.wg.Go(func() { s.read(rctx) })
	return s, nil
}

func (s *changeStream) read(ctx context.Context) {
	for s.cs.Next(ctx) {
		var ce changeEvent
		if err := s.cs.Decode(&ce); err != nil {
			s.done <- fmt.Errorf("decode change: %w", err)
			return
		}
		switch ce.OperationType {
		case "insert":
		case "drop", "dropDatabase", "rename", "invalidate":
			s.done <- fmt.Errorf("the events collection went away (%s)", ce.OperationType)
			return
		default:
			continue
		}
		ev, err := mongostore.DecodeEvent(ce.FullDocument)
		if err != nil {
			s.done <- err
			return
		}
		select {
		case s.items <- streamItem{event: ev, token: s.cs.ResumeToken()}:
		case <-ctx.Done():
			return
		}
	}
	if ctx.Err() != nil {
		return // closed
	}
	err := s.cs.Err()
	if err == nil {
		err = errors.New("change stream ended")
	}
	s.done <- err
}

// close stops the reader and waits for it.
func (s *changeStream) close() {
	s.once.Do(func() {
		s.cancel()
		s.wg.Wait()
		_ = s.cs.Close(context.Background())
	})
}

// isTransient reports database errors worth retrying rather than failing
// the projection for.
func isTransient(err error) bool {
	if mongo.IsNetworkError(err) || mongo.IsTimeout(err) {
		return true
	}
	var se mongo.ServerError
	return errors.As(err, &se) && (se.HasErrorLabel("TransientTransactionError") || se.HasErrorLabel("RetryableWriteError") || se.HasErrorCode(112))
}

func isDuplicate(err error) bool {
	return mongo.IsDuplicateKeyError(err) || lungo.IsUniquenessError(err)
}
