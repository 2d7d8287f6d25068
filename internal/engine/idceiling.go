package engine

import (
	"bytes"
	"errors"

	"github.com/cockroachdb/pebble/v2"
)

// Inserts with ascending _ids.
//
// An insert probes its collection's _id keys to refuse a duplicate _id.
// Ids that grow with time (the UUIDv7 ids mongostore gives events,
// ObjectIds) are, when inserted, greater than every _id the collection
// has held, and the probe positions every level of the store to find
// nothing. So the engine keeps, per collection, an _id ceiling: a key at
// or above every _id key the collection holds. An insert whose key is
// above it cannot be a duplicate and skips the probe.
//
// A collection's ceiling is read from the store at its first insert after
// opening (its greatest _id key, or its bare prefix when it has none) and
// only ever rises: every insert raises it, whether its transaction then
// commits or not. Deletes, drops and aborted transactions leave it above
// what exists, which is all that skipping the probe needs; an _id at or
// below it is probed as before. Ceilings are read and raised only under
// the writer lock.

// idAbove reports whether the document key dk of collection coll is above
// every _id key the collection holds, so that no probe is needed.
func (t *txn) idAbove(coll uint32, dk []byte) (bool, error) {
	c, ok := t.e.idCeilings[coll]
	if !ok {
		var err error
		if c, err = t.lastDocKey(coll); err != nil {
			return false, err
		}
		if t.e.idCeilings == nil {
			t.e.idCeilings = map[uint32][]byte{}
		}
		t.e.idCeilings[coll] = c
	}
	return bytes.Compare(dk, c) > 0, nil
}

// raiseIDCeiling raises coll's ceiling to dk, a key the transaction
// writes, once idAbove has read it.
func (t *txn) raiseIDCeiling(coll uint32, dk []byte) {
	if c, ok := t.e.idCeilings[coll]; ok && bytes.Compare(dk, c) > 0 {
		t.e.idCeilings[coll] = dk
	}
}

// lastDocKey returns the greatest _id key of coll that the transaction
// sees, or the collection's bare prefix, below all of them, when there is
// none.
func (t *txn) lastDocKey(coll uint32) ([]byte, error) {
	lo := docPrefix(coll)
	it, err := t.b.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: prefixEnd(lo)})
	if err != nil {
		return nil, err
	}
	last := lo
	if it.Last() {
		last = bytes.Clone(it.Key())
	}
	if err := errors.Join(it.Error(), it.Close()); err != nil {
		return nil, err
	}
	return last, nil
}
