package peerbench

// The bbolt peer: go.etcd.io/bbolt, a copy-on-write B+tree in one file,
// with the freelist etcd runs it with. Three buckets:
//
//	events  stream (16 bytes) ‖ version (8, big endian) → the event's BSON document
//	ids     event id (16) → stream ‖ version: the unique event id
//	log     sequence (8, big endian) → stream ‖ version: the order of the log
//
// An append is one read-write transaction (bbolt has one writer at a
// time): find the stream's head with a cursor, check it, and insert each
// event, refusing a key already there, since Put would overwrite it. Every
// commit syncs the file (NoSync is false), so appends are durable.

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"path/filepath"
	"time"

	"github.com/google/uuid"
	bolt "go.etcd.io/bbolt"
	"go.mongodb.org/mongo-driver/bson"
)

const boltFile = "events.bolt"

var (
	boltEvents = []byte("events")
	boltIDs    = []byte("ids")
	boltOrder  = []byte("log")
)

// boltStore is the bbolt peer.
type boltStore struct {
	db *bolt.DB
}

var _ eventLog = (*boltStore)(nil)

func openBolt(_ context.Context, dir string) (eventLog, error) {
	db, err := bolt.Open(filepath.Join(dir, boltFile), 0o600, &bolt.Options{
		Timeout:      time.Second,
		FreelistType: bolt.FreelistMapType,
	})
	if err != nil {
		return nil, err
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{boltEvents, boltIDs, boltOrder} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	return &boltStore{db: db}, nil
}

// boltKey is the events key of a stream's version.
func boltKey(stream uuid.UUID, version int64) []byte {
	k := make([]byte, 24)
	copy(k, stream[:])
	binary.BigEndian.PutUint64(k[16:], uint64(version))
	return k
}

// boltHead returns the version of the stream's last event, 0 if none.
func boltHead(events *bolt.Bucket, stream uuid.UUID) int64 {
	c := events.Cursor()
	k, _ := c.Seek(boltKey(stream, -1)) // version bytes all 0xff: past the stream's last key
	if k == nil {
		k, _ = c.Last()
	} else {
		k, _ = c.Prev()
	}
	if k == nil || !bytes.Equal(k[:16], stream[:]) {
		return 0
	}
	return int64(binary.BigEndian.Uint64(k[16:]))
}

func (l *boltStore) appendStreams(_ context.Context, batch []streamAppend) error {
	return l.write(batch, true)
}

func (l *boltStore) insertUnchecked(_ context.Context, stream uuid.UUID, from int64, n int) error {
	return l.write([]streamAppend{{stream: stream, expected: from - 1, n: n}}, false)
}

// write appends batch in one transaction, checking each stream's head
// first when check is set.
func (l *boltStore) write(batch []streamAppend, check bool) error {
	at := now()
	return l.db.Update(func(tx *bolt.Tx) error {
		events, ids, log := tx.Bucket(boltEvents), tx.Bucket(boltIDs), tx.Bucket(boltOrder)
		for _, a := range batch {
			if check {
				if v := boltHead(events, a.stream); v != a.expected {
					return fmt.Errorf("%w: stream %s at %d, expected %d", errConflict, a.stream, v, a.expected)
				}
			}
			for i := range a.n {
				d, err := newStoredEvent(a.stream, a.expected+1+int64(i), at)
				if err != nil {
					return err
				}
				doc, err := bson.Marshal(d)
				if err != nil {
					return err
				}
				key := boltKey(a.stream, d.Version)
				if events.Get(key) != nil {
					return fmt.Errorf("%w: stream %s version %d", errDuplicate, a.stream, d.Version)
				}
				if ids.Get(d.ID.Data) != nil {
					return fmt.Errorf("%w: event id %x", errDuplicate, d.ID.Data)
				}
				seq, err := log.NextSequence()
				if err != nil {
					return err
				}
				var seqKey [8]byte
				binary.BigEndian.PutUint64(seqKey[:], seq)
				if err := events.Put(key, doc); err != nil {
					return err
				}
				if err := ids.Put(d.ID.Data, key); err != nil {
					return err
				}
				if err := log.Put(seqKey[:], key); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// boltDecode decodes a stored document; bson.Unmarshal copies what it
// keeps, so the event outlives the transaction.
func boltDecode(doc []byte) (event, error) {
	var d storedEvent
	if err := bson.Unmarshal(doc, &d); err != nil {
		return event{}, err
	}
	return d.decode()
}

func (l *boltStore) load(_ context.Context, stream uuid.UUID) (int, int64, error) {
	var evs []event
	err := l.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(boltEvents).Cursor()
		for k, v := c.Seek(stream[:]); k != nil && bytes.HasPrefix(k, stream[:]); k, v = c.Next() {
			ev, err := boltDecode(v)
			if err != nil {
				return err
			}
			evs = append(evs, ev)
		}
		return nil
	})
	if err != nil || len(evs) == 0 {
		return 0, 0, err
	}
	return len(evs), evs[len(evs)-1].Version, nil
}

func (l *boltStore) scan(ctx context.Context, fn func(uuid.UUID, int64) error) error {
	return l.db.View(func(tx *bolt.Tx) error {
		events := tx.Bucket(boltEvents)
		c := tx.Bucket(boltOrder).Cursor()
		for k, key := c.First(); k != nil; k, key = c.Next() {
			doc := events.Get(key)
			if doc == nil {
				return fmt.Errorf("log entry %x: no event %x", k, key)
			}
			ev, err := boltDecode(doc)
			if err != nil {
				return err
			}
			if err := fn(ev.Stream, ev.Version); err != nil {
				return err
			}
		}
		return ctx.Err()
	})
}

func (l *boltStore) catchUp(ctx context.Context, t timer) (int64, error) {
	return scanCatchUp(ctx, l, t)
}

func (l *boltStore) bsonBytes(context.Context) (int64, int64, error) {
	var n, size int64
	err := l.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(boltEvents).ForEach(func(_, v []byte) error {
			n++
			size += int64(len(v))
			return nil
		})
	})
	return n, size, err
}

// settle has nothing to wait for: bbolt writes in its commits only.
func (l *boltStore) settle(context.Context) error { return nil }

func (l *boltStore) close(context.Context) error { return l.db.Close() }
