// Package engine is annals' embedded document store: the MongoDB driver's
// API (lungo's IClient, IDatabase, ICollection, ICursor, IChangeStream,
// ISession interfaces, which mirror go.mongodb.org/mongo-driver v1) over
// one Pebble store. mongostore opens it for memory: (Pebble on an in-memory
// file system) and file:PATH (a directory); annals, projections and users'
// projection handlers run on it through the same interfaces as on MongoDB.
//
//	e, err := engine.Open(ctx, engine.Options{Path: "annals.db"})
//	if err != nil { ... }
//	defer e.Close()
//	coll := e.Client().Database("annals").Collection("events")
//
// # Keyspaces
//
// Every key starts with a byte that says what it holds (see keys.go):
//
//	'm' engine metadata: the format version and the counters
//	'c' a collection's catalog entry: its id and its indexes
//	'd' collection id, key(_id)                 a document's BSON
//	'x' collection id, index id, key(fields…)   an index entry (+ key(_id) when not unique)
//	'o' cluster time, op index                  a change-log entry (a change event's BSON)
//
// A collection can instead be clustered on one unique index (chosen when
// that index is built on the empty collection, with the index option
// storageEngine {annals: {clustered: true}}; see clustered.go): its
// documents' BSON is then that index's entries' value, the 'd' entries
// and its other indexes' entries hold each document's clustered key, and
// a walk of the clustered index reads documents in place. mongostore
// clusters the events collection on (aggregate_uuid, version), so a
// stream load reads neighbouring entries.
//
// key(v) is an order-preserving encoding of BSON values (keyenc.go):
// bytes.Compare on encodings agrees with MongoDB's comparison order as
// lungo's bsonkit implements it, values that compare equal encode equal
// (1, int64(1) and 1.0 share a key), and encodings are self-delimiting, so
// a compound key is the concatenation of its fields'.
//
// # Transactions and durability
//
// A write — one operation, or a session's transaction — takes the writer
// lock at its first operation and works in a Pebble indexed batch, which
// reads its own writes over the store; since no other writer runs, its
// reads never change under it and commits are serialisable (writers never
// see write conflicts; a transaction open longer than its lifetime, 60 s
// by default, is aborted with NoSuchTransaction and the
// TransientTransactionError label, as MongoDB does). Unique-index checks
// happen before anything of an operation is written: each is a prefix
// seek that bloom filters answer for the tables without the key, on an
// iterator the transaction keeps per keyspace it probes (txn.go); an
// insert whose _id is above every _id its collection has held (UUIDv7s,
// ObjectIds) skips the _id check (idceiling.go). The commit applies
// the batch (documents, index entries and change-log entries together),
// releases the lock, then waits for the WAL fsync: the next writer runs
// while this one syncs, and Pebble's commit pipeline lets concurrent
// commits share one fsync. A commit is acknowledged only once synced, and
// so is a write refused over other commits (a duplicate key). No answer
// depends on a commit that is not yet synced (as MongoDB's majority read
// concern): a read waits for the commits that inserted the documents it
// selected, or for everything its snapshot shows while an update, delete
// or catalog change is unsynced (pending.go); an aborted transaction
// waits for what it read; change streams stop at the durable point. A
// snapshot session (options.Session().SetSnapshot(true), snapshot.go)
// reads all its operations from one Pebble snapshot, taken at its first
// read, without taking the writer lock.
//
// Pebble flushes memtables and compacts tables in the background, after
// the commits that made the work; a burst of writes leaves seconds of it
// behind. WaitIdle waits until none runs, for benchmarks and tests that
// must not time it.
//
// # Queries and indexes
//
// A query is planned (plan.go) over the indexes that are not multikey and
// the documents' own _id order: equality or $in on a prefix of an index's
// fields, then a range on the next field, bound the walk to key spans; a
// top-level $or whose branches are all bounded becomes the union of their
// spans. A sort that follows the index (in either direction) after the
// fields pinned to one value is served by the walk, so a limit stops it.
// Anything else scans. Every document walked is still matched against the
// whole filter: by a raw matcher on its bytes for equality, $in and ranges
// on scalars (rawmatch.go), else by lungo's mongokit on the decoded
// document, so the query, update and projection language is MongoDB's.
// A forward walk of a span that pins an index's first field seeks with
// Pebble's SeekPrefixGE: format 2 stores use a comparer whose prefix of an
// index entry ends after its first field (comparer.go), so bloom filters
// skip the tables that do not hold, say, the stream a load reads.
// (*Collection).Explain reports the plan: "IXSCAN name", "IDHACK",
// "COLLSCAN", with " +SORT" when sorting happens in memory.
//
// # Change log
//
// Each change (insert, update, replace, delete, drop) is a change event
// stored under its position (cluster time, op index) in the commit's
// batch. Change streams (stream.go) on a collection, a database or the
// client tail the log up to the durable point, filter in Go ($match stages
// are supported), and resume after a token (resumeAfter, startAfter) or
// from a cluster time (startAtOperationTime). The log keeps the newest
// Options.OplogEntries changes; resuming from before what it keeps fails
// with MongoDB's ChangeStreamHistoryLost (286), and a stream that falls
// behind the trimming fails the same way rather than skip changes.
//
// # Corruption
//
// A store directory holds a marker file (MarkerFile) with the format
// version. Opening refuses a directory whose marker is missing or unknown,
// whose table files are missing or of the wrong size, or (for stores up to
// VerifyOnOpenLimit) any block of which fails its checksum; larger stores
// are checked block by block as they are read, and Verify checks them all.
// Errors wrap ErrCorrupt and name the path. The engine never starts empty
// over existing data and never writes to a store it could not read. A
// store written by lungo's single-file engine is converted on first open
// (ConvertLungo), keeping the original file beside it. Every document, as
// written and as read back, is checked to be one well-formed BSON document
// (internal/bsoncheck) before anything reads the lengths inside it:
// malformed bytes are an error, stored ones ErrCorrupt, never a panic.
//
// What it does not do: aggregation pipelines, collations, text and geo
// indexes, partial/sparse/TTL indexes, capped collections, views. These
// fail with an error wrapping ErrUnsupported, never silently or with a
// panic.
package engine
