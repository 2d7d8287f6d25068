package engine

import (
	"context"
	"errors"
	"fmt"

	"go.mongodb.org/mongo-driver/mongo"
)

// Sentinel errors.
var (
	// ErrClosed is returned by every operation on a closed engine.
	ErrClosed = errors.New("engine: closed")
	// ErrCorrupt is wrapped by every error that reports stored data the
	// engine could not read back intact: a checksum mismatch, a missing or
	// truncated file, an unknown format marker.
	ErrCorrupt = errors.New("engine: store is corrupt")
	// ErrUnsupported is wrapped by errors for options, operators and
	// commands the engine does not implement. They fail clearly instead of
	// being ignored.
	ErrUnsupported = errors.New("engine: not supported")
	// ErrFailed is returned by every operation after a commit could not be
	// synced to disk (disk full, I/O error): the engine stops accepting
	// work rather than answer from a state the disk may not hold.
	ErrFailed = errors.New("engine: store failed")
	// ErrNotAStore is returned when a path holds something that is not an
	// annals embedded store.
	ErrNotAStore = errors.New("engine: not an annals embedded store")
)

// Session misuse, worded as the driver words it.
var (
	errTxnInProgress    = errors.New("transaction already in progress")
	errNoTxn            = errors.New("no transaction started")
	errAbortTwice       = errors.New("cannot call abortTransaction twice")
	errAbortAfterCommit = errors.New("cannot call abortTransaction after calling commitTransaction")
)

// Server error codes the engine reports the way MongoDB does, so that code
// written for MongoDB (mongo.IsDuplicateKeyError, labels) recognises them.
const (
	codeDuplicateKey        = 11000
	codeNoSuchTransaction   = 251
	codeHistoryLost         = 286
	codeNamespaceNotFound   = 26
	codeIndexOptsConflict   = 85
	codeIndexKeySpecsDiffer = 86
	codeInvalidOptions      = 72
	codeBadValue            = 2
)

// Transaction error labels, as MongoDB sends them.
const (
	labelTransient = "TransientTransactionError"
)

func unsupported(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrUnsupported, fmt.Sprintf(format, args...))
}

// commandError builds the error MongoDB would send for a failed command.
func commandError(code int32, name, msg string, labels ...string) error {
	return mongo.CommandError{Code: code, Name: name, Message: msg, Labels: labels}
}

// historyLost is the error a change stream returns when its resume point
// has been trimmed from the change log.
func historyLost(what string) error {
	return commandError(codeHistoryLost, "ChangeStreamHistoryLost",
		"unable to resume change stream: "+what+" is no longer in the change log")
}

// dupKeyError is a duplicate key error on a unique index, shaped like
// MongoDB's (code 11000), so mongo.IsDuplicateKeyError recognises it.
type dupKeyError struct {
	ns    string
	index string
	key   string
}

func (e *dupKeyError) Error() string {
	return fmt.Sprintf("E11000 duplicate key error collection: %s index: %s dup key: %s", e.ns, e.index, e.key)
}

// writeException wraps a write error the way the driver reports it for a
// single-document write.
func writeException(err error) error {
	var dup *dupKeyError
	if errors.As(err, &dup) {
		return mongo.WriteException{WriteErrors: []mongo.WriteError{{Index: 0, Code: codeDuplicateKey, Message: dup.Error()}}}
	}
	return err
}

// bulkException reports the write error of the i-th model of a bulk write
// as the driver does: a failure of that model (a duplicate key, an update
// that does not apply, a document too large) is a write error, after which
// an ordered write stops and an unordered one goes on; a failure of the
// engine itself (closed, failed, corrupt, cancelled) is returned as it is
// and aborts the whole write.
func bulkException(i int, err error) error {
	if engineFailure(err) {
		return err
	}
	we := mongo.WriteError{Index: i, Code: codeBadValue, Message: err.Error()}
	var dup *dupKeyError
	var ce mongo.CommandError
	switch {
	case errors.As(err, &dup):
		we.Code, we.Message = codeDuplicateKey, dup.Error()
	case errors.As(err, &ce):
		we.Code, we.Message = int(ce.Code), ce.Message
	}
	return mongo.BulkWriteException{WriteErrors: []mongo.BulkWriteError{{WriteError: we}}}
}

// engineFailure reports errors of the engine rather than of a write.
func engineFailure(err error) bool {
	return errors.Is(err, ErrClosed) || errors.Is(err, ErrFailed) || errors.Is(err, ErrCorrupt) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || pebbleCorrupt(err)
}
