package mongostore

import (
	"bytes"
	"fmt"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/bsontype"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/x/bsonx/bsoncore"

	"github.com/annalsdb/annals/internal/bsoncheck"
)

// Decoding an event from its bytes.
//
// Every event a load, a scan or a change stream reads is decoded, and the
// driver's reflection decoder was most of a stream load's CPU. fromRaw
// reads the documents annals writes (encodeEvent: each field once, of the
// type written) straight from their bytes; anything else, such as an
// unknown or differently cased key, another numeric type or a null, is
// left to the reflection decoder, so what is accepted, what is refused
// and the errors stay as they were. A malformed document is refused
// before either reads it.
// TestDecodeFromRawMatchesReflection compares the two.

// fromRaw fills d, which must be zero, from raw, a well-formed document
// (bsoncheck.WellFormed), and reports whether it could; when it could
// not, d is to be decoded by reflection instead. The binary fields alias raw; the data
// document is copied, as the reflection decoder copies it (cursors reuse
// their buffers).
func (d *storedEvent) fromRaw(raw bson.Raw) bool {
	rest := raw[4 : len(raw)-1]
	for len(rest) > 0 {
		el, r, ok := bsoncore.ReadElement(rest)
		if !ok {
			return false
		}
		rest = r
		v := el.Value()
		var good bool
		switch string(el.KeyBytes()) {
		case fieldID:
			d.ID, good = rawBinary(v)
		case fieldStream:
			d.Stream, good = rawBinary(v)
		case fieldStreamType:
			d.StreamType, good = v.StringValueOK()
		case fieldVersion:
			d.Version, good = v.Int64OK()
		case fieldName:
			d.Name, good = v.StringValueOK()
		case fieldSchemaVersion:
			d.SchemaVersion, good = v.Int32OK()
		case fieldData:
			var doc bsoncore.Document
			if doc, good = v.DocumentOK(); good {
				d.Data = bytes.Clone(bson.Raw(doc))
			}
		case fieldMetadata:
			var doc bsoncore.Document
			if doc, good = v.DocumentOK(); good {
				d.Metadata = bson.Raw(doc)
			}
		case fieldMetadataEscaped:
			d.MetadataEscaped, good = v.BooleanOK()
		case fieldRecordedAt:
			var ms int64
			if ms, good = v.DateTimeOK(); good {
				d.RecordedAt = primitive.DateTime(ms)
			}
		}
		if !good {
			return false
		}
	}
	return true
}

// rawBinary reads a binary value as the reflection decoder would, except
// for the old binary subtype 2, whose inner length it leaves to it.
func rawBinary(v bsoncore.Value) (primitive.Binary, bool) {
	sub, data, ok := v.BinaryOK()
	if !ok || sub == bsontype.BinaryBinaryOld {
		return primitive.Binary{}, false
	}
	return primitive.Binary{Subtype: sub, Data: data}, true
}

// decodeStored decodes raw into d: from its bytes when it can, else by
// reflection. A document that is not well-formed BSON is refused before
// either: the driver's reflection decoder can panic on a damaged length.
func decodeStored(raw bson.Raw, d *storedEvent) error {
	if err := bsoncheck.WellFormed(raw); err != nil {
		return fmt.Errorf("not a well-formed BSON document: %w", err)
	}
	if d.fromRaw(raw) {
		return nil
	}
	*d = storedEvent{}
	return bson.Unmarshal(raw, d)
}
