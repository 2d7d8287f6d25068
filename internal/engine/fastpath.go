package engine

import (
	"encoding/binary"
	"errors"
	"math"
	"strings"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/x/bsonx/bsoncore"

	"go.mongodb.org/mongo-driver/bson/primitive"
)

// Fast paths for what every append and load asks of the engine, each
// giving exactly what the general path would: the general one goes through
// the driver's codecs (a filter marshalled and decoded again, a document
// decoded, projected and marshalled again), which cost about a fifth of a
// single-event append's CPU.

// canonicalDoc returns a copy of d when every value in it is already of a
// type that decoding BSON into a bson.D yields (so marshalling and
// decoding it again would give an equal document), and false otherwise.
func canonicalDoc(d bson.D) (bson.D, bool) {
	out := make(bson.D, len(d))
	for i, e := range d {
		if strings.IndexByte(e.Key, 0) >= 0 {
			return nil, false // the general path refuses it
		}
		v, ok := canonicalValue(e.Value)
		if !ok {
			return nil, false
		}
		out[i] = bson.E{Key: e.Key, Value: v}
	}
	return out, true
}

func canonicalValue(v any) (any, bool) {
	switch x := v.(type) {
	case nil, string, int32, int64, float64, bool,
		primitive.ObjectID, primitive.DateTime, primitive.Timestamp, primitive.Decimal128,
		primitive.MinKey, primitive.MaxKey, primitive.Undefined, primitive.JavaScript, primitive.Symbol, primitive.Regex:
		return v, true
	case int:
		// The driver's codec writes a Go int as an int32 when it fits.
		if x >= math.MinInt32 && x <= math.MaxInt32 {
			return int32(x), true
		}
		return int64(x), true
	case primitive.Binary:
		// Decoding gives subtype 0 for the old binary subtype 2's
		// payload; only the others round-trip as they are.
		return v, x.Subtype != 2
	case bson.D:
		return canonicalDoc(x)
	case bson.A:
		out := make(bson.A, len(x))
		for i, e := range x {
			c, ok := canonicalValue(e)
			if !ok {
				return nil, false
			}
			out[i] = c
		}
		return out, true
	}
	return nil, false
}

// plainInclusion reports whether proj only includes top-level fields
// ({a: 1, b: true}, optionally with {_id: 0}): what projectRaw can do on
// the stored bytes. Every other projection takes the general path.
func plainInclusion(proj bson.D) bool {
	fields := 0
	for i, e := range proj {
		if e.Key == "" || strings.ContainsAny(e.Key, ".$\x00") {
			return false
		}
		for _, before := range proj[:i] {
			if before.Key == e.Key {
				return false // a repeated field: the general path decides
			}
		}
		on, isFlag := projectionFlag(e.Value)
		switch {
		case !isFlag:
			return false
		case e.Key == "_id":
		case !on:
			return false // an exclusion
		default:
			fields++
		}
	}
	return fields > 0
}

// projectionFlag reads a projection value that only says yes or no.
func projectionFlag(v any) (on, ok bool) {
	switch x := v.(type) {
	case bool:
		return x, true
	case int32:
		return x != 0, true
	case int64:
		return x != 0, true
	case float64:
		return x != 0, true
	}
	return false, false
}

// projectRaw keeps the elements of raw that the plain inclusion proj
// selects: _id first, then the fields in the projection's order, as
// lungo's mongokit (and MongoDB's SBE engine) return them.
func projectRaw(raw bson.Raw, proj bson.D) (bson.Raw, error) {
	doc := bsoncore.Document(raw)
	out := make([]byte, 4, len(raw))
	emit := func(k string) error {
		v, err := doc.LookupErr(k)
		switch {
		case errors.Is(err, bsoncore.ErrElementNotFound):
			return nil
		case err != nil:
			return err
		}
		out = bsoncore.AppendValueElement(out, k, v)
		return nil
	}
	if included(proj, "_id") {
		if err := emit("_id"); err != nil {
			return nil, err
		}
	}
	for _, e := range proj {
		if e.Key != "_id" {
			if err := emit(e.Key); err != nil {
				return nil, err
			}
		}
	}
	out = append(out, 0)
	binary.LittleEndian.PutUint32(out, uint32(len(out)))
	return bson.Raw(out), nil
}

// included reports whether the plain inclusion proj keeps field k.
func included(proj bson.D, k string) bool {
	for _, e := range proj {
		if e.Key == k {
			on, _ := projectionFlag(e.Value)
			return on
		}
	}
	return k == "_id"
}
