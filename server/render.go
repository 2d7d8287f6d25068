package server

import (
	"encoding/json"
	"time"

	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/bsontype"
)

// renderDocument renders a read-model document as JSON for HTTP clients:
// UUIDs (binary subtype 4) as their canonical strings, ObjectIDs as hex
// strings and dates as RFC 3339 strings in UTC with trailing zeros of the
// fraction trimmed (time.RFC3339Nano, as every time the API shows); other values
// as relaxed Extended JSON (numbers as numbers).
func renderDocument(raw bson.Raw) (json.RawMessage, error) {
	d, err := friendly(raw)
	if err != nil {
		return nil, err
	}
	return bson.MarshalExtJSON(d, false, false)
}

func friendly(raw bson.Raw) (bson.D, error) {
	elems, err := raw.Elements()
	if err != nil {
		return nil, err
	}
	out := make(bson.D, 0, len(elems))
	for _, el := range elems {
		v, err := friendlyValue(el.Value())
		if err != nil {
			return nil, err
		}
		out = append(out, bson.E{Key: el.Key(), Value: v})
	}
	return out, nil
}

func friendlyValue(v bson.RawValue) (any, error) {
	switch v.Type {
	case bsontype.Binary:
		if sub, data := v.Binary(); sub == bsontype.BinaryUUID && len(data) == 16 {
			return uuid.UUID(data).String(), nil
		}
	case bsontype.ObjectID:
		return v.ObjectID().Hex(), nil
	case bsontype.DateTime:
		return v.Time().UTC().Format(time.RFC3339Nano), nil
	case bsontype.EmbeddedDocument:
		return friendly(v.Document())
	case bsontype.Array:
		vals, err := v.Array().Values()
		if err != nil {
			return nil, err
		}
		out := make(bson.A, len(vals))
		for i, e := range vals {
			if out[i], err = friendlyValue(e); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	return v, nil
}
