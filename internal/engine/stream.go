package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"sync"

	"github.com/256dpi/lungo"
	"github.com/256dpi/lungo/mongokit"
	"github.com/cockroachdb/pebble/v2"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo/options"
)

// ChangeStream is the engine's lungo.IChangeStream: it tails the change
// log, which commits write in the same batch as their documents, and sees
// a commit only once it is durable. Resume tokens are positions in the
// log; resuming from a position the log no longer holds fails with
// MongoDB's ChangeStreamHistoryLost (286).
type ChangeStream struct {
	e        *Engine
	db, coll string
	match    *bson.D
	lookup   bool // fullDocument on updates

	mu     sync.Mutex
	after  []byte // the last position scanned (an oplog key), or nil
	start  []byte // the first position to scan when after is nil
	buf    []bson.Raw
	cur    bson.Raw
	token  bson.Raw
	batch  int
	err    error
	closed bool
	stop   chan struct{}
}

var _ lungo.IChangeStream = (*ChangeStream)(nil)

// watch opens a change stream on a collection (db and coll set), a
// database (coll empty) or everything (both empty).
func (e *Engine) watch(ctx context.Context, db, coll string, pipeline any, opts ...*options.ChangeStreamOptions) (*ChangeStream, error) {
	if err := e.enter(); err != nil {
		return nil, err
	}
	defer e.inflight.Done()
	o := options.MergeChangeStreamOptions(opts...)
	if o.Collation != nil || (o.FullDocumentBeforeChange != nil && *o.FullDocumentBeforeChange != options.Off) || o.Custom != nil || o.CustomPipeline != nil {
		return nil, unsupported("change stream options collation, fullDocumentBeforeChange, custom")
	}
	cs := &ChangeStream{e: e, db: db, coll: coll, batch: defaultBatch, stop: make(chan struct{})}
	if o.BatchSize != nil && *o.BatchSize > 0 {
		cs.batch = int(*o.BatchSize)
	}
	if o.FullDocument != nil {
		switch *o.FullDocument {
		case options.Default, "":
		case options.UpdateLookup, options.WhenAvailable, options.Required:
			cs.lookup = true
		default:
			return nil, unsupported("fullDocument %q", *o.FullDocument)
		}
	}
	m, err := parsePipeline(pipeline)
	if err != nil {
		return nil, err
	}
	cs.match = m
	tok := o.ResumeAfter
	if o.StartAfter != nil {
		tok = o.StartAfter
	}
	if raw, ok := tok.(bson.Raw); ok && len(raw) == 0 {
		return nil, commandError(codeBadValue, "BadValue", "the resume token is empty")
	}
	switch {
	case tok != nil:
		d, err := toDoc(tok)
		if err != nil {
			return nil, historyLost(fmt.Sprintf("the resume token (%v)", err))
		}
		data, _ := lookupString(d, "_data")
		ts, op, ok := parseTokenData(data)
		if !ok {
			// Not a position of this engine's change log: nothing to
			// resume from, as MongoDB says of a token it cannot find.
			return nil, historyLost(fmt.Sprintf("the resume token %v", d))
		}
		if ts > e.applied.Load() {
			return nil, commandError(280, "ChangeStreamFatalError", "resume token is after the newest change: it is not from this store")
		}
		cs.after = oplogKey(ts, op)
	case o.StartAtOperationTime != nil:
		cs.start = oplogKey(tsOf(*o.StartAtOperationTime), 0)
	default:
		cs.after = oplogKey(e.durable.Load(), math.MaxUint32)
	}
	if e.lost(cs.position()) {
		return nil, historyLost("the resume point")
	}
	cs.token = cs.positionToken()
	return cs, nil
}

// position is the exclusive lower bound of what the stream reads next.
func (cs *ChangeStream) position() []byte {
	if cs.after != nil {
		return cs.after
	}
	// Just before start.
	ts, _, _ := parseOplogKey(cs.start)
	if ts == 0 {
		return oplogKey(0, 0)
	}
	return oplogKey(ts-1, math.MaxUint32)
}

func (cs *ChangeStream) positionToken() bson.Raw {
	ts, op, _ := parseOplogKey(cs.position())
	return mustMarshal(bson.D{{Key: "_data", Value: tokenData(ts, op)}})
}

// lost reports whether entries after pos have been trimmed.
func (e *Engine) lost(pos []byte) bool {
	t := e.trimmed.Load()
	return t != nil && bytes.Compare(pos, *t) < 0
}

func parsePipeline(pipeline any) (*bson.D, error) {
	if pipeline == nil {
		return nil, nil
	}
	raw, err := bson.Marshal(bson.D{{Key: "p", Value: pipeline}})
	if err != nil {
		return nil, fmt.Errorf("engine: pipeline: %w", err)
	}
	var w struct {
		P []bson.D `bson:"p"`
	}
	if err := bson.Unmarshal(raw, &w); err != nil {
		return nil, fmt.Errorf("engine: pipeline must be a list of stages: %w", err)
	}
	var all bson.A
	for _, stage := range w.P {
		if len(stage) != 1 || stage[0].Key != "$match" {
			return nil, unsupported("change stream stage %v: only $match", stage)
		}
		d, err := toDoc(stage[0].Value)
		if err != nil {
			return nil, err
		}
		all = append(all, d)
	}
	switch len(all) {
	case 0:
		return nil, nil
	case 1:
		d := all[0].(bson.D)
		return &d, nil
	}
	return &bson.D{{Key: "$and", Value: all}}, nil
}

func lookupString(d bson.D, key string) (string, bool) {
	for _, e := range d {
		if e.Key == key {
			s, ok := e.Value.(string)
			return s, ok
		}
	}
	return "", false
}

// scan reads the next batch of durable changes into buf. Under mu.
func (cs *ChangeStream) scan() error {
	e := cs.e
	if err := e.enter(); err != nil {
		return err
	}
	defer e.inflight.Done()
	lower := cs.start
	if cs.after != nil {
		lower = append(bytes.Clone(cs.after), 0)
	}
	upper := oplogKey(e.durable.Load()+1, 0)
	if bytes.Compare(lower, upper) >= 0 {
		return nil
	}
	it, err := e.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return err
	}
	defer it.Close()
	if e.lost(cs.position()) {
		return historyLost("the stream's position")
	}
	for valid := it.First(); valid && len(cs.buf) < cs.batch; valid = it.Next() {
		cs.after = bytes.Clone(it.Key())
		raw, err := cs.event(it.Value())
		if err != nil {
			return err
		}
		if raw != nil {
			cs.buf = append(cs.buf, raw)
		}
	}
	if err := it.Error(); err != nil {
		return wrapRead(err)
	}
	return nil
}

// event filters and shapes one stored change; nil when it is filtered out.
func (cs *ChangeStream) event(v []byte) (bson.Raw, error) {
	raw := bson.Raw(v)
	if cs.db != "" {
		db, _ := raw.Lookup("ns", "db").StringValueOK()
		if db != cs.db {
			return nil, nil
		}
		if cs.coll != "" {
			coll, _ := raw.Lookup("ns", "coll").StringValueOK()
			if coll != cs.coll {
				return nil, nil
			}
		}
	}
	op, _ := raw.Lookup("operationType").StringValueOK()
	if cs.match == nil && (op != "update" || cs.lookup) {
		return bytes.Clone(raw), nil
	}
	var d bson.D
	if err := bson.Unmarshal(raw, &d); err != nil {
		return nil, fmt.Errorf("%w: change log entry: %v", ErrCorrupt, err)
	}
	if op == "update" && !cs.lookup {
		out := d[:0]
		for _, el := range d {
			if el.Key != "fullDocument" {
				out = append(out, el)
			}
		}
		d = out
	}
	if cs.match != nil {
		ok, err := mongokit.Match(&d, cs.match)
		if err != nil {
			return nil, fmt.Errorf("engine: change stream $match: %w", err)
		}
		if !ok {
			return nil, nil
		}
	}
	return bson.Marshal(d)
}

// TryNext implements lungo.IChangeStream: the next durable change, if any,
// without waiting.
func (cs *ChangeStream) TryNext(ctx context.Context) bool {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return cs.tryNext(ctx)
}

func (cs *ChangeStream) tryNext(ctx context.Context) bool {
	if cs.closed || cs.err != nil {
		return false
	}
	if err := ctx.Err(); err != nil {
		cs.err = err
		return false
	}
	if len(cs.buf) == 0 {
		if err := cs.scan(); err != nil {
			cs.err = err
			return false
		}
	}
	if len(cs.buf) == 0 {
		cs.cur = nil
		cs.token = cs.positionToken()
		return false
	}
	cs.cur, cs.buf = cs.buf[0], cs.buf[1:]
	id, err := cs.cur.LookupErr("_id")
	if err == nil {
		cs.token = bytes.Clone(id.Document())
	}
	if len(cs.buf) == 0 {
		// Past the batch, the token is the position scanned to: beyond
		// the current event when the scan went on over filtered entries,
		// so a resume skips them too.
		cs.token = cs.positionToken()
	}
	return true
}

// Next implements lungo.IChangeStream: it waits for the next change until
// ctx is done or the stream is closed.
func (cs *ChangeStream) Next(ctx context.Context) bool {
	for {
		cs.mu.Lock()
		ch := cs.e.changedChan()
		if cs.tryNext(ctx) {
			cs.mu.Unlock()
			return true
		}
		failed := cs.err != nil || cs.closed
		cs.mu.Unlock()
		if failed {
			return false
		}
		select {
		case <-ch:
		case <-ctx.Done():
			cs.mu.Lock()
			cs.err = ctx.Err()
			cs.mu.Unlock()
			return false
		case <-cs.stop:
			return false
		case <-cs.e.done:
			cs.mu.Lock()
			cs.err = ErrClosed
			cs.mu.Unlock()
			return false
		}
	}
}

// Decode implements lungo.IChangeStream.
func (cs *ChangeStream) Decode(v any) error {
	cs.mu.Lock()
	cur := cs.cur
	cs.mu.Unlock()
	if cur == nil {
		return errors.New("engine: no current change")
	}
	return bson.Unmarshal(cur, v)
}

// Current returns the current change's bytes.
func (cs *ChangeStream) Current() bson.Raw {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return cs.cur
}

// ResumeToken implements lungo.IChangeStream: the token to resume after
// the current change (or after everything scanned so far).
func (cs *ChangeStream) ResumeToken() bson.Raw {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return cs.token
}

// Err implements lungo.IChangeStream.
func (cs *ChangeStream) Err() error {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return cs.err
}

// Close implements lungo.IChangeStream; it wakes a waiting Next.
func (cs *ChangeStream) Close(context.Context) error {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if !cs.closed {
		cs.closed = true
		close(cs.stop)
	}
	return nil
}

// ID implements lungo.IChangeStream; the engine's streams have no server
// cursor.
func (cs *ChangeStream) ID() int64 { return 0 }

// RemainingBatchLength implements lungo.IChangeStream.
func (cs *ChangeStream) RemainingBatchLength() int {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return len(cs.buf)
}

// SetBatchSize implements lungo.IChangeStream.
func (cs *ChangeStream) SetBatchSize(n int32) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if n > 0 {
		cs.batch = int(n)
	}
}
