package mongostore_test

import (
	"context"
	"testing"

	"github.com/annalsdb/annals/mongostore"
	"github.com/google/uuid"
)

// BenchmarkAppendOne appends one event with an exact expected version
// through the public API on a memory: store, with nothing around it: the
// path whose cost tracing must not change when it is off (compare
// BenchmarkAppendTraced). Besides wall-clock time it reports the
// process's CPU time per append (cpu-ns/op), which other processes
// competing for the CPUs disturb less.
func BenchmarkAppendOne(b *testing.B) {
	benchAppendOne(b, context.Background())
}

// benchAppendOne appends one event per iteration in ctx to a fresh
// memory: store opened with opts.
func benchAppendOne(b *testing.B, ctx context.Context, opts ...mongostore.Option) {
	b.Helper()
	s, err := mongostore.Open(context.Background(), "memory:", opts...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close(context.Background()) })
	stream := uuid.New()
	ev := mongostore.EventData{
		Name:     "FundsDeposited",
		Data:     map[string]any{"amount": 100, "currency": "EUR"},
		Metadata: mongostore.Metadata{CorrelationID: "c-1", Actor: "bench"},
	}
	b.ReportAllocs()
	cpu0, ok := processCPU()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.Append(ctx, stream, mongostore.Exact(int64(i)), ev); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if cpu1, ok1 := processCPU(); ok && ok1 {
		b.ReportMetric(float64(cpu1-cpu0)/float64(b.N), "cpu-ns/op")
	}
}
