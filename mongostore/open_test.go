package mongostore_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/256dpi/lungo"
	"github.com/annalsdb/annals/mongostore"
	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo/options"
)

func TestFileEngineSurvivesReopen(t *testing.T) {
	ctx := context.Background()
	uri := "file:" + filepath.Join(t.TempDir(), "annals.db")
	s, err := mongostore.Open(ctx, uri)
	if err != nil {
		t.Fatal(err)
	}
	if s.Engine() != mongostore.EngineFile {
		t.Fatalf("got engine %s, want file", s.Engine())
	}
	id := uuid.New()
	if _, err := s.Append(ctx, id, mongostore.NoStream,
		mongostore.EventData{Name: "Opened", Data: map[string]any{"owner": "ana"}, Metadata: mongostore.Metadata{Actor: "ana", Extra: map[string]any{"rate": 1.0}}},
		mongostore.EventData{Name: "Deposited", Data: map[string]any{"amount": 10.5}}); err != nil {
		t.Fatal(err)
	}
	before, err := s.Load(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}

	s2, err := mongostore.Open(ctx, uri)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s2.Close(ctx)
	after, err := s2.Load(ctx, id)
	if err != nil {
		t.Fatalf("load after reopen: %v", err)
	}
	if len(after.Events) != len(before.Events) || after.Version != 2 {
		t.Fatalf("got %d events at version %d, want %d at 2", len(after.Events), after.Version, len(before.Events))
	}
	for i := range before.Events {
		b, a := before.Events[i], after.Events[i]
		if a.ID != b.ID || a.Version != b.Version || a.Name != b.Name || !bytes.Equal(a.Data, b.Data) ||
			!a.RecordedAt.Equal(b.RecordedAt) || !reflect.DeepEqual(a.Metadata, b.Metadata) {
			t.Errorf("event %d changed across reopen:\nbefore %+v\n after %+v", i, b, a)
		}
	}
	if _, err := s2.Append(ctx, id, mongostore.Exact(2), mongostore.EventData{Name: "Withdrawn"}); err != nil {
		t.Fatalf("append after reopen: %v", err)
	}
}

func TestFileEngineLock(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "annals.db")
	s, err := mongostore.Open(ctx, "file:"+path)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("SameProcess", func(t *testing.T) {
		_, err := mongostore.Open(ctx, "file:"+path)
		if !errors.Is(err, mongostore.ErrLocked) {
			t.Fatalf("second open: got %v, want ErrLocked", err)
		}
		// The error names the lock; the advice depends on the caller (the
		// CLI gives each command its own), so it carries none.
		if !strings.Contains(err.Error(), path+".lock") || strings.Contains(err.Error(), "--server") {
			t.Errorf("error %q should name the lock file and give no command-line advice", err)
		}
	})

	t.Run("ThroughSymlinks", func(t *testing.T) {
		// Another name of the same store, and a name inside a linked
		// directory: the lock is on the real path.
		other := t.TempDir()
		link := filepath.Join(other, "link.db")
		if err := os.Symlink(path, link); err != nil {
			t.Fatal(err)
		}
		dirLink := filepath.Join(other, "dir")
		if err := os.Symlink(filepath.Dir(path), dirLink); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{link, filepath.Join(dirLink, "annals.db")} {
			if _, err := mongostore.Open(ctx, "file:"+name); !errors.Is(err, mongostore.ErrLocked) {
				t.Errorf("open through %s: got %v, want ErrLocked", name, err)
			}
		}
	})

	t.Run("OtherProcess", func(t *testing.T) {
		cmd := exec.Command(os.Args[0], "-test.run=^TestOpenFromChildProcess$")
		cmd.Env = append(os.Environ(), "ANNALS_CHILD_OPEN=file:"+path)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("child: %v\n%s", err, out)
		}
		if !strings.Contains(string(out), "child open: locked") {
			t.Fatalf("child did not report the lock:\n%s", out)
		}
	})

	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	t.Run("AfterClose", func(t *testing.T) {
		s, err := mongostore.Open(ctx, "file:"+path)
		if err != nil {
			t.Fatalf("open after close: %v", err)
		}
		s.Close(ctx)
	})
}

// TestOpenFromChildProcess is the second process of TestFileEngineLock.
func TestOpenFromChildProcess(t *testing.T) {
	uri := os.Getenv("ANNALS_CHILD_OPEN")
	if uri == "" {
		t.Skip("runs only as TestFileEngineLock's child process")
	}
	s, err := mongostore.Open(context.Background(), uri)
	if errors.Is(err, mongostore.ErrLocked) {
		t.Log("child open: locked")
		os.Stdout.WriteString("child open: locked\n")
		return
	}
	if err == nil {
		s.Close(context.Background())
	}
	t.Fatalf("child open: got %v, want ErrLocked", err)
}

func TestOpenRefusesBadURIs(t *testing.T) {
	cases := []struct {
		uri  string
		want error
	}{
		{"", mongostore.ErrUnsupportedURI},
		{"postgres://localhost/db", mongostore.ErrUnsupportedURI},
		{"memory:extra", mongostore.ErrUnsupportedURI},
		{"file:", mongostore.ErrUnsupportedURI},
		{"mongodb://", mongostore.ErrUnsupportedURI},
	}
	for _, c := range cases {
		t.Run(c.uri, func(t *testing.T) {
			_, err := mongostore.Open(context.Background(), c.uri)
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
	t.Run("MissingDirectory", func(t *testing.T) {
		_, err := mongostore.Open(context.Background(), "file:"+filepath.Join(t.TempDir(), "no", "such", "annals.db"))
		if err == nil {
			t.Fatal("opened a file store in a missing directory")
		}
	})
	t.Run("UnreachableMongoDB", func(t *testing.T) {
		_, err := mongostore.Open(context.Background(), "mongodb://user:secret@127.0.0.1:1/?serverSelectionTimeoutMS=300&connectTimeoutMS=300")
		if err == nil {
			t.Fatal("opened an unreachable MongoDB")
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("error leaks the password: %v", err)
		}
	})
}

func TestDatabaseOption(t *testing.T) {
	ctx := context.Background()
	client, engine, err := lungo.Open(ctx, lungo.Options{Store: lungo.NewMemoryStore()})
	if err != nil {
		t.Fatal(err)
	}
	defer engine.Close()
	s, err := mongostore.New(ctx, client, mongostore.WithDatabase("ledger"))
	if err != nil {
		t.Fatal(err)
	}
	if s.Engine() != mongostore.EngineMemory {
		t.Errorf("got engine %s for an embedded client, want memory", s.Engine())
	}
	if _, err := s.Append(ctx, uuid.New(), mongostore.NoStream, mongostore.EventData{Name: "Opened"}); err != nil {
		t.Fatal(err)
	}
	n, err := client.Database("ledger").Collection("events").CountDocuments(ctx, bson.D{})
	if err != nil || n != 1 {
		t.Fatalf("got %d events in ledger.events (%v), want 1", n, err)
	}
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	// New does not own the client: it stays usable.
	if _, err := client.Database("ledger").Collection("events").CountDocuments(ctx, bson.D{}); err != nil {
		t.Fatalf("client unusable after closing the store: %v", err)
	}
}

// standalone pretends to be a MongoDB client talking to a standalone
// mongod: hello answers without a replica set name.
type standalone struct{ lungo.IClient }

func (standalone) Database(string, ...*options.DatabaseOptions) lungo.IDatabase { return helloDB{} }

type helloDB struct{ lungo.IDatabase }

func (helloDB) RunCommand(context.Context, any, ...*options.RunCmdOptions) lungo.ISingleResult {
	return helloResult{bson.D{{Key: "isWritablePrimary", Value: true}, {Key: "ok", Value: 1.0}}}
}

type helloResult struct{ doc bson.D }

func (r helloResult) Decode(v any) error {
	raw, err := bson.Marshal(r.doc)
	if err != nil {
		return err
	}
	return bson.Unmarshal(raw, v)
}
func (r helloResult) DecodeBytes() (bson.Raw, error) { return bson.Marshal(r.doc) }
func (r helloResult) Err() error                     { return nil }
func (r helloResult) Raw() (bson.Raw, error)         { return bson.Marshal(r.doc) }

func TestStandaloneIsRefused(t *testing.T) {
	_, err := mongostore.New(context.Background(), standalone{})
	if !errors.Is(err, mongostore.ErrNoReplicaSet) {
		t.Fatalf("got %v, want ErrNoReplicaSet", err)
	}
	if !strings.Contains(err.Error(), "--replSet") {
		t.Errorf("error %q does not say what to run instead", err)
	}
}
