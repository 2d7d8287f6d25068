package mongostore

import (
	"crypto/rand"
	"encoding/hex"
)

// ExclusiveID returns an id unique to this open of the store when no
// other Store can have the same store open at the same time: a file:
// store, held under its exclusive lock, or a memory: store, private to
// its Store. Whatever another owner recorded in such a store (a
// projection's lease, say) was recorded by a Store that is closed or
// whose process is gone, so it can be taken over at once.
//
// It is "" for MongoDB and for stores built with New on a client the
// caller holds, which other processes or Stores may share.
func (s *Store) ExclusiveID() string { return s.exclusiveID }

func newExclusiveID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b) // never fails (crypto/rand since Go 1.24)
	return hex.EncodeToString(b)
}
