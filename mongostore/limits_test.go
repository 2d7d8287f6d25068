package mongostore

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/annalsdb/annals/internal/mockmongo"
	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/bson"
)

// limitStore is a store under test, with script to queue the replies of
// a mock deployment (after forgetting what it was sent) and sent to count
// the commands it was sent since. Both do nothing on the embedded engine,
// which has no wire.
type limitStore struct {
	*Store
	script func(replies ...bson.D)
	sent   func() int
	wire   bool
}

// limitEngines opens the store on the embedded engine and on the driver's
// mock deployment (MongoDB as the driver sees it).
func limitEngines() map[string]func(t *testing.T) limitStore {
	return map[string]func(t *testing.T) limitStore{
		"memory": func(t *testing.T) limitStore {
			s, err := Open(t.Context(), "memory:")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close(t.Context()) })
			return limitStore{s, func(...bson.D) {}, func() int { return 0 }, false}
		},
		"mongodb-mock": func(t *testing.T) limitStore {
			m := mockmongo.New(t, nil)
			m.Script(mockmongo.StoreSchema()...)
			s, err := New(t.Context(), m.Client)
			if err != nil {
				t.Fatal(err)
			}
			return limitStore{s, func(replies ...bson.D) { m.Clear(); m.Script(replies...) }, func() int { return len(m.Names()) }, true}
		},
	}
}

// blobOfSize returns data whose event document (name "A", no type, no
// metadata) is exactly size bytes.
func blobOfSize(t *testing.T, size int) map[string]string {
	t.Helper()
	empty, _ := bson.Marshal(map[string]string{"b": ""})
	n := size - docOverhead - len("A") - len(emptyDocument) - len(empty)
	data := map[string]string{"b": strings.Repeat("x", n)}
	raw, _ := bson.Marshal(data)
	doc, err := encodeEvent(uuid.New(), uuid.New(), "", 1, "A", 1, raw, emptyDocument, false, time.Unix(0, 0))
	if err != nil || len(doc) != size {
		t.Fatalf("built a %d-byte event (%v), want %d", len(doc), err, size)
	}
	return data
}

// An event document of MaxEventBytes is stored; one byte more is refused
// before anything is sent, on both engines. On MongoDB an event of
// 16 MiB would be stored but its change event (the document plus the
// change stream's envelope) would exceed 16 MiB, and every getMore at
// that position would fail with BSONObjectTooLarge.
func TestEventSizeBoundary(t *testing.T) {
	atLimit := blobOfSize(t, MaxEventBytes)
	over := blobOfSize(t, MaxEventBytes+1)
	for name, open := range limitEngines() {
		t.Run(name, func(t *testing.T) {
			s := open(t)
			s.script(mockmongo.OK(bson.E{Key: "n", Value: 1}))
			if _, err := s.Append(t.Context(), uuid.New(), NoStream, EventData{Name: "A", Data: atLimit}); err != nil {
				t.Fatalf("append of a %d-byte event: %v", MaxEventBytes, err)
			}
			if n := s.sent(); s.wire && n != 1 {
				t.Fatalf("the append sent %d commands, want one insert", n)
			}
			s.script()
			_, err := s.Append(t.Context(), uuid.New(), NoStream, EventData{Name: "A", Data: over})
			var ve *ValidationError
			if !errors.As(err, &ve) || !errors.Is(err, ErrTooLarge) {
				t.Fatalf("append of a %d-byte event: %v, want a *ValidationError matching ErrTooLarge", MaxEventBytes+1, err)
			}
			if n := s.sent(); n != 0 {
				t.Fatalf("the refused append sent %d commands, want none", n)
			}
		})
	}
}

// nested returns a document nested depth levels deep, itself the first.
func nested(depth int) map[string]any {
	doc := map[string]any{}
	for range depth - 1 {
		doc = map[string]any{"a": doc}
	}
	return doc
}

// Data and metadata nested deeper than MongoDB stores are refused with
// the same *ValidationError on both engines; the embedded engine would
// have stored them and MongoDB answered a 500-worthy server error.
func TestNestingDepthBoundary(t *testing.T) {
	deepest := MaxNestingDepth - 1
	for name, open := range limitEngines() {
		t.Run(name, func(t *testing.T) {
			s := open(t)
			s.script(mockmongo.OK(bson.E{Key: "n", Value: 1}))
			if _, err := s.Append(t.Context(), uuid.New(), NoStream, EventData{Name: "A", Data: nested(deepest)}); err != nil {
				t.Fatalf("data nested %d deep: %v", deepest, err)
			}
			if n := s.sent(); s.wire && n != 1 {
				t.Fatalf("the append sent %d commands, want one insert", n)
			}
			for _, ev := range []EventData{
				{Name: "A", Data: nested(deepest + 1)},
				{Name: "A", Data: map[string]any{"list": []any{nested(deepest - 1)}}},
				{Name: "A", Metadata: Metadata{Extra: map[string]any{"x": nested(deepest)}}},
			} {
				s.script()
				_, err := s.Append(t.Context(), uuid.New(), NoStream, ev)
				var ve *ValidationError
				if !errors.As(err, &ve) || !errors.Is(err, ErrInvalidInput) {
					t.Fatalf("too deep: %v, want a *ValidationError matching ErrInvalidInput", err)
				}
				if n := s.sent(); n != 0 {
					t.Fatalf("the refused append sent %d commands, want none", n)
				}
			}
		})
	}
}

// Data given as bson.Raw that is not one well-formed document is refused
// with a *ValidationError before anything is sent; a length of zero made
// the driver's Validate panic.
func TestMalformedRawDataRefused(t *testing.T) {
	for name, open := range limitEngines() {
		t.Run(name, func(t *testing.T) {
			s := open(t)
			for _, raw := range []bson.Raw{
				{0, 0, 0, 0, 0},
				{0xfb, 0xff, 0xff, 0xff, 0},
				{12, 0, 0, 0, 3, 'a', 0, 0, 0, 0, 0, 0},
				{9, 0, 0, 0, 8, 'a', 0, 2, 0},
			} {
				s.script()
				_, err := s.Append(t.Context(), uuid.New(), NoStream, EventData{Name: "A", Data: raw})
				var ve *ValidationError
				if !errors.As(err, &ve) || !errors.Is(err, ErrInvalidInput) {
					t.Fatalf("data %x: %v, want a *ValidationError matching ErrInvalidInput", []byte(raw), err)
				}
				if n := s.sent(); n != 0 {
					t.Fatalf("data %x: the refused append sent %d commands, want none", []byte(raw), n)
				}
			}
		})
	}
}
