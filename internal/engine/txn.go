package engine

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/256dpi/lungo/bsonkit"
	"github.com/cockroachdb/pebble/v2"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/x/bsonx/bsoncore"

	"github.com/annalsdb/annals/internal/bsoncheck"
)

// txn is a write transaction. It holds the writer lock from begin to
// commit or abort, so its reads (through its indexed batch, which shows
// its own writes over the store) see nothing change under them: commits
// are serialisable.
type txn struct {
	e        *Engine
	b        *pebble.Batch
	cat      *catalog
	catDirty bool
	state    engineState
	ts       uint64
	op       uint32
	wall     time.Time
	done     bool
	// inserted are the keys of the documents the transaction inserted;
	// other is set once it changed anything else a read can see.
	inserted [][]byte
	other    bool
	// seen is the last commit the transaction's reads can show.
	seen uint64
	// probers are the iterators of probe, one per keyspace probed.
	probers []prober
}

// begin starts a write transaction: it waits for the writer lock.
func (e *Engine) begin(ctx context.Context) (*txn, error) {
	if err := e.enter(); err != nil {
		return nil, err
	}
	if err := e.lock(ctx); err != nil {
		e.inflight.Done()
		return nil, err
	}
	t := &txn{e: e, b: e.db.NewIndexedBatch(), cat: e.cat.Load(), state: e.state, wall: time.Now(), seen: e.applied.Load()}
	t.ts = e.nextTS()
	return t, nil
}

// abort drops the transaction's writes and releases the lock.
func (t *txn) abort() {
	if t.done {
		return
	}
	t.done = true
	t.closeProbes()
	_ = t.b.Close()
	t.e.unlock()
	t.e.inflight.Done()
}

// commit applies the transaction atomically and returns once it is
// durable. The writer lock is released as soon as the batch is applied,
// so the next writer runs while this one's fsync is in flight, and
// concurrent commits share fsyncs.
func (t *txn) commit(ctx context.Context) error {
	if t.done {
		return errors.New("engine: transaction already finished")
	}
	t.done = true
	t.closeProbes()
	e := t.e
	defer e.inflight.Done()
	if t.b.Empty() && !t.catDirty {
		// Read only: what it read must be durable before the caller
		// acts on it.
		_ = t.b.Close()
		e.unlock()
		return e.waitUntil(ctx, t.seen)
	}
	t.state.LastTS = t.ts
	if err := t.trimOplog(); err != nil {
		_ = t.b.Close()
		e.unlock()
		return err
	}
	raw, err := t.state.marshal()
	if err == nil {
		err = t.b.Set(metaState, raw, nil)
	}
	if err == nil && t.state.TrimmedTS != e.state.TrimmedTS {
		// Publish the trim before it is visible: a change stream that
		// reads past trimmed entries must know they are gone.
		k := oplogKey(t.state.TrimmedTS, t.state.TrimmedOp)
		e.trimmed.Store(&k)
	}
	if err != nil {
		_ = t.b.Close()
		e.unlock()
		return fmt.Errorf("engine: commit: %w", err)
	}
	// Registered before it is visible: see pending.go.
	e.pending.add(t.ts, t.inserted, t.other || t.catDirty)
	e.latest.Store(t.ts)
	if err := e.apply(t.b); err != nil {
		// The log may hold part of it or all of it: the outcome is
		// unknown, as after a failed sync.
		_ = t.b.Close()
		e.unlock()
		if !errors.Is(err, pebble.ErrClosed) {
			e.fail(err)
		}
		return fmt.Errorf("engine: commit outcome unknown: %w", err)
	}
	e.state = t.state
	e.setTrimmed()
	if t.catDirty {
		e.cat.Store(t.cat)
	}
	e.applied.Store(t.ts)
	e.unlock()
	if !e.memory {
		err = t.b.SyncWait()
	}
	_ = t.b.Close()
	if err != nil {
		e.fail(err)
		return fmt.Errorf("engine: commit outcome unknown: sync: %w", err)
	}
	e.markDurable(t.ts)
	return nil
}

// apply applies b without waiting for its sync: the caller calls
// b.SyncWait after releasing the writer lock, so that concurrent commits
// share fsyncs. A memory: store has no log to sync.
func (e *Engine) apply(b *pebble.Batch) error {
	if e.memory {
		return e.db.Apply(b, pebble.NoSync)
	}
	return e.db.ApplyNoSyncWait(b, pebble.Sync)
}

// collection returns a collection's catalog entry, creating the collection
// when create is set and it does not exist (nil, nil otherwise).
func (t *txn) collection(db, coll string, create bool) (*collMeta, error) {
	if m := t.cat.get(db, coll); m != nil || !create {
		return m, nil
	}
	if err := validateNames(db, coll); err != nil {
		return nil, err
	}
	m := &collMeta{ID: t.state.NextColl, DB: db, Name: coll, NextIndex: 1}
	t.state.NextColl++
	if err := t.putColl(m); err != nil {
		return nil, err
	}
	return m, nil
}

// putColl writes a collection's catalog entry.
func (t *txn) putColl(m *collMeta) error {
	if !t.catDirty {
		t.cat = t.cat.clone()
		t.catDirty = true
	}
	t.cat.colls[catName(m.DB, m.Name)] = m
	raw, err := bson.Marshal(m)
	if err != nil {
		return err
	}
	return t.b.Set(catalogKey(m.DB, m.Name), raw, nil)
}

// dropColl removes a collection, its documents and its index entries.
func (t *txn) dropColl(m *collMeta) error {
	t.other = true
	if !t.catDirty {
		t.cat = t.cat.clone()
		t.catDirty = true
	}
	delete(t.cat.colls, catName(m.DB, m.Name))
	if err := t.b.Delete(catalogKey(m.DB, m.Name), nil); err != nil {
		return err
	}
	if err := t.b.DeleteRange(docPrefix(m.ID), prefixEnd(docPrefix(m.ID)), nil); err != nil {
		return err
	}
	if err := t.b.DeleteRange(collIndexPrefix(m.ID), prefixEnd(collIndexPrefix(m.ID)), nil); err != nil {
		return err
	}
	return t.logChange(bson.D{
		{Key: "operationType", Value: "drop"},
	}, m)
}

// stored is a document as stored: its bytes and, once something needs it,
// its decoded form. Reads that the raw matcher decides never decode.
type stored struct {
	raw bson.Raw
	doc *bson.D
}

// d returns the decoded document, decoding it on first use. The bytes were
// validated when they were read.
func (s *stored) d() *bson.D {
	if s.doc == nil {
		d := bson.D{}
		if err := bson.Unmarshal(s.raw, &d); err != nil {
			d = bson.D{}
		}
		s.doc = &d
	}
	return s.doc
}

func (s *stored) id() any {
	if s.doc == nil {
		if v, err := s.raw.LookupErr("_id"); err == nil {
			if x, ok := rawScalar(v); ok {
				return x
			}
		}
	}
	return bsonkit.Get(s.d(), "_id")
}

// insert stores a new document (with its _id set). A document with the
// same _id, or the same key on a unique index, is a duplicate key error.
func (t *txn) insert(m *collMeta, s stored) error {
	idKey, err := appendKey(nil, s.id())
	if err != nil {
		return fmt.Errorf("engine: _id: %w", err)
	}
	dk := docKey(m.ID, idKey)
	above, err := t.idAbove(m.ID, dk)
	if err != nil {
		return err
	}
	if !above {
		if _, found, err := t.probe(probeSlot{coll: m.ID}, dk); err != nil {
			return err
		} else if found {
			return &dupKeyError{ns: m.ns(), index: "_id_", key: dupKeyText("_id", s.id())}
		}
	}
	// What the _id key and the other indexes hold: the document itself,
	// or in a clustered collection its key in the clustered index.
	ref, val := idKey, []byte(s.raw)
	if cx := m.clustered(); cx != nil {
		if ref, err = clusterKey(m, cx, &s, idKey); err != nil {
			return err
		}
		val = ref
	}
	if err := t.addEntries(m, &s, idKey, nil, ref, nil); err != nil {
		return err
	}
	if err := t.b.Set(dk, val, nil); err != nil {
		return err
	}
	t.raiseIDCeiling(m.ID, dk)
	t.inserted = append(t.inserted, dk)
	return t.logChange(bson.D{
		{Key: "operationType", Value: "insert"},
		{Key: "fullDocument", Value: s.raw},
		{Key: "documentKey", Value: bson.D{{Key: "_id", Value: s.id()}}},
	}, m)
}

// replace writes next over prev (same _id). desc is the change event's
// operation: "update" with its description, or "replace".
func (t *txn) replace(m *collMeta, prev, next stored, desc bson.D) error {
	t.other = true
	idKey, err := appendKey(nil, prev.id())
	if err != nil {
		return err
	}
	ref, prevRef, val := idKey, idKey, []byte(next.raw)
	cx := m.clustered()
	if cx != nil {
		if ref, err = clusterKey(m, cx, &next, idKey); err != nil {
			return err
		}
		if prevRef, err = clusterKey(m, cx, &prev, idKey); err != nil {
			return err
		}
		val = ref
	}
	if err := t.addEntries(m, &next, idKey, &prev, ref, prevRef); err != nil {
		return err
	}
	// A clustered document that kept its key is rewritten in its entry
	// alone.
	if cx == nil || !bytes.Equal(ref, prevRef) {
		if err := t.b.Set(docKey(m.ID, idKey), val, nil); err != nil {
			return err
		}
	}
	ev := append(bson.D{}, desc...)
	ev = append(ev,
		bson.E{Key: "fullDocument", Value: next.raw},
		bson.E{Key: "documentKey", Value: bson.D{{Key: "_id", Value: prev.id()}}})
	return t.logChange(ev, m)
}

// remove deletes a stored document and its index entries.
func (t *txn) remove(m *collMeta, s stored) error {
	t.other = true
	idKey, err := appendKey(nil, s.id())
	if err != nil {
		return err
	}
	for _, ix := range m.Indexes {
		keys, _, err := storedKeys(m, ix, &s, idKey)
		if err != nil {
			return err
		}
		for _, k := range keys {
			if err := t.b.Delete(k, nil); err != nil {
				return err
			}
		}
	}
	if err := t.b.Delete(docKey(m.ID, idKey), nil); err != nil {
		return err
	}
	return t.logChange(bson.D{
		{Key: "operationType", Value: "delete"},
		{Key: "documentKey", Value: bson.D{{Key: "_id", Value: s.id()}}},
	}, m)
}

// addEntries writes doc's index entries, removing those of prev (the
// document's previous version) that doc no longer has. Entries hold ref,
// the document's reference (prevRef before), except a clustered index's,
// which hold the document. A unique index entry held by another document
// is a duplicate key error, found before anything is written, so a failed
// write leaves the batch as it was.
func (t *txn) addEntries(m *collMeta, doc *stored, idKey []byte, prev *stored, ref, prevRef []byte) error {
	type change struct {
		ix       int
		add, del [][]byte
		multi    bool
	}
	changes := make([]change, 0, len(m.Indexes))
	// moved: the reference changed (always for an insert, whose prevRef
	// is nil), so every entry the document keeps is written again.
	moved := !bytes.Equal(ref, prevRef)
	for i, ix := range m.Indexes {
		if m.isClustered(ix) {
			// Its one entry is the reference, computed (and refused for
			// arrays) already; it holds the document, so it is written
			// again whenever the document is.
			c := change{ix: i, add: [][]byte{ref}}
			if moved {
				if err := t.checkUnique(m, ix, true, doc, ref, idKey, ref); err != nil {
					return err
				}
				if prevRef != nil {
					c.del = [][]byte{prevRef}
				}
			}
			changes = append(changes, c)
			continue
		}
		keys, multi, err := storedKeys(m, ix, doc, idKey)
		if err != nil {
			return err
		}
		var old [][]byte
		if prev != nil {
			if old, _, err = storedKeys(m, ix, prev, idKey); err != nil {
				return err
			}
		}
		c := change{ix: i, multi: multi && !ix.Multikey}
		for _, k := range old {
			if !containsKey(keys, k) {
				c.del = append(c.del, k)
			}
		}
		for _, k := range keys {
			if containsKey(old, k) {
				if moved {
					c.add = append(c.add, k)
				}
				continue
			}
			if ix.Unique {
				if err := t.checkUnique(m, ix, false, doc, k, idKey, ref); err != nil {
					return err
				}
			}
			c.add = append(c.add, k)
		}
		changes = append(changes, c)
	}
	var marked []uint32
	for _, c := range changes {
		for _, k := range c.del {
			if err := t.b.Delete(k, nil); err != nil {
				return err
			}
		}
		val := ref
		if m.isClustered(m.Indexes[c.ix]) {
			val = doc.raw
		}
		for _, k := range c.add {
			if err := t.b.Set(k, val, nil); err != nil {
				return err
			}
		}
		if c.multi {
			marked = append(marked, m.Indexes[c.ix].ID)
		}
	}
	if len(marked) > 0 {
		// Mark the indexes on the collection's catalog entry as it is
		// now, not on m: m may be a view of some of its indexes (a
		// backfill's), and the entry holds them all.
		cur := t.cat.get(m.DB, m.Name)
		if cur == nil {
			return fmt.Errorf("engine: collection %s vanished during a write", m.ns())
		}
		n := cur.clone()
		for _, ix := range n.Indexes {
			if slices.Contains(marked, ix.ID) {
				ix.Multikey = true
			}
		}
		if err := t.putColl(n); err != nil {
			return err
		}
	}
	return nil
}

// checkUnique returns a duplicate key error when another document holds
// the entry k of the unique index ix.
func (t *txn) checkUnique(m *collMeta, ix *indexMeta, clustered bool, doc *stored, k, idKey, ref []byte) error {
	v, found, err := t.probe(probeSlot{coll: m.ID, index: ix.ID}, k)
	if err != nil || !found {
		return err
	}
	same, err := sameOwner(ix, clustered, v, idKey, ref)
	if err != nil {
		return err
	}
	if !same {
		return &dupKeyError{ns: m.ns(), index: ix.Name, key: dupKeyDoc(ix, doc.d())}
	}
	return nil
}

// sameOwner reports whether the unique index entry holding v belongs to
// the document whose encoded _id is idKey and whose reference is ref.
func sameOwner(ix *indexMeta, clustered bool, v, idKey, ref []byte) (bool, error) {
	if !clustered {
		return bytes.Equal(v, ref), nil
	}
	if err := bsoncheck.WellFormed(v); err != nil {
		return false, fmt.Errorf("%w: index %s: an entry holds no document: %v", ErrCorrupt, ix.Name, err)
	}
	owner, err := appendKey(nil, (&stored{raw: v}).id())
	if err != nil {
		return false, err
	}
	return bytes.Equal(owner, idKey), nil
}

func containsKey(keys [][]byte, k []byte) bool {
	for _, x := range keys {
		if bytes.Equal(x, k) {
			return true
		}
	}
	return false
}

// logChange appends a change event to the change log, in the batch.
func (t *txn) logChange(ev bson.D, m *collMeta) error {
	op := t.op
	t.op++
	// Built with bsoncore rather than marshalled by reflection: this runs
	// for every document written.
	doc, dst := bsoncore.AppendDocumentStart(make([]byte, 0, 256))
	tok, dst := bsoncore.AppendDocumentElementStart(dst, "_id")
	dst = bsoncore.AppendStringElement(dst, "_data", tokenData(t.ts, op))
	dst, _ = bsoncore.AppendDocumentEnd(dst, tok)
	opType, _ := ev[0].Value.(string)
	dst = bsoncore.AppendStringElement(dst, "operationType", opType)
	ts := tsValue(t.ts)
	dst = bsoncore.AppendTimestampElement(dst, "clusterTime", ts.T, ts.I)
	dst = bsoncore.AppendDateTimeElement(dst, "wallTime", t.wall.UnixMilli())
	ns, dst := bsoncore.AppendDocumentElementStart(dst, "ns")
	dst = bsoncore.AppendStringElement(dst, "db", m.DB)
	dst = bsoncore.AppendStringElement(dst, "coll", m.Name)
	dst, _ = bsoncore.AppendDocumentEnd(dst, ns)
	for _, e := range ev[1:] {
		if raw, ok := e.Value.(bson.Raw); ok {
			dst = bsoncore.AppendDocumentElement(dst, e.Key, raw)
			continue
		}
		typ, data, err := bson.MarshalValue(e.Value)
		if err != nil {
			return fmt.Errorf("engine: change event: %w", err)
		}
		dst = bsoncore.AppendValueElement(dst, e.Key, bsoncore.Value{Type: typ, Data: data})
	}
	dst, err := bsoncore.AppendDocumentEnd(dst, doc)
	if err != nil {
		return fmt.Errorf("engine: change event: %w", err)
	}
	t.state.OplogCount++
	return t.b.Set(oplogKey(t.ts, op), dst, nil)
}

// tokenData is the _data of a resume token: the change's position.
func tokenData(ts uint64, op uint32) string {
	return hex.EncodeToString(oplogKey(ts, op)[1:])
}

func parseTokenData(s string) (uint64, uint32, bool) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 12 {
		return 0, 0, false
	}
	return parseOplogKey(append([]byte{prefixOplog}, b...))
}

func tsValue(ts uint64) primitive.Timestamp {
	return primitive.Timestamp{T: uint32(ts >> 32), I: uint32(ts)}
}

func tsOf(t primitive.Timestamp) uint64 { return uint64(t.T)<<32 | uint64(t.I) }

// trimOplog deletes the oldest change-log entries beyond the limits.
func (t *txn) trimOplog() error {
	o := t.e.opts
	over := t.state.OplogCount - o.OplogEntries
	var cutoff uint64
	if o.OplogRetention > 0 {
		cutoff = uint64(time.Now().Add(-o.OplogRetention).Unix()) << 32
	}
	// Trim in chunks, not at every commit.
	if over < o.OplogEntries/16+1 && (cutoff == 0 || t.state.TrimmedTS >= cutoff) {
		return nil
	}
	it, err := t.e.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixOplog}, UpperBound: []byte{prefixOplog + 1}})
	if err != nil {
		return err
	}
	defer it.Close()
	var last []byte
	n := int64(0)
	for it.First(); it.Valid(); it.Next() {
		ts, _, _ := parseOplogKey(it.Key())
		if n >= over && (cutoff == 0 || ts >= cutoff) {
			break
		}
		// Never trim the last entry: it anchors the newest position.
		if ts >= t.ts {
			break
		}
		last = append(last[:0], it.Key()...)
		n++
	}
	if last == nil {
		return nil
	}
	if err := t.b.DeleteRange([]byte{prefixOplog}, prefixEnd(last), nil); err != nil {
		return err
	}
	ts, op, _ := parseOplogKey(last)
	t.state.TrimmedTS, t.state.TrimmedOp = ts, op
	t.state.OplogCount -= n
	return nil
}

// probeOptions are the options of a transaction's probe iterators.
var probeOptions = pebble.IterOptions{UseL6Filters: true}

// probeSlot names a keyspace a transaction probes: a collection's
// documents by _id (index 0), or one of its indexes.
type probeSlot struct {
	coll, index uint32
}

// prober is a transaction's iterator for the probes of one keyspace, and
// the batch's length when it last refreshed its view of the batch.
type prober struct {
	slot probeSlot
	it   *pebble.Iterator
	len  int
}

// probe returns a copy of k's value, if k is there. It is Get for the
// keys a write expects to be absent (a new _id, a unique index entry):
// Pebble's Get consults the bloom filters of every level but the last
// (L6's are large), so a Get of an absent key reads a data block of the
// level that holds most of the store. A prefix seek that opts into L6's
// filters skips it.
//
// The transaction keeps an iterator for each keyspace it probes (slot),
// refreshed when its batch has grown since that iterator's last probe:
// building one costs more than the seek, and one iterator shared by the
// keyspaces would move each level to another table at every probe, where
// a bulk insert's probes of one keyspace stay in the tables they used
// last.
func (t *txn) probe(slot probeSlot, k []byte) ([]byte, bool, error) {
	p, err := t.prober(slot)
	if err != nil {
		return nil, false, err
	}
	it := p.it
	if !it.SeekPrefixGE(k) || !bytes.Equal(it.Key(), k) {
		if err := it.Error(); err != nil {
			t.closeProbes()
			return nil, false, err
		}
		return nil, false, nil
	}
	v, err := it.ValueAndErr()
	if err != nil {
		t.closeProbes()
		return nil, false, err
	}
	return bytes.Clone(v), true, nil
}

// prober returns slot's probe iterator, made or refreshed as needed.
func (t *txn) prober(slot probeSlot) (*prober, error) {
	n := t.b.Len()
	for i := range t.probers {
		p := &t.probers[i]
		if p.slot != slot {
			continue
		}
		if p.len != n {
			p.it.SetOptions(&probeOptions)
			p.len = n
		}
		return p, nil
	}
	it, err := t.b.NewIter(&probeOptions)
	if err != nil {
		return nil, err
	}
	t.probers = append(t.probers, prober{slot: slot, it: it, len: n})
	return &t.probers[len(t.probers)-1], nil
}

// closeProbes closes the probe iterators. It comes before the batch is
// applied or closed.
func (t *txn) closeProbes() {
	for _, p := range t.probers {
		_ = p.it.Close()
	}
	t.probers = t.probers[:0]
}

func dupKeyText(field string, v any) string {
	b, err := bson.MarshalExtJSON(bson.D{{Key: field, Value: v}}, false, false)
	if err != nil {
		return fmt.Sprintf("{ %s: %v }", field, v)
	}
	return string(b)
}

func dupKeyDoc(ix *indexMeta, doc *bson.D) string {
	d := bson.D{}
	for _, f := range ix.Fields {
		v := bsonkit.Get(doc, f)
		if v == bsonkit.Missing {
			v = nil
		}
		d = append(d, bson.E{Key: f, Value: v})
	}
	b, err := bson.MarshalExtJSON(d, false, false)
	if err != nil {
		return fmt.Sprint(d)
	}
	return string(b)
}
