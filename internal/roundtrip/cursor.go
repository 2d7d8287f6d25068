package roundtrip

import (
	"context"
	"time"

	"github.com/256dpi/lungo"
	"go.mongodb.org/mongo-driver/bson"
)

// batchSource is what cursors and change streams tell about their batches.
type batchSource interface {
	ID() int64
	RemainingBatchLength() int
}

// needsGetMore reports whether advancing src fetches a further batch from
// the server: its server cursor is open and its batch is used up. The
// embedded engine's cursors always report id 0.
func needsGetMore(src batchSource) bool {
	return src.ID() != 0 && src.RemainingBatchLength() == 0
}

// Cursor is a lungo.ICursor that counts the further batches it fetches
// (GetMore) and closing a cursor still open on the server (KillCursors).
// The command that opened it was counted by whoever returned it.
type Cursor struct {
	inner lungo.ICursor
	n     *counter
}

var _ lungo.ICursor = (*Cursor)(nil)

// Unwrap returns the wrapped cursor.
func (c *Cursor) Unwrap() lungo.ICursor { return c.inner }

// All implements lungo.ICursor. When the server cursor is still open it
// counts one GetMore, a lower bound: All may fetch several batches.
func (c *Cursor) All(ctx context.Context, out any) error {
	if c.inner.ID() != 0 {
		c.n.add(ctx, OpGetMore, 1)
	}
	return c.inner.All(ctx, out)
}

// Close implements lungo.ICursor.
func (c *Cursor) Close(ctx context.Context) error {
	if c.inner.ID() != 0 {
		c.n.add(ctx, OpKillCursors, 1)
	}
	return c.inner.Close(ctx)
}

// Decode implements lungo.ICursor.
func (c *Cursor) Decode(v any) error { return c.inner.Decode(v) }

// Err implements lungo.ICursor.
func (c *Cursor) Err() error { return c.inner.Err() }

// ID implements lungo.ICursor.
func (c *Cursor) ID() int64 { return c.inner.ID() }

// Next implements lungo.ICursor.
func (c *Cursor) Next(ctx context.Context) bool {
	if needsGetMore(c.inner) {
		c.n.add(ctx, OpGetMore, 1)
	}
	return c.inner.Next(ctx)
}

// RemainingBatchLength implements lungo.ICursor.
func (c *Cursor) RemainingBatchLength() int { return c.inner.RemainingBatchLength() }

// SetBatchSize implements lungo.ICursor.
func (c *Cursor) SetBatchSize(n int32) { c.inner.SetBatchSize(n) }

// SetComment implements lungo.ICursor.
func (c *Cursor) SetComment(comment any) { c.inner.SetComment(comment) }

// SetMaxTime implements lungo.ICursor.
func (c *Cursor) SetMaxTime(d time.Duration) { c.inner.SetMaxTime(d) }

// TryNext implements lungo.ICursor.
func (c *Cursor) TryNext(ctx context.Context) bool {
	if needsGetMore(c.inner) {
		c.n.add(ctx, OpGetMore, 1)
	}
	return c.inner.TryNext(ctx)
}

// ChangeStream is a lungo.IChangeStream that counts the batches it fetches
// (GetMore; a blocking Next may fetch more than one, counted as one) and
// closing a stream still open on the server (KillCursors). Resumes the
// driver makes on its own are not counted.
type ChangeStream struct {
	inner lungo.IChangeStream
	n     *counter
}

var _ lungo.IChangeStream = (*ChangeStream)(nil)

// Unwrap returns the wrapped change stream.
func (s *ChangeStream) Unwrap() lungo.IChangeStream { return s.inner }

// Close implements lungo.IChangeStream.
func (s *ChangeStream) Close(ctx context.Context) error {
	if s.inner.ID() != 0 {
		s.n.add(ctx, OpKillCursors, 1)
	}
	return s.inner.Close(ctx)
}

// Decode implements lungo.IChangeStream.
func (s *ChangeStream) Decode(v any) error { return s.inner.Decode(v) }

// Err implements lungo.IChangeStream.
func (s *ChangeStream) Err() error { return s.inner.Err() }

// ID implements lungo.IChangeStream.
func (s *ChangeStream) ID() int64 { return s.inner.ID() }

// Next implements lungo.IChangeStream.
func (s *ChangeStream) Next(ctx context.Context) bool {
	if needsGetMore(s.inner) {
		s.n.add(ctx, OpGetMore, 1)
	}
	return s.inner.Next(ctx)
}

// RemainingBatchLength implements lungo.IChangeStream.
func (s *ChangeStream) RemainingBatchLength() int { return s.inner.RemainingBatchLength() }

// ResumeToken implements lungo.IChangeStream.
func (s *ChangeStream) ResumeToken() bson.Raw { return s.inner.ResumeToken() }

// SetBatchSize implements lungo.IChangeStream.
func (s *ChangeStream) SetBatchSize(n int32) { s.inner.SetBatchSize(n) }

// TryNext implements lungo.IChangeStream.
func (s *ChangeStream) TryNext(ctx context.Context) bool {
	if needsGetMore(s.inner) {
		s.n.add(ctx, OpGetMore, 1)
	}
	return s.inner.TryNext(ctx)
}
