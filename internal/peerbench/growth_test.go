package peerbench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// growthRound is how many operations each phase of BenchmarkGrowth runs.
const growthRound = 100

// BenchmarkGrowth reads the flat-cost comparison from one run: Append1's
// and Load10's operations on the smallest store of ANNALS_BENCH_STORED
// and on a store of N events, in turn, growthRound operations each per
// op (which goes first alternates). It reports the cost at N over the
// cost at the smallest size as x-smallest, from phases a fraction of a
// second apart: Append1 and Load10 run their sizes minutes apart, and the
// disk's fsync time and the machine's load drift in between. Reseeding an
// append fixture is not timed.
func BenchmarkGrowth(b *testing.B) {
	sizes := storedSizes(b)
	smallest := slices.Min(sizes)
	ops := []struct {
		name string
		role string
		run  func(ctx context.Context, f *fixture, rng *rand.Rand) error
	}{
		{"Append1", roleAppend, func(ctx context.Context, f *fixture, _ *rand.Rand) error { return f.appendNext(ctx) }},
		{"Load10", roleRead, func(ctx context.Context, f *fixture, rng *rand.Rand) error { return f.loadRandom(ctx, rng) }},
	}
	for _, op := range ops {
		for _, n := range sizes {
			if n == smallest {
				continue
			}
			for _, im := range impls {
				b.Run(fmt.Sprintf("op=%s/stored=%d/impl=%s", op.name, n, im.name), func(b *testing.B) {
					ctx := context.Background()
					fixtures := [2]*fixture{fixtureOf(b, im, smallest, op.role), fixtureOf(b, im, n, op.role)}
					rng := rand.New(rand.NewPCG(2, uint64(n)))
					var took [2]time.Duration // smallest, N
					b.ResetTimer()
					for i := range b.N {
						for j := range 2 {
							size := (i + j) % 2
							f := fixtures[size]
							for range growthRound {
								if op.role == roleAppend {
									f.readyToAppend(b)
								}
								start := time.Now()
								if err := op.run(ctx, f, rng); err != nil {
									b.Fatal(err)
								}
								took[size] += time.Since(start)
							}
						}
					}
					b.StopTimer()
					timed := float64(b.N * growthRound)
					b.ReportMetric(took[1].Seconds()/took[0].Seconds(), "x-smallest")
					b.ReportMetric(float64(took[0].Microseconds())/timed, "smallest-µs/op")
					b.ReportMetric(float64(took[1].Microseconds())/timed, "N-µs/op")
				})
			}
		}
	}
}
