package server_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"testing"

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
