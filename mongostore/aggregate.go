package mongostore

import (
	"github.com/google/uuid"
)

// Aggregate is state rebuilt from events. Apply folds one decoded event
// payload (a value of a type registered in the Registry) into the state;
// it must not fail for events the aggregate itself emitted.
type Aggregate interface {
	Apply(event any) error
}

// Root is a loaded aggregate: its state, the version it was loaded at, and
// the events recorded since, not yet saved.
type Root[A Aggregate] struct {
	// ID is the aggregate's id (its stream).
	ID uuid.UUID
	// Version is the stream's version the state reflects, before the
	// pending events.
	Version int64
	// State is the aggregate's state, with the pending events applied.
	State A

	reg     *Registry
	pending []EventData
}

// Record applies an event to the state and keeps it to be saved. The
// payload's type must be registered. Decide first, then record: Record is
// for facts, not for checks.
func (r *Root[A]) Record(payload any, meta ...Metadata) error {
	return r.RecordWithID(uuid.Nil, payload, meta...)
}

// RecordWithID is Record with the event's id chosen by the caller, e.g.
// derived from the command that caused it, so that saving again after an
// unknown outcome stores nothing twice. Give ids to all the events of a
// save or to none.
func (r *Root[A]) RecordWithID(id uuid.UUID, payload any, meta ...Metadata) error {
	ed, err := r.reg.EventData(payload)
	if err != nil {
		return err
	}
	ed.ID = id
	if len(meta) > 0 {
		ed.Metadata = meta[0]
	}
	if err := r.State.Apply(payload); err != nil {
		return err
	}
	r.pending = append(r.pending, ed)
	return nil
}

// Pending returns the events recorded and not yet saved.
func (r *Root[A]) Pending() []EventData { return r.pending }
