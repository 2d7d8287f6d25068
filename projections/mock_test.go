package projections_test

import (
	"testing"

	"github.com/annalsdb/annals/internal/mockmongo"
	"github.com/annalsdb/annals/internal/roundtrip"
	"github.com/annalsdb/annals/mongostore"
	"github.com/annalsdb/annals/projections"
	"go.mongodb.org/mongo-driver/bson/primitive"
)

// mockStore opens a store on the driver's mock deployment, through a
// counting wrapper as a user's instrumented client would be.
func mockStore(t *testing.T) (*mockmongo.Mock, *roundtrip.Client, *mongostore.Store) {
	t.Helper()
	m := mockmongo.New(t, nil)
	m.Script(mockmongo.StoreSchema()...)
	client := roundtrip.Wrap(m.Client)
	store, err := mongostore.New(t.Context(), client)
	if err != nil {
		t.Fatalf("mongostore.New on the mock: %v", err)
	}
	m.Clear()
	return m, client, store
}

// The majority time is read through the store's client, whatever wraps
// it: lungo.WithSession refused the wrapper's sessions ("unknown
// session"), so every catch-up on MongoDB failed and retried forever.
func TestMajorityTimeThroughWrappedClient(t *testing.T) {
	m, client, store := mockStore(t)
	want := primitive.Timestamp{T: 1700000000, I: 7}
	// A real replica set stamps every reply with its operationTime.
	m.Script(mockmongo.WithOperationTime(mockmongo.Found("annals.events"), want))
	r := projections.NewRunner(store)
	got, err := projections.MajorityTime(r, t.Context())
	if err != nil {
		t.Fatalf("majorityTime: %v", err)
	}
	if got == nil || *got != want {
		t.Fatalf("majorityTime = %v, want %v", got, want)
	}
	finds := m.Named("find")
	if len(finds) != 1 {
		t.Fatalf("commands sent %v, want one find", m.Names())
	}
	if lvl := mockmongo.Field(finds[0], "readConcern").Document().Lookup("level").StringValue(); lvl != "majority" {
		t.Errorf("find read concern %q, want majority", lvl)
	}
	if n := client.Ops()["FindOne"]; n != 1 {
		t.Errorf("counted %v, want the find counted once", client.Ops())
	}
}
