package mongostore

import (
	"context"
	"testing"

	"github.com/google/uuid"
)

// BenchmarkStartAppendOff is what tracing adds to an append when it is
// off (no provider installed, no span in ctx): deciding so, and passing
// no trace fields on. BenchmarkAppendOne is the whole append it adds to.
func BenchmarkStartAppendOff(b *testing.B) {
	s := &Store{cfg: defaultConfig()}
	appends := []StreamAppend{{Stream: uuid.New(), Events: []EventData{{Name: "Opened"}}}}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		_, span, tf := s.startAppend(ctx, appends)
		if span != nil || tf.parent != "" {
			b.Fatal("traced with tracing off")
		}
	}
}

// TestStartAppendOffAllocatesNothing: with no provider and no span the
// append's tracing costs no allocation.
func TestStartAppendOffAllocatesNothing(t *testing.T) {
	s := &Store{cfg: defaultConfig()}
	appends := []StreamAppend{{Stream: uuid.New(), Events: []EventData{{Name: "Opened"}}}}
	m := Metadata{CorrelationID: "c", Extra: map[string]any{"k": "v"}}
	ctx := context.Background()
	with := testing.AllocsPerRun(100, func() {
		_, _, tf := s.startAppend(ctx, appends)
		if _, err := encodeMetadata(m, tf); err != nil {
			t.Fatal(err)
		}
	})
	without := testing.AllocsPerRun(100, func() {
		if _, err := encodeMetadata(m, traceFields{}); err != nil {
			t.Fatal(err)
		}
	})
	if with != without {
		t.Errorf("an untraced append's metadata costs %v allocations, %v without tracing's checks", with, without)
	}
}
