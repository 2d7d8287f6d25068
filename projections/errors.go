package projections

import (
	"errors"
	"fmt"

	"github.com/google/uuid"
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
	// ErrHandler matches every *HandlerError.
	ErrHandler = errors.New("handler failed")
	// errLeaseLost means another runner owns the projection now, or its
	// checkpoint changed under this one (reset, rebuild, switch).
	errLeaseLost = errors.New("lease lost")
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
