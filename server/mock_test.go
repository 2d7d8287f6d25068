package server_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/annalsdb/annals/internal/mockmongo"
	"github.com/annalsdb/annals/mongostore"
	"github.com/annalsdb/annals/projections"
	"github.com/annalsdb/annals/server"
	"go.mongodb.org/mongo-driver/bson"
)

// Resuming the live feed where MongoDB cannot go on is 410 Gone, telling
// the client to read the streams it follows and reconnect without
// Last-Event-ID: history lost (286), a token the oplog no longer holds
// (280), and a change too large to return (10334, an event stored near
// 16 MiB). Anything else would make the client retry the same id forever.
// Against scripted replies to the change stream's aggregate.
func TestMockLiveResumeGone(t *testing.T) {
	token, _ := bson.Marshal(bson.D{{Key: "_data", Value: "8265A1B2C3000000012B0429296E1404"}})
	// Live ids are signed with the store's key (server_keys): the key the
	// scripted replies hand the server signs this one, as the feed would.
	key := bytes.Repeat([]byte{7}, 32)
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte("annals live event id v1\x00\x00"))
	mac.Write(token)
	last := base64.RawURLEncoding.EncodeToString(append(mac.Sum(nil), token...))
	for _, c := range []struct {
		code int32
		name string
	}{{286, "ChangeStreamHistoryLost"}, {280, "ChangeStreamFatalError"}, {10334, "BSONObjectTooLarge"}} {
		t.Run(c.name, func(t *testing.T) {
			m := mockmongo.New(t, nil)
			m.Script(mockmongo.StoreSchema()...)
			store, err := mongostore.New(t.Context(), m.Client)
			if err != nil {
				t.Fatal(err)
			}
			srv, err := server.New(store, projections.NewRunner(store), server.Options{})
			if err != nil {
				t.Fatal(err)
			}
			m.Clear()
			m.Script(
				mockmongo.OK(bson.E{Key: "n", Value: 1}), // the key's insert
				mockmongo.Found("annals.server_keys", bson.D{{Key: "_id", Value: "signing_key"}, {Key: "key", Value: key}}),
				mockmongo.CommandError(c.code, c.name),
			)
			req := httptest.NewRequest(http.MethodGet, "/v1/events/live", nil)
			req.Header.Set("Last-Event-ID", last)
			rec := httptest.NewRecorder()
			srv.ServeHTTP(rec, req)
			if rec.Code != http.StatusGone {
				t.Fatalf("status %d (%s), want 410", rec.Code, rec.Body)
			}
			agg := m.Named("aggregate")
			if len(agg) != 1 {
				t.Fatalf("commands %v, want one aggregate", m.Names())
			}
			if _, err := agg[0].Command.LookupErr("pipeline", "0", "$changeStream", "resumeAfter"); err != nil {
				t.Errorf("the aggregate does not resume after the given id: %s", agg[0].Command.Lookup("pipeline"))
			}
		})
	}
}

// When a live-feed client leaves, the feed closes its change stream with a
// live context, and the driver sends killCursors for the server cursor,
// which would otherwise stay open for 10 minutes per disconnect. The
// aggregate is answered with an open cursor (id 42) and no events; the
// stream then waits, as a getMore on a server with nothing new does.
//
// Where the mock differs from a server: its connection ignores contexts,
// so the driver records killCursors even when closing with an ended
// context, which on a real connection fails before anything is written.
// Hence the test checks the close's context as well as the command.
func TestMockLiveCloseKillsCursor(t *testing.T) {
	m := mockmongo.New(t, nil)
	m.Script(mockmongo.StoreSchema()...)
	idle := mockmongo.NewIdleStreams(m)
	store, err := mongostore.New(t.Context(), idle)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(store, projections.NewRunner(store), server.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m.Clear()
	m.Script(
		mockmongo.OK(bson.E{Key: "n", Value: 1}), // the key's insert
		mockmongo.Found("annals.server_keys", bson.D{{Key: "_id", Value: "signing_key"}, {Key: "key", Value: bytes.Repeat([]byte{7}, 32)}}),
		mockmongo.Cursor(42, "annals.events", true), // the change stream's aggregate
		mockmongo.OK(), // killCursors
	)
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, hs.URL+"/v1/events/live", nil)
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
	case c := <-idle.Closes:
		if c.Err != nil {
			t.Fatalf("the change stream was closed with a context that had ended (%v)", c.Err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the change stream was not closed after the client left")
	}
	hs.Close() // waits for the handler, and so for its close, to finish
	if got := m.KilledCursors(); !slices.Equal(got, []int64{42}) {
		t.Fatalf("killed cursors %v (commands %v), want [42]", got, m.Names())
	}
}
