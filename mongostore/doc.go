// Package mongostore is annals' event store: one events collection on
// MongoDB, optimistic appends in transactions, and reads of whole streams,
// ranges and past states.
//
// The shortest correct use:
//
//	store, err := mongostore.Open(ctx, "memory:") // or "file:annals.db", "mongodb://host/?replicaSet=rs0"
//	if err != nil { ... }
//	defer store.Close(ctx)
//
//	res, err := store.Append(ctx, orderID, mongostore.Exact(2),
//		mongostore.EventData{Name: "OrderConfirmed", Data: OrderConfirmed{By: "ana"}})
//	var ce *mongostore.ConcurrencyError
//	if errors.As(err, &ce) { ... reload: the stream is at ce.Actual ... }
//
//	stream, err := store.Load(ctx, orderID) // stream.Version, stream.Events in version order
//
// # Engines
//
// Open takes a URI. mongodb:// and mongodb+srv:// reach a MongoDB replica
// set or sharded cluster through the official driver; a standalone mongod
// is refused with ErrNoReplicaSet, because appends need transactions.
// memory: and file:PATH run annals' embedded engine on Pebble, which
// implements the same driver API with real transactions, indexes that
// queries use, change streams, durable commits and checksummed files
// (damage is ErrCorruptStore, never silent). A file: store is a directory
// and belongs to one process at a time (ErrLocked); WithEngineOptions
// tunes its cache and change log. The same code runs on every engine.
//
// # Data model
//
// One document per event in the events collection: _id (the event id),
// aggregate_uuid (the stream), aggregate_type, version (int64, 1-based,
// contiguous), name, schema_version (int32), data, metadata,
// metadata_escaped (true, only when a metadata key is stored escaped: see
// EscapeMetadataKey) and recorded_at. UUIDs are BSON binary subtype 4.
// A unique index on
// {aggregate_uuid: 1, version: 1} is the final arbiter of concurrent
// appends.
//
// # Appending
//
// Append(ctx, stream, expected, events...) stores events all or nothing if
// the stream's version meets expected: Any, NoStream, StreamExists or
// Exact(n). A mismatch, including an Exact version that would leave a gap,
// is a *ConcurrencyError matching ErrConcurrency and carrying the expected
// and actual versions. AppendStreams appends to several streams in one
// transaction. Input is validated before anything is written
// (*ValidationError, ErrInvalidInput or ErrTooLarge). On MongoDB appends use
// write concern majority with journaling.
//
// Give events ids yourself to make appends retryable: an append whose
// outcome is unknown (a timeout, a cut connection) can be sent again with
// the same ids; it stores nothing twice and reports the versions the events
// got (AppendResult.Replayed).
//
// # Reading
//
// Load reads a whole stream; Read a version range, the stream as of a
// version (ToVersion) or as of a time (AsOf); Events iterates through a
// cursor without holding the stream in memory. A stream with no events is
// ErrStreamNotFound. Times are UTC with millisecond precision, the
// precision of BSON dates, and recorded_at never decreases within a
// stream.
//
// # Tracing
//
// With an OpenTelemetry tracer provider (WithTracerProvider, else the
// global one) each Append or AppendStreams is a span named SpanAppend,
// a child of the caller's. Whenever the append's context carries a valid
// span context, sampled or not, each event's metadata records it in W3C
// Trace Context form under MetaTraceparent ("traceparent") and, if it has
// one, MetaTracestate ("tracestate"); a value the caller put under one of
// those keys in Metadata.Extra is kept as given. Event.TraceContext reads
// it back and TraceLinks turns events into span links. With no provider
// installed the store starts no spans, and with no span context it adds
// nothing to metadata.
//
// # Conformance
//
// Package storetest holds the rules above as a suite any engine must pass;
// package mongotest opens stores for tests on the best engine available.
package mongostore
