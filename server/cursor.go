package server

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"github.com/256dpi/lungo"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
)

// A page cursor is opaque to clients: base64url of an HMAC-SHA256 tag
// followed by a small JSON document naming where the previous page ended.
// The tag covers the listing the cursor was issued for and the document,
// under a key kept in the store's database, so a cursor this server (or
// another server on the same store) did not issue is refused before any
// of it is decoded.
type pageCursor struct {
	// ID is the last document's _id, as canonical Extended JSON.
	ID json.RawMessage `json:"i"`
	// Sort is the last document's sort field value, when sorting by one.
	Sort json.RawMessage `json:"s,omitempty"`
	// Field is the sort field and direction the cursor was made for.
	Field string `json:"f,omitempty"`
}

// Where the cursor key lives: one document in a collection of the store's
// database, created by the first server that needs it and shared by every
// server on the store, across restarts.
const (
	keysCollection = "server_keys"
	cursorKeyID    = "page_cursor"
	cursorKeyBytes = 32
	// cursorDomain separates cursor tags from any other use of the key.
	cursorDomain = "annals page cursor v1\x00"
)

var errForeignCursor = badRequest("the cursor is not one this server issued for this listing; start again without cursor=")

// cursorKeys loads the store's cursor key once.
type cursorKeys struct {
	mu  sync.Mutex
	key []byte
}

// get returns the key, creating and storing it if the store has none. A
// failed load is retried by the next call.
func (k *cursorKeys) get(ctx context.Context, db lungo.IDatabase) ([]byte, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.key != nil {
		return k.key, nil
	}
	coll := db.Collection(keysCollection)
	fresh := make([]byte, cursorKeyBytes)
	if _, err := rand.Read(fresh); err != nil {
		return nil, fmt.Errorf("cursor key: %w", err)
	}
	_, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: cursorKeyID}, {Key: "key", Value: fresh}})
	if err != nil && !lungo.IsUniquenessError(err) && !mongo.IsDuplicateKeyError(err) {
		return nil, fmt.Errorf("cursor key: store: %w", err)
	}
	// Read back whichever key won: another server may have stored one
	// first.
	var doc struct {
		Key []byte `bson:"key"`
	}
	if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: cursorKeyID}}).Decode(&doc); err != nil {
		return nil, fmt.Errorf("cursor key: load: %w", err)
	}
	if len(doc.Key) != cursorKeyBytes {
		return nil, fmt.Errorf("cursor key: stored key has %d bytes, want %d", len(doc.Key), cursorKeyBytes)
	}
	k.key = doc.Key
	return k.key, nil
}

func cursorTag(key []byte, scope string, payload []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(cursorDomain))
	m.Write([]byte(scope))
	m.Write([]byte{0})
	m.Write(payload)
	return m.Sum(nil)
}

// encode signs the cursor for the listing named by scope.
func (p pageCursor) encode(key []byte, scope string) (string, error) {
	payload, err := json.Marshal(p)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(append(cursorTag(key, scope, payload), payload...)), nil
}

// decodeCursor checks the cursor's tag for the listing named by scope,
// then decodes it. Any edit, and any cursor issued for another listing or
// under another key, is refused before its content is read.
func decodeCursor(key []byte, scope, s string) (pageCursor, error) {
	var p pageCursor
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) <= sha256.Size {
		return p, errForeignCursor
	}
	tag, payload := b[:sha256.Size], b[sha256.Size:]
	if !hmac.Equal(tag, cursorTag(key, scope, payload)) {
		return p, errForeignCursor
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil || len(p.ID) == 0 {
		return p, errForeignCursor
	}
	return p, nil
}

// valueJSON renders one BSON value as canonical Extended JSON, wrapped so
// it keeps its type: {"v": …}.
func valueJSON(v bson.RawValue) (json.RawMessage, error) {
	if v.Type == 0 {
		v = bson.RawValue{Type: bson.TypeNull}
	}
	return bson.MarshalExtJSON(bson.D{{Key: "v", Value: v}}, true, false)
}

// valueOf decodes a cursor value and checks that it is a value a page can
// end on and a comparison takes literally: no patterns, code, MinKey or
// MaxKey, and no field names that start with '$' in documents.
func valueOf(j json.RawMessage) (any, error) {
	var d struct {
		V bson.RawValue `bson:"v"`
	}
	if err := bson.UnmarshalExtJSON(j, true, &d); err != nil {
		return nil, errForeignCursor
	}
	if err := checkCursorValue(d.V, 0); err != nil {
		return nil, err
	}
	return d.V, nil
}

const maxCursorDepth = 16

func checkCursorValue(v bson.RawValue, depth int) error {
	if depth > maxCursorDepth {
		return errForeignCursor
	}
	switch v.Type {
	case bson.TypeString, bson.TypeInt32, bson.TypeInt64, bson.TypeDouble, bson.TypeDecimal128,
		bson.TypeBoolean, bson.TypeNull, bson.TypeObjectID, bson.TypeDateTime, bson.TypeBinary, bson.TypeTimestamp:
		if v.Validate() != nil {
			return errForeignCursor
		}
		return nil
	case bson.TypeEmbeddedDocument, bson.TypeArray:
		elems, err := bson.Raw(v.Value).Elements()
		if err != nil {
			return errForeignCursor
		}
		for _, el := range elems {
			if v.Type == bson.TypeEmbeddedDocument && strings.HasPrefix(el.Key(), "$") {
				return errForeignCursor
			}
			if err := checkCursorValue(el.Value(), depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	return errForeignCursor
}
