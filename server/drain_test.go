package server_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/annalsdb/annals/server"
	"github.com/google/uuid"
)

// TestCloseLiveFeeds: CloseLiveFeeds ends open live feeds and refuses new
// ones with 503, while appends and reads go on (so that a shutdown can
// wait for in-flight requests without waiting for feeds forever).
func TestCloseLiveFeeds(t *testing.T) {
	e := newEnv(t, server.Options{})
	f := e.openFeed("", nil)
	e.srv.CloseLiveFeeds()
	ended := time.After(sseDeadline)
	for open := true; open; {
		select {
		case _, open = <-f.events:
		case <-ended:
			t.Fatal("the live feed is still open after CloseLiveFeeds")
		}
	}
	p := e.get("/v1/events/live").wantProblem(t, http.StatusServiceUnavailable, "shutting down")
	if p.Type != "https://annals.dev/problems/unavailable" {
		t.Errorf("type %s", p.Type)
	}
	stream := uuid.New()
	e.appendOK(stream, "no_stream", "", event{Name: "Noted"})
	e.get(streamPath(stream)).want(t, http.StatusOK)
}
