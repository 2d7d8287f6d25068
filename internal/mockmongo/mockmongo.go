// Package mockmongo runs annals against the official driver's mock
// deployment (go.mongodb.org/mongo-driver/mongo/integration/mtest, Mock
// mode): a real *mongo.Client whose connection answers every command with
// the next scripted reply and records the commands it was sent. It needs
// no server, so the paths that only run on MongoDB execute here.
//
// What a scripted reply proves, and what it does not: the commands annals
// sends (names, read and write concerns, read preference, sort, hint,
// pipeline, options) are exactly what the driver would put on the wire,
// and the way annals reacts to a server reply or error is exactly its
// reaction to that reply. Whether a real server sends that reply in that
// situation is not checked: the tests that script a reply say what a real
// server would do.
//
// The mock's topology is Single with a replica-set primary behind it, so
// the driver sends $readPreference {mode: "primaryPreferred"} for reads
// made with read preference primary (on a replica set topology it sends
// no $readPreference at all); a secondary read preference is sent as
// {mode: "secondary"} either way.
//
// Use it from tests only:
//
//	m := mockmongo.New(t, nil)
//	m.Script(mockmongo.StoreSchema()...)
//	store, err := mongostore.New(ctx, m.Client)
package mockmongo

import (
	"testing"

	"github.com/256dpi/lungo"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/event"
	"go.mongodb.org/mongo-driver/mongo/integration/mtest"
	"go.mongodb.org/mongo-driver/mongo/options"
)

// Mock is a client on a mock deployment and the record of what it sent.
type Mock struct {
	// Client is the lungo wrapper around the mock *mongo.Client.
	Client *lungo.MongoClient
	mt     *mtest.T
}

// New returns a mock client built with opts (nil for the driver's mtest
// defaults: majority write concern, primary read preference). The client
// is disconnected when the test ends.
func New(t *testing.T, opts *options.ClientOptions) *Mock {
	t.Helper()
	o := mtest.NewOptions().ClientType(mtest.Mock).ShareClient(true)
	if opts != nil {
		o = o.ClientOptions(opts)
	}
	mt := mtest.New(t, o)
	return &Mock{Client: &lungo.MongoClient{Client: mt.Client}, mt: mt}
}

// Script appends replies to the queue the mock answers from, in order.
// A command sent when the queue is empty fails with "no responses
// remaining".
func (m *Mock) Script(replies ...bson.D) { m.mt.AddMockResponses(replies...) }

// Clear drops the replies not yet used and the commands recorded so far.
func (m *Mock) Clear() {
	m.mt.ClearMockResponses()
	m.mt.ClearEvents()
}

// Commands returns the commands sent since New or the last Clear, in order.
func (m *Mock) Commands() []*event.CommandStartedEvent { return m.mt.GetAllStartedEvents() }

// Named returns the commands with the given name (find, insert, ...).
func (m *Mock) Named(name string) []*event.CommandStartedEvent {
	var out []*event.CommandStartedEvent
	for _, c := range m.Commands() {
		if c.CommandName == name {
			out = append(out, c)
		}
	}
	return out
}

// Names returns the names of the commands sent, in order.
func (m *Mock) Names() []string {
	var out []string
	for _, c := range m.Commands() {
		out = append(out, c.CommandName)
	}
	return out
}

// OK is a plain success reply.
func OK(elems ...bson.E) bson.D { return mtest.CreateSuccessResponse(elems...) }

// Hello is the reply of a replica set member, or of a mongos when
// mongos is true (hello's msg "isdbgrid").
func Hello(mongos bool) bson.D {
	if mongos {
		return OK(bson.E{Key: "isWritablePrimary", Value: true}, bson.E{Key: "msg", Value: "isdbgrid"})
	}
	return OK(bson.E{Key: "isWritablePrimary", Value: true}, bson.E{Key: "setName", Value: "rs0"})
}

// Cursor is a reply with one batch of documents and, when id is not zero,
// an open server cursor.
func Cursor(id int64, ns string, first bool, docs ...bson.D) bson.D {
	which := mtest.NextBatch
	if first {
		which = mtest.FirstBatch
	}
	return mtest.CreateCursorResponse(id, ns, which, docs...)
}

// Found is a find reply with the given documents and no open cursor.
func Found(ns string, docs ...bson.D) bson.D { return Cursor(0, ns, true, docs...) }

// CommandError is a reply failing the whole command with code, and the
// given error labels.
func CommandError(code int32, name string, labels ...string) bson.D {
	return mtest.CreateCommandErrorResponse(mtest.CommandError{Code: code, Name: name, Message: name, Labels: labels})
}

// WriteError is a write reply whose document at index failed with code.
func WriteError(index, code int, msg string) bson.D {
	return mtest.CreateWriteErrorsResponse(mtest.WriteError{Index: index, Code: code, Message: msg})
}

// WithOperationTime adds an operationTime to a reply, as a replica set
// member stamps every reply.
func WithOperationTime(reply bson.D, t primitive.Timestamp) bson.D {
	return append(reply, bson.E{Key: "operationTime", Value: t})
}

// StoreSchema is what mongostore.New on MongoDB is sent and needs
// answered: hello (a replica set member), the listings that find the
// events and snapshots collections present, and createIndexes.
func StoreSchema() []bson.D {
	return []bson.D{
		Hello(false),
		Collections("events"),
		Collections("snapshots"),
		OK(),
	}
}

// Collections is a listCollections reply naming the given collections.
func Collections(names ...string) bson.D {
	var docs []bson.D
	for _, n := range names {
		docs = append(docs, bson.D{{Key: "name", Value: n}, {Key: "type", Value: "collection"}})
	}
	return Found("annals.$cmd.listCollections", docs...)
}

// Field returns the value of key in a recorded command, or an empty
// RawValue when absent.
func Field(c *event.CommandStartedEvent, key string) bson.RawValue {
	v, err := c.Command.LookupErr(key)
	if err != nil {
		return bson.RawValue{}
	}
	return v
}

// ReadPreferenceMode returns the mode of a command's $readPreference, or
// "" when the command carries none.
func ReadPreferenceMode(c *event.CommandStartedEvent) string {
	v, err := c.Command.LookupErr("$readPreference", "mode")
	if err != nil {
		return ""
	}
	return v.StringValue()
}

// Failures returns "command: error" for each command that failed since
// New or the last Clear, in order.
func (m *Mock) Failures() []string {
	var out []string
	for _, f := range m.mt.GetAllFailedEvents() {
		out = append(out, f.CommandName+": "+f.Failure)
	}
	return out
}
