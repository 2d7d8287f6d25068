package engine

import (
	"encoding/binary"
)

// The keyspace. Every key starts with one byte that says what it holds:
//
//	'm' name                                    engine metadata (format, counters)
//	'c' db 0x00 collection                      a collection's catalog entry (BSON)
//	'd' collID(4) key(_id)                      a document (BSON)
//	'x' collID(4) indexID(4) key(fields…)[key(_id)] an index entry; value: key(_id)
//	'o' clusterTime(8) opIndex(4)               a change-log entry (BSON change event)
//
// In a clustered collection (clustered.go) the 'd' entries and the other
// indexes' entries hold the document's clustered index key instead, and
// the clustered index's entries hold the document.
//
// key(v) is the order-preserving encoding of keyenc.go. Non-unique index
// entries end with the document's key(_id), so entries with equal fields
// stay distinct; unique ones do not, so a second document with the same
// fields finds the first one's entry.
const (
	prefixMeta    = 'm'
	prefixCatalog = 'c'
	prefixDoc     = 'd'
	prefixIndex   = 'x'
	prefixOplog   = 'o'
)

// Metadata keys.
var (
	metaFormat = []byte("mformat")
	metaState  = []byte("mstate")
)

func catalogKey(db, coll string) []byte {
	k := make([]byte, 0, 2+len(db)+len(coll))
	k = append(k, prefixCatalog)
	k = append(k, db...)
	k = append(k, 0)
	return append(k, coll...)
}

func appendU32(b []byte, v uint32) []byte { return binary.BigEndian.AppendUint32(b, v) }

func docPrefix(coll uint32) []byte { return appendU32([]byte{prefixDoc}, coll) }

// docKey returns the key of the document whose encoded _id is id.
func docKey(coll uint32, id []byte) []byte {
	return appendDocKey(make([]byte, 0, 5+len(id)), coll, id)
}

// appendDocKey appends a document's key to k.
func appendDocKey(k []byte, coll uint32, id []byte) []byte {
	k = append(k, prefixDoc)
	k = appendU32(k, coll)
	return append(k, id...)
}

func indexPrefix(coll, index uint32) []byte {
	k := make([]byte, 0, 9)
	k = append(k, prefixIndex)
	k = appendU32(k, coll)
	return appendU32(k, index)
}

func collIndexPrefix(coll uint32) []byte { return appendU32([]byte{prefixIndex}, coll) }

// oplogKey is the key of the opIndex-th change of the commit at ts.
func oplogKey(ts uint64, op uint32) []byte {
	k := make([]byte, 13)
	k[0] = prefixOplog
	binary.BigEndian.PutUint64(k[1:], ts)
	binary.BigEndian.PutUint32(k[9:], op)
	return k
}

// parseOplogKey is the inverse of oplogKey.
func parseOplogKey(k []byte) (ts uint64, op uint32, ok bool) {
	if len(k) != 13 || k[0] != prefixOplog {
		return 0, 0, false
	}
	return binary.BigEndian.Uint64(k[1:]), binary.BigEndian.Uint32(k[9:]), true
}
