package engine

import (
	"context"
	"crypto/rand"
	"errors"
	"sync"
	"time"

	"github.com/256dpi/lungo"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
)

// Transaction states of a session.
const (
	txnNone = iota
	txnStarting
	txnInProgress
	txnCommitted
	txnAborted
)

// Session is a lungo.ISession. Its transaction takes the engine's writer
// lock at its first operation and holds it until it commits or aborts (or
// outlives the transaction lifetime and is aborted), so transactions are
// serialisable and never conflict.
type Session struct {
	client *Client
	id     bson.Raw

	mu       sync.Mutex
	state    int
	t        *txn
	timer    *time.Timer
	expired  bool
	opTime   *primitive.Timestamp
	ended    bool
	clusterT bson.Raw
	// snapshot marks a snapshot session (snapshot.go); pin is its point
	// in time once taken.
	snapshot bool
	pin      *pin
}

var _ lungo.ISession = (*Session)(nil)

func newSession(c *Client) *Session {
	var u [16]byte
	_, _ = rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	id, _ := bson.Marshal(bson.D{{Key: "id", Value: primitive.Binary{Subtype: 4, Data: u[:]}}})
	return &Session{client: c, id: id}
}

// SessionContext is a lungo.ISessionContext: a context that carries a
// session, so operations called with it run in the session's transaction.
type SessionContext struct {
	context.Context
	*Session
}

var _ lungo.ISessionContext = (*SessionContext)(nil)

type sessionKey struct{}

// sessionFrom returns the session a context carries.
func sessionFrom(ctx context.Context) *Session {
	if ctx == nil {
		return nil
	}
	s, _ := ctx.Value(sessionKey{}).(*Session)
	return s
}

func (s *Session) context(ctx context.Context) *SessionContext {
	if ctx == nil {
		ctx = context.Background()
	}
	return &SessionContext{Context: context.WithValue(ctx, sessionKey{}, s), Session: s}
}

// ID implements lungo.ISession.
func (s *Session) ID() bson.Raw { return s.id }

// Client implements lungo.ISession.
func (s *Session) Client() lungo.IClient { return s.client }

// ClusterTime implements lungo.ISession: the cluster time of the last
// commit the session saw.
func (s *Session) ClusterTime() bson.Raw {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.clusterT
}

// AdvanceClusterTime implements lungo.ISession.
func (s *Session) AdvanceClusterTime(t bson.Raw) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clusterT = t
	return nil
}

// OperationTime implements lungo.ISession: the cluster time of the store
// after the session's last operation.
func (s *Session) OperationTime() *primitive.Timestamp {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.opTime
}

// AdvanceOperationTime implements lungo.ISession.
func (s *Session) AdvanceOperationTime(t *primitive.Timestamp) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t != nil && (s.opTime == nil || tsOf(*t) > tsOf(*s.opTime)) {
		cp := *t
		s.opTime = &cp
	}
	return nil
}

// observe records the store's cluster time after an operation.
func (s *Session) observe() {
	ts := tsValue(s.client.e.applied.Load())
	_ = s.AdvanceOperationTime(&ts)
}

// StartTransaction implements lungo.ISession. Read and write concerns are
// accepted and need nothing: every commit is durable and every read sees
// only durable data.
func (s *Session) StartTransaction(opts ...*options.TransactionOptions) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return errors.New("engine: session ended")
	}
	if s.snapshot {
		return errSnapshotTxn
	}
	if s.state == txnStarting || s.state == txnInProgress {
		return errTxnInProgress
	}
	s.state = txnStarting
	s.expired = false
	return nil
}

// inTxn reports whether operations run in the session's transaction.
func (s *Session) inTxn() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state == txnStarting || s.state == txnInProgress
}

// withTxn runs fn in the session's transaction, starting it (taking the
// writer lock) at its first operation. A write error aborts the
// transaction, as MongoDB does.
func (s *Session) withTxn(ctx context.Context, write bool, fn func(t *txn) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.expired {
		return commandError(codeNoSuchTransaction, "NoSuchTransaction",
			"transaction aborted: it outlived the transaction lifetime", labelTransient)
	}
	switch s.state {
	case txnStarting:
		t, err := s.client.e.begin(ctx)
		if err != nil {
			return err
		}
		s.t = t
		s.state = txnInProgress
		s.timer = time.AfterFunc(s.client.e.opts.TransactionLifetime, func() { s.expire(t) })
	case txnInProgress:
	default:
		return commandError(codeNoSuchTransaction, "NoSuchTransaction", "no transaction in progress")
	}
	err := fn(s.t)
	if err != nil && write {
		s.abortLocked()
		s.state = txnAborted
		// As outside transactions: a refused write waits until the
		// commits it was refused over are durable.
		err = errors.Join(err, s.client.e.waitDurable(context.WithoutCancel(ctx)))
	}
	return err
}

// expire aborts a transaction that outlived its lifetime.
func (s *Session) expire(t *txn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.t != t || s.state != txnInProgress {
		return
	}
	s.abortLocked()
	s.state = txnAborted
	s.expired = true
}

// abortLocked aborts the transaction and returns the last commit its reads
// could show, which the caller waits for before it acts on what it read.
func (s *Session) abortLocked() (seen uint64) {
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
	if s.t != nil {
		seen = s.t.seen
		s.t.abort()
		s.t = nil
	}
	return seen
}

// CommitTransaction implements lungo.ISession. It returns once the
// transaction is durable.
func (s *Session) CommitTransaction(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.expired:
		return commandError(codeNoSuchTransaction, "NoSuchTransaction",
			"transaction aborted: it outlived the transaction lifetime", labelTransient)
	case s.state == txnStarting:
		s.state = txnCommitted
		return nil
	case s.state == txnCommitted:
		return nil
	case s.state != txnInProgress:
		return errNoTxn
	}
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
	t := s.t
	s.t = nil
	err := t.commit(ctx)
	if err != nil {
		s.state = txnAborted
		return err
	}
	s.state = txnCommitted
	ts := tsValue(t.ts)
	if s.opTime == nil || tsOf(ts) > tsOf(*s.opTime) {
		s.opTime = &ts
	}
	return nil
}

// AbortTransaction implements lungo.ISession. It returns once the commits
// the transaction read are durable: a caller may act on what it read (a
// version conflict, say) as on the answer of a read outside transactions.
func (s *Session) AbortTransaction(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch s.state {
	case txnStarting, txnInProgress:
		seen := s.abortLocked()
		s.state = txnAborted
		if ctx == nil {
			ctx = context.Background()
		}
		return s.client.e.waitUntil(ctx, seen)
	case txnAborted:
		if s.expired {
			return nil
		}
		return errAbortTwice
	case txnCommitted:
		return errAbortAfterCommit
	}
	return errNoTxn
}

// EndSession implements lungo.ISession; it aborts a transaction left open.
func (s *Session) EndSession(context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state == txnStarting || s.state == txnInProgress {
		s.abortLocked()
		s.state = txnAborted
	}
	s.ended = true
	if s.pin != nil {
		s.client.e.release(s.pin)
	}
}

// maxTransactionRetry is how long WithTransaction retries, as the driver.
const maxTransactionRetry = 120 * time.Second

// WithTransaction implements lungo.ISession the way the driver does: it
// runs fn in a transaction and commits, retrying the whole transaction on
// errors labelled TransientTransactionError (a transaction that outlived
// its lifetime) for up to two minutes.
func (s *Session) WithTransaction(ctx context.Context, fn func(lungo.ISessionContext) (any, error), opts ...*options.TransactionOptions) (any, error) {
	start := time.Now()
	for {
		if err := s.StartTransaction(opts...); err != nil {
			return nil, err
		}
		res, err := fn(s.context(ctx))
		if err != nil {
			var seen uint64
			s.mu.Lock()
			if s.state == txnStarting || s.state == txnInProgress {
				seen = s.abortLocked()
				s.state = txnAborted
			}
			s.mu.Unlock()
			// fn's error may be about what it read (a version conflict).
			if werr := s.client.e.waitUntil(ctx, seen); werr != nil {
				return nil, errors.Join(err, werr)
			}
			if hasLabel(err, labelTransient) && time.Since(start) < maxTransactionRetry && ctx.Err() == nil {
				continue
			}
			return nil, err
		}
		s.mu.Lock()
		state := s.state
		s.mu.Unlock()
		if state == txnCommitted || state == txnAborted && !s.expired {
			return res, nil
		}
		err = s.CommitTransaction(ctx)
		if err == nil {
			return res, nil
		}
		if hasLabel(err, labelTransient) && time.Since(start) < maxTransactionRetry && ctx.Err() == nil {
			continue
		}
		return nil, err
	}
}

func hasLabel(err error, label string) bool {
	var le mongo.LabeledError
	return errors.As(err, &le) && le.HasErrorLabel(label)
}
