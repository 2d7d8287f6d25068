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

// TestStartAppendOffAllocatesNothing: with no provider and no span,
// deciding not to trace costs an append no allocation.
func TestStartAppendOffAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector changes allocation counts")
	}
	s := &Store{cfg: defaultConfig()}
	appends := []StreamAppend{{Stream: uuid.New(), Events: []EventData{{Name: "Opened"}}}}
	ctx := context.Background()
	if n := testing.AllocsPerRun(100, func() { s.startAppend(ctx, appends) }); n != 0 {
		t.Errorf("deciding not to trace costs %v allocations, want 0", n)
	}
}
