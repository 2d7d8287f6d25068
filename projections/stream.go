package projections

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/256dpi/lungo"
	"github.com/annalsdb/annals/mongostore"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
)

// streamItem is one inserted event from the change stream and the resume
// token after it, or (tokenOnly) just a newer resume token: on MongoDB the
// server filters out events the projection does not handle, and only the
// post-batch token says the stream moved past them.
type streamItem struct {
	event     mongostore.Event
	token     bson.Raw
	tokenOnly bool
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
func (r *Runner) watch(ctx context.Context, p *Projection, token bson.Raw, startAt *primitive.Timestamp) (*changeStream, error) {
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
	} else if startAt != nil {
		opts.SetStartAtOperationTime(startAt)
	}
	polling := r.store.Engine() == mongostore.EngineMongoDB
	if polling {
		opts.SetMaxAwaitTime(time.Second)
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
	s.wg.Go(func() { s.read(rctx, polling) })
	return s, nil
}

// next waits for the next change. Polling (MongoDB) uses TryNext, which
// waits up to the stream's MaxAwaitTime and then passes on the post-batch
// resume token; the embedded engine's TryNext does not wait, so there it
// blocks in Next.
func (s *changeStream) next(ctx context.Context, polling bool, last *bson.Raw) bool {
	if !polling {
		return s.cs.Next(ctx)
	}
	for {
		if s.cs.TryNext(ctx) {
			return true
		}
		if s.cs.Err() != nil || ctx.Err() != nil {
			return false
		}
		if t := s.cs.ResumeToken(); t != nil && !bytes.Equal(t, *last) {
			*last = t
			select {
			case s.items <- streamItem{token: t, tokenOnly: true}:
			case <-ctx.Done():
				return false
			}
		}
	}
}

func (s *changeStream) read(ctx context.Context, polling bool) {
	var last bson.Raw
	for s.next(ctx, polling, &last) {
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
			s.done <- err // a *mongostore.DecodeError naming the document
			return
		}
		last = s.cs.ResumeToken()
		select {
		case s.items <- streamItem{event: ev, token: last}:
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

// closeTimeout bounds closing a change stream (one killCursors on
// MongoDB), so that a hung connection cannot hold up a worker's teardown.
const closeTimeout = 5 * time.Second

// close stops the reader and waits for it, then closes the stream with a
// context of its own: the worker's may have ended, and the driver sends
// killCursors only on a live context, without which the server keeps the
// cursor until its idle timeout (10 minutes).
func (s *changeStream) close() {
	s.once.Do(func() {
		s.cancel()
		s.wg.Wait()
		ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
		defer cancel()
		_ = s.cs.Close(ctx)
	})
}

// isTransient reports database errors worth retrying rather than failing
// the projection for. A full disk is one: once space is freed the same
// write succeeds, and meanwhile Status.Stalled says StallDiskFull.
func isTransient(err error) bool {
	if mongo.IsNetworkError(err) || mongo.IsTimeout(err) || mongostore.IsDiskFull(err) {
		return true
	}
	var se mongo.ServerError
	return errors.As(err, &se) && (se.HasErrorLabel("TransientTransactionError") || se.HasErrorLabel("RetryableWriteError") || se.HasErrorCode(112))
}
