package engine

import (
	"errors"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/sstable"
)

// Block filters on index prefixes, for walks backwards.
//
// A forward walk of one index prefix (a stream load) seeks with
// SeekPrefixGE, and Pebble's bloom filters skip the tables without the
// prefix. A backward walk (the append's head read: a stream's greatest
// version) cannot: Pebble consults bloom filters only for prefix seeks,
// which only go forward. So each level whose key range covers the stream
// would read the data block where the stream would be, whether it holds
// the stream or not.
//
// The engine therefore records, for every data block it writes, a small
// bloom filter of the index prefixes (comparer.go) of the keys in it, in
// the block's index entry, and a backward walk of one prefix passes Pebble
// a block-property filter that skips the blocks whose filter lacks it:
// Pebble reads an index entry (cached) instead of a data block, then stops
// at the walk's lower bound. Blocks written before this existed carry no
// filter and are read as before. The filter is a function of the user key
// alone, as Pebble requires for skipping blocks to be correct in the
// presence of deletions.

// prefixFilterName names the block property in the tables.
const prefixFilterName = "annals.index-prefixes.v1"

// prefixFilterVersion is the first byte of a data block's property.
const prefixFilterVersion = 1

// Bloom filter geometry: about 10 bits per distinct prefix, rounded up to
// a power of two between 1<<6 and 1<<11 bits, and 4 probes.
const (
	prefixFilterMinLog = 6
	prefixFilterMaxLog = 11
	prefixFilterProbes = 4
)

// prefixHash is the 64-bit FNV-1a hash of an index prefix: fixed, since
// the filters it builds are stored.
func prefixHash(p []byte) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range p {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return h
}

// prefixProbes calls fn with the bit positions of hash h in a filter of
// 1<<logBits bits.
func prefixProbes(h uint64, logBits uint8, fn func(bit uint32) bool) bool {
	mask := uint32(1)<<logBits - 1
	h1, h2 := uint32(h), uint32(h>>32)|1
	for i := uint32(0); i < prefixFilterProbes; i++ {
		if !fn((h1 + i*h2) & mask) {
			return false
		}
	}
	return true
}

// prefixCollector builds the property of each data block: the bloom
// filter of its keys' index prefixes. Index blocks and tables get an
// empty property, which filters nothing.
type prefixCollector struct {
	hashes []uint64
	last   []byte
}

var _ pebble.BlockPropertyCollector = (*prefixCollector)(nil)

func newPrefixCollector() pebble.BlockPropertyCollector { return &prefixCollector{} }

func (c *prefixCollector) Name() string { return prefixFilterName }

func (c *prefixCollector) AddPointKey(key sstable.InternalKey, _ []byte) error {
	n, ok := indexPrefixLen(key.UserKey)
	if !ok {
		return nil
	}
	p := key.UserKey[:n]
	if c.last != nil && string(p) == string(c.last) {
		return nil // keys come sorted: a prefix's keys are neighbours
	}
	c.last = append(c.last[:0], p...)
	c.hashes = append(c.hashes, prefixHash(p))
	return nil
}

func (c *prefixCollector) AddRangeKeys(sstable.Span) error { return nil }

func (c *prefixCollector) AddCollectedWithSuffixReplacement([]byte, []byte, []byte) error {
	return errors.New("engine: prefix filters do not support suffix replacement")
}

func (c *prefixCollector) SupportsSuffixReplacement() bool { return false }

func (c *prefixCollector) FinishDataBlock(buf []byte) ([]byte, error) {
	// Pebble passes a scratch buffer to append to (for tables, its first
	// byte is already the property's id).
	buf = append(buf, prefixFilterVersion)
	if len(c.hashes) == 0 {
		buf = append(buf, 0) // no index prefix in the block
	} else {
		logBits := uint8(prefixFilterMinLog)
		for 1<<logBits < len(c.hashes)*10 && logBits < prefixFilterMaxLog {
			logBits++
		}
		buf = append(buf, logBits)
		start := len(buf)
		buf = append(buf, make([]byte, (1<<logBits)/8)...)
		bits := buf[start:]
		for _, h := range c.hashes {
			prefixProbes(h, logBits, func(bit uint32) bool {
				bits[bit/8] |= 1 << (bit % 8)
				return true
			})
		}
	}
	c.hashes, c.last = c.hashes[:0], c.last[:0]
	return buf, nil
}

func (c *prefixCollector) AddPrevDataBlockToIndexBlock() {}

func (c *prefixCollector) FinishIndexBlock(buf []byte) ([]byte, error) { return buf, nil }

func (c *prefixCollector) FinishTable(buf []byte) ([]byte, error) { return buf, nil }

// prefixFilter is the block-property filter of a walk over one index
// prefix: it excludes the data blocks whose filter lacks it.
type prefixFilter struct {
	hash uint64
}

var _ pebble.BlockPropertyFilter = prefixFilter{}

func newPrefixFilter(prefix []byte) prefixFilter { return prefixFilter{hash: prefixHash(prefix)} }

func (f prefixFilter) Name() string { return prefixFilterName }

func (f prefixFilter) Intersects(prop []byte) (bool, error) {
	if len(prop) < 2 || prop[0] != prefixFilterVersion {
		return true, nil // an index block's, a table's, or unknown
	}
	logBits := prop[1]
	if logBits == 0 {
		return false, nil // the block holds no index entry
	}
	bits := prop[2:]
	if logBits < prefixFilterMinLog || logBits > prefixFilterMaxLog || len(bits) != (1<<logBits)/8 {
		return true, nil
	}
	return prefixProbes(f.hash, logBits, func(bit uint32) bool {
		return bits[bit/8]&(1<<(bit%8)) != 0
	}), nil
}

func (f prefixFilter) SyntheticSuffixIntersects(prop []byte, _ []byte) (bool, error) {
	return f.Intersects(prop)
}
