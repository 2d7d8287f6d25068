package projections

import (
	"context"
	"fmt"
	"slices"
	"strconv"

	"github.com/256dpi/lungo"
	"github.com/annalsdb/annals/mongostore"
)

// HandlerFunc applies one event to a projection's query collections. It
// must do every write through tx's collections with the ctx it is given:
// ctx carries the transaction in which the runner also records the
// projection's checkpoint, so effects happen exactly once. It is called in
// version order within each stream. A returned error stops the projection
// in the failed state naming the event, unless it is a transient database
// error or a full disk (mongostore.IsDiskFull), which is retried.
type HandlerFunc func(ctx context.Context, tx *Tx, ev mongostore.Event) error

// Projection keeps query collections (read models) current from events.
type Projection struct {
	// Name identifies the projection; it names its checkpoint and, unless
	// Collections says otherwise, its one query collection.
	Name string
	// Events are the event names the handler receives; others are skipped.
	// AllEvents ("*") among them means every event.
	Events []string
	// Handler applies an event. Set it or BatchHandler, not both.
	Handler HandlerFunc
	// BatchHandler applies a batch of events, queuing writes that the
	// runner sends in one bulk write per collection: far fewer round trips
	// than Handler's one write per event (see BatchHandlerFunc).
	BatchHandler BatchHandlerFunc
	// Collections are the logical names of the query collections the
	// projection owns and a rebuild drops. Empty means one collection named
	// after the projection.
	Collections []string
	// Version is the version of the handler's logic. Raising it makes the
	// runner rebuild the projection blue/green: the new version builds
	// into new collections while the old ones keep serving, and takes over
	// when it has caught up. Zero means 1.
	Version int
	// Registry, if set, upcasts every event to its current schema before
	// the handler sees it; an event it does not know fails the projection
	// (*mongostore.UnknownEventError), never passing silently.
	Registry *mongostore.Registry
	// Setup, if set, runs before the projection first applies events to a
	// generation of its collections, outside any transaction, to create
	// indexes. It must be idempotent.
	Setup func(ctx context.Context, tx *Tx) error
}

// New returns a projection named name handling the given events, with one
// query collection named after it.
func New(name string, events []string, handler HandlerFunc) *Projection {
	return &Projection{Name: name, Events: events, Handler: handler}
}

func (p *Projection) collections() []string {
	if len(p.Collections) == 0 {
		return []string{p.Name}
	}
	return p.Collections
}

// upcast lifts e to its current schema with the projection's registry, if
// any; an event the registry refuses fails the projection on it.
func (p *Projection) upcast(e mongostore.Event) (mongostore.Event, error) {
	if p.Registry == nil {
		return e, nil
	}
	up, err := p.Registry.UpcastEvent(e)
	if err != nil {
		return e, handlerError(p, e, err)
	}
	return up, nil
}

func (p *Projection) version() int {
	if p.Version == 0 {
		return 1
	}
	return p.Version
}

// AllEvents in Projection.Events means every event, whatever its name.
const AllEvents = "*"

func (p *Projection) handles(name string) bool {
	return p.all() || slices.Contains(p.Events, name)
}

func (p *Projection) all() bool { return slices.Contains(p.Events, AllEvents) }

// names is the name filter for reading events: nil for every event.
func (p *Projection) names() []string {
	if p.all() {
		return nil
	}
	return p.Events
}

func (p *Projection) validate() error {
	switch {
	case p == nil:
		return fmt.Errorf("projections: nil projection")
	case p.Name == "" || len(p.Name) > 100:
		return fmt.Errorf("projections: projection name %q must be 1 to 100 bytes", p.Name)
	case p.Handler == nil && p.BatchHandler == nil:
		return fmt.Errorf("projections: projection %s has no handler", p.Name)
	case p.Handler != nil && p.BatchHandler != nil:
		return fmt.Errorf("projections: projection %s has both a Handler and a BatchHandler", p.Name)
	case len(p.Events) == 0:
		return fmt.Errorf("projections: projection %s handles no events", p.Name)
	case p.Version < 0:
		return fmt.Errorf("projections: projection %s has negative version %d", p.Name, p.Version)
	}
	for _, c := range p.collections() {
		if c == "" || c[0] == '$' || slices.Contains(reservedCollections, c) {
			return fmt.Errorf("projections: projection %s cannot own collection %q", p.Name, c)
		}
	}
	return nil
}

// Tx is what a handler writes through: the projection's query collections
// for the generation being built.
type Tx struct {
	db         lungo.IDatabase
	projection *Projection
	generation int64
}

// Collection returns the projection's query collection with the given
// logical name, or its only (first) collection when no name is given. It
// panics on a name the projection did not declare in Collections: that is
// a programming error.
func (tx *Tx) Collection(name ...string) lungo.ICollection {
	logical := tx.projection.collections()[0]
	if len(name) > 0 {
		logical = name[0]
	}
	if !slices.Contains(tx.projection.collections(), logical) {
		panic(fmt.Sprintf("projections: projection %s did not declare collection %q", tx.projection.Name, logical))
	}
	return tx.db.Collection(physicalName(logical, tx.generation))
}

// Generation is the generation of collections being written: it grows by
// one with every rebuild.
func (tx *Tx) Generation() int64 { return tx.generation }

// physicalName is where a logical collection of a generation lives: the
// logical name itself for the first generation, name_gN after rebuilds.
func physicalName(logical string, generation int64) string {
	if generation <= 1 {
		return logical
	}
	return logical + "_g" + strconv.FormatInt(generation, 10)
}
