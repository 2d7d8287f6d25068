package server_test

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/256dpi/lungo"
	"github.com/annalsdb/annals/internal/engine"
	"github.com/annalsdb/annals/mongostore"
	"github.com/annalsdb/annals/projections"
	"github.com/annalsdb/annals/server"
	"go.mongodb.org/mongo-driver/mongo/options"
)

// closeSpy wraps a client so that every change stream opened through it
// reports the state of the context it is closed with.
type closeSpy struct {
	lungo.IClient
	closes chan error
}

func (c closeSpy) Unwrap() lungo.IClient { return c.IClient }

func (c closeSpy) Database(name string, opts ...*options.DatabaseOptions) lungo.IDatabase {
	return closeSpyDB{c.IClient.Database(name, opts...), c.closes}
}

type closeSpyDB struct {
	lungo.IDatabase
	closes chan error
}

func (d closeSpyDB) Collection(name string, opts ...*options.CollectionOptions) lungo.ICollection {
	return closeSpyColl{d.IDatabase.Collection(name, opts...), d.closes}
}

type closeSpyColl struct {
	lungo.ICollection
	closes chan error
}

func (c closeSpyColl) Watch(ctx context.Context, pipeline any, opts ...*options.ChangeStreamOptions) (lungo.IChangeStream, error) {
	cs, err := c.ICollection.Watch(ctx, pipeline, opts...)
	if err != nil {
		return nil, err
	}
	return closeSpyStream{cs, c.closes}, nil
}

type closeSpyStream struct {
	lungo.IChangeStream
	closes chan error
}

func (s closeSpyStream) Close(ctx context.Context) error {
	s.closes <- ctx.Err()
	return s.IChangeStream.Close(ctx)
}

// When a live-feed client leaves, the change stream must be closed with a
// context that is still alive: on MongoDB the driver sends killCursors
// only then, and a close with the request's cancelled context left a
// server cursor open for 10 minutes per disconnect.
func TestLiveClosesStreamWithLiveContext(t *testing.T) {
	ctx := context.Background()
	eng, err := engine.Open(ctx, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	spy := closeSpy{IClient: eng.Client(), closes: make(chan error, 4)}
	store, err := mongostore.New(ctx, spy)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(store, projections.NewRunner(store), server.Options{})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)

	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req, _ := http.NewRequestWithContext(rctx, http.MethodGet, hs.URL+"/v1/events/live", nil)
	res, err := hs.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	line, err := bufio.NewReader(res.Body).ReadString('\n')
	if err != nil || !strings.Contains(line, "annals live feed") {
		t.Fatalf("first line %q (%v), want the feed's opening comment", line, err)
	}
	cancel() // the client leaves
	select {
	case err := <-spy.closes:
		if err != nil {
			t.Fatalf("the change stream was closed with a context that had ended (%v): killCursors would not be sent", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the change stream was not closed after the client left")
	}
}
