package server

import (
	"encoding/base64"
	"encoding/json"
)

// A page cursor is opaque to clients: base64url of a small JSON document
// naming where the previous page ended.
type pageCursor struct {
	// ID is the last document's _id, as relaxed Extended JSON.
	ID json.RawMessage `json:"i"`
	// Sort is the last document's sort field value, when sorting by one.
	Sort json.RawMessage `json:"s,omitempty"`
	// Field is the sort field and direction the cursor was made for.
	Field string `json:"f,omitempty"`
}

func (p pageCursor) encode() string {
	b, _ := json.Marshal(p)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string) (pageCursor, error) {
	var p pageCursor
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return p, badRequest("cursor %q is not one this server issued", s)
	}
	if err := json.Unmarshal(b, &p); err != nil || len(p.ID) == 0 {
		return p, badRequest("cursor %q is not one this server issued", s)
	}
	return p, nil
}
