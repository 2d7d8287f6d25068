package mongostore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/256dpi/lungo"
	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
)

// Append appends events to one stream, all or nothing, if the stream's
// version meets expected.
//
// Errors: a *ConcurrencyError (errors.Is ErrConcurrency) when the version
// does not match — including an Exact version that would leave a gap, and a
// lost race decided by the unique (aggregate_uuid, version) index; a
// *ValidationError (ErrInvalidInput or ErrTooLarge) for bad input, before
// anything is written; an *EventIDConflictError (ErrEventIDConflict) when a
// caller-chosen event id is already stored as another event; ErrClosed.
//
// Retrying an append whose outcome is unknown with the same event ids
// stores nothing twice: it returns the versions the events got, with
// Replayed set.
//
// One event costs two round trips (read the stream's head, or with an
// Exact expected version the event at that version, then insert); a batch
// three (that read, insert, commit), in one transaction.
func (s *Store) Append(ctx context.Context, stream uuid.UUID, expected ExpectedVersion, events ...EventData) (AppendResult, error) {
	res, err := s.AppendStreams(ctx, StreamAppend{Stream: stream, Expected: expected, Events: events})
	if err != nil {
		return AppendResult{}, err
	}
	return res[0], nil
}

// AppendStreams appends to several streams atomically, in one transaction:
// either every stream's events are stored or none are. It returns one
// result per stream, in the order given. Errors are those of Append; a
// conflict on any stream writes nothing to any stream.
//
// Tracing: when a tracer provider is installed (WithTracerProvider, else
// the global one), each call is a span named SpanAppend, a child of
// ctx's span. When ctx carries a valid span context, sampled or not,
// every event's metadata records it in W3C form under MetaTraceparent
// (and MetaTracestate when there is one): the append's span when there is
// one, else ctx's own. An event whose Metadata.Extra already holds one of
// those keys keeps the caller's value for that key.
func (s *Store) AppendStreams(ctx context.Context, appends ...StreamAppend) ([]AppendResult, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	ctx, span, tf := s.startAppend(ctx, appends)
	res, err := s.appendStreams(ctx, tf, appends)
	if span != nil {
		endAppend(span, res, err)
	}
	return res, err
}

// appendStreams is AppendStreams recording tf in the events' metadata.
func (s *Store) appendStreams(ctx context.Context, tf traceFields, appends []StreamAppend) ([]AppendResult, error) {
	batch, err := s.prepare(appends, tf)
	if err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		var res []AppendResult
		if len(batch) == 1 && batch[0].len() == 1 {
			res, err = s.appendSingle(ctx, batch[0])
		} else {
			res, err = s.appendTransaction(ctx, batch)
		}
		if err == nil {
			return res, nil
		}
		var ce *ConcurrencyError
		mismatch := errors.As(err, &ce)
		if !mismatch && !IsDuplicate(err) && !isWriteConflict(err) {
			return nil, fmt.Errorf("mongostore: append: %w", err)
		}
		// The events may already be stored by an earlier attempt whose
		// outcome the caller never learned.
		if replayed, rerr := s.replay(ctx, batch); rerr != nil || replayed != nil {
			return replayed, rerr
		}
		if mismatch {
			return nil, ce
		}
		// A lost race: find whose expectation no longer holds.
		ce, err = s.recheck(ctx, batch)
		if err != nil {
			return nil, err
		}
		if ce != nil {
			return nil, ce
		}
		if attempt >= s.cfg.anyRetries {
			// Still losing: report the first stream as it is now.
			h, err := s.readHead(ctx, batch[0].stream)
			if err != nil {
				return nil, fmt.Errorf("mongostore: append: %w", err)
			}
			return nil, &ConcurrencyError{Stream: batch[0].stream, Expected: batch[0].expected, Actual: h.version}
		}
	}
}

// head is what an append needs to know of a stream's last event.
type head struct {
	version int64
	typ     string
	at      time.Time
}

// headProjection is what a head is read from.
var headProjection = bson.D{{Key: fieldVersion, Value: 1}, {Key: fieldStreamType, Value: 1}, {Key: fieldRecordedAt, Value: 1}}

var (
	headOptions = options.FindOne().SetSort(bson.D{{Key: fieldVersion, Value: -1}}).SetProjection(headProjection)
	atOptions   = options.FindOne().SetProjection(headProjection)
)

// readHead reads a stream's last event; a stream without events is at
// version 0.
func (s *Store) readHead(ctx context.Context, stream uuid.UUID) (head, error) {
	return s.readHeadFrom(ctx, s.events, stream)
}

// readHeadFrom reads the head through coll: the store's events collection,
// or eventsLocal, which reads with local read concern.
func (s *Store) readHeadFrom(ctx context.Context, coll lungo.ICollection, stream uuid.UUID) (head, error) {
	raw, err := coll.FindOne(ctx, bson.D{{Key: fieldStream, Value: UUIDValue(stream)}}, headOptions).Raw()
	if errors.Is(err, mongo.ErrNoDocuments) {
		return head{}, nil
	}
	if err != nil {
		return head{}, fmt.Errorf("read stream %s head: %w", stream, err)
	}
	h, err := headOf(raw)
	if err != nil {
		return head{}, fmt.Errorf("read stream %s head: %w", stream, err)
	}
	return h, nil
}

// readAt reads the stream's event at version as its head, for an append
// that expects the stream to be exactly there: a point look-up on the
// unique (aggregate_uuid, version) index, where the head is a walk to the
// stream's end. Whether version is the last is for the insert to settle:
// if the stream has moved on, the event at version+1 exists and the
// unique index refuses the insert, which appendStreams reports as a lost
// race with the stream's real head. found is false when the stream has no
// event at version.
func (s *Store) readAt(ctx context.Context, stream uuid.UUID, version int64) (h head, found bool, err error) {
	filter := bson.D{{Key: fieldStream, Value: UUIDValue(stream)}, {Key: fieldVersion, Value: version}}
	raw, err := s.events.FindOne(ctx, filter, atOptions).Raw()
	if errors.Is(err, mongo.ErrNoDocuments) {
		return head{}, false, nil
	}
	if err == nil {
		h, err = headOf(raw)
	}
	if err != nil {
		return head{}, false, fmt.Errorf("read stream %s at version %d: %w", stream, version, err)
	}
	return h, true, nil
}

// headOf reads a head from the fields headOptions projects, looked up in
// the raw document rather than decoded by reflection: every append reads
// one. It accepts what decoding into storedEvent accepted: a missing or
// null aggregate type is "" and a missing time the epoch; a version that
// is not a whole number, or a type that is not a string, is an error.
func headOf(raw bson.Raw) (head, error) {
	rv := raw.Lookup(fieldVersion)
	v, ok := rv.Int64OK()
	if !ok {
		// What decoding into an int64 accepts: an int32, or a double
		// with nothing after the point.
		if v32, ok32 := rv.Int32OK(); ok32 {
			v = int64(v32)
		} else if f, okf := rv.DoubleOK(); okf && f == math.Trunc(f) && f >= math.MinInt64 && f < math.MaxInt64 {
			v = int64(f)
		} else {
			return head{}, fmt.Errorf("the last event's %s is not an integer", fieldVersion)
		}
	}
	h := head{version: v}
	if t := raw.Lookup(fieldStreamType); t.Type != 0 && t.Type != bson.TypeNull {
		if h.typ, ok = t.StringValueOK(); !ok {
			return head{}, fmt.Errorf("the last event's %s is not a string", fieldStreamType)
		}
	}
	ms, _ := raw.Lookup(fieldRecordedAt).DateTimeOK()
	h.at = primitive.DateTime(ms).Time()
	return h, nil
}

// check reads what the append needs of its stream and tests the
// expectation: nothing when it expects no stream (the unique index then
// decides alone), the event at an exact expected version (readAt; the
// head when there is none, to report the gap), else the head.
func (s *Store) check(ctx context.Context, p *prepared) (head, error) {
	v, exact := p.expected.Version()
	if exact && v == 0 {
		return head{}, nil
	}
	var h head
	var err error
	found := false
	if exact {
		h, found, err = s.readAt(ctx, p.stream, v)
	}
	if err == nil && !found {
		h, err = s.readHead(ctx, p.stream)
	}
	if err != nil {
		return h, err
	}
	if !p.expected.satisfiedBy(h.version) {
		return h, &ConcurrencyError{Stream: p.stream, Expected: p.expected, Actual: h.version}
	}
	if p.typ != "" && h.typ != "" && p.typ != h.typ {
		return h, invalid(p.stream, -1, "aggregate_type", "the stream's aggregate type is %q, not %q", h.typ, p.typ)
	}
	return h, nil
}

// recordTime is now, truncated to what BSON dates hold, and never earlier
// than the streams' last events, so recorded_at never decreases within a
// stream even when writers' clocks disagree.
func recordTime(now time.Time, heads []head) time.Time {
	at := now.UTC().Truncate(time.Millisecond)
	for _, h := range heads {
		if h.at.After(at) {
			at = h.at.UTC()
		}
	}
	return at
}

// documents encodes p's events at the versions after h.
func (p *prepared) documents(h head, at time.Time, docs []any) ([]any, AppendResult, error) {
	typ := p.typ
	if typ == "" {
		typ = h.typ
	}
	for i := range p.ids {
		doc, err := encodeEvent(p.ids[i], p.stream, typ, h.version+1+int64(i), p.names[i], p.schemas[i], p.data[i], p.meta[i], p.escaped[i], at)
		if err != nil {
			return nil, AppendResult{}, err
		}
		if len(doc) > MaxEventBytes { // the inherited aggregate type can tip it over
			return nil, AppendResult{}, tooLarge(p.stream, i, "data", "the event document would be %d bytes; the limit is %d, MongoDB's limit of %d less room for change events", len(doc), MaxEventBytes, MaxDocumentBytes)
		}
		docs = append(docs, doc)
	}
	return docs, AppendResult{
		Stream:      p.stream,
		FromVersion: h.version + 1,
		ToVersion:   h.version + int64(p.len()),
		IDs:         p.ids,
		RecordedAt:  at,
	}, nil
}

// appendSingle appends one event without a transaction: a single-document
// insert is atomic by itself, and the unique index settles races.
func (s *Store) appendSingle(ctx context.Context, p *prepared) ([]AppendResult, error) {
	h, err := s.check(ctx, p)
	if err != nil {
		return nil, err
	}
	docs, res, err := p.documents(h, recordTime(s.cfg.clock(), []head{h}), make([]any, 0, 1))
	if err != nil {
		return nil, err
	}
	if _, err := s.events.InsertOne(ctx, docs[0]); err != nil {
		return nil, err
	}
	return []AppendResult{res}, nil
}

// appendTransaction appends a batch, or several streams, in one
// multi-document transaction.
func (s *Store) appendTransaction(ctx context.Context, batch []*prepared) ([]AppendResult, error) {
	n := 0
	for _, p := range batch {
		n += p.len()
	}
	var results []AppendResult
	err := s.Transaction(ctx, func(sc context.Context) error {
		heads := make([]head, len(batch))
		for i, p := range batch {
			h, err := s.check(sc, p)
			if err != nil {
				return err
			}
			heads[i] = h
		}
		at := recordTime(s.cfg.clock(), heads)
		docs := make([]any, 0, n)
		results = make([]AppendResult, len(batch))
		for i, p := range batch {
			var err error
			if docs, results[i], err = p.documents(heads[i], at, docs); err != nil {
				return err
			}
		}
		_, err := s.events.InsertMany(sc, docs, options.InsertMany().SetOrdered(true))
		return err
	})
	if err != nil {
		return nil, err
	}
	return results, nil
}

// Transaction runs fn in a multi-document transaction with the store's
// transaction options, committing when fn returns nil. fn must use the
// context it is given for every operation, and may run more than once on
// MongoDB, which retries transient conflicts.
func (s *Store) Transaction(ctx context.Context, fn func(ctx context.Context) error) error {
	sess, err := s.client.StartSession()
	if err != nil {
		return fmt.Errorf("start session: %w", err)
	}
	defer sess.EndSession(ctx)
	_, err = sess.WithTransaction(ctx, func(sc lungo.ISessionContext) (any, error) {
		return nil, fn(sc)
	}, s.TransactionOptions())
	return err
}

// recheck re-reads the heads of a batch that lost a race and returns the
// first stream whose expectation no longer holds, or nil when every
// expectation still holds and the append may be tried again.
func (s *Store) recheck(ctx context.Context, batch []*prepared) (*ConcurrencyError, error) {
	for _, p := range batch {
		h, err := s.readHeadFrom(ctx, s.eventsLocal, p.stream)
		if err != nil {
			return nil, fmt.Errorf("mongostore: append: %w", err)
		}
		if !p.expected.satisfiedBy(h.version) {
			return &ConcurrencyError{Stream: p.stream, Expected: p.expected, Actual: h.version}, nil
		}
	}
	return nil, nil
}

// replay looks for the batch's caller-chosen event ids among the stored
// events. If all are stored, each in its stream and in the batch's order,
// the append already happened and replay returns its results. If none are
// stored it returns nil. Anything in between is an *EventIDConflictError.
func (s *Store) replay(ctx context.Context, batch []*prepared) ([]AppendResult, error) {
	explicit := false
	var ids bson.A
	for _, p := range batch {
		explicit = explicit || p.explicitIDs
		for _, id := range p.ids {
			ids = append(ids, UUIDValue(id))
		}
	}
	if !explicit {
		return nil, nil
	}
	cur, err := s.eventsLocal.Find(ctx, bson.D{{Key: fieldID, Value: bson.D{{Key: "$in", Value: ids}}}},
		options.Find().SetProjection(bson.D{{Key: fieldData, Value: 0}, {Key: fieldMetadata, Value: 0}}))
	if err != nil {
		return nil, fmt.Errorf("mongostore: append: look up event ids: %w", err)
	}
	defer cur.Close(ctx)
	found := make(map[uuid.UUID]storedEvent, len(ids))
	for cur.Next(ctx) {
		var d storedEvent
		if err := cur.Decode(&d); err != nil {
			return nil, fmt.Errorf("mongostore: append: decode stored event: %w", err)
		}
		id, err := uuidFrom(d.ID)
		if err != nil {
			return nil, fmt.Errorf("mongostore: append: %w", err)
		}
		found[id] = d
	}
	if err := cur.Err(); err != nil {
		return nil, fmt.Errorf("mongostore: append: look up event ids: %w", err)
	}
	if len(found) == 0 {
		return nil, nil
	}
	results := make([]AppendResult, len(batch))
	for i, p := range batch {
		for j, id := range p.ids {
			d, ok := found[id]
			if !ok {
				for other := range found {
					return nil, &EventIDConflictError{ID: other, Reason: "the append only partly matches events stored earlier"}
				}
			}
			switch {
			case !bytesEqual(d.Stream.Data, p.stream[:]):
				return nil, &EventIDConflictError{ID: id, Reason: "it is stored in another stream"}
			case d.Name != p.names[j] || d.SchemaVersion != p.schemas[j]:
				return nil, &EventIDConflictError{ID: id, Reason: fmt.Sprintf("it is stored as %s (schema %d)", d.Name, d.SchemaVersion)}
			case j > 0 && d.Version != results[i].ToVersion+1:
				return nil, &EventIDConflictError{ID: id, Reason: "the stored events are not in the append's order"}
			}
			if j == 0 {
				results[i] = AppendResult{Stream: p.stream, FromVersion: d.Version, IDs: p.ids, RecordedAt: d.RecordedAt.Time().UTC(), Replayed: true}
			}
			results[i].ToVersion = d.Version
		}
	}
	return results, nil
}

func bytesEqual(a []byte, b []byte) bool { return string(a) == string(b) }

// IsDuplicate reports a unique index violation, as MongoDB (E11000) or the
// embedded engine says it.
func IsDuplicate(err error) bool {
	return mongo.IsDuplicateKeyError(err) || lungo.IsUniquenessError(err)
}

// isWriteConflict reports a MongoDB write conflict that outlived the
// driver's transaction retries.
func isWriteConflict(err error) bool {
	var se mongo.ServerError
	return errors.As(err, &se) && (se.HasErrorCode(112) || se.HasErrorLabel("TransientTransactionError"))
}
