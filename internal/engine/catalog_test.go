package engine

import (
	"bytes"
	"math"
	"math/rand/v2"
	"testing"

	"go.mongodb.org/mongo-driver/bson"
)

// TestStateMarshal: the state's hand-built encoding is what the driver
// marshals, reads back the same, and refuses what the driver refuses.
func TestStateMarshal(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	states := []engineState{{}, {NextColl: math.MaxUint32, LastTS: math.MaxInt64, OplogCount: math.MinInt64, TrimmedTS: math.MaxInt64, TrimmedOp: math.MaxUint32}}
	for range 1000 {
		states = append(states, engineState{NextColl: r.Uint32(), LastTS: r.Uint64() >> 1, OplogCount: r.Int64(), TrimmedTS: r.Uint64() >> 1, TrimmedOp: r.Uint32()})
	}
	for _, s := range states {
		got, err := s.marshal()
		if err != nil {
			t.Fatalf("marshal %+v: %v", s, err)
		}
		want, err := bson.Marshal(&s)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("marshal %+v =\n%x\nthe driver gives\n%x", s, got, want)
		}
		var back engineState
		if err := bson.Unmarshal(got, &back); err != nil || back != s {
			t.Fatalf("read back %+v (%v), want %+v", back, err, s)
		}
	}
	for _, s := range []engineState{{LastTS: math.MaxInt64 + 1}, {TrimmedTS: math.MaxUint64}} {
		if _, err := s.marshal(); err == nil {
			t.Errorf("marshal %+v: no error", s)
		}
		if _, err := bson.Marshal(&s); err == nil {
			t.Errorf("the driver marshals %+v", s)
		}
	}
}
