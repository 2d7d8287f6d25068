package server_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/annalsdb/annals/internal/engine"
	"github.com/annalsdb/annals/internal/roundtrip"
	"github.com/annalsdb/annals/mongostore"
	"github.com/annalsdb/annals/projections"
	"github.com/annalsdb/annals/server"
	"github.com/google/uuid"
)

// Readiness must cost the same on any store: one ping and one read of the
// checkpoints' states, counted in round trips. It used to count every
// event after each projection's checkpoint and read up to 10,000 whole
// events per projection, so a large store in catch-up failed its 5 s
// budget and left rotation.
func TestReadyzCostIsBounded(t *testing.T) {
	ctx := context.Background()
	eng, err := engine.Open(ctx, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	client := roundtrip.Wrap(eng.Client())
	store, err := mongostore.New(ctx, client)
	if err != nil {
		t.Fatal(err)
	}
	// Events no projection has applied: the runner is not started, so
	// every projection is as far behind as it can be.
	for range 3 {
		evs := make([]mongostore.EventData, 200)
		for i := range evs {
			evs[i] = mongostore.EventData{Name: "Deposited", Data: map[string]any{"amount": i}}
		}
		if _, err := store.Append(ctx, uuid.New(), mongostore.NoStream, evs...); err != nil {
			t.Fatal(err)
		}
	}
	runner := projections.NewRunner(store, projections.Streams(), projections.EventCounts(), accounts())
	srv, err := server.New(store, runner, server.Options{})
	if err != nil {
		t.Fatal(err)
	}
	client.Reset()
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("readyz = %d %s, want 200", rec.Code, rec.Body)
	}
	if got, want := client.Count(), int64(2); got != want {
		t.Fatalf("readyz cost %d round trips %v, want %d (one ping, one find)", got, client.Ops(), want)
	}
	if ops := client.Ops(); ops["Ping"] != 1 || ops["Find"] != 1 {
		t.Fatalf("readyz sent %v, want one Ping and one Find", ops)
	}
}
