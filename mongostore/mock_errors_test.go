package mongostore_test

import (
	"errors"
	"testing"

	"github.com/annalsdb/annals/internal/mockmongo"
	"github.com/annalsdb/annals/mongostore"
	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/event"
	"go.mongodb.org/mongo-driver/mongo"
)

// How appends map the server's errors, against scripted replies. Each
// reply is what MongoDB answers in that case; the expected commands are
// what the store and the driver send in reaction.
func TestMockAppendErrors(t *testing.T) {
	ctx := t.Context()
	one := []mongostore.EventData{{Name: "Deposited"}}
	two := []mongostore.EventData{{Name: "Deposited"}, {Name: "Withdrawn"}}
	inserted := func(n int) bson.D { return mockmongo.OK(bson.E{Key: "n", Value: n}) }
	cases := []struct {
		name     string
		expected mongostore.ExpectedVersion
		events   []mongostore.EventData
		replies  func(stream uuid.UUID) []bson.D
		commands []string
		check    func(t *testing.T, res mongostore.AppendResult, err error)
		recheck  bool
	}{
		{
			// A single event is inserted without a transaction; a
			// duplicate key (another writer took version 4 between the head
			// read and the insert) is rechecked with a local read, which
			// finds the winner: a concurrency error naming version 4.
			name: "11000 outside a transaction", expected: mongostore.Exact(3), events: one,
			replies: func(s uuid.UUID) []bson.D {
				return []bson.D{
					mockmongo.Found(eventsNS, storedDoc(s, 3, "Deposited")),
					mockmongo.WriteError(0, 11000, "E11000 duplicate key error collection: annals.events index: aggregate_uuid_1_version_1"),
					mockmongo.Found(eventsNS, storedDoc(s, 4, "Deposited")),
				}
			},
			commands: []string{"find", "insert", "find"},
			check:    wantConflict(4),
			recheck:  true,
		},
		{
			// In a transaction the duplicate key aborts it (no transient
			// label: the driver does not retry), then the same recheck.
			name: "11000 in a transaction", expected: mongostore.Exact(3), events: two,
			replies: func(s uuid.UUID) []bson.D {
				return []bson.D{
					mockmongo.Found(eventsNS, storedDoc(s, 3, "Deposited")),
					mockmongo.WriteError(0, 11000, "E11000 duplicate key error"),
					mockmongo.OK(), // abortTransaction
					mockmongo.Found(eventsNS, storedDoc(s, 5, "Deposited")),
				}
			},
			commands: []string{"find", "insert", "abortTransaction", "find"},
			check:    wantConflict(5),
			recheck:  true,
		},
		{
			// 112 WriteConflict inside a transaction carries
			// TransientTransactionError: the driver aborts and runs the
			// transaction again, which commits.
			name: "112 in a transaction", expected: mongostore.Any, events: two,
			replies: func(s uuid.UUID) []bson.D {
				return []bson.D{
					mockmongo.Found(eventsNS, storedDoc(s, 3, "Deposited")),
					mockmongo.CommandError(112, "WriteConflict", "TransientTransactionError"),
					mockmongo.OK(), // abortTransaction
					mockmongo.Found(eventsNS, storedDoc(s, 3, "Deposited")),
					inserted(2),
					mockmongo.OK(), // commitTransaction
				}
			},
			commands: []string{"find", "insert", "abortTransaction", "find", "insert", "commitTransaction"},
			check:    wantVersions(4, 5),
		},
		{
			// 251 NoSuchTransaction on commit (the server aborted the
			// transaction, e.g. after its 60 s lifetime) is labelled
			// transient: the driver runs the whole transaction again.
			name: "251 on commit", expected: mongostore.Any, events: two,
			replies: func(s uuid.UUID) []bson.D {
				return []bson.D{
					mockmongo.Found(eventsNS, storedDoc(s, 3, "Deposited")),
					inserted(2),
					mockmongo.CommandError(251, "NoSuchTransaction", "TransientTransactionError"),
					mockmongo.Found(eventsNS, storedDoc(s, 3, "Deposited")),
					inserted(2),
					mockmongo.OK(),
				}
			},
			commands: []string{"find", "insert", "commitTransaction", "find", "insert", "commitTransaction"},
			check:    wantVersions(4, 5),
		},
		{
			// 262 ExceededTimeLimit labelled transient (a lock not taken
			// within maxTransactionLockRequestTimeoutMillis) is retried
			// like a write conflict.
			name: "262 in a transaction", expected: mongostore.Any, events: two,
			replies: func(s uuid.UUID) []bson.D {
				return []bson.D{
					mockmongo.CommandError(262, "ExceededTimeLimit", "TransientTransactionError"),
					mockmongo.OK(), // abortTransaction
					mockmongo.Found(eventsNS),
					inserted(2),
					mockmongo.OK(),
				}
			},
			commands: []string{"find", "abortTransaction", "find", "insert", "commitTransaction"},
			check:    wantVersions(1, 2),
		},
		{
			// A commit whose outcome is unknown is committed again by the
			// driver; committing twice is safe on the server. A real
			// server reports a commit whose write concern timed out as
			// ok:1 with a writeConcernError, to which the driver adds the
			// UnknownTransactionCommitResult label; the mock scripts the
			// labelled error directly. (The driver does not retry a
			// labelled MaxTimeMSExpired.)
			name: "UnknownTransactionCommitResult", expected: mongostore.Any, events: two,
			replies: func(s uuid.UUID) []bson.D {
				return []bson.D{
					mockmongo.Found(eventsNS),
					inserted(2),
					mockmongo.CommandError(64, "WriteConcernFailed", "UnknownTransactionCommitResult"),
					mockmongo.OK(),
				}
			},
			commands: []string{"find", "insert", "commitTransaction", "commitTransaction"},
			check:    wantVersions(1, 2),
		},
		{
			// A server error that is none of the above is returned,
			// wrapped, with nothing retried.
			name: "other errors are returned", expected: mongostore.Any, events: one,
			replies: func(s uuid.UUID) []bson.D {
				return []bson.D{mockmongo.CommandError(13, "Unauthorized")}
			},
			commands: []string{"find"},
			check: func(t *testing.T, _ mongostore.AppendResult, err error) {
				var ce mongo.CommandError
				if !errors.As(err, &ce) || ce.Code != 13 {
					t.Fatalf("err = %v, want the server's Unauthorized", err)
				}
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, store := mockStore(t, nil)
			stream := uuid.New()
			m.Script(c.replies(stream)...)
			res, err := store.Append(ctx, stream, c.expected, c.events...)
			wantNames(t, m, c.commands...)
			c.check(t, res, err)
			if c.recheck {
				// The recheck reads what the primary holds (local), not a
				// majority snapshot that may predate the winner.
				finds := m.Named("find")
				last := finds[len(finds)-1]
				if lvl, err := last.Command.LookupErr("readConcern", "level"); err != nil || lvl.StringValue() != "local" {
					t.Errorf("recheck read concern %v, want local", last.Command.Lookup("readConcern"))
				}
				notSecondary(t, []*event.CommandStartedEvent{last})
			}
		})
	}
}

func wantConflict(actual int64) func(t *testing.T, _ mongostore.AppendResult, err error) {
	return func(t *testing.T, _ mongostore.AppendResult, err error) {
		t.Helper()
		var ce *mongostore.ConcurrencyError
		if !errors.As(err, &ce) || ce.Actual != actual {
			t.Fatalf("err = %v, want a concurrency error at version %d", err, actual)
		}
	}
}

func wantVersions(from, to int64) func(t *testing.T, res mongostore.AppendResult, err error) {
	return func(t *testing.T, res mongostore.AppendResult, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("append: %v", err)
		}
		if res.FromVersion != from || res.ToVersion != to {
			t.Fatalf("appended versions %d..%d, want %d..%d", res.FromVersion, res.ToVersion, from, to)
		}
	}
}
