package projections

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/256dpi/lungo"
	"github.com/annalsdb/annals/mongostore"
	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo/options"
)

// Status is where a projection stands.
type Status struct {
	// Name is the projection's name.
	Name string `json:"name"`
	// State is StateCatchingUp, StateLive, StateFailed or StateWaiting;
	// "new" before any runner has started it.
	State string `json:"state"`
	// Generation counts rebuilds: query collections of generation g > 1
	// are named <collection>_g<g>.
	Generation int64 `json:"generation"`
	// Version is the projection logic's version the generation was built
	// with.
	Version int `json:"version"`
	// Owner is the runner applying the projection, while its lease holds.
	// On file: and memory: stores a lease taken through an earlier open
	// of the store (a crashed process's) does not hold.
	Owner string `json:"owner,omitempty"`
	// LeaseUntil is when Owner's lease expires unless renewed.
	LeaseUntil time.Time `json:"lease_until,omitzero"`
	// WaitingForLease is set while this runner is ready to apply the
	// projection but another owner holds its lease: whose, and until
	// when. State is then the state that owner last recorded; if the
	// owner has crashed, nothing is applied until its lease expires.
	WaitingForLease *LeaseWait `json:"waiting_for_lease,omitempty"`
	// Stalled is set while this runner's worker for the projection
	// keeps failing and retries with backoff: why (a full disk, say),
	// since when and how often. State is then the last state recorded.
	Stalled *Stall `json:"stalled,omitempty"`
	// Checkpoint is where the projection resumes.
	Checkpoint Checkpoint `json:"checkpoint"`
	// LastEvent is the last event applied, if any.
	LastEvent *EventRef `json:"last_event,omitempty"`
	// Applied counts events applied by this generation.
	Applied int64 `json:"applied"`
	// Behind counts handled events not applied yet: those recorded after
	// the checkpoint's position, and those recorded shortly before it whose
	// transactions committed after the projection passed it. Each part is
	// counted up to StatusCountLimit, so that a status costs the same
	// however far behind the projection is; BehindCapped then says Behind
	// is a lower bound.
	Behind int64 `json:"behind"`
	// BehindCapped is true when Behind stopped counting at the limit.
	BehindCapped bool `json:"behind_capped,omitempty"`
	// Lag is how long ago the oldest event not yet applied was recorded;
	// zero when none is waiting.
	Lag time.Duration `json:"lag_ns"`
	// HistoryLost counts the times the change stream could not resume and
	// the projection caught up from the events collection instead.
	HistoryLost int64 `json:"history_lost"`
	// Failure says why a failed projection stopped.
	Failure *Failure `json:"failure,omitempty"`
	// Build is the blue/green build of the next generation, while one runs.
	Build *Status `json:"build,omitempty"`
	// UpdatedAt is when the checkpoint last changed.
	UpdatedAt time.Time `json:"updated_at"`
}

// Checkpoint is where a projection resumes: after the change stream's
// resume token when it has one, else by catching up from Position.
type Checkpoint struct {
	ResumeToken bson.Raw            `json:"resume_token,omitempty"`
	Position    mongostore.Position `json:"position"`
}

// EventRef identifies an event.
type EventRef struct {
	ID         uuid.UUID `json:"id"`
	Stream     uuid.UUID `json:"aggregate_uuid"`
	Version    int64     `json:"version"`
	Name       string    `json:"name"`
	RecordedAt time.Time `json:"recorded_at"`
}

// Failure is why a projection failed.
type Failure struct {
	EventID   uuid.UUID `json:"event_id"`
	EventName string    `json:"event_name"`
	Stream    uuid.UUID `json:"aggregate_uuid"`
	Version   int64     `json:"version"`
	Error     string    `json:"error"`
	At        time.Time `json:"at"`
}

// Status reports a projection's state, checkpoint, last applied event, how
// many events it is behind and its lag. It reads the shared checkpoint, so
// it is accurate whichever runner owns the projection.
// Errors: ErrUnknownProjection.
func (r *Runner) Status(ctx context.Context, name string) (Status, error) {
	p, ok := r.byName[name]
	if !ok {
		return Status{}, fmt.Errorf("%w: %s", ErrUnknownProjection, name)
	}
	// Every read of a status is made at one point in time: read one by
	// one, a batch committed between the checkpoint and the streams'
	// positions would hide events from Behind.
	var st Status
	err := r.store.ConsistentRead(ctx, func(sc context.Context) error {
		serving, build, err := r.readCheckpoints(sc, name)
		if err != nil {
			return err
		}
		if st, err = r.status(sc, p, serving); err != nil {
			return err
		}
		if build != nil {
			b, err := r.status(sc, p, build)
			if err != nil {
				return err
			}
			st.Build = &b
		}
		return nil
	})
	if err != nil {
		return Status{}, err
	}
	return st, nil
}

// readCheckpoints reads a projection's serving and build checkpoints in
// one query, so a switch between two reads cannot show the old generation
// without its build.
func (r *Runner) readCheckpoints(ctx context.Context, name string) (serving, build *checkpoint, err error) {
	cur, err := r.checkpoints().Find(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: bson.A{name, name + nextSuffix}}}}})
	if err != nil {
		return nil, nil, fmt.Errorf("projections: status of %s: %w", name, err)
	}
	defer cur.Close(ctx)
	for cur.Next(ctx) {
		var cp checkpoint
		if err := cur.Decode(&cp); err != nil {
			return nil, nil, fmt.Errorf("projections: status of %s: %w", name, err)
		}
		if cp.ID == name {
			serving = &cp
		} else {
			build = &cp
		}
	}
	if err := cur.Err(); err != nil {
		return nil, nil, fmt.Errorf("projections: status of %s: %w", name, err)
	}
	return serving, build, nil
}

// StatusCountLimit bounds the events a Status counts or reads to estimate
// how far behind a projection is (see Status.Behind).
const StatusCountLimit = 10_000

// Failed returns the names of the registered projections whose serving
// generation has failed, in registration order. It reads the checkpoints'
// names and states only, in one query, whatever the size of the store: it
// serves readiness checks, which must stay cheap.
func (r *Runner) Failed(ctx context.Context) ([]string, error) {
	names := make(bson.A, 0, len(r.projections))
	for _, p := range r.projections {
		names = append(names, p.Name)
	}
	cur, err := r.checkpoints().Find(ctx,
		bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: names}}}, {Key: "state", Value: StateFailed}},
		options.Find().SetProjection(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("projections: failed projections: %w", err)
	}
	defer cur.Close(ctx)
	failed := map[string]bool{}
	for cur.Next(ctx) {
		var d struct {
			ID string `bson:"_id"`
		}
		if err := cur.Decode(&d); err != nil {
			return nil, fmt.Errorf("projections: failed projections: %w", err)
		}
		failed[d.ID] = true
	}
	if err := cur.Err(); err != nil {
		return nil, fmt.Errorf("projections: failed projections: %w", err)
	}
	var out []string
	for _, p := range r.projections {
		if failed[p.Name] {
			out = append(out, p.Name)
		}
	}
	return out, nil
}

// Statuses reports every registered projection, in registration order.
func (r *Runner) Statuses(ctx context.Context) ([]Status, error) {
	out := make([]Status, 0, len(r.projections))
	for _, p := range r.projections {
		st, err := r.Status(ctx, p.Name)
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return out, nil
}

func (r *Runner) status(ctx context.Context, p *Projection, cp *checkpoint) (Status, error) {
	st := Status{Name: p.Name, State: "new", Version: p.version()}
	var pos mongostore.Position
	var err error
	if cp != nil {
		pos = cp.Position.position()
		st.State, st.Generation, st.Version = cp.State, cp.Generation, cp.CodeVersion
		st.Applied, st.HistoryLost, st.UpdatedAt = cp.Applied, cp.HistoryLost, cp.UpdatedAt
		st.Checkpoint = Checkpoint{ResumeToken: cp.Token, Position: pos}
		if r.leaseHeld(cp) {
			st.Owner, st.LeaseUntil = cp.Owner, cp.LeaseUntil.UTC()
		}
		if w, ok := r.waitingFor(cp.ID); ok && w.Owner == cp.Owner && w.Owner != r.owner {
			w.Until = cp.LeaseUntil.UTC()
			st.WaitingForLease = &w
		}
		if l := cp.Last; l != nil {
			st.LastEvent = &EventRef{ID: uuidOf(l.ID.Data), Stream: uuidOf(l.Stream.Data), Version: l.Version, Name: l.Name, RecordedAt: l.RecordedAt.UTC()}
		}
		if f := cp.Failure; f != nil {
			st.Failure = &Failure{EventID: uuidOf(f.EventID.Data), EventName: f.EventName, Stream: uuidOf(f.Stream.Data),
				Version: f.Version, Error: f.Error, At: f.At.UTC()}
		}
	}
	id := p.Name // the serving generation's worker, before its checkpoint exists
	if cp != nil {
		id = cp.ID
	}
	if s, ok := r.stalledFor(id); ok {
		st.Stalled = &s
	}
	if st.Behind, err = r.store.CountAfterAtMost(ctx, pos, p.names(), StatusCountLimit); err != nil {
		return st, err
	}
	st.BehindCapped = st.Behind >= StatusCountLimit
	// An unreadable stored event fails the projection (see Failure); the
	// backlog estimate then leaves it out rather than failing the status.
	if cp != nil && !pos.IsZero() {
		late, capped, err := r.lateEvents(ctx, p, cp, pos)
		if err != nil && !errors.Is(err, mongostore.ErrCorruptEvent) {
			return st, err
		}
		st.Behind += late
		st.BehindCapped = st.BehindCapped || capped
	}
	if st.Behind > 0 {
		for at, err := range r.store.ScanPositions(ctx, mongostore.ScanQuery{After: pos, Names: p.names(), Limit: 1}) {
			if err != nil && !errors.Is(err, mongostore.ErrCorruptEvent) {
				return st, err
			}
			if err == nil {
				st.Lag = max(0, r.now().Sub(at.RecordedAt))
			}
		}
	}
	return st, nil
}

func uuidOf(b []byte) uuid.UUID {
	if len(b) != 16 {
		return uuid.Nil
	}
	return uuid.UUID(b)
}

// WaitLive blocks until the projection is live with nothing left to apply,
// polling its status; it serves tests and tools. It returns the error of
// ctx if that ends first, and an error naming the failure if the
// projection fails.
func (r *Runner) WaitLive(ctx context.Context, name string) (Status, error) {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		st, err := r.Status(ctx, name)
		if err != nil {
			return st, err
		}
		switch {
		case st.State == StateFailed:
			return st, fmt.Errorf("projections: %s failed on event %s: %s", name, st.Failure.EventID, st.Failure.Error)
		case st.State == StateLive && st.Behind == 0 && st.Build == nil:
			return st, nil
		}
		select {
		case <-ctx.Done():
			return st, fmt.Errorf("projections: waiting for %s (state %s, %d behind): %w", name, st.State, st.Behind, ctx.Err())
		case <-t.C:
		}
	}
}

// Collection returns the serving generation's query collection of a
// projection, by logical name (the projection's first collection when name
// is empty), for reading read models. Errors: ErrUnknownProjection,
// ErrUnknownCollection.
func (r *Runner) Collection(ctx context.Context, projection, name string) (lungo.ICollection, error) {
	p, ok := r.byName[projection]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrUnknownProjection, projection)
	}
	if name == "" {
		name = p.collections()[0]
	}
	if !slices.Contains(p.collections(), name) {
		return nil, fmt.Errorf("%w: %s has no collection %q", ErrUnknownCollection, projection, name)
	}
	cp, err := r.loadCheckpoint(ctx, projection)
	if err != nil {
		return nil, err
	}
	gen := int64(1)
	if cp != nil {
		gen = cp.Generation
	}
	return r.store.Database().Collection(physicalName(name, gen)), nil
}

// settleWindow is how long before a projection's position an event may be
// recorded and still commit after the projection passed that position
// (appends stamp recorded_at just before they commit).
const settleWindow = 2 * time.Second

// lateEvents counts handled events recorded in the settle window before
// the position that the projection has not applied yet: with concurrent
// writers, the change stream can deliver an event recorded at t after one
// recorded at t+1ms. The per-aggregate positions say exactly which were
// applied.
// It reads positions only, never payloads, and at most StatusCountLimit of
// them; capped reports that the limit was reached.
func (r *Runner) lateEvents(ctx context.Context, p *Projection, cp *checkpoint, pos mongostore.Position) (late int64, capped bool, err error) {
	var recent []mongostore.Position
	streams := map[uuid.UUID]int64{}
	from := mongostore.Position{RecordedAt: pos.RecordedAt.Add(-settleWindow)}
	for at, err := range r.store.ScanPositions(ctx, mongostore.ScanQuery{After: from, Names: p.names(), Limit: StatusCountLimit}) {
		if err != nil {
			return 0, false, err
		}
		if pos.Before(at) {
			break
		}
		recent = append(recent, at)
		streams[at.Stream] = 0
	}
	if len(recent) == 0 {
		return 0, false, nil
	}
	if err := r.readPositions(ctx, p.Name, cp.Generation, streams); err != nil {
		return 0, false, err
	}
	for _, at := range recent {
		if at.Version > streams[at.Stream] {
			late++
		}
	}
	return late, len(recent) >= StatusCountLimit, nil
}
