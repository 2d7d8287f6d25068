package roundtrip

import (
	"context"

	"github.com/256dpi/lungo"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/mongo/options"
)

// Session is a lungo.ISession that counts commits and aborts into its
// client's counter. Starting and ending sessions and transactions is
// client-side and not counted.
type Session struct {
	inner  lungo.ISession
	client *Client
}

var _ lungo.ISession = (*Session)(nil)

// Unwrap returns the wrapped session, for lungo.WithSession, which only
// accepts the engines' own sessions.
func (s *Session) Unwrap() lungo.ISession { return s.inner }

// ID implements lungo.ISession.
func (s *Session) ID() bson.Raw { return s.inner.ID() }

// AbortTransaction implements lungo.ISession; it counts one round trip.
func (s *Session) AbortTransaction(ctx context.Context) error {
	s.client.n.add(ctx, OpAbortTransaction, 1)
	return s.inner.AbortTransaction(ctx)
}

// AdvanceClusterTime implements lungo.ISession.
func (s *Session) AdvanceClusterTime(t bson.Raw) error { return s.inner.AdvanceClusterTime(t) }

// AdvanceOperationTime implements lungo.ISession.
func (s *Session) AdvanceOperationTime(t *primitive.Timestamp) error {
	return s.inner.AdvanceOperationTime(t)
}

// Client implements lungo.ISession; it returns the counting client.
func (s *Session) Client() lungo.IClient { return s.client }

// ClusterTime implements lungo.ISession.
func (s *Session) ClusterTime() bson.Raw { return s.inner.ClusterTime() }

// CommitTransaction implements lungo.ISession; it counts one round trip.
func (s *Session) CommitTransaction(ctx context.Context) error {
	s.client.n.add(ctx, OpCommitTransaction, 1)
	return s.inner.CommitTransaction(ctx)
}

// EndSession implements lungo.ISession; it is not counted.
func (s *Session) EndSession(ctx context.Context) { s.inner.EndSession(ctx) }

// OperationTime implements lungo.ISession.
func (s *Session) OperationTime() *primitive.Timestamp { return s.inner.OperationTime() }

// StartTransaction implements lungo.ISession; it is not counted.
func (s *Session) StartTransaction(opts ...*options.TransactionOptions) error {
	return s.inner.StartTransaction(opts...)
}

// WithTransaction implements lungo.ISession by delegating to the wrapped
// session, so the driver's retries on MongoDB keep working. fn gets a
// session context whose session is counting too. Each attempt of fn that
// sent at least one operation through the counting wrappers counts one
// commit when fn returns nil and one abort when it fails; an attempt that
// sent nothing costs MongoDB nothing to commit or abort. Commits the
// driver retries itself are not seen.
func (s *Session) WithTransaction(ctx context.Context, fn func(lungo.ISessionContext) (any, error), opts ...*options.TransactionOptions) (any, error) {
	return s.inner.WithTransaction(ctx, func(sc lungo.ISessionContext) (any, error) {
		a := &attempt{}
		res, err := fn(&sessionContext{
			Context: context.WithValue(sc, attemptKey{}, a),
			Session: &Session{inner: sc, client: s.client},
		})
		if a.ops.Load() > 0 {
			op := OpCommitTransaction
			if err != nil {
				op = OpAbortTransaction
			}
			s.client.n.add(ctx, op, 1)
		}
		return res, err
	}, opts...)
}

// sessionContext is the session context the wrappers hand to callbacks: the
// engine's own session context (which the engine finds its session in)
// paired with a counting session.
type sessionContext struct {
	context.Context
	*Session
}

var _ lungo.ISessionContext = (*sessionContext)(nil)
