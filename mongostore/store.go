package mongostore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"

	"github.com/256dpi/lungo"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
	"go.mongodb.org/mongo-driver/mongo/readconcern"
	"go.mongodb.org/mongo-driver/mongo/readpref"
	"go.mongodb.org/mongo-driver/mongo/writeconcern"

	"github.com/annalsdb/annals/internal/engine"
)

// Collection names.
const (
	// CollectionEvents holds one document per event.
	CollectionEvents = "events"
)

// Index names on the events collection.
const (
	// IndexStreamVersion is the unique {aggregate_uuid: 1, version: 1}
	// index that enforces optimistic concurrency.
	IndexStreamVersion = "aggregate_uuid_1_version_1"
	// IndexTypeStream serves listing streams by aggregate type.
	IndexTypeStream = "aggregate_type_1_aggregate_uuid_1"
	// IndexRecordedAt serves reading all events in recorded order (Scan).
	IndexRecordedAt = "recorded_at_1_aggregate_uuid_1_version_1"
)

// Engine names what a store runs on.
type Engine string

// Engines.
const (
	// EngineMongoDB is a MongoDB replica set or sharded cluster.
	EngineMongoDB Engine = "mongodb"
	// EngineMemory is the embedded engine, in memory.
	EngineMemory Engine = "memory"
	// EngineFile is the embedded engine persisted in one file.
	EngineFile Engine = "file"
)

// Embedded reports whether e is the embedded engine (memory or file).
func (e Engine) Embedded() bool { return e == EngineMemory || e == EngineFile }

// Store is an event store over one database. It is safe for concurrent use.
type Store struct {
	cfg    config
	engine Engine
	// sharded is true when the client talks to a mongos.
	sharded bool
	client  lungo.IClient
	db      lungo.IDatabase
	events  lungo.ICollection
	// eventsLocal reads with local read concern: after a write whose
	// majority acknowledgement timed out, the replay check and the recheck
	// of a lost race must see what the primary holds, or a retry would
	// neither recognise its events nor see the conflict.
	eventsLocal lungo.ICollection
	log         *slog.Logger
	closed      atomic.Bool
	// release frees what Open acquired (engine, file lock, connection).
	release func(context.Context) error
	// exclusiveID identifies this open of a store no other Store can have
	// open at the same time; see ExclusiveID.
	exclusiveID string
}

// New builds a store on a client the caller already holds: a real
// *mongo.Client wrapped by lungo (&lungo.MongoClient{Client: c}) or an
// embedded engine's client from lungo.Open. It creates the collections and
// indexes it needs; it does not take ownership of the client, so Close
// leaves it connected.
//
// A wrapper around a client (for tracing or counting) is recognised when it
// has an Unwrap() lungo.IClient method.
func New(ctx context.Context, client lungo.IClient, opts ...Option) (*Store, error) {
	engine := EngineMongoDB
	if isEmbedded(client) {
		engine = EngineMemory
	}
	return newStore(ctx, client, engine, nil, opts)
}

func newStore(ctx context.Context, client lungo.IClient, engine Engine,
	release func(context.Context) error, opts []Option) (*Store, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	return build(ctx, client, engine, release, cfg)
}

func build(ctx context.Context, client lungo.IClient, engine Engine,
	release func(context.Context) error, cfg config) (*Store, error) {
	if cfg.database == "" {
		return nil, errors.New("mongostore: empty database name")
	}
	if cfg.maxBatchBytes <= 0 {
		return nil, fmt.Errorf("mongostore: max batch bytes must be positive, got %d", cfg.maxBatchBytes)
	}
	if release == nil {
		release = func(context.Context) error { return nil }
	}
	sharded := false
	if engine == EngineMongoDB {
		var err error
		if sharded, err = checkReplicaSet(ctx, client); err != nil {
			return nil, err
		}
	}
	// Read preference primary whatever the URI says: transactions must
	// run on the primary (the driver refuses any other), and a stream's
	// head, the replay and recheck of an append, and the reads a projection
	// relies on must not come from a lagging secondary.
	dbOpts := options.Database().
		SetWriteConcern(cfg.writeConcern).
		SetReadConcern(readconcern.Majority()).
		SetReadPreference(readpref.Primary())
	db := client.Database(cfg.database, dbOpts)
	s := &Store{
		cfg:         cfg,
		engine:      engine,
		sharded:     sharded,
		client:      client,
		db:          db,
		events:      db.Collection(CollectionEvents),
		eventsLocal: db.Collection(CollectionEvents, options.Collection().SetReadConcern(readconcern.Local()).SetReadPreference(readpref.Primary())),
		log:         cfg.logger,
		release:     release,
	}
	if err := s.ensureSchema(ctx); err != nil {
		return nil, err
	}
	s.log.Debug("store opened", logKeyEngine, string(engine), logKeyDatabase, cfg.database)
	return s, nil
}

// Log keys.
const (
	logKeyEngine   = "engine"
	logKeyDatabase = "database"
)

// Close releases what Open acquired: the embedded engine and its file lock,
// or the MongoDB connection. A store from New leaves its client alone.
// Close is idempotent.
func (s *Store) Close(ctx context.Context) error {
	if !s.closed.CompareAndSwap(false, true) {
		return nil
	}
	return s.release(ctx)
}

// Engine reports what the store runs on.
func (s *Store) Engine() Engine { return s.engine }

// Sharded reports whether the store reaches MongoDB through mongos (hello
// answered msg "isdbgrid"): a sharded cluster, whose operation times are
// not majority points on every shard.
func (s *Store) Sharded() bool { return s.sharded }

// Client returns the client the store uses, for packages that build on it
// (projections use its sessions and change streams).
func (s *Store) Client() lungo.IClient { return s.client }

// Database returns the store's database, configured with the store's write
// and read concerns.
func (s *Store) Database() lungo.IDatabase { return s.db }

// EventsCollection returns the events collection.
func (s *Store) EventsCollection() lungo.ICollection { return s.events }

// TransactionOptions are the options the store runs its transactions with:
// snapshot reads, the store's write concern, and read preference primary
// (a transaction inherits the client's read preference otherwise, and
// fails when a URI asks for secondaries).
func (s *Store) TransactionOptions() *options.TransactionOptions {
	return options.Transaction().
		SetReadConcern(readconcern.Snapshot()).
		SetWriteConcern(s.cfg.writeConcern).
		SetReadPreference(readpref.Primary())
}

// WriteConcern returns the write concern appends use on MongoDB.
func (s *Store) WriteConcern() *writeconcern.WriteConcern { return s.cfg.writeConcern }

func (s *Store) checkOpen() error {
	if s.closed.Load() {
		return ErrClosed
	}
	return nil
}

// ensureSchema creates the events collection and its indexes. It is
// idempotent, and runs outside transactions because MongoDB cannot create
// indexes inside them.
func (s *Store) ensureSchema(ctx context.Context) error {
	for _, name := range []string{CollectionEvents, CollectionSnapshots} {
		if err := ensureCollection(ctx, s.db, name); err != nil {
			return err
		}
	}
	streamVersion := options.Index().SetName(IndexStreamVersion).SetUnique(true)
	if _, ok := unwrapClient(s.client).(*engine.Client); ok {
		// annals' engine keeps the events in this index's order, so a
		// stream's events are read from one place (internal/engine's
		// clustered.go). It applies to a new store's empty collection;
		// MongoDB refuses storage options for engines it does not run.
		streamVersion.SetStorageEngine(engine.ClusteredIndex())
	}
	_, err := s.events.Indexes().CreateMany(ctx, []mongo.IndexModel{
		{
			Keys:    bson.D{{Key: fieldStream, Value: 1}, {Key: fieldVersion, Value: 1}},
			Options: streamVersion,
		},
		{
			Keys:    bson.D{{Key: fieldStreamType, Value: 1}, {Key: fieldStream, Value: 1}},
			Options: options.Index().SetName(IndexTypeStream),
		},
		{
			Keys:    bson.D{{Key: fieldRecordedAt, Value: 1}, {Key: fieldStream, Value: 1}, {Key: fieldVersion, Value: 1}},
			Options: options.Index().SetName(IndexRecordedAt),
		},
	})
	if isIndexConflict(err) {
		return fmt.Errorf("%w: %s: %w", ErrIndexConflict, CollectionEvents, err)
	}
	if err != nil {
		return fmt.Errorf("mongostore: create indexes on %s: %w", CollectionEvents, err)
	}
	return nil
}

// isIndexConflict reports MongoDB's refusal to create an index because one
// with the same name or keys exists with other keys or options: codes 85
// (IndexOptionsConflict) and 86 (IndexKeySpecsConflict).
func isIndexConflict(err error) bool {
	var se mongo.ServerError
	return errors.As(err, &se) && (se.HasErrorCode(85) || se.HasErrorCode(86))
}

// ensureCollection creates a collection unless it exists. Two processes
// racing to create it both succeed.
func ensureCollection(ctx context.Context, db lungo.IDatabase, name string) error {
	exists := func() (bool, error) {
		names, err := db.ListCollectionNames(ctx, bson.D{{Key: "name", Value: name}})
		if err != nil {
			return false, fmt.Errorf("mongostore: list collections: %w", err)
		}
		return slices.Contains(names, name), nil
	}
	ok, err := exists()
	if err != nil || ok {
		return err
	}
	if err := db.CreateCollection(ctx, name); err != nil {
		if ok, _ := exists(); ok {
			return nil
		}
		return fmt.Errorf("mongostore: create collection %s: %w", name, err)
	}
	return nil
}

// EnsureCollection creates a collection in the store's database unless it
// exists, outside any transaction. Packages building on the store use it
// for their own collections.
func (s *Store) EnsureCollection(ctx context.Context, name string) error {
	return ensureCollection(ctx, s.db, name)
}
