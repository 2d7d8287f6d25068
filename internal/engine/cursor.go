package engine

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"reflect"
	"sync"
	"time"

	"github.com/256dpi/lungo"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
)

// defaultBatch is how many documents a cursor reads ahead.
const defaultBatch = 256

// firstBatch is how many documents a find reads before it returns when
// it sets no batch size, as MongoDB's first batch; a longer answer is
// read lazily after them.
const firstBatch = 101

// maxFirstBatchBytes bounds a first batch, as MongoDB's 16 MiB bounds a
// reply.
const maxFirstBatchBytes = 16 << 20

// Cursor is a lungo.ICursor over a query's results. Outside transactions
// the query reads its first batch when it runs and the rest lazily, from a
// snapshot of the store taken when it ran, so large results stream in
// bounded memory; inside a transaction its results are read when the query
// runs. It is safe for one goroutine at a time, as
// the driver's cursors are.
type Cursor struct {
	mu      sync.Mutex
	e       *Engine
	buf     []bson.Raw
	cur     bson.Raw
	next    func() (bson.Raw, error, bool)
	stop    func()
	err     error
	batch   int
	closed  bool
	release func()
}

var _ lungo.ICursor = (*Cursor)(nil)

// listCursor is a cursor over results already in memory.
func listCursor(docs []bson.Raw) *Cursor {
	return &Cursor{buf: docs, batch: defaultBatch}
}

// lazyCursor returns first, then pulls results from seq; release frees
// what seq reads from. The engine closes it when the engine closes.
func (e *Engine) lazyCursor(first []bson.Raw, seq iter.Seq2[bson.Raw, error], release func()) *Cursor {
	next, stop := iter.Pull2(seq)
	c := &Cursor{e: e, buf: first, next: next, stop: stop, release: release, batch: defaultBatch}
	e.mu.Lock()
	if e.cursors == nil {
		e.cursors = map[*Cursor]struct{}{}
	}
	e.cursors[c] = struct{}{}
	closed := e.cursorsClosed
	e.mu.Unlock()
	if closed {
		c.closeEngine()
	}
	return c
}

// fill reads the next batch ahead. Under mu.
func (c *Cursor) fill() {
	if c.next == nil || c.err != nil {
		return
	}
	for len(c.buf) < c.batch {
		raw, err, ok := c.next()
		if !ok {
			c.finish()
			return
		}
		if err != nil {
			c.err = err
			c.finish()
			return
		}
		c.buf = append(c.buf, raw)
	}
}

// finish releases the source. Under mu.
func (c *Cursor) finish() {
	if c.next == nil {
		return
	}
	c.next = nil
	c.stop()
	if c.release != nil {
		c.release()
	}
	if c.e != nil {
		c.e.mu.Lock()
		delete(c.e.cursors, c)
		c.e.mu.Unlock()
	}
}

// Next implements lungo.ICursor.
func (c *Cursor) Next(ctx context.Context) bool { return c.TryNext(ctx) }

// TryNext implements lungo.ICursor; results never need waiting for.
func (c *Cursor) TryNext(ctx context.Context) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.err != nil {
		return false
	}
	if err := ctx.Err(); err != nil {
		c.err = err
		return false
	}
	if len(c.buf) == 0 {
		c.fill()
	}
	if len(c.buf) == 0 {
		c.cur = nil
		return false
	}
	c.cur, c.buf = c.buf[0], c.buf[1:]
	return true
}

// Decode implements lungo.ICursor.
func (c *Cursor) Decode(v any) error {
	c.mu.Lock()
	cur := c.cur
	c.mu.Unlock()
	if cur == nil {
		return errors.New("engine: no current document")
	}
	return bson.Unmarshal(cur, v)
}

// Current returns the current document's bytes.
func (c *Cursor) Current() bson.Raw {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cur
}

// All implements lungo.ICursor: it decodes every remaining document into
// the slice results points at, and closes the cursor.
func (c *Cursor) All(ctx context.Context, results any) error {
	defer c.Close(ctx)
	rv := reflect.ValueOf(results)
	if rv.Kind() != reflect.Pointer || rv.Elem().Kind() != reflect.Slice {
		return fmt.Errorf("engine: All needs a pointer to a slice, got %T", results)
	}
	slice := rv.Elem()
	slice.SetLen(0)
	for c.Next(ctx) {
		el := reflect.New(slice.Type().Elem())
		if err := c.Decode(el.Interface()); err != nil {
			return err
		}
		slice.Set(reflect.Append(slice, el.Elem()))
	}
	return c.Err()
}

// Close implements lungo.ICursor.
func (c *Cursor) Close(context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	c.buf = nil
	c.finish()
	return nil
}

// closeEngine is Close on behalf of a closing engine.
func (c *Cursor) closeEngine() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed && c.err == nil && c.next != nil {
		c.err = ErrClosed
	}
	c.finish()
}

// Err implements lungo.ICursor.
func (c *Cursor) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// ID implements lungo.ICursor; the engine's cursors have no server id.
func (c *Cursor) ID() int64 { return 0 }

// RemainingBatchLength implements lungo.ICursor.
func (c *Cursor) RemainingBatchLength() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.buf)
}

// SetBatchSize implements lungo.ICursor.
func (c *Cursor) SetBatchSize(n int32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n > 0 {
		c.batch = int(n)
	}
}

// SetComment implements lungo.ICursor; comments are ignored.
func (c *Cursor) SetComment(any) {}

// SetMaxTime implements lungo.ICursor; the engine does not time out reads.
func (c *Cursor) SetMaxTime(time.Duration) {}

// SingleResult is a lungo.ISingleResult.
type SingleResult struct {
	raw bson.Raw
	err error
}

var _ lungo.ISingleResult = (*SingleResult)(nil)

func singleResult(raw bson.Raw, err error) *SingleResult {
	if err == nil && raw == nil {
		err = mongo.ErrNoDocuments
	}
	return &SingleResult{raw: raw, err: err}
}

// Decode implements lungo.ISingleResult.
func (r *SingleResult) Decode(v any) error {
	if r.err != nil {
		return r.err
	}
	return bson.Unmarshal(r.raw, v)
}

// DecodeBytes implements lungo.ISingleResult.
func (r *SingleResult) DecodeBytes() (bson.Raw, error) { return r.raw, r.err }

// Err implements lungo.ISingleResult.
func (r *SingleResult) Err() error { return r.err }

// Raw implements lungo.ISingleResult.
func (r *SingleResult) Raw() (bson.Raw, error) { return r.raw, r.err }
