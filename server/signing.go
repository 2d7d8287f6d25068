package server

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"sync"

	"github.com/256dpi/lungo"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
)

// The server signs what it hands clients to bring back (page cursors,
// live feed event ids) with one key, so that it can refuse anything it did
// not issue before reading it. The key is one document in a collection of
// the store's database, created by the first server that needs it and
// shared by every server on the store, across restarts.
const (
	keysCollection = "server_keys"
	signingKeyID   = "signing_key"
	signingKeyLen  = 32
	tagLen         = sha256.Size
)

// signingKey loads the store's signing key once.
type signingKey struct {
	mu  sync.Mutex
	key []byte
}

// get returns the key, creating and storing it if the store has none. A
// failed load is retried by the next call.
func (k *signingKey) get(ctx context.Context, db lungo.IDatabase) ([]byte, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.key != nil {
		return k.key, nil
	}
	coll := db.Collection(keysCollection)
	fresh := make([]byte, signingKeyLen)
	if _, err := rand.Read(fresh); err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	_, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: signingKeyID}, {Key: "key", Value: fresh}})
	if err != nil && !lungo.IsUniquenessError(err) && !mongo.IsDuplicateKeyError(err) {
		return nil, fmt.Errorf("signing key: store: %w", err)
	}
	// Read back whichever key won: another server may have stored one
	// first.
	var doc struct {
		Key []byte `bson:"key"`
	}
	if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: signingKeyID}}).Decode(&doc); err != nil {
		return nil, fmt.Errorf("signing key: load: %w", err)
	}
	if len(doc.Key) != signingKeyLen {
		return nil, fmt.Errorf("signing key: the stored key has %d bytes, want %d", len(doc.Key), signingKeyLen)
	}
	k.key = doc.Key
	return k.key, nil
}

// sign is the HMAC-SHA256 tag of payload for one use (domain) and one
// context of that use (scope).
func sign(key []byte, domain, scope string, payload []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(domain))
	m.Write([]byte(scope))
	m.Write([]byte{0})
	m.Write(payload)
	return m.Sum(nil)
}

// verify splits a signed value into its payload, if its tag is right.
func verify(key []byte, domain, scope string, signed []byte) ([]byte, bool) {
	if len(signed) <= tagLen {
		return nil, false
	}
	tag, payload := signed[:tagLen], signed[tagLen:]
	return payload, hmac.Equal(tag, sign(key, domain, scope, payload))
}

// signed returns tag ‖ payload.
func signed(key []byte, domain, scope string, payload []byte) []byte {
	return append(sign(key, domain, scope, payload), payload...)
}
