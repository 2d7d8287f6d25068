package engine

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/256dpi/lungo/mongokit"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
)

// TestCanonicalDocMatchesTheRoundTrip: for random filters, the fast path
// of toDoc gives what marshalling and decoding gives, or steps aside.
func TestCanonicalDocMatchesTheRoundTrip(t *testing.T) {
	g := &keGen{r: rand.New(rand.NewPCG(5, 6))}
	fast := 0
	for i := 0; i < 20_000; i++ {
		d := bson.D{}
		for j := 0; j < 1+g.r.IntN(4); j++ {
			d = append(d, bson.E{Key: fmt.Sprintf("f%d", j), Value: g.value(0)})
		}
		if g.r.IntN(10) == 0 {
			d = append(d, bson.E{Key: "n", Value: bson.D{{Key: "$in", Value: bson.A{g.value(0), int(7), primitive.Null{}}}}})
		}
		raw, err := bson.Marshal(d)
		if err != nil {
			continue // a value the general path refuses too
		}
		var want bson.D
		if err := bson.Unmarshal(raw, &want); err != nil {
			t.Fatal(err)
		}
		got, ok := canonicalDoc(d)
		if !ok {
			continue
		}
		fast++
		gotRaw, err := bson.Marshal(got)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(gotRaw, raw) || !reflect.DeepEqual(normal(got), normal(want)) {
			t.Fatalf("canonicalDoc(%v) = %v, the round trip gives %v", d, got, want)
		}
	}
	if fast < 10_000 {
		t.Errorf("only %d of 20,000 filters took the fast path", fast)
	}
	for _, n := range []int{0, 1, -1, math.MaxInt32, math.MinInt32, math.MaxInt32 + 1, math.MinInt32 - 1, math.MaxInt64, math.MinInt64} {
		d := bson.D{{Key: "version", Value: n}, {Key: "in", Value: bson.A{n}}}
		raw, err := bson.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := canonicalDoc(d)
		if !ok {
			t.Fatalf("canonicalDoc(%v) stepped aside", d)
		}
		if gotRaw, err := bson.Marshal(got); err != nil || !bytes.Equal(gotRaw, raw) {
			t.Fatalf("canonicalDoc(%v) = %v; the driver writes %x, this %x", d, got, raw, gotRaw)
		}
	}
	for _, d := range []bson.D{{{Key: "a\x00", Value: "x"}}, {{Key: "a", Value: primitive.Null{}}}, {{Key: "a", Value: map[string]any{"b": 1}}}} {
		if _, ok := canonicalDoc(d); ok {
			t.Errorf("canonicalDoc(%v) took the fast path", d)
		}
	}
}

// normal makes decoded documents comparable with reflect.DeepEqual.
func normal(v any) any {
	raw, _ := bson.Marshal(bson.D{{Key: "v", Value: v}})
	return string(raw)
}

// TestProjectRawMatchesMongokit: a plain inclusion projection on the
// stored bytes gives mongokit's answer, byte for byte.
func TestProjectRawMatchesMongokit(t *testing.T) {
	g := &keGen{r: rand.New(rand.NewPCG(7, 8))}
	names := []string{"_id", "a", "b", "c", "d"}
	plain := 0
	for i := 0; i < 20_000; i++ {
		doc := bson.D{}
		for _, j := range g.r.Perm(len(names)) {
			if names[j] == "_id" || g.r.IntN(4) > 0 { // stored documents have an _id
				doc = append(doc, bson.E{Key: names[j], Value: g.value(0)})
			}
		}
		raw, err := bson.Marshal(doc)
		if err != nil {
			continue
		}
		proj := bson.D{}
		for _, j := range g.r.Perm(len(names)) {
			if g.r.IntN(2) == 0 {
				continue
			}
			flags := []any{1, int32(1), int64(1), true, 1.0, 0, false, int64(0)}
			proj = append(proj, bson.E{Key: names[j], Value: flags[g.r.IntN(len(flags))]})
		}
		if !plainInclusion(proj) {
			continue
		}
		plain++
		s := stored{raw: raw}
		want, werr := mongokit.Project(s.d(), &proj)
		got, gerr := projectRaw(raw, proj)
		if (werr != nil) != (gerr != nil) {
			t.Fatalf("project %v on %v: mongokit error %v, raw error %v", proj, doc, werr, gerr)
		}
		if werr != nil {
			continue
		}
		wantRaw, err := bson.Marshal(want)
		if err != nil {
			t.Fatal(err)
		}
		// The same fields and values; in the document's order, as MongoDB
		// returns them (mongokit follows the projection's order).
		if !bytes.Equal(got, wantRaw) {
			t.Fatalf("project %v on %v: raw %v, mongokit %v", proj, doc, bson.Raw(got), bson.Raw(wantRaw))
		}
	}
	if plain < 2_000 {
		t.Errorf("only %d plain inclusions checked", plain)
	}
	if dup := (bson.D{{Key: "a", Value: 1}, {Key: "a", Value: 1}}); plainInclusion(dup) {
		t.Errorf("plainInclusion(%v): a repeated field took the fast path, which would copy it twice", dup)
	}
}
