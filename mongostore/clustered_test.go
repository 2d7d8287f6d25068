package mongostore

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/256dpi/lungo"
	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/annalsdb/annals/internal/engine"
)

// clusteredIndexes lists the indexes of the events collection that are
// clustered.
func clusteredIndexes(t *testing.T, s *Store) []string {
	t.Helper()
	specs, err := s.events.Indexes().ListSpecifications(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, spec := range specs {
		if spec.Clustered != nil && *spec.Clustered {
			out = append(out, spec.Name)
		}
	}
	return out
}

// TestEventsClusteredByStream: a new embedded store keeps its events in
// stream order (the engine's clustered (aggregate_uuid, version) index),
// and a store built before that keeps its layout and works as before.
func TestEventsClusteredByStream(t *testing.T) {
	ctx := context.Background()
	for _, uri := range []string{"memory:", "file:" + filepath.Join(t.TempDir(), "new.db")} {
		t.Run(strings.SplitN(uri, ":", 2)[0], func(t *testing.T) {
			s, err := Open(ctx, uri)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close(ctx)
			if got := clusteredIndexes(t, s); len(got) != 1 || got[0] != IndexStreamVersion {
				t.Errorf("clustered indexes: got %q, want [%s]", got, IndexStreamVersion)
			}
		})
	}

	t.Run("converted from lungo", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "lungo.db")
		client, eng, err := lungo.Open(ctx, lungo.Options{Store: lungo.NewFileStore(path, 0o600)})
		if err != nil {
			t.Fatal(err)
		}
		old, err := New(ctx, client)
		if err != nil {
			t.Fatal(err)
		}
		stream := uuid.New()
		if _, err := old.Append(ctx, stream, NoStream, EventData{Name: "Opened"}, EventData{Name: "Closed"}); err != nil {
			t.Fatal(err)
		}
		eng.Close()
		s, err := Open(ctx, "file:"+path)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close(ctx)
		if got := clusteredIndexes(t, s); len(got) != 1 || got[0] != IndexStreamVersion {
			t.Errorf("clustered indexes after conversion: got %q, want [%s]", got, IndexStreamVersion)
		}
		got, err := s.Load(ctx, stream)
		if err != nil {
			t.Fatal(err)
		}
		if got.Version != 2 || len(got.Events) != 2 {
			t.Errorf("load: version %d, %d events; want 2, 2", got.Version, len(got.Events))
		}
	})

	t.Run("older layout", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "old.db")
		// The events collection as stores before clustering built it.
		e, err := engine.Open(ctx, engine.Options{Path: path})
		if err != nil {
			t.Fatal(err)
		}
		events := e.Client().Database(DefaultDatabase).Collection(CollectionEvents)
		if _, err := events.Indexes().CreateOne(ctx, mongo.IndexModel{
			Keys:    bson.D{{Key: fieldStream, Value: 1}, {Key: fieldVersion, Value: 1}},
			Options: options.Index().SetName(IndexStreamVersion).SetUnique(true),
		}); err != nil {
			t.Fatal(err)
		}
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
		s, err := Open(ctx, "file:"+path)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close(ctx)
		if got := clusteredIndexes(t, s); len(got) != 0 {
			t.Errorf("clustered indexes of an older store: got %q, want none", got)
		}
		stream := uuid.New()
		if _, err := s.Append(ctx, stream, NoStream, EventData{Name: "Opened"}, EventData{Name: "Closed"}); err != nil {
			t.Fatal(err)
		}
		got, err := s.Load(ctx, stream)
		if err != nil {
			t.Fatal(err)
		}
		if got.Version != 2 || len(got.Events) != 2 {
			t.Errorf("load: version %d, %d events; want 2, 2", got.Version, len(got.Events))
		}
	})
}
