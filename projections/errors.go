package projections

import (
	"errors"
	"fmt"

	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/mongo"
)

// Sentinel errors.
var (
	// ErrUnknownProjection means no projection of that name is registered
	// with the runner.
	ErrUnknownProjection = errors.New("unknown projection")
	// ErrUnknownCollection means the projection declares no query
	// collection of that name.
	ErrUnknownCollection = errors.New("unknown collection")
	// ErrNotFailed means Retry was asked of a projection that has not
	// failed.
	ErrNotFailed = errors.New("projection has not failed")
	// ErrBuildFailed means a blue/green Rebuild was asked while the
	// projection's previous build has failed: Retry it, or Reset the
	// projection.
	ErrBuildFailed = errors.New("the projection's blue/green build has failed")
	// ErrHandler matches every *HandlerError.
	ErrHandler = errors.New("handler failed")
	// errLeaseLost means another runner owns the projection now, or its
	// checkpoint changed under this one (reset, rebuild, switch).
	errLeaseLost = errors.New("lease lost")
	// errBatchTooLong means a batch's transaction ran longer than
	// MaxBatchDuration and was abandoned, writing nothing: a catch-up
	// applies fewer events at a time instead.
	errBatchTooLong = errors.New("batch transaction ran too long")
)

// HandlerError is why a projection failed: the event its handler refused
// and the handler's error. It matches ErrHandler.
type HandlerError struct {
	Projection string
	EventID    uuid.UUID
	EventName  string
	Stream     uuid.UUID
	Version    int64
	Err        error
}

func (e *HandlerError) Error() string {
	return fmt.Sprintf("projections: %s failed on event %s (%s, stream %s version %d): %v",
		e.Projection, e.EventID, e.EventName, e.Stream, e.Version, e.Err)
}

// Unwrap returns the handler's error and ErrHandler.
func (e *HandlerError) Unwrap() []error { return []error{e.Err, ErrHandler} }

// HasErrorLabel reports whether the handler's error, or an error it wraps,
// carries the MongoDB error label. The driver's WithTransaction looks for
// TransientTransactionError only through Unwrap() error chains, which stop
// at a HandlerError's Unwrap() []error: this method lets it see the label
// and retry the transaction, as it would had the handler's write failed
// outside a handler.
func (e *HandlerError) HasErrorLabel(label string) bool { return hasErrorLabel(e.Err, label) }

var _ mongo.LabeledError = (*HandlerError)(nil)

// hasErrorLabel walks err's whole tree, through both forms of Unwrap, for
// an error carrying label.
func hasErrorLabel(err error, label string) bool {
	if err == nil {
		return false
	}
	if le, ok := err.(mongo.LabeledError); ok && le.HasErrorLabel(label) {
		return true
	}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		return hasErrorLabel(u.Unwrap(), label)
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			if hasErrorLabel(e, label) {
				return true
			}
		}
	}
	return false
}
