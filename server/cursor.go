package server

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strings"

	"go.mongodb.org/mongo-driver/bson"
)

// A page cursor is opaque to clients: base64url of a tag (see sign)
// followed by a small JSON document naming where the previous page ended.
// The tag covers the listing the cursor was issued for and the document,
// so a cursor that no server on this store issued for this listing is
// refused before any of it is decoded.
type pageCursor struct {
	// ID is the last document's _id, as canonical Extended JSON.
	ID json.RawMessage `json:"i"`
	// Sort is the last document's sort field value, when sorting by one.
	Sort json.RawMessage `json:"s,omitempty"`
	// Field is the sort field and direction the cursor was made for.
	Field string `json:"f,omitempty"`
}

// cursorDomain separates cursor tags from other uses of the signing key.
const cursorDomain = "annals page cursor v1\x00"

var errForeignCursor = badRequest("the cursor is not one this server issued for this listing; start again without cursor=")

// encode signs the cursor for the listing named by scope.
func (p pageCursor) encode(key []byte, scope string) (string, error) {
	payload, err := json.Marshal(p)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(signed(key, cursorDomain, scope, payload)), nil
}

// decodeCursor checks the cursor's tag for the listing named by scope,
// then decodes it. Any edit, and any cursor issued for another listing or
// under another key, is refused before its content is read.
func decodeCursor(key []byte, scope, s string) (pageCursor, error) {
	var p pageCursor
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return p, errForeignCursor
	}
	payload, ok := verify(key, cursorDomain, scope, b)
	if !ok {
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
