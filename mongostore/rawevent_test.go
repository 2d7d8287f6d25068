package mongostore

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"

	"github.com/annalsdb/annals/internal/bsoncheck"
)

// decodeByReflection is DecodeEvent as it was before fromRaw: the driver's
// reflection decoder for every document.
func decodeByReflection(raw bson.Raw) (Event, error) {
	var d storedEvent
	if err := bson.Unmarshal(raw, &d); err != nil {
		return Event{}, decodeError(raw, err)
	}
	ev, err := d.event()
	if err != nil {
		return Event{}, decodeError(raw, err)
	}
	return ev, nil
}

// decodeRecovering is decodeByReflection, reporting a panic.
func decodeRecovering(raw bson.Raw) (ev Event, err error, panicked bool) {
	defer func() {
		if recover() != nil {
			panicked = true
		}
	}()
	ev, err = decodeByReflection(raw)
	return ev, err, false
}

// rawEventCases are event documents: as annals writes them, and with each
// field of another type, missing, repeated, renamed or unknown.
func rawEventCases(t *testing.T) (written, other []bson.Raw) {
	t.Helper()
	at := time.UnixMilli(1_700_000_000_123).UTC()
	id, stream := uuid.Must(uuid.NewV7()), uuid.New()
	for _, c := range []struct {
		typ, name string
		schema    int32
		data      bson.D
		meta      bson.D
		escaped   bool
	}{
		{"Order", "OrderCreated", 1, bson.D{{Key: "total", Value: 12.5}}, bson.D{{Key: metaCorrelationID, Value: "c-1"}}, false},
		{"", "A", 0, nil, nil, false},
		{"Ünïcødé", "x.y", math.MaxInt32, bson.D{{Key: "nested", Value: bson.D{{Key: "a", Value: bson.A{1, "b", nil}}}}},
			bson.D{{Key: metaActor, Value: "ana"}, {Key: "k\uff0ey", Value: int64(3)}}, true},
	} {
		data, err := bson.Marshal(append(bson.D{}, c.data...))
		if err != nil {
			t.Fatal(err)
		}
		meta, err := bson.Marshal(append(bson.D{}, c.meta...))
		if err != nil {
			t.Fatal(err)
		}
		raw, err := encodeEvent(id, stream, c.typ, 7, c.name, c.schema, data, meta, c.escaped, at)
		if err != nil {
			t.Fatal(err)
		}
		written = append(written, raw)
	}

	var base bson.D
	if err := bson.Unmarshal(written[0], &base); err != nil {
		t.Fatal(err)
	}
	values := []any{
		nil, "s", int32(7), int64(7), 7.0, 7.5, true, primitive.NewDateTimeFromTime(at),
		bson.D{{Key: "a", Value: 1}}, bson.A{"x"}, primitive.Binary{Subtype: 4, Data: stream[:]},
		primitive.Binary{Subtype: 3, Data: stream[:]}, primitive.Binary{Subtype: 2, Data: stream[:]},
		primitive.Binary{Subtype: 4, Data: stream[:8]}, primitive.Symbol("s"), primitive.Timestamp{T: 1, I: 2},
		primitive.Null{}, primitive.Undefined{},
	}
	marshal := func(d bson.D) {
		raw, err := bson.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		other = append(other, raw)
	}
	for i, e := range base {
		for _, v := range values {
			d := append(bson.D{}, base...)
			d[i] = bson.E{Key: e.Key, Value: v}
			marshal(d)
		}
		marshal(append(append(bson.D{}, base[:i]...), base[i+1:]...))            // missing
		marshal(append(append(bson.D{}, base...), e))                            // repeated
		marshal(append(append(bson.D{}, base...), bson.E{Key: e.Key, Value: 1})) // repeated, another type
		renamed := append(bson.D{}, base...)
		renamed[i].Key = string(bytes.ToUpper([]byte(e.Key)))
		marshal(renamed)
	}
	marshal(append(append(bson.D{}, base...), bson.E{Key: "extra", Value: "x"}))
	marshal(append(append(bson.D{}, base...), bson.E{Key: fieldMetadataEscaped, Value: false}))
	return written, other
}

// TestDecodeFromRawMatchesReflection checks that DecodeEvent gives what
// the reflection decoder gave, event or error text, for documents as
// annals writes them (decoded from their bytes), for every field of
// another type, missing, repeated or renamed, and for thousands of
// damaged copies (bytes flipped, cut short, grown). A copy that is not
// well-formed BSON is refused with ErrCorruptEvent: the reflection decoder
// panicked on some, and accepted others whose data it copied as it was.
func TestDecodeFromRawMatchesReflection(t *testing.T) {
	written, other := rawEventCases(t)
	var malformed, panics, stricter int
	check := func(raw bson.Raw) (fast bool) {
		t.Helper()
		got, gotErr := DecodeEvent(raw)
		if bsoncheck.WellFormed(raw) != nil {
			// The reflection decoder can panic here; DecodeEvent refuses.
			if !errors.Is(gotErr, ErrCorruptEvent) || !reflect.DeepEqual(got, Event{}) {
				t.Fatalf("malformed document %x: got %+v, %v; want ErrCorruptEvent", []byte(raw), got, gotErr)
			}
			malformed++
			switch _, err, panicked := decodeRecovering(raw); {
			case panicked:
				panics++
			case err == nil:
				stricter++ // e.g. data cut inside: the driver copied it as it was
			}
			return false
		}
		want, wantErr := decodeByReflection(raw)
		if (wantErr == nil) != (gotErr == nil) || (wantErr != nil && wantErr.Error() != gotErr.Error()) {
			t.Fatalf("document %x:\ngot error  %v\nwant error %v", []byte(raw), gotErr, wantErr)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("document %x:\ngot  %+v\nwant %+v", []byte(raw), got, want)
		}
		var d storedEvent
		return d.fromRaw(raw)
	}
	for _, raw := range written {
		if !check(raw) {
			t.Fatalf("a document as annals writes it is not decoded from its bytes: %x", []byte(raw))
		}
	}
	var fast, slow int
	count := func(f bool) {
		if f {
			fast++
		} else {
			slow++
		}
	}
	for _, raw := range other {
		count(check(raw))
	}
	// Damage the reflection decoder misses or panics on, placed by hand.
	at := func(raw bson.Raw, key string) int {
		i := bytes.Index(raw, append([]byte(key), 0))
		if i < 0 {
			t.Fatalf("no %s in %x", key, []byte(raw))
		}
		return i + len(key) + 1
	}
	for _, damage := range []func(raw bson.Raw){
		func(raw bson.Raw) { raw[at(raw, fieldMetadataEscaped)] = 2 },
		func(raw bson.Raw) { i := at(raw, fieldStreamType); raw[i+3+int(raw[i])] = 'x' },
		func(raw bson.Raw) { i := at(raw, fieldData); raw[i+int(raw[i])-1] = 1 },
		func(raw bson.Raw) { i := at(raw, fieldID); raw[i+3] = 0x80 },
		func(raw bson.Raw) { i := at(raw, fieldMetadata); raw[i]++ },
	} {
		raw := bytes.Clone(written[2])
		damage(raw)
		if bsoncheck.WellFormed(raw) == nil {
			t.Fatalf("damaged document %x is taken as well-formed", []byte(raw))
		}
		check(raw)
	}
	rng := rand.New(rand.NewPCG(9, 9))
	for _, src := range append(append([]bson.Raw{}, written...), other...) {
		for range 300 {
			raw := bytes.Clone(src)
			switch rng.IntN(4) {
			case 0, 1: // flip a byte
				raw[rng.IntN(len(raw))] ^= byte(1 + rng.IntN(255))
			case 2: // cut short
				raw = raw[:rng.IntN(len(raw))]
			default: // grow, the length prefix told or not
				raw = append(raw, byte(rng.IntN(256)))
				if rng.IntN(2) == 0 {
					raw[0]++
				}
			}
			count(check(raw))
		}
	}
	slow -= malformed
	t.Logf("decoded from bytes %d, by reflection %d, refused as malformed %d (on which the reflection decoder panicked %d times and accepted %d)",
		fast, slow, malformed, panics, stricter)
	if fast == 0 || slow == 0 || malformed == 0 {
		t.Fatalf("decoded from bytes %d, by reflection %d, malformed %d: the comparison needs all three", fast, slow, malformed)
	}
}

// TestDecodeEventCopiesData checks that an event's data does not share
// the bytes it was decoded from: cursors reuse their buffers.
func TestDecodeEventCopiesData(t *testing.T) {
	written, _ := rawEventCases(t)
	raw := bytes.Clone(written[0])
	ev, err := DecodeEvent(raw)
	if err != nil {
		t.Fatal(err)
	}
	want := bytes.Clone(ev.Data)
	for i := range raw {
		raw[i] = 0xff
	}
	if !bytes.Equal(ev.Data, want) {
		t.Fatalf("data changed with the bytes it was decoded from: %x, want %x", []byte(ev.Data), []byte(want))
	}
}
