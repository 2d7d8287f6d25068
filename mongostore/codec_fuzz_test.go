package mongostore

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
)

// FuzzEventRoundTrip checks that whatever validation accepts encodes to
// exactly the document size it predicted and decodes back to what was
// given: payload bytes, metadata values and their Go types.
func FuzzEventRoundTrip(f *testing.F) {
	f.Add("OrderCreated", int32(1), "total", "ana", 1.0, int64(7), true, "corr-1", "Order")
	f.Add("A", int32(0), "k", "", math.Inf(1), int64(math.MinInt64), false, "", "")
	f.Add("x.y-z_1", int32(math.MaxInt32), "ünïcødé", "\x00zero", -0.0, int64(-1), true, "c", "T")
	f.Add("Bad Name", int32(-1), "$set", "v", math.NaN(), int64(0), false, "", "bad type")
	f.Fuzz(func(t *testing.T, name string, schema int32, key, str string, num float64, n int64, flag bool, corr, typ string) {
		s := &Store{cfg: defaultConfig()}
		stream := uuid.New()
		in := EventData{
			Name:          name,
			SchemaVersion: schema,
			Data:          bson.D{{Key: key, Value: str}, {Key: "num", Value: num}, {Key: "n", Value: n}},
			Metadata: Metadata{
				CorrelationID: corr,
				Extra:         map[string]any{key: num, "flag": flag, "n": n, "s": str},
			},
		}
		batch, err := s.prepare([]StreamAppend{{Stream: stream, Type: typ, Events: []EventData{in}}}, traceFields{})
		if err != nil {
			return // refused: nothing to round-trip
		}
		p := batch[0]
		at := time.UnixMilli(1_700_000_000_123).UTC()
		raw, err := encodeEvent(p.ids[0], stream, typ, 5, p.names[0], p.schemas[0], p.data[0], p.meta[0], p.escaped[0], at)
		if err != nil {
			t.Fatalf("validated event does not encode: %v", err)
		}
		ref := bson.D{
			{Key: fieldID, Value: UUIDValue(p.ids[0])}, {Key: fieldStream, Value: UUIDValue(stream)},
			{Key: fieldStreamType, Value: typ}, {Key: fieldVersion, Value: int64(5)}, {Key: fieldName, Value: p.names[0]},
			{Key: fieldSchemaVersion, Value: p.schemas[0]}, {Key: fieldData, Value: p.data[0]},
			{Key: fieldMetadata, Value: p.meta[0]},
		}
		if p.escaped[0] {
			ref = append(ref, bson.E{Key: fieldMetadataEscaped, Value: true})
		}
		refRaw, err := bson.Marshal(append(ref, bson.E{Key: fieldRecordedAt, Value: primitive.NewDateTimeFromTime(at)}))
		if err != nil || !bytes.Equal(raw, refRaw) {
			t.Fatalf("encoded\n%x\nthe driver marshals (%v)\n%x", []byte(raw), err, refRaw)
		}
		want := docOverhead + len(typ) + len(name) + len(p.data[0]) + len(p.meta[0])
		if p.escaped[0] {
			want += escapedMarkerBytes
		}
		if len(raw) != want {
			t.Fatalf("encoded %d bytes, size check predicted %d", len(raw), want)
		}
		got, err := DecodeEvent(raw)
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		wantSchema := schema
		if wantSchema == 0 {
			wantSchema = 1
		}
		if got.ID != p.ids[0] || got.Stream != stream || got.StreamType != typ || got.Version != 5 ||
			got.Name != name || got.SchemaVersion != wantSchema || !got.RecordedAt.Equal(at) {
			t.Fatalf("envelope changed: %+v", got)
		}
		if !bytes.Equal(got.Data, p.data[0]) {
			t.Fatalf("data changed: %v != %v", got.Data, p.data[0])
		}
		if !strings.EqualFold(key, "num") && !strings.EqualFold(key, "n") { // the driver matches struct fields case-insensitively
			var data struct {
				Num float64 `bson:"num"`
				N   int64   `bson:"n"`
			}
			if err := got.Decode(&data); err != nil {
				t.Fatalf("decode data: %v", err)
			}
			if math.Float64bits(data.Num) != math.Float64bits(num) || data.N != n {
				t.Fatalf("payload numbers changed: %+v, want %v %d", data, num, n)
			}
		}
		m := got.Metadata
		if m.CorrelationID != corr || m.Extra["flag"] != flag || m.Extra["n"] != n || m.Extra["s"] != str {
			t.Fatalf("metadata changed: %#v", m)
		}
		if key != "flag" && key != "n" && key != "s" {
			f, ok := m.Extra[key].(float64)
			if !ok || math.Float64bits(f) != math.Float64bits(num) {
				t.Fatalf("float64 %v came back as %T %v", num, m.Extra[key], m.Extra[key])
			}
		}
	})
}
