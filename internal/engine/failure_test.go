package engine

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/mongo/options"
)

// TestSyncFailureStopsTheEngine: when a commit cannot be synced (a full
// disk, an I/O error) its outcome is unknown, so the write fails and the
// engine accepts nothing more, instead of answering from a state the disk
// may not hold.
func TestSyncFailureStopsTheEngine(t *testing.T) {
	ctx := context.Background()
	injected := errors.New("injected: no space left on device")
	broken := &errorfs.Toggle{Injector: errorfs.InjectorFunc(func(op errorfs.Op) error {
		if (op.Kind == errorfs.OpFileSync || op.Kind == errorfs.OpFileSyncData) && strings.HasSuffix(op.Path, ".log") {
			return injected
		}
		return nil
	})}
	fs := errorfs.Wrap(vfs.NewMem(), broken)
	e, err := Open(ctx, Options{Path: "store", FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	c := e.Client().Database("d").Collection("c")
	if _, err := c.InsertOne(ctx, bson.D{{Key: "_id", Value: 1}}); err != nil {
		t.Fatal(err)
	}
	broken.On()
	if _, err := c.InsertOne(ctx, bson.D{{Key: "_id", Value: 2}}); err == nil {
		t.Fatal("a commit whose sync failed was acknowledged")
	}
	for name, op := range map[string]func() error{
		"write": func() error { _, err := c.InsertOne(ctx, bson.D{{Key: "_id", Value: 3}}); return err },
		"read":  func() error { return c.FindOne(ctx, bson.D{}).Err() },
	} {
		if err := op(); !errors.Is(err, ErrFailed) {
			t.Errorf("%s after the failure: got %v, want ErrFailed", name, err)
		}
		// The cause stays matchable (a full disk is reported as such).
		if err := op(); !errors.Is(err, injected) {
			t.Errorf("%s after the failure: got %v, want it to wrap the sync error", name, err)
		}
	}
}

// TestInterruptedCreation: a store whose creation stopped after the marker
// and before Pebble wrote anything opens as new; table or log files
// without a manifest are refused.
func TestInterruptedCreation(t *testing.T) {
	ctx := context.Background()
	fs := vfs.NewMem()
	if err := fs.MkdirAll("store", 0o700); err != nil {
		t.Fatal(err)
	}
	if err := writeMarker(fs, "store", formatVersion); err != nil {
		t.Fatal(err)
	}
	e, err := Open(ctx, Options{Path: "store", FS: fs})
	if err != nil {
		t.Fatalf("open after an interrupted creation: %v", err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	names, _ := fs.List("store")
	for _, n := range names {
		if strings.HasPrefix(n, "MANIFEST-") || strings.HasPrefix(n, "marker.manifest") {
			if err := fs.Remove(fs.PathJoin("store", n)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := Open(ctx, Options{Path: "store", FS: fs}); !errors.Is(err, ErrCorrupt) {
		t.Errorf("open with data files and no manifest: got %v, want ErrCorrupt", err)
	}
}

// TestDeleteManyCommitsInChunks: outside a transaction, deleting many
// documents commits in chunks (as MongoDB, where it is not atomic either),
// so its memory does not grow with how many it deletes; in a transaction
// it stays all or nothing.
func TestDeleteManyCommitsInChunks(t *testing.T) {
	ctx := context.Background()
	e, err := Open(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	c := e.Client().Database("d").Collection("c")
	n := 2*deleteChunk + 17
	docs := make([]any, n)
	for i := range docs {
		docs[i] = bson.D{{Key: "_id", Value: i}, {Key: "k", Value: i % 2}}
	}
	if _, err := c.InsertMany(ctx, docs); err != nil {
		t.Fatal(err)
	}
	cs, err := c.Watch(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	before := e.applied.Load()
	res, err := c.DeleteMany(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	if res.DeletedCount != int64(n) {
		t.Fatalf("deleted %d, want %d", res.DeletedCount, n)
	}
	if left, _ := c.CountDocuments(ctx, bson.D{}); left != 0 {
		t.Fatalf("%d documents left", left)
	}
	commits := map[uint64]bool{}
	for i := 0; i < n && cs.TryNext(ctx); i++ {
		var ev struct {
			Op string              `bson:"operationType"`
			TS primitive.Timestamp `bson:"clusterTime"`
		}
		if err := cs.Decode(&ev); err != nil {
			t.Fatal(err)
		}
		if ev.Op != "delete" {
			t.Fatalf("change %d is %s, want delete", i, ev.Op)
		}
		commits[tsOf(ev.TS)] = true
	}
	if got, want := len(commits), 3; got != want || e.applied.Load() <= before {
		t.Errorf("the delete took %d commits, want %d", got, want)
	}
}

// TestMalformedDocumentsRefused: bytes that are not one well-formed BSON
// document are refused with an error by every write that takes a
// document, never a panic (a length of zero made the driver's Validate
// index before the document), and nothing is stored.
func TestMalformedDocumentsRefused(t *testing.T) {
	ctx := context.Background()
	e := openMemEngine(t)
	c := e.Client().Database("d").Collection("c")
	for _, raw := range []bson.Raw{
		{0, 0, 0, 0, 0},
		{0xfb, 0xff, 0xff, 0xff, 0},
		{12, 0, 0, 0, 3, 'a', 0, 0, 0, 0, 0, 0},
		{14, 0, 0, 0, 2, 'a', 0, 2, 0, 0, 0, 'x', 'y', 0},
		{9, 0, 0, 0, 8, 'a', 0, 2, 0},
	} {
		for name, write := range map[string]func() error{
			"InsertOne":  func() error { _, err := c.InsertOne(ctx, raw); return err },
			"InsertMany": func() error { _, err := c.InsertMany(ctx, []any{raw}); return err },
			"ReplaceOne": func() error {
				_, err := c.ReplaceOne(ctx, bson.D{}, raw, options.Replace().SetUpsert(true))
				return err
			},
		} {
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Errorf("%s %x: panic: %v", name, []byte(raw), r)
					}
				}()
				if err := write(); err == nil {
					t.Errorf("%s %x: accepted", name, []byte(raw))
				}
			}()
		}
	}
	if n, err := c.CountDocuments(ctx, bson.D{}); err != nil || n != 0 {
		t.Fatalf("%d documents stored (%v), want none", n, err)
	}
}
