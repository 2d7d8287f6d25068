package server

import (
	"encoding/base64"
	"fmt"

	"go.mongodb.org/mongo-driver/bson"
)

// liveIDDomain separates live feed event id tags from other uses of the
// signing key.
const liveIDDomain = "annals live event id v1\x00"

// encodeLiveID is the SSE id of an event: base64url of the change stream
// resume token after it, signed, so that a reconnecting client can only
// resume from a position this feed gave out.
func encodeLiveID(key []byte, token bson.Raw) string {
	return base64.RawURLEncoding.EncodeToString(signed(key, liveIDDomain, "", token))
}

// decodeLiveID checks an id's tag and returns its resume token. Any id
// the feed did not issue, however well formed, is a bad request.
func decodeLiveID(key []byte, id string) (bson.Raw, error) {
	b, err := base64.RawURLEncoding.DecodeString(id)
	if err == nil {
		if token, ok := verify(key, liveIDDomain, "", b); ok && bson.Raw(token).Validate() == nil {
			return bson.Raw(token), nil
		}
	}
	return nil, fmt.Errorf("%w: Last-Event-ID %q is not an event id this feed issued", errBadRequest, id)
}
