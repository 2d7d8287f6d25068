package mongostore_test

// Benchmarks of the store against the least an event store has to ask the
// engine for, on the embedded engine (memory:). Each benchmark has two
// variants, impl=raw and impl=store, so that
//
//	benchstat -col /impl bench.txt
//
// pairs them. Each variant runs on its own fresh engine, seeded by the
// store with the timer stopped (a 100-event and a 1,000-event stream, with
// the store's indexes), and both variants reach it through a
// roundtrip.Client, so they pay the same counting overhead and report
// roundtrips/op alike.
//
// Fairness: the engine's writes, and its index look-ups of a stream's
// head, cost about the same whatever the data already stored, so the
// append benchmarks keep appending to one stream for all of b.N. A load
// reads the whole stream, though, and costs more as the stream grows. The
// race, whose writers load the stream they append to, therefore races each
// round on a stream of its own, seeded with 100 events with the timer
// stopped: whatever b.N each variant gets, every round is the same race.

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/256dpi/lungo"
	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/annalsdb/annals/internal/engine"
	"github.com/annalsdb/annals/internal/roundtrip"
	"github.com/annalsdb/annals/mongostore"
)

// The seed every benchmark starts from.
const (
	// benchSmallVersion is the number of events of benchSmall, the stream
	// the append benchmarks append to and Load100 reads.
	benchSmallVersion = 100
	// benchLargeVersion is the number of events of benchLarge, which
	// Load1000 reads.
	benchLargeVersion = 1000
	// benchType is the aggregate type of the seeded streams.
	benchType = "Account"
	// benchEventName is the name of every benchmark event.
	benchEventName = "FundsDeposited"
	// benchRaceWriters is the number of appenders racing on one stream.
	benchRaceWriters = 8
)

var (
	benchSmall = uuid.MustParse("0190a5b2-0000-7000-8000-000000000100")
	benchLarge = uuid.MustParse("0190a5b2-0000-7000-8000-000000001000")

	// benchPayload and benchMetaRaw are an event's data and metadata,
	// already in BSON: both variants start from the same encoded payload.
	benchPayload = benchMarshal(bson.D{
		{Key: "amount", Value: int64(4200)},
		{Key: "currency", Value: "EUR"},
		{Key: "reference", Value: "INV-2024-000042"},
	})
	benchMeta    = mongostore.Metadata{CorrelationID: "4f1c2d9e-6b7a-4c1e-9a55-2f0d3c8b7e61"}
	benchMetaRaw = benchMarshal(bson.D{{Key: "correlation_id", Value: benchMeta.CorrelationID}})
)

func benchMarshal(d bson.D) bson.Raw {
	raw, err := bson.Marshal(d)
	if err != nil {
		panic(err)
	}
	return raw
}

// benchEvents returns n events to append with the store.
func benchEvents(n int) []mongostore.EventData {
	evs := make([]mongostore.EventData, n)
	for i := range evs {
		evs[i] = mongostore.EventData{Name: benchEventName, Data: benchPayload, Metadata: benchMeta}
	}
	return evs
}

// benchSeedStream writes a new stream of n events with the store, in
// appends of 100 events.
func benchSeedStream(ctx context.Context, store *mongostore.Store, id uuid.UUID, n int) error {
	for v := 0; v < n; v += 100 {
		_, err := store.AppendStreams(ctx, mongostore.StreamAppend{
			Stream: id, Type: benchType, Expected: mongostore.Exact(int64(v)), Events: benchEvents(min(100, n-v)),
		})
		if err != nil {
			return fmt.Errorf("seed stream %s: %w", id, err)
		}
	}
	return nil
}

// benchEnv is one variant's fresh engine, seeded, with a store on it and
// both reached through one counting client.
type benchEnv struct {
	client *roundtrip.Client
	store  *mongostore.Store
	// events is the store's own events collection handle, which the raw
	// variants use directly.
	events lungo.ICollection
	// seeder is a store on the engine's own client, which writes seeds
	// without counting them.
	seeder *mongostore.Store
}

// newBenchEnv opens and seeds a fresh in-memory engine with the timer
// stopped, and closes it when the benchmark ends. The counter starts from
// zero, and counts nothing of the seed.
func newBenchEnv(b *testing.B) *benchEnv {
	b.Helper()
	b.StopTimer()
	defer b.StartTimer()
	ctx := context.Background()
	eng, err := engine.Open(ctx, engine.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := eng.Close(); err != nil {
			b.Errorf("close engine: %v", err)
		}
	})
	seeder, err := mongostore.New(ctx, eng.Client())
	if err != nil {
		b.Fatal(err)
	}
	if err := benchSeedStream(ctx, seeder, benchSmall, benchSmallVersion); err != nil {
		b.Fatal(err)
	}
	if err := benchSeedStream(ctx, seeder, benchLarge, benchLargeVersion); err != nil {
		b.Fatal(err)
	}
	client := roundtrip.Wrap(eng.Client())
	store, err := mongostore.New(ctx, client)
	if err != nil {
		b.Fatal(err)
	}
	if store.Engine() != mongostore.EngineMemory {
		b.Fatalf("store engine = %s, want %s", store.Engine(), mongostore.EngineMemory)
	}
	client.Reset()
	return &benchEnv{client: client, store: store, events: store.EventsCollection(), seeder: seeder}
}

// reportRoundTrips reports the round trips per operation.
func (e *benchEnv) reportRoundTrips(b *testing.B) {
	b.ReportMetric(float64(e.client.Count())/float64(b.N), "roundtrips/op")
}

// errRawConflict is a raw append finding the stream at another version.
var errRawConflict = errors.New("raw append: stream is at another version")

// rawHead is what a raw append reads of a stream's last event.
type rawHead struct {
	Version    int64              `bson:"version"`
	Type       string             `bson:"aggregate_type"`
	RecordedAt primitive.DateTime `bson:"recorded_at"`
}

var rawHeadOptions = options.FindOne().
	SetSort(bson.D{{Key: "version", Value: -1}}).
	SetProjection(bson.D{{Key: "version", Value: 1}, {Key: "aggregate_type", Value: 1}, {Key: "recorded_at", Value: 1}})

// rawEvent is an event document decoded with the store's field layout.
type rawEvent struct {
	ID            primitive.Binary   `bson:"_id"`
	Stream        primitive.Binary   `bson:"aggregate_uuid"`
	StreamType    string             `bson:"aggregate_type"`
	Version       int64              `bson:"version"`
	Name          string             `bson:"name"`
	SchemaVersion int32              `bson:"schema_version"`
	Data          bson.Raw           `bson:"data"`
	Metadata      bson.Raw           `bson:"metadata"`
	RecordedAt    primitive.DateTime `bson:"recorded_at"`
}

var rawLoadOptions = options.Find().SetSort(bson.D{{Key: "version", Value: 1}})

// rawAppend appends n events at expected+1.. the least costly way: read
// the head, check it, insert the documents; a batch does so in a
// transaction. The version and id of each event are only known now, so the
// envelope is encoded here, around the already encoded payload.
func rawAppend(ctx context.Context, coll lungo.ICollection, client lungo.IClient, stream uuid.UUID, expected int64, n int) error {
	write := func(ctx context.Context) error {
		var h rawHead
		err := coll.FindOne(ctx, bson.D{{Key: "aggregate_uuid", Value: mongostore.UUIDValue(stream)}}, rawHeadOptions).Decode(&h)
		if err != nil && !errors.Is(err, mongo.ErrNoDocuments) {
			return err
		}
		if h.Version != expected {
			return errRawConflict
		}
		at := time.Now().UTC().Truncate(time.Millisecond)
		docs := make([]any, n)
		for i := range docs {
			id, err := uuid.NewV7()
			if err != nil {
				return err
			}
			doc, err := bson.Marshal(bson.D{
				{Key: "_id", Value: mongostore.UUIDValue(id)},
				{Key: "aggregate_uuid", Value: mongostore.UUIDValue(stream)},
				{Key: "aggregate_type", Value: h.Type},
				{Key: "version", Value: expected + 1 + int64(i)},
				{Key: "name", Value: benchEventName},
				{Key: "schema_version", Value: int32(1)},
				{Key: "data", Value: benchPayload},
				{Key: "metadata", Value: benchMetaRaw},
				{Key: "recorded_at", Value: primitive.NewDateTimeFromTime(at)},
			})
			if err != nil {
				return err
			}
			docs[i] = bson.Raw(doc)
		}
		if n == 1 {
			_, err = coll.InsertOne(ctx, docs[0])
			return err
		}
		_, err = coll.InsertMany(ctx, docs)
		return err
	}
	if n == 1 {
		return write(ctx)
	}
	sess, err := client.StartSession()
	if err != nil {
		return err
	}
	defer sess.EndSession(ctx)
	_, err = sess.WithTransaction(ctx, func(sc lungo.ISessionContext) (any, error) {
		return nil, write(sc)
	})
	return err
}

// rawLoad reads a whole stream in version order.
func rawLoad(ctx context.Context, coll lungo.ICollection, stream uuid.UUID) ([]rawEvent, error) {
	cur, err := coll.Find(ctx, bson.D{{Key: "aggregate_uuid", Value: mongostore.UUIDValue(stream)}}, rawLoadOptions)
	if err != nil {
		return nil, err
	}
	defer cur.Close(ctx)
	var out []rawEvent
	for cur.Next(ctx) {
		var d rawEvent
		if err := cur.Decode(&d); err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, cur.Err()
}

// benchAppendFunc appends n events to benchSmall, expecting it at version
// expected.
type benchAppendFunc func(ctx context.Context, e *benchEnv, expected int64, n int) error

func storeAppend(evs []mongostore.EventData) benchAppendFunc {
	return func(ctx context.Context, e *benchEnv, expected int64, n int) error {
		res, err := e.store.Append(ctx, benchSmall, mongostore.Exact(expected), evs...)
		if err != nil {
			return err
		}
		if res.ToVersion != expected+int64(n) {
			return fmt.Errorf("appended up to version %d, want %d", res.ToVersion, expected+int64(n))
		}
		return nil
	}
}

func rawAppendFunc(ctx context.Context, e *benchEnv, expected int64, n int) error {
	return rawAppend(ctx, e.events, e.client, benchSmall, expected, n)
}

func benchAppend(b *testing.B, n int, fn benchAppendFunc) {
	ctx := context.Background()
	e := newBenchEnv(b)
	version := int64(benchSmallVersion)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := fn(ctx, e, version, n); err != nil {
			b.Fatal(err)
		}
		version += int64(n)
	}
	b.StopTimer()
	e.reportRoundTrips(b)
}

// BenchmarkAppend1 appends one event with an exact expected version to a
// stream of 100 events or more.
func BenchmarkAppend1(b *testing.B) {
	b.Run("impl=raw", func(b *testing.B) { benchAppend(b, 1, rawAppendFunc) })
	b.Run("impl=store", func(b *testing.B) { benchAppend(b, 1, storeAppend(benchEvents(1))) })
}

// BenchmarkAppend10 appends a batch of ten events with an exact expected
// version, in a transaction.
func BenchmarkAppend10(b *testing.B) {
	b.Run("impl=raw", func(b *testing.B) { benchAppend(b, 10, rawAppendFunc) })
	b.Run("impl=store", func(b *testing.B) { benchAppend(b, 10, storeAppend(benchEvents(10))) })
}

func benchLoad(b *testing.B, stream uuid.UUID, n int, store bool) {
	ctx := context.Background()
	e := newBenchEnv(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var got int
		if store {
			s, err := e.store.Load(ctx, stream)
			if err != nil {
				b.Fatal(err)
			}
			got = len(s.Events)
		} else {
			evs, err := rawLoad(ctx, e.events, stream)
			if err != nil {
				b.Fatal(err)
			}
			got = len(evs)
		}
		if got != n {
			b.Fatalf("loaded %d events, want %d", got, n)
		}
	}
	b.StopTimer()
	e.reportRoundTrips(b)
}

// BenchmarkLoad100 loads a whole stream of 100 events.
func BenchmarkLoad100(b *testing.B) {
	b.Run("impl=raw", func(b *testing.B) { benchLoad(b, benchSmall, benchSmallVersion, false) })
	b.Run("impl=store", func(b *testing.B) { benchLoad(b, benchSmall, benchSmallVersion, true) })
}

// BenchmarkLoad1000 loads a whole stream of 1,000 events.
func BenchmarkLoad1000(b *testing.B) {
	b.Run("impl=raw", func(b *testing.B) { benchLoad(b, benchLarge, benchLargeVersion, false) })
	b.Run("impl=store", func(b *testing.B) { benchLoad(b, benchLarge, benchLargeVersion, true) })
}

// benchRaceFunc loads a stream and appends one event at the version it
// read, reporting whether it lost to another writer.
type benchRaceFunc func(ctx context.Context, e *benchEnv, stream uuid.UUID) (conflict bool, err error)

func storeRace(ctx context.Context, e *benchEnv, stream uuid.UUID) (bool, error) {
	s, err := e.store.Load(ctx, stream)
	if err != nil {
		return false, err
	}
	_, err = e.store.Append(ctx, stream, mongostore.Exact(s.Version), benchEvents(1)...)
	if errors.Is(err, mongostore.ErrConcurrency) {
		return true, nil
	}
	return false, err
}

func rawRace(ctx context.Context, e *benchEnv, stream uuid.UUID) (bool, error) {
	evs, err := rawLoad(ctx, e.events, stream)
	if err != nil {
		return false, err
	}
	err = rawAppend(ctx, e.events, e.client, stream, evs[len(evs)-1].Version, 1)
	if errors.Is(err, errRawConflict) || mongo.IsDuplicateKeyError(err) {
		return true, nil
	}
	return false, err
}

// benchRace runs rounds of benchRaceWriters goroutines that each load the
// same stream and append one event at the version they read; one op is one
// round. Each round races on a new stream of benchSmallVersion events,
// written with the timer stopped. It reports the conflicts per round.
func benchRace(b *testing.B, fn benchRaceFunc) {
	ctx := context.Background()
	e := newBenchEnv(b)
	var conflicts atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		stream := uuid.New()
		if err := benchSeedStream(ctx, e.seeder, stream, benchSmallVersion); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := make(chan struct{})
		var wg sync.WaitGroup
		for range benchRaceWriters {
			wg.Go(func() {
				<-start
				lost, err := fn(ctx, e, stream)
				if err != nil {
					b.Error(err)
				}
				if lost {
					conflicts.Add(1)
				}
			})
		}
		close(start)
		wg.Wait()
		if b.Failed() {
			b.FailNow()
		}
	}
	b.StopTimer()
	e.reportRoundTrips(b)
	b.ReportMetric(float64(conflicts.Load())/float64(b.N), "conflicts/op")
}

// BenchmarkRace8 races eight writers on one stream of 100 events, each
// loading it and appending one event with the version it read as the exact
// expected version. One op is a round of eight attempts.
func BenchmarkRace8(b *testing.B) {
	b.Run("impl=raw", func(b *testing.B) { benchRace(b, rawRace) })
	b.Run("impl=store", func(b *testing.B) { benchRace(b, storeRace) })
}

// BenchmarkRepositoryLoad loads an aggregate of 1,000 and of 10,000 events
// through a repository, replaying every event (snapshots=off) or from a
// snapshot taken at the last event (snapshots=on). With a snapshot the
// cost must not grow with the stream's length. Every case holds the same
// 10,000 events in all (other streams pad the short one), so that only the
// stream's length varies.
func BenchmarkRepositoryLoad(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		for _, snapshots := range []bool{false, true} {
			b.Run(fmt.Sprintf("events=%d/snapshots=%v", n, onOff(snapshots)), func(b *testing.B) {
				ctx := context.Background()
				s, err := mongostore.Open(ctx, "memory:")
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close(ctx)
				repo := mongostore.NewRepository(s, benchRegistry(), "Counter", func() *benchCounter { return &benchCounter{} })
				id := uuid.New()
				batch := make([]mongostore.EventData, 1000)
				for i := range batch {
					batch[i] = mongostore.EventData{Name: "Added", Data: benchAdded{By: 1}}
				}
				for v := 0; v < n; v += len(batch) {
					if _, err := s.Append(ctx, id, mongostore.Exact(int64(v)), batch...); err != nil {
						b.Fatal(err)
					}
				}
				for pad := n; pad < 10000; pad += len(batch) {
					if _, err := s.Append(ctx, uuid.New(), mongostore.NoStream, batch...); err != nil {
						b.Fatal(err)
					}
				}
				if snapshots {
					repo.Snapshots, repo.SnapshotSchema = mongostore.EveryN(1), 1
					if err := repo.Update(ctx, id, func(r *mongostore.Root[*benchCounter]) error { return r.Record(benchAdded{By: 1}) }); err != nil {
						b.Fatal(err)
					}
				}
				applied := 0
				b.ResetTimer()
				for range b.N {
					root, err := repo.Load(ctx, id)
					if err != nil {
						b.Fatal(err)
					}
					if root.State.Total < int64(n) {
						b.Fatalf("total %d", root.State.Total)
					}
					applied += root.State.applied
				}
				b.ReportMetric(float64(applied)/float64(b.N), "events-replayed/op")
			})
		}
	}
}

type benchAdded struct {
	By int64 `bson:"by"`
}

type benchCounter struct {
	Total   int64 `bson:"total"`
	applied int   // events applied since this value was made; not stored
}

func (c *benchCounter) Apply(e any) error {
	c.Total += e.(benchAdded).By
	c.applied++
	return nil
}

func benchRegistry() *mongostore.Registry {
	reg := mongostore.NewRegistry()
	mongostore.Register[benchAdded](reg, "Added", 1)
	return reg
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}
