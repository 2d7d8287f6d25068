package peerbench

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/google/uuid"
)

// ingestTailShare is the share of an ingest, at its end, whose rate
// BenchmarkIngest reports apart as tail-events/s: 1/10.
const ingestTailShare = 10

// BenchmarkIngest ingests N events into an empty store, in batches of 100
// events (10 new streams of 10 events, one transaction each, as
// Bulk100): what importing a history of N events costs, and whether
// appends slow down as the store grows. It reports events/s over the whole
// ingest and tail-events/s over its last tenth, when the store already
// holds 0.9 N events. One op is one ingest of N events into a new store;
// opening it, closing it and removing its files are not timed. Nor is the
// background work the ingest leaves (annals' compactions), which runs on
// after the last commit: settled-events/s counts it, the time until the
// store is idle again, as a sustained import would pay it.
func BenchmarkIngest(b *testing.B) {
	perStored(b, nil, func(b *testing.B, im impl, stored int) {
		ctx := context.Background()
		streams := streamIDs(stored / eventsPerStream)
		var tail, settling time.Duration
		var tailEvents int
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			b.StopTimer()
			settleFixtures(b)
			dir := newDir(b, fmt.Sprintf("%s-%d-ingest", im.name, stored))
			l, err := im.open(ctx, dir)
			if err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			took, events, err := ingest(ctx, l, streams, bulkStreams, stored-stored/ingestTailShare)
			b.StopTimer()
			tail += took
			tailEvents += events
			if err == nil {
				start := time.Now()
				err = l.settle(ctx)
				settling += time.Since(start)
			}
			if err == nil && i == 0 {
				err = checkIngested(ctx, l, stored)
			}
			if cerr := l.close(ctx); err == nil {
				err = cerr
			}
			if rerr := os.RemoveAll(dir); err == nil {
				err = rerr
			}
			if err != nil {
				b.Fatalf("ingest %d events into %s: %v", stored, im.name, err)
			}
			b.StartTimer()
		}
		b.StopTimer()
		b.ReportMetric(float64(stored)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
		b.ReportMetric(float64(tailEvents)/tail.Seconds(), "tail-events/s")
		b.ReportMetric(float64(stored)*float64(b.N)/(b.Elapsed()+settling).Seconds(), "settled-events/s")
	})
}

// ingest appends eventsPerStream events to each of streams, new to l,
// perBatch streams per transaction, and returns how long the batches took
// that started once it had appended tailFrom events (at least the last
// batch), and how many events they appended.
func ingest(ctx context.Context, l eventLog, streams []uuid.UUID, perBatch, tailFrom int) (tail time.Duration, tailEvents int, err error) {
	batch := make([]streamAppend, 0, perBatch)
	var start time.Time
	stored := 0
	for len(streams) > 0 {
		k := min(perBatch, len(streams))
		batch = batch[:0]
		for _, id := range streams[:k] {
			batch = append(batch, streamAppend{stream: id, expected: 0, n: eventsPerStream})
		}
		streams = streams[k:]
		if start.IsZero() && (stored >= tailFrom || len(streams) == 0) {
			start = time.Now()
		}
		if err := l.appendStreams(ctx, batch); err != nil {
			return 0, 0, fmt.Errorf("after %d events: %w", stored, err)
		}
		if !start.IsZero() {
			tailEvents += k * eventsPerStream
		}
		stored += k * eventsPerStream
	}
	return time.Since(start), tailEvents, nil
}

// checkIngested checks that a store holds stored events.
func checkIngested(ctx context.Context, l eventLog, stored int) error {
	events, _, err := l.bsonBytes(ctx)
	if err != nil {
		return err
	}
	if events != int64(stored) {
		return fmt.Errorf("store holds %d events, want %d", events, stored)
	}
	return nil
}
