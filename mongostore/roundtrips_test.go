package mongostore_test

import (
	"context"
	"testing"

	"github.com/google/uuid"

	"github.com/annalsdb/annals/internal/engine"
	"github.com/annalsdb/annals/internal/roundtrip"
	"github.com/annalsdb/annals/mongostore"
)

// TestRoundTrips asserts how many round trips the store's main operations
// cost. The counts model what a MongoDB server would receive (see package
// roundtrip), so they hold on every engine; they are counts, not timings.
func TestRoundTrips(t *testing.T) {
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
	if got, want := store.Engine(), mongostore.EngineMemory; got != want {
		t.Fatalf("Engine() = %s through the counting client, want %s", got, want)
	}
	stream := uuid.New()
	events := func(n int) []mongostore.EventData {
		evs := make([]mongostore.EventData, n)
		for i := range evs {
			evs[i] = mongostore.EventData{Name: "ItemAdded", Data: map[string]any{"n": i}}
		}
		return evs
	}
	if _, err := store.Append(ctx, stream, mongostore.NoStream, events(3)...); err != nil {
		t.Fatal(err)
	}

	// The steps run in order: each expects the version the previous one
	// left.
	steps := []struct {
		name     string
		min, max int64
		run      func() error
	}{
		{"append 1 event with an exact version", 1, 2, func() error {
			_, err := store.Append(ctx, stream, mongostore.Exact(3), events(1)...)
			return err
		}},
		{"append 10 events with an exact version", 1, 3, func() error {
			_, err := store.Append(ctx, stream, mongostore.Exact(4), events(10)...)
			return err
		}},
		{"load the whole stream", 1, 1, func() error {
			s, err := store.Load(ctx, stream)
			if err == nil && len(s.Events) != 14 {
				t.Errorf("loaded %d events, want 14", len(s.Events))
			}
			return err
		}},
	}
	for _, st := range steps {
		client.Reset()
		if err := st.run(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if got := client.Count(); got < st.min || got > st.max {
			t.Errorf("%s: %d round trips %v, want between %d and %d", st.name, got, client.Ops(), st.min, st.max)
		}
	}
}
