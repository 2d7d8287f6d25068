package mongostore_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/256dpi/lungo"
	"github.com/google/uuid"

	"github.com/annalsdb/annals/mongostore"
)

// TestOpenConvertsALungoFile: a file: store written by the previous
// release (lungo's single file) opens with its events, converted in place,
// the original file kept beside it untouched.
func TestOpenConvertsALungoFile(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "annals.db")
	client, eng, err := lungo.Open(ctx, lungo.Options{Store: lungo.NewFileStore(path, 0o600)})
	if err != nil {
		t.Fatal(err)
	}
	old, err := mongostore.New(ctx, client)
	if err != nil {
		t.Fatal(err)
	}
	stream := uuid.New()
	if _, err := old.Append(ctx, stream, mongostore.NoStream,
		mongostore.EventData{Name: "Opened", Data: map[string]any{"owner": "ana"}},
		mongostore.EventData{Name: "Deposited", Data: map[string]any{"amount": 42}}); err != nil {
		t.Fatal(err)
	}
	eng.Close()
	original, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}

	s, err := mongostore.Open(ctx, "file:"+path)
	if err != nil {
		t.Fatalf("open the old store: %v", err)
	}
	got, err := s.Load(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != 2 || got.Events[0].Name != "Opened" || got.Events[1].Name != "Deposited" {
		t.Errorf("converted stream: version %d, events %+v", got.Version, got.Events)
	}
	if _, err := s.Append(ctx, stream, mongostore.Exact(1), mongostore.EventData{Name: "Late"}); !errors.Is(err, mongostore.ErrConcurrency) {
		t.Errorf("the unique index after conversion: got %v, want a conflict", err)
	}
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	backup, err := os.ReadFile(path + ".lungo-backup")
	if err != nil {
		t.Fatalf("no backup beside the converted store: %v", err)
	}
	if !bytes.Equal(backup, original) {
		t.Error("the backup differs from the original file")
	}
	if st, err := os.Stat(path); err != nil || !st.IsDir() {
		t.Errorf("the store is not a directory after conversion (%v)", err)
	}
}
