package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/annalsdb/annals/mongostore"
	"github.com/labstack/echo/v4"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
)

// heartbeat is how often the live feed writes a comment to keep idle
// connections open through proxies.
const heartbeat = 15 * time.Second

// closeTimeout bounds closing the live feed's change stream (one
// killCursors on MongoDB).
const closeTimeout = 5 * time.Second

// live streams appended events as Server-Sent Events from the change
// stream. Each event's id is its change stream resume token, signed (see
// liveid.go); reconnecting
// with Last-Event-ID (or ?last_event_id=, for clients that cannot set
// headers) resumes right after it, without gaps. An id the feed did not
// issue is 400; one whose history is gone is 410 Gone: read the missed
// events from the streams instead.
func (s *Server) live(c echo.Context) error {
	if err := checkParams(c, "last_event_id"); err != nil {
		return err
	}
	last := c.Request().Header.Get("Last-Event-ID")
	if q := c.QueryParam("last_event_id"); q != "" {
		last = q
	}
	key, err := s.keys.get(c.Request().Context(), s.store.Database())
	if err != nil {
		return err
	}
	opts := options.ChangeStream()
	if last != "" {
		token, err := decodeLiveID(key, last)
		if err != nil {
			return err
		}
		opts.SetResumeAfter(token)
	}
	if s.feeds.Err() != nil {
		return wrapf(errShuttingDown, "the server is shutting down; reconnect to another server or later")
	}
	ctx, cancel := context.WithCancel(c.Request().Context())
	defer cancel()
	defer context.AfterFunc(s.feeds, cancel)() // CloseLiveFeeds ends the feed
	pipeline := []any{}
	if s.store.Engine() == mongostore.EngineMongoDB {
		pipeline = append(pipeline, bson.D{{Key: "$match", Value: bson.D{{Key: "operationType", Value: "insert"}}}})
	}
	cs, err := s.store.EventsCollection().Watch(ctx, pipeline, opts)
	if err != nil {
		// A change too large to return (an event stored near 16 MiB) is
		// as impassable for the feed as lost history: read the streams.
		if last != "" && (mongostore.IsHistoryLost(err) || mongostore.IsChangeTooLarge(err)) {
			return wrapf(errGone, "the feed no longer holds events after %s; read the streams you follow, then reconnect without Last-Event-ID", last)
		}
		var se mongo.ServerError
		if last != "" && errors.As(err, &se) && se.HasErrorCode(260) { // InvalidResumeToken
			return badRequest("Last-Event-ID %q is not an event id this feed issued", last)
		}
		return err
	}
	// Close with a context of its own: ctx is cancelled by the time this
	// runs (the client left, or the deferred cancel below), and the driver
	// does not send killCursors on a cancelled context, which would leave
	// the server's cursor open until its idle timeout (10 minutes).
	defer func() {
		cctx, ccancel := context.WithTimeout(context.WithoutCancel(ctx), closeTimeout)
		defer ccancel()
		if err := cs.Close(cctx); err != nil {
			s.log.Debug("live feed: close the change stream", logKeyError, err)
		}
	}()

	w := c.Response()
	w.Header().Set(echo.HeaderContentType, "text/event-stream")
	w.Header().Set(echo.HeaderCacheControl, "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, ": annals live feed\n\n")
	w.Flush()

	items := make(chan liveItem)
	// done receives exactly one value, the reader's error, before items
	// closes: every return path below sends it.
	done := make(chan error, 1)
	go func() { // owned by this handler: it ends when ctx does, and is waited for below
		defer close(items)
		for cs.Next(ctx) {
			var ch struct {
				OperationType string   `bson:"operationType"`
				FullDocument  bson.Raw `bson:"fullDocument"`
			}
			if err := cs.Decode(&ch); err != nil {
				done <- err
				return
			}
			if ch.OperationType != "insert" {
				continue
			}
			select {
			case items <- liveItem{doc: ch.FullDocument, token: cs.ResumeToken()}:
			case <-ctx.Done():
				done <- ctx.Err()
				return
			}
		}
		done <- cs.Err()
	}()
	defer func() {
		cancel()
		for range items { // wait for the reader to stop
		}
	}()
	tick := time.NewTicker(heartbeat)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			fmt.Fprint(w, ": keep-alive\n\n")
			w.Flush()
		case it, ok := <-items:
			if !ok {
				if err := <-done; ctx.Err() == nil {
					s.log.Warn("live feed ended", logKeyError, err)
				}
				return nil
			}
			ev, err := mongostore.DecodeEvent(it.doc)
			if err != nil {
				s.log.Error("live feed: undecodable event", logKeyError, err)
				continue
			}
			j, err := RenderEvent(ev)
			if err != nil {
				s.log.Error("live feed: render event", logKeyError, err)
				continue
			}
			fmt.Fprintf(w, "id: %s\nevent: %s\ndata: ", encodeLiveID(key, it.token), ev.Name)
			if err := jsonEncode(w, j); err != nil {
				return nil
			}
			fmt.Fprint(w, "\n")
			w.Flush()
		}
	}
}

type liveItem struct {
	doc   bson.Raw
	token bson.Raw
}
