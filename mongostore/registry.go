package mongostore

import (
	"errors"
	"fmt"
	"reflect"
	"sync"

	"go.mongodb.org/mongo-driver/bson"
)

// ErrUnknownEvent means an event's name is not registered. The error is
// an *UnknownEventError naming it.
var ErrUnknownEvent = errors.New("mongostore: unknown event type")

// ErrUpcast means an event's payload could not be lifted to its current
// shape: an upcaster is missing from the chain, failed, or the stored
// schema version is newer than the registered one.
var ErrUpcast = errors.New("mongostore: cannot upcast event")

// UnknownEventError names an event type the registry does not know.
type UnknownEventError struct {
	Name string
}

func (e *UnknownEventError) Error() string {
	return fmt.Sprintf("mongostore: unknown event type %q: register it with mongostore.Register", e.Name)
}

// Unwrap returns ErrUnknownEvent.
func (e *UnknownEventError) Unwrap() error { return ErrUnknownEvent }

// UpcastFunc lifts a payload from one schema version to the next. It gets
// the stored document as a map and returns the next version's.
type UpcastFunc func(data bson.M) (bson.M, error)

// Registry maps event names to Go types, with the upcasters that lift old
// payload shapes to the current one. It is safe for concurrent use once
// built; register everything before use.
type Registry struct {
	mu        sync.RWMutex
	types     map[string]registered
	byType    map[reflect.Type]string
	upcasters map[upcastKey]UpcastFunc
}

type registered struct {
	typ     reflect.Type
	version int32
}

type upcastKey struct {
	name string
	from int32
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{types: map[string]registered{}, byType: map[reflect.Type]string{}, upcasters: map[upcastKey]UpcastFunc{}}
}

// Register maps the event name to T, the Go type of its current payload,
// at schema version (1 when 0). Registering a name or a type twice panics:
// it is a programming error.
func Register[T any](r *Registry, name string, schemaVersion int32) {
	if schemaVersion == 0 {
		schemaVersion = 1
	}
	if reason := checkName(name); reason != "" {
		panic(fmt.Sprintf("mongostore: register event %q: name %s", name, reason))
	}
	t := reflect.TypeFor[T]()
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.types[name]; dup {
		panic(fmt.Sprintf("mongostore: event %q registered twice", name))
	}
	if other, dup := r.byType[t]; dup {
		panic(fmt.Sprintf("mongostore: type %s registered as %q and %q", t, other, name))
	}
	r.types[name] = registered{typ: t, version: schemaVersion}
	r.byType[t] = name
}

// Upcast registers fn to lift the payload of event name from schema
// version from to from+1. Upcasters chain: v1→v2→v3.
func (r *Registry) Upcast(name string, from int32, fn UpcastFunc) {
	r.mu.Lock()
	defer r.mu.Unlock()
	key := upcastKey{name, from}
	if _, dup := r.upcasters[key]; dup {
		panic(fmt.Sprintf("mongostore: upcaster of %q from version %d registered twice", name, from))
	}
	r.upcasters[key] = fn
}

// EventData builds the EventData for a registered payload: its name and
// current schema version. Errors: *UnknownEventError.
func (r *Registry) EventData(payload any) (EventData, error) {
	t := reflect.TypeOf(payload)
	r.mu.RLock()
	name, ok := r.byType[t]
	reg := r.types[name]
	r.mu.RUnlock()
	if !ok {
		return EventData{}, &UnknownEventError{Name: fmt.Sprintf("(Go type %s)", t)}
	}
	return EventData{Name: name, SchemaVersion: reg.version, Data: payload}, nil
}

// UpcastEvent returns e with its payload lifted to the registered schema
// version. Errors: *UnknownEventError, ErrUpcast.
func (r *Registry) UpcastEvent(e Event) (Event, error) {
	r.mu.RLock()
	reg, ok := r.types[e.Name]
	r.mu.RUnlock()
	if !ok {
		return e, &UnknownEventError{Name: e.Name}
	}
	switch {
	case e.SchemaVersion == reg.version:
		return e, nil
	case e.SchemaVersion > reg.version:
		return e, fmt.Errorf("%w: event %s %s is at schema version %d, newer than the registered %d",
			ErrUpcast, e.Name, e.ID, e.SchemaVersion, reg.version)
	}
	var data bson.M
	if err := bson.Unmarshal(e.Data, &data); err != nil {
		return e, fmt.Errorf("%w: event %s %s: %v", ErrUpcast, e.Name, e.ID, err)
	}
	for v := e.SchemaVersion; v < reg.version; v++ {
		r.mu.RLock()
		fn, ok := r.upcasters[upcastKey{e.Name, v}]
		r.mu.RUnlock()
		if !ok {
			return e, fmt.Errorf("%w: no upcaster for %s from schema version %d", ErrUpcast, e.Name, v)
		}
		next, err := fn(data)
		if err != nil {
			return e, fmt.Errorf("%w: %s from schema version %d: %v", ErrUpcast, e.Name, v, err)
		}
		data = next
	}
	raw, err := bson.Marshal(data)
	if err != nil {
		return e, fmt.Errorf("%w: %s: %v", ErrUpcast, e.Name, err)
	}
	e.Data, e.SchemaVersion = raw, reg.version
	return e, nil
}

// Decode upcasts e and decodes its payload into a new value of the
// registered type, returned as that type (not a pointer). Errors:
// *UnknownEventError, ErrUpcast, or a decoding error naming the event.
func (r *Registry) Decode(e Event) (any, error) {
	e, err := r.UpcastEvent(e)
	if err != nil {
		return nil, err
	}
	r.mu.RLock()
	reg := r.types[e.Name]
	r.mu.RUnlock()
	ptr := reflect.New(reg.typ)
	if err := bson.Unmarshal(e.Data, ptr.Interface()); err != nil {
		return nil, fmt.Errorf("mongostore: decode event %s %s into %s: %w", e.Name, e.ID, reg.typ, err)
	}
	return ptr.Elem().Interface(), nil
}
