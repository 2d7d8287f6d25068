package peerbench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
)

// bulkStreams × eventsPerStream events make one bulk batch: 100.
const bulkStreams = 10

// writerCounts are the numbers of concurrent writers of DurableAppend.
var writerCounts = []int{1, 16}

// perStored runs fn as stored=N/impl=I for every size and implementation
// (those keep selects, if set).
func perStored(b *testing.B, keep func(impl) bool, fn func(b *testing.B, im impl, stored int)) {
	for _, n := range storedSizes(b) {
		for _, im := range impls {
			if keep != nil && !keep(im) {
				continue
			}
			b.Run(fmt.Sprintf("stored=%d/impl=%s", n, im.name), func(b *testing.B) { fn(b, im, n) })
		}
	}
}

func persistent(im impl) bool { return im.persistent }

// BenchmarkAppend1 appends one event with an exact expected version to an
// existing stream of a store of N events, each op to another stream. The
// store is seeded again, timer stopped, once every stream has had one:
// it holds between N and 1.1 N events.
func BenchmarkAppend1(b *testing.B) {
	perStored(b, nil, func(b *testing.B, im impl, stored int) {
		ctx := context.Background()
		f := fixtureOf(b, im, stored, roleAppend)
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			f.readyToAppend(b)
			if err := f.appendNext(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkLoad10 loads a whole stream of 10 events, chosen at random
// among the N/10 streams of a store of N events.
func BenchmarkLoad10(b *testing.B) {
	perStored(b, nil, func(b *testing.B, im impl, stored int) {
		ctx := context.Background()
		f := fixtureOf(b, im, stored, roleRead)
		rng := rand.New(rand.NewPCG(1, uint64(stored)))
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			if err := f.loadRandom(ctx, rng); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// appendNext is Append1's operation: one event with an exact expected
// version to the next stream of an append fixture that has not had one
// (readyToAppend sees that there is one).
func (f *fixture) appendNext(ctx context.Context) error {
	f.next[0] = streamAppend{stream: f.streams[f.appended], expected: eventsPerStream, n: 1}
	if err := f.log.appendStreams(ctx, f.next[:]); err != nil {
		return err
	}
	f.appended++
	return nil
}

// readyToAppend seeds an append fixture again, timer stopped, once every
// stream has had its appendNext.
func (f *fixture) readyToAppend(b *testing.B) {
	if f.appended < len(f.streams) {
		return
	}
	b.StopTimer()
	f.reseed(b, roleAppend)
	b.StartTimer()
}

// loadRandom is Load10's operation: a whole stream of 10 events, chosen
// by rng.
func (f *fixture) loadRandom(ctx context.Context, rng *rand.Rand) error {
	n, v, err := f.log.load(ctx, f.streams[rng.IntN(len(f.streams))])
	if err != nil {
		return err
	}
	if n != eventsPerStream || v != eventsPerStream {
		return fmt.Errorf("loaded %d events up to version %d, want %d", n, v, eventsPerStream)
	}
	return nil
}

// BenchmarkScan reads every event of a store of N events in the order
// they were stored, through a cursor, decoding each: Store.Scan on
// annals. One op is one pass.
func BenchmarkScan(b *testing.B) {
	perStored(b, nil, func(b *testing.B, im impl, stored int) {
		ctx := context.Background()
		f := fixtureOf(b, im, stored, roleRead)
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			var n int
			if err := f.log.scan(ctx, func(uuid.UUID, int64) error { n++; return nil }); err != nil {
				b.Fatal(err)
			}
			if n != stored {
				b.Fatalf("scanned %d events, want %d", n, stored)
			}
		}
		b.ReportMetric(float64(stored)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})
}

// BenchmarkCatchUp brings a new reader of every event up to date over a
// store of N events: on annals a new projection whose handler only
// counts, from Runner.Run until its checkpoint is live; on the peers a
// cursor over the log with the same handler. One op is one catch-up.
func BenchmarkCatchUp(b *testing.B) {
	perStored(b, nil, func(b *testing.B, im impl, stored int) {
		ctx := context.Background()
		f := fixtureOf(b, im, stored, roleCatchUp)
		b.ReportAllocs()
		b.ResetTimer()
		b.StopTimer()
		for range b.N {
			applied, err := f.log.catchUp(ctx, b)
			if err != nil {
				b.Fatal(err)
			}
			if applied != int64(stored) {
				b.Fatalf("caught up over %d events, want %d", applied, stored)
			}
		}
		b.ReportMetric(float64(stored)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})
}

// BenchmarkReopen opens a closed store of N events and loads one stream:
// the time until a restarted process serves its first read, with the
// files in the page cache (they were just written). It also reports the
// store's size right after seeding: disk-B/event is the space its files
// take (allocated blocks, as du counts), file-B/event their length, and
// bson-B/event the events as the BSON documents annals stores, the same
// for every implementation. Only persistent implementations run it.
func BenchmarkReopen(b *testing.B) {
	perStored(b, persistent, func(b *testing.B, im impl, stored int) {
		ctx := context.Background()
		t := templateOf(b, im, stored)
		f := fixtureOf(b, im, stored, roleReopen)
		if err := f.close(ctx); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			l, err := im.open(ctx, f.dir)
			if err != nil {
				b.Fatal(err)
			}
			n, _, err := l.load(ctx, f.streams[i%len(f.streams)])
			if err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			if n != eventsPerStream {
				b.Fatalf("loaded %d events, want %d", n, eventsPerStream)
			}
			if err := l.close(ctx); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
		b.StopTimer()
		b.ReportMetric(float64(t.disk)/float64(stored), "disk-B/event")
		b.ReportMetric(float64(t.size)/float64(stored), "file-B/event")
		b.ReportMetric(float64(t.bson)/float64(t.events), "bson-B/event")
	})
}

// BenchmarkBulk100 ingests batches of 100 events, one transaction per
// batch: 10 new streams of 10 events, the seeding's shape. The store
// starts empty and is replaced by an empty one, timer stopped, every
// freshEvents events. One op is one batch.
func BenchmarkBulk100(b *testing.B) {
	for _, im := range impls {
		b.Run("impl="+im.name, func(b *testing.B) {
			ctx := context.Background()
			fs := newFreshStore(b, im)
			batch := make([]streamAppend, bulkStreams)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				for i := range batch {
					batch[i] = streamAppend{stream: uuid.New(), expected: 0, n: eventsPerStream}
				}
				if err := fs.reserve(b, bulkStreams*eventsPerStream).appendStreams(ctx, batch); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*bulkStreams*eventsPerStream)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkDurableAppend appends one event at a time with an exact
// expected version, each writer to its own stream; writers=1 is the single
// durable client, writers=16 shows what concurrency (group commit, if any)
// buys. annals-file, sqlite and bbolt have synced the event to disk when
// an append returns; annals-memory, which keeps nothing, is there for
// reference. The store starts empty and is replaced by an empty one, timer
// stopped, every freshEvents events. One op is one event appended, by
// whichever writer.
func BenchmarkDurableAppend(b *testing.B) {
	for _, w := range writerCounts {
		for _, im := range impls {
			b.Run(fmt.Sprintf("writers=%d/impl=%s", w, im.name), func(b *testing.B) { benchWriters(b, im, w) })
		}
	}
}

func benchWriters(b *testing.B, im impl, writers int) {
	ctx := context.Background()
	fs := newFreshStore(b, im)
	b.ReportAllocs()
	b.ResetTimer()
	for left := b.N; left > 0; {
		round := min(left, freshEvents)
		left -= round
		if err := appendConcurrently(ctx, fs.reserve(b, round), writers, round); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// appendConcurrently appends n events to l, one at a time with an exact
// expected version, from writers goroutines, each to a new stream of its
// own, and returns the first error.
func appendConcurrently(ctx context.Context, l eventLog, writers, n int) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, writers)
	for w := range writers {
		wg.Go(func() {
			stream, version := uuid.New(), int64(0)
			batch := make([]streamAppend, 1)
			for next.Add(1) <= int64(n) {
				batch[0] = streamAppend{stream: stream, expected: version, n: 1}
				if errs[w] = l.appendStreams(ctx, batch); errs[w] != nil {
					return
				}
				version++
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// ratioRound is how many events each phase of BenchmarkWritersRatio
// appends: two phases fill one fresh store.
const ratioRound = freshEvents / 2

// BenchmarkWritersRatio reads DurableAppend's comparison from one run:
// in each op, ratioRound events appended by one writer and ratioRound by
// sixteen, in turn (which goes first alternates), on the same fresh
// store. It reports the sixteen writers' throughput over the one
// writer's as x-one-writer, from phases a fraction of a second apart:
// DurableAppend's writers=1 and writers=16 run minutes apart, and the
// disk's fsync time drifts in between. Persistent implementations only:
// memory: syncs nothing.
func BenchmarkWritersRatio(b *testing.B) {
	for _, im := range impls {
		if !im.persistent {
			continue
		}
		b.Run("impl="+im.name, func(b *testing.B) {
			ctx := context.Background()
			fs := newFreshStore(b, im)
			var took [2]time.Duration // by writerCounts: one writer, sixteen
			b.ResetTimer()
			for i := range b.N {
				for j := range 2 {
					phase := (i + j) % 2
					l := fs.reserve(b, ratioRound)
					start := time.Now()
					if err := appendConcurrently(ctx, l, writerCounts[phase], ratioRound); err != nil {
						b.Fatal(err)
					}
					took[phase] += time.Since(start)
				}
			}
			b.StopTimer()
			events := float64(b.N * ratioRound)
			b.ReportMetric(took[0].Seconds()/took[1].Seconds(), "x-one-writer")
			b.ReportMetric(events/took[0].Seconds(), "one-events/s")
			b.ReportMetric(events/took[1].Seconds(), "sixteen-events/s")
		})
	}
}
