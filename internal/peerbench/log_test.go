package peerbench

// The contract every implementation under test offers, and the event they
// all store.

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/bsontype"
	"go.mongodb.org/mongo-driver/bson/primitive"
)

var (
	// errConflict is an append that found a stream at another version than
	// expected, or lost to the unique (stream, version) index.
	errConflict = errors.New("peerbench: stream is at another version")
	// errDuplicate is an insert refused by a unique index: (stream,
	// version) or the event id.
	errDuplicate = errors.New("peerbench: duplicate key")
)

// The event every implementation stores, the one of mongostore's own
// benchmarks: a FundsDeposited of a small document, with a correlation id
// in its metadata. Data and metadata are encoded once, so every
// implementation stores the very same payload bytes.
const (
	eventName     = "FundsDeposited"
	streamType    = "Account"
	schemaVersion = int32(1)
	correlationID = "4f1c2d9e-6b7a-4c1e-9a55-2f0d3c8b7e61"
	// eventsPerStream is the length of every seeded stream.
	eventsPerStream = 10
)

var (
	payload = mustMarshal(bson.D{
		{Key: "amount", Value: int64(4200)},
		{Key: "currency", Value: "EUR"},
		{Key: "reference", Value: "INV-2024-000042"},
	})
	// metadataRaw is what mongostore stores for Metadata{CorrelationID:
	// correlationID}; TestPeers checks it byte for byte.
	metadataRaw = mustMarshal(bson.D{{Key: "correlation_id", Value: correlationID}})
)

func mustMarshal(v any) bson.Raw {
	raw, err := bson.Marshal(v)
	if err != nil {
		panic(err)
	}
	return raw
}

// streamAppend asks for n events appended to stream at versions
// expected+1 … expected+n.
type streamAppend struct {
	stream   uuid.UUID
	expected int64
	n        int
}

// eventLog is the least an event store does, as each implementation does
// it. Appends are durable when the implementation is (fsync before
// returning), all or nothing, and refuse a stream at another version than
// expected; the unique (stream, version) index is the final arbiter.
// Implementations are safe for concurrent use.
type eventLog interface {
	// appendStreams appends to every stream of batch in one transaction.
	// Errors: errConflict (errors.Is) when a stream is not at its expected
	// version; nothing is written then.
	appendStreams(ctx context.Context, batch []streamAppend) error
	// load reads a whole stream in version order, decoding every event,
	// and returns how many events it has and its version; an unknown
	// stream has none.
	load(ctx context.Context, stream uuid.UUID) (n int, version int64, err error)
	// scan reads every event in the order they were stored, through a
	// cursor, decoding each and passing it to fn.
	scan(ctx context.Context, fn func(stream uuid.UUID, version int64) error) error
	// catchUp brings a new reader of every event up to date, the way a
	// user of the implementation would: a projection on annals, a scan on
	// the peers. It is called with t stopped, starts it when the reader
	// starts and stops it when the reader has caught up, and returns the
	// events the reader's handler applied.
	catchUp(ctx context.Context, t timer) (applied int64, err error)
	// insertUnchecked inserts n events at versions from … from+n-1
	// without reading the stream's head, leaving the unique (stream,
	// version) index alone to refuse a duplicate (errDuplicate). Tests
	// use it.
	insertUnchecked(ctx context.Context, stream uuid.UUID, from int64, n int) error
	// bsonBytes returns how many events are stored and their total size
	// as the BSON documents annals stores (the same fields for every
	// implementation).
	bsonBytes(ctx context.Context) (events, bytes int64, err error)
	// settle waits until the implementation does no background work
	// (annals: Pebble's flushes and compactions), so that a timed
	// operation pays for itself, not for work left by seeding or by
	// another benchmark's store in the same process.
	settle(ctx context.Context) error
	// close releases the implementation; a persistent one keeps its data.
	close(ctx context.Context) error
}

// timer is the part of testing.B that catchUp drives.
type timer interface {
	StartTimer()
	StopTimer()
}

// noTimer is the timer of tests.
type noTimer struct{}

func (noTimer) StartTimer() {}
func (noTimer) StopTimer()  {}

// impl is an implementation under test.
type impl struct {
	// name is the value of the /impl= key of benchmark names.
	name string
	// persistent implementations keep their data in dir across close and
	// open; the others start empty at every open.
	persistent bool
	open       func(ctx context.Context, dir string) (eventLog, error)
}

// impls are the implementations every benchmark compares, in order.
var impls = []impl{
	{name: "annals-file", persistent: true, open: openAnnalsFile},
	{name: "annals-memory", persistent: false, open: openAnnalsMemory},
	{name: "sqlite", persistent: true, open: openSQLite},
	{name: "bbolt", persistent: true, open: openBolt},
}

// storedEvent is an event as annals stores it: the BSON document bbolt
// stores too, and the measure of bson-B/event for every implementation.
type storedEvent struct {
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

// event is an event as the peers' loads return it, decoded as far as
// mongostore.Event is: ids, names, payload bytes, the correlation id, the
// time.
type event struct {
	ID            uuid.UUID
	Stream        uuid.UUID
	StreamType    string
	Version       int64
	Name          string
	SchemaVersion int32
	Data          []byte
	Metadata      []byte
	CorrelationID string
	RecordedAt    time.Time
}

// newStoredEvent is the document of the event at version of stream,
// recorded at at, with a fresh time-ordered id as annals gives.
func newStoredEvent(stream uuid.UUID, version int64, at time.Time) (storedEvent, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return storedEvent{}, err
	}
	return storedEvent{
		ID:            uuidValue(id),
		Stream:        uuidValue(stream),
		StreamType:    streamType,
		Version:       version,
		Name:          eventName,
		SchemaVersion: schemaVersion,
		Data:          payload,
		Metadata:      metadataRaw,
		RecordedAt:    primitive.NewDateTimeFromTime(at),
	}, nil
}

// decode turns a stored document into what a load returns.
func (d *storedEvent) decode() (event, error) {
	id, err := uuid.FromBytes(d.ID.Data)
	if err != nil {
		return event{}, fmt.Errorf("event id: %w", err)
	}
	stream, err := uuid.FromBytes(d.Stream.Data)
	if err != nil {
		return event{}, fmt.Errorf("stream id: %w", err)
	}
	return event{
		ID:            id,
		Stream:        stream,
		StreamType:    d.StreamType,
		Version:       d.Version,
		Name:          d.Name,
		SchemaVersion: d.SchemaVersion,
		Data:          d.Data,
		Metadata:      d.Metadata,
		CorrelationID: correlationOf(d.Metadata),
		RecordedAt:    d.RecordedAt.Time().UTC(),
	}, nil
}

// correlationOf reads the correlation id of encoded metadata.
func correlationOf(meta bson.Raw) string {
	s, _ := meta.Lookup("correlation_id").StringValueOK()
	return s
}

func uuidValue(id uuid.UUID) primitive.Binary {
	return primitive.Binary{Subtype: bsontype.BinaryUUID, Data: id[:]}
}

// now is the time an append records: UTC, millisecond precision, as
// BSON dates hold.
func now() time.Time { return time.Now().UTC().Truncate(time.Millisecond) }

// seededIDs holds the stream ids of seeded stores, the same for every
// implementation: deterministic but scattered like random UUIDs, so that
// streams are not stored in the order they were seeded.
var seededIDs struct {
	mu  sync.Mutex
	ids []uuid.UUID
}

// seededNamespace is the namespace of the seeded streams' name-based ids.
var seededNamespace = uuid.MustParse("6d1f5a52-2b6e-4c43-9f38-5d2b7c1e0a11")

// streamIDs returns the ids of the first n seeded streams.
func streamIDs(n int) []uuid.UUID {
	seededIDs.mu.Lock()
	defer seededIDs.mu.Unlock()
	for i := len(seededIDs.ids); i < n; i++ {
		seededIDs.ids = append(seededIDs.ids, uuid.NewSHA1(seededNamespace, fmt.Appendf(nil, "stream-%d", i)))
	}
	return seededIDs.ids[:n:n]
}
