package mongostore

import (
	"errors"
	"fmt"

	"github.com/google/uuid"

	"github.com/annalsdb/annals/internal/engine"
)

// Sentinel errors. Match them with errors.Is; the typed errors below wrap
// them and carry the details. Their texts reach users (HTTP problem
// details, the CLI), so they name what went wrong, not this package.
var (
	// ErrConcurrency means a stream's version did not match the expected
	// version of an append. The returned error is a *ConcurrencyError
	// carrying the expected and actual versions. Reload and decide again.
	ErrConcurrency = errors.New("concurrency conflict")

	// ErrStreamNotFound means the stream has no events (or none visible
	// at the requested point in time).
	ErrStreamNotFound = errors.New("stream not found")

	// ErrInvalidInput means an append or read was refused before anything
	// was written. The returned error is a *ValidationError naming the
	// event and the reason.
	ErrInvalidInput = errors.New("invalid input")

	// ErrTooLarge means an event or a batch exceeds the size limits
	// (MaxEventBytes per event document) or the store's batch limit. Returned inside a
	// *ValidationError; nothing was written.
	ErrTooLarge = errors.New("too large")

	// ErrEventIDConflict means an event id of the append is already stored
	// as a different event: in another stream, under another name, or as
	// part of a different batch. Event ids identify one event forever.
	ErrEventIDConflict = errors.New("event id already used by another event")

	// ErrNoReplicaSet means the MongoDB deployment is a standalone mongod,
	// which cannot run transactions or change streams.
	ErrNoReplicaSet = errors.New("MongoDB deployment is not a replica set")

	// ErrIndexConflict means the events collection already has an index
	// that conflicts with one the store needs: same name but other keys or
	// options (say, not unique), or the same keys under another name
	// (MongoDB's codes 86 IndexKeySpecsConflict and 85
	// IndexOptionsConflict). The store is not opened; drop the conflicting
	// index and open again. The error names the server's message.
	ErrIndexConflict = errors.New("an existing index conflicts with one annals needs")

	// ErrLocked means another process (or another open in this process)
	// holds the file engine's lock; the error names the lock file. Go
	// through the process that holds the store (e.g. its HTTP API), or
	// stop it first.
	ErrLocked = errors.New("store file is locked by another process")

	// ErrUnsupportedURI means Open was given a URI whose scheme it does not
	// know.
	ErrUnsupportedURI = errors.New("unsupported store URI")

	// ErrCorruptEvent means a stored document is not a well-formed event;
	// the error is a *DecodeError naming it.
	ErrCorruptEvent = errors.New("stored event is not well-formed")

	// ErrClosed means the store has been closed.
	ErrClosed = errors.New("store closed")

	// ErrEngineClosed means the embedded engine closed under an operation
	// (the store was closed while it ran).
	ErrEngineClosed = engine.ErrClosed

	// ErrCorruptStore means an embedded store's files are damaged: a
	// checksum mismatch, a missing or truncated file, an unknown format.
	// Open refuses such a store (it never starts empty over it) and reads
	// that reach damaged data fail with it; the message names the path.
	ErrCorruptStore = engine.ErrCorrupt
)

// ConcurrencyError reports an expected-version mismatch on one stream. It
// matches ErrConcurrency with errors.Is.
type ConcurrencyError struct {
	// Stream is the aggregate whose version did not match.
	Stream uuid.UUID
	// Expected is what the caller asked for.
	Expected ExpectedVersion
	// Actual is the stream's version when the append was refused (0 when
	// the stream does not exist).
	Actual int64
}

func (e *ConcurrencyError) Error() string {
	return fmt.Sprintf("concurrency conflict on stream %s: expected %s, actual version %d",
		e.Stream, e.Expected, e.Actual)
}

// Unwrap returns ErrConcurrency.
func (e *ConcurrencyError) Unwrap() error { return ErrConcurrency }

// ValidationError reports input refused before anything was written. It
// matches ErrInvalidInput, or ErrTooLarge for size limits, with errors.Is.
type ValidationError struct {
	// Stream is the stream the refused event was for, if known.
	Stream uuid.UUID
	// Index is the position of the refused event in its stream's batch,
	// or -1 when the problem is not about one event.
	Index int
	// Field names what was wrong: "name", "data", "metadata", "id", ...
	Field string
	// Reason says why, in words meant for the caller.
	Reason string
	// Err is ErrInvalidInput or ErrTooLarge.
	Err error
}

func (e *ValidationError) Error() string {
	var where string
	switch {
	case e.Index >= 0 && e.Stream != uuid.Nil:
		where = fmt.Sprintf("stream %s event %d: ", e.Stream, e.Index)
	case e.Index >= 0:
		where = fmt.Sprintf("event %d: ", e.Index)
	case e.Stream != uuid.Nil:
		where = fmt.Sprintf("stream %s: ", e.Stream)
	}
	field := ""
	if e.Field != "" {
		field = e.Field + ": "
	}
	return "invalid input: " + where + field + e.Reason
}

// Unwrap returns ErrInvalidInput or ErrTooLarge.
func (e *ValidationError) Unwrap() error {
	if e.Err == nil {
		return ErrInvalidInput
	}
	return e.Err
}

// EventIDConflictError names the event id that is already stored as a
// different event. It matches ErrEventIDConflict with errors.Is.
type EventIDConflictError struct {
	// ID is the reused event id.
	ID uuid.UUID
	// Reason says how the stored event differs.
	Reason string
}

func (e *EventIDConflictError) Error() string {
	return fmt.Sprintf("event id %s already used by another event: %s", e.ID, e.Reason)
}

// Unwrap returns ErrEventIDConflict.
func (e *EventIDConflictError) Unwrap() error { return ErrEventIDConflict }

func invalid(stream uuid.UUID, index int, field, format string, args ...any) *ValidationError {
	return &ValidationError{Stream: stream, Index: index, Field: field, Reason: fmt.Sprintf(format, args...), Err: ErrInvalidInput}
}

func tooLarge(stream uuid.UUID, index int, field, format string, args ...any) *ValidationError {
	return &ValidationError{Stream: stream, Index: index, Field: field, Reason: fmt.Sprintf(format, args...), Err: ErrTooLarge}
}
