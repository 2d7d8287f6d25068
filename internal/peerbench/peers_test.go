package peerbench

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/bson"

	"github.com/annalsdb/annals/projections"
)

// TestPeers runs every implementation's operations once and checks that
// they do what the benchmarks take them to do: exact-version appends, all
// or nothing; the unique (stream, version) index refusing a duplicate;
// loads in version order; a scan and a catch-up over every event; data
// kept across a reopen.
func TestPeers(t *testing.T) {
	for _, im := range impls {
		t.Run(im.name, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			l, err := im.open(ctx, dir)
			if err != nil {
				t.Fatal(err)
			}
			closed := false
			t.Cleanup(func() {
				if !closed {
					_ = l.close(ctx)
				}
			})
			a, b, c := uuid.New(), uuid.New(), uuid.New()
			mustAppend(t, l, streamAppend{a, 0, 2})
			mustAppend(t, l, streamAppend{a, 2, 1}, streamAppend{b, 0, 3})
			wantLoad(t, l, a, 3)
			wantLoad(t, l, b, 3)

			if err := l.appendStreams(ctx, []streamAppend{{a, 2, 1}}); !errors.Is(err, errConflict) {
				t.Errorf("append at a stale version: got %v, want errConflict", err)
			}
			if err := l.appendStreams(ctx, []streamAppend{{c, 0, 1}, {a, 0, 1}}); !errors.Is(err, errConflict) {
				t.Errorf("append to two streams, one stale: got %v, want errConflict", err)
			}
			wantLoad(t, l, c, 0) // all or nothing
			if err := l.insertUnchecked(ctx, a, 3, 1); !errors.Is(err, errDuplicate) {
				t.Errorf("insert version 3 of a again, unchecked: got %v, want errDuplicate", err)
			}
			wantLoad(t, l, a, 3)

			last := map[uuid.UUID]int64{}
			err = l.scan(ctx, func(s uuid.UUID, v int64) error {
				if v != last[s]+1 {
					t.Errorf("scan: %s version %d after %d", s, v, last[s])
				}
				last[s] = v
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(last) != 2 || last[a] != 3 || last[b] != 3 {
				t.Errorf("scan saw %v, want 3 events of %s and of %s", last, a, b)
			}
			for range 2 { // a second catch-up starts afresh too
				applied, err := l.catchUp(ctx, noTimer{})
				if err != nil {
					t.Fatal(err)
				}
				if applied != 6 {
					t.Errorf("catch-up applied %d events, want 6", applied)
				}
			}
			n, size, err := l.bsonBytes(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if n != 6 || size < 6*int64(len(payload)+len(metadataRaw)) {
				t.Errorf("bsonBytes = %d events, %d bytes; want 6 events of more than %d bytes", n, size, len(payload)+len(metadataRaw))
			}
			checkDurable(t, l)
			if al, ok := l.(*annalsLog); ok {
				checkAnnalsPayload(t, al)
				checkNoProjections(t, al)
			}

			if !im.persistent {
				return
			}
			closed = true
			if err := l.close(ctx); err != nil {
				t.Fatal(err)
			}
			if disk, _, err := diskUsage(dir); err != nil || disk == 0 {
				t.Errorf("disk usage of %s: %d bytes, %v", dir, disk, err)
			}
			l, err = im.open(ctx, dir)
			if err != nil {
				t.Fatal(err)
			}
			closed = false
			wantLoad(t, l, a, 3)
			mustAppend(t, l, streamAppend{a, 3, 1})
			wantLoad(t, l, a, 4)
		})
	}
}

// checkAnnalsPayload checks that annals stores the very payload and
// metadata bytes the peers store.
func checkAnnalsPayload(t *testing.T, a *annalsLog) {
	t.Helper()
	var d storedEvent
	if err := a.store.EventsCollection().FindOne(context.Background(), bson.D{}).Decode(&d); err != nil {
		t.Fatal(err)
	}
	if !bytesEqual(d.Data, payload) || !bytesEqual(d.Metadata, metadataRaw) {
		t.Errorf("annals stores data %v and metadata %v, peers %v and %v", d.Data, d.Metadata, payload, metadataRaw)
	}
	if d.Name != eventName || d.StreamType != streamType || d.SchemaVersion != schemaVersion {
		t.Errorf("annals stores %q of type %q schema %d, peers %q of type %q schema %d",
			d.Name, d.StreamType, d.SchemaVersion, eventName, streamType, schemaVersion)
	}
}

// checkDurable checks that the peers sync every commit as configured.
func checkDurable(t *testing.T, l eventLog) {
	t.Helper()
	switch l := l.(type) {
	case *sqliteLog:
		var mode string
		var sync int
		if err := l.db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil {
			t.Fatal(err)
		}
		if err := l.db.QueryRow("PRAGMA synchronous").Scan(&sync); err != nil {
			t.Fatal(err)
		}
		if mode != "wal" || sync != 2 {
			t.Errorf("sqlite journal_mode=%s synchronous=%d, want wal and 2 (FULL)", mode, sync)
		}
	case *boltStore:
		if l.db.NoSync {
			t.Error("bbolt NoSync is set: commits are not synced")
		}
	}
}

// checkNoProjections checks that catchUp deleted the projections it
// made: the next catch-up starts from the store as seeded.
func checkNoProjections(t *testing.T, a *annalsLog) {
	t.Helper()
	ctx := context.Background()
	db := a.store.Database()
	for _, coll := range []string{projections.CollectionCheckpoints, projections.CollectionPositions} {
		n, err := db.Collection(coll).CountDocuments(ctx, bson.D{})
		if err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("%s holds %d documents after catch-ups, want 0", coll, n)
		}
	}
	names, err := db.ListCollectionNames(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		if strings.HasPrefix(name, "peerbench_") {
			t.Errorf("collection %s left after catch-up", name)
		}
	}
}

func bytesEqual(a, b []byte) bool { return string(a) == string(b) }

// TestFixtures seeds, copies and reseeds a tiny store of every
// implementation, as the benchmarks do with large ones.
func TestFixtures(t *testing.T) {
	const stored = 30
	for _, im := range impls {
		t.Run(im.name, func(t *testing.T) {
			f := fixtureOf(t, im, stored, roleAppend)
			if len(f.streams) != stored/eventsPerStream {
				t.Fatalf("%d streams, want %d", len(f.streams), stored/eventsPerStream)
			}
			wantLoad(t, f.log, f.streams[0], eventsPerStream)
			mustAppend(t, f.log, streamAppend{f.streams[0], eventsPerStream, 1})
			f.appended = 1
			f.reseed(t, roleAppend)
			wantLoad(t, f.log, f.streams[0], eventsPerStream)
			if f.appended != 0 {
				t.Errorf("appended = %d after reseeding, want 0", f.appended)
			}
			if im.persistent {
				tp := templateOf(t, im, stored)
				if tp.events != stored || tp.bson == 0 || tp.disk == 0 || tp.size == 0 {
					t.Errorf("template measured %d events, %d BSON bytes, %d on disk, %d long", tp.events, tp.bson, tp.disk, tp.size)
				}
			}
		})
	}
}

func mustAppend(t *testing.T, l eventLog, batch ...streamAppend) {
	t.Helper()
	if err := l.appendStreams(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
}

func wantLoad(t *testing.T, l eventLog, stream uuid.UUID, want int) {
	t.Helper()
	n, v, err := l.load(context.Background(), stream)
	if err != nil {
		t.Fatal(err)
	}
	if n != want || v != int64(want) {
		t.Errorf("load %s: %d events up to version %d, want %d", stream, n, v, want)
	}
}
