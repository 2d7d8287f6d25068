package projections_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/annalsdb/annals/internal/mockmongo"
	"github.com/annalsdb/annals/internal/roundtrip"
	"github.com/annalsdb/annals/mongostore"
	"github.com/annalsdb/annals/projections"
	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
)

// mockStore opens a store on the driver's mock deployment, through a
// counting wrapper as a user's instrumented client would be.
func mockStore(t *testing.T) (*mockmongo.Mock, *roundtrip.Client, *mongostore.Store) {
	t.Helper()
	m := mockmongo.New(t, nil)
	m.Script(mockmongo.StoreSchema()...)
	client := roundtrip.Wrap(m.Client)
	store, err := mongostore.New(t.Context(), client)
	if err != nil {
		t.Fatalf("mongostore.New on the mock: %v", err)
	}
	m.Clear()
	return m, client, store
}

// The majority time is read through the store's client, whatever wraps
// it: lungo.WithSession refused the wrapper's sessions ("unknown
// session"), so every catch-up on MongoDB failed and retried forever.
func TestMajorityTimeThroughWrappedClient(t *testing.T) {
	m, client, store := mockStore(t)
	want := primitive.Timestamp{T: 1700000000, I: 7}
	// A real replica set stamps every reply with its operationTime.
	m.Script(mockmongo.WithOperationTime(mockmongo.Found("annals.events"), want))
	r := projections.NewRunner(store)
	got, err := projections.MajorityTime(r, t.Context())
	if err != nil {
		t.Fatalf("majorityTime: %v", err)
	}
	if got == nil || *got != want {
		t.Fatalf("majorityTime = %v, want %v", got, want)
	}
	finds := m.Named("find")
	if len(finds) != 1 {
		t.Fatalf("commands sent %v, want one find", m.Names())
	}
	if lvl := mockmongo.Field(finds[0], "readConcern").Document().Lookup("level").StringValue(); lvl != "majority" {
		t.Errorf("find read concern %q, want majority", lvl)
	}
	if n := client.Ops()["FindOne"]; n != 1 {
		t.Errorf("counted %v, want the find counted once", client.Ops())
	}
}

// A handler whose write meets a transient conflict (WriteConflict inside a
// transaction, which MongoDB labels TransientTransactionError) fails with
// a HandlerError; the driver's WithTransaction must still see the label and
// run the transaction again, instead of the worker tearing down its stream
// and lease and backing off.
func TestHandlerErrorTransientIsRetriedByDriver(t *testing.T) {
	wraps := map[string]func(error) error{
		"wrapped":      func(err error) error { return fmt.Errorf("upsert balance: %w", err) },
		"joined":       func(err error) error { return errors.Join(errors.New("also this"), err) },
		"handler-bare": func(err error) error { return err },
	}
	for name, wrap := range wraps {
		t.Run(name, func(t *testing.T) {
			m, _, store := mockStore(t)
			m.Script(
				// What MongoDB answers a write that conflicts inside a
				// transaction: code 112 with the transient label.
				mockmongo.CommandError(112, "WriteConflict", "TransientTransactionError"),
				mockmongo.OK(), // abortTransaction
				mockmongo.OK(bson.E{Key: "n", Value: 1}, bson.E{Key: "nModified", Value: 1}),
				mockmongo.OK(), // commitTransaction
			)
			attempts := 0
			err := store.Transaction(t.Context(), func(sc context.Context) error {
				attempts++
				_, err := store.Database().Collection("balances").UpdateOne(sc,
					bson.D{{Key: "_id", Value: "a"}}, bson.D{{Key: "$inc", Value: bson.D{{Key: "n", Value: 1}}}})
				if err != nil {
					return &projections.HandlerError{Projection: "balances", Err: wrap(err)}
				}
				return nil
			})
			if err != nil {
				t.Fatalf("transaction: %v (commands %v)", err, m.Names())
			}
			if attempts != 2 {
				t.Fatalf("callback ran %d times, want 2 (the driver retries transient errors)", attempts)
			}
			want := []string{"update", "abortTransaction", "update", "commitTransaction"}
			if got := m.Names(); !slices.Equal(got, want) {
				t.Fatalf("commands %v, want %v", got, want)
			}
		})
	}
}

// A handler error that is not transient is not retried: the transaction
// is aborted once and the error comes back as the HandlerError.
func TestHandlerErrorPermanentIsNotRetried(t *testing.T) {
	m, _, store := mockStore(t)
	m.Script(
		mockmongo.WriteError(0, 11000, "E11000 duplicate key error"),
		mockmongo.OK(), // abortTransaction
	)
	attempts := 0
	err := store.Transaction(t.Context(), func(sc context.Context) error {
		attempts++
		_, err := store.Database().Collection("owners").InsertOne(sc, bson.D{{Key: "_id", Value: "a"}})
		if err != nil {
			return &projections.HandlerError{Projection: "owners", Err: err}
		}
		return nil
	})
	var he *projections.HandlerError
	if !errors.As(err, &he) || !mongostore.IsDuplicate(err) {
		t.Fatalf("err = %v, want the HandlerError around the duplicate key error", err)
	}
	if attempts != 1 {
		t.Fatalf("callback ran %d times, want 1", attempts)
	}
}

// mockStoreOn is mockStore with the deployment's hello reply given.
func mockStoreOn(t *testing.T, mongos bool) (*mockmongo.Mock, *mongostore.Store) {
	t.Helper()
	m := mockmongo.New(t, nil)
	schema := mockmongo.StoreSchema()
	schema[0] = mockmongo.Hello(mongos)
	m.Script(schema...)
	store, err := mongostore.New(t.Context(), m.Client)
	if err != nil {
		t.Fatalf("mongostore.New on the mock: %v", err)
	}
	if store.Sharded() != mongos {
		t.Fatalf("Sharded() = %v, want %v", store.Sharded(), mongos)
	}
	m.Clear()
	return m, store
}

// Through mongos the operation time of a majority read is not a majority
// point on every shard, so the catch-up → change stream handoff starts the
// stream CatchUpMargin before the cluster's time: the operation time of a
// majority read through mongos. The runner's own clock plays no part, so
// a runner whose clock is hours off still starts at the right place.
func TestMajorityTimeOnShardedCluster(t *testing.T) {
	m, store := mockStoreOn(t, true)
	r := projections.NewRunner(store)
	// The runner's clock is a day ahead of the cluster's.
	projections.SetClock(r, func() time.Time { return time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC) })
	cluster := primitive.Timestamp{T: uint32(time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC).Unix()), I: 9}
	// mongos stamps its replies with the cluster's operation time.
	m.Script(mockmongo.WithOperationTime(mockmongo.Found("annals.events"), cluster))
	got, err := projections.MajorityTime(r, t.Context())
	if err != nil {
		t.Fatalf("majorityTime: %v", err)
	}
	want := primitive.Timestamp{T: cluster.T - uint32(r.CatchUpMargin/time.Second)}
	if got == nil || *got != want {
		t.Fatalf("majorityTime = %v, want %v (mongos's operation time less CatchUpMargin)", got, want)
	}
	finds := m.Named("find")
	if len(finds) != 1 {
		t.Fatalf("commands sent %v, want one find through mongos", m.Names())
	}
	if lvl := mockmongo.Field(finds[0], "readConcern").Document().Lookup("level").StringValue(); lvl != "majority" {
		t.Errorf("find read concern %q, want majority", lvl)
	}

	// A margin under a second is a second, not none.
	r.CatchUpMargin = 300 * time.Millisecond
	m.Script(mockmongo.WithOperationTime(mockmongo.Found("annals.events"), cluster))
	if got, err := projections.MajorityTime(r, t.Context()); err != nil || got == nil || got.T != cluster.T-1 {
		t.Fatalf("majorityTime with a 300ms margin = %v (%v), want %d", got, err, cluster.T-1)
	}
}

// The change stream a projection opens on MongoDB: an aggregate on the
// events collection whose pipeline starts at the given operation time and
// lets the server filter inserts of the handled names, with majority read
// concern and primary reads.
func TestMockChangeStreamOpen(t *testing.T) {
	m, store := mockStoreOn(t, false)
	r := projections.NewRunner(store)
	p := projections.EventCounts()
	stream := uuid.New()
	doc := bson.D{
		{Key: "_id", Value: mongostore.UUIDValue(uuid.New())},
		{Key: "aggregate_uuid", Value: mongostore.UUIDValue(stream)},
		{Key: "aggregate_type", Value: "Account"},
		{Key: "version", Value: int64(1)},
		{Key: "name", Value: "Deposited"},
		{Key: "schema_version", Value: int32(1)},
		{Key: "data", Value: bson.D{}},
		{Key: "metadata", Value: bson.D{}},
		{Key: "recorded_at", Value: primitive.DateTime(1_700_000_000_000)},
	}
	token := bson.D{{Key: "_data", Value: "8265A1B2C3000000012B0429296E1404"}}
	reply := mockmongo.Cursor(42, "annals.events", true, bson.D{
		{Key: "_id", Value: token},
		{Key: "operationType", Value: "insert"},
		{Key: "clusterTime", Value: primitive.Timestamp{T: 1_700_000_000, I: 1}},
		{Key: "ns", Value: bson.D{{Key: "db", Value: "annals"}, {Key: "coll", Value: "events"}}},
		{Key: "documentKey", Value: bson.D{{Key: "_id", Value: doc[0].Value}}},
		{Key: "fullDocument", Value: doc},
	})
	m.Script(reply)
	start := primitive.Timestamp{T: 1_699_999_000, I: 3}
	ev, err := projections.WatchFirst(t.Context(), r, p, &start)
	if err != nil {
		t.Fatalf("watch: %v", err)
	}
	if ev.Stream != stream || ev.Version != 1 || ev.Name != "Deposited" {
		t.Fatalf("first event %+v, want stream %s version 1 Deposited", ev, stream)
	}
	agg := m.Named("aggregate")
	if len(agg) == 0 {
		t.Fatalf("commands %v, want an aggregate", m.Names())
	}
	cmd := agg[0].Command
	if coll := cmd.Lookup("aggregate").StringValue(); coll != "events" {
		t.Errorf("aggregate on %q, want events", coll)
	}
	stages, _ := cmd.Lookup("pipeline").Array().Values()
	if len(stages) != 2 {
		t.Fatalf("pipeline %v, want $changeStream and $match", cmd.Lookup("pipeline"))
	}
	gotStart := stages[0].Document().Lookup("$changeStream", "startAtOperationTime")
	if ts, i, ok := gotStart.TimestampOK(); !ok || ts != start.T || i != start.I {
		t.Errorf("$changeStream %v, want startAtOperationTime %v", stages[0], start)
	}
	match := stages[1].Document().Lookup("$match")
	if op := match.Document().Lookup("operationType").StringValue(); op != "insert" {
		t.Errorf("$match %v, want operationType insert", match)
	}
	if lvl, err := cmd.LookupErr("readConcern", "level"); err != nil || lvl.StringValue() != "majority" {
		t.Errorf("readConcern %v, want majority", cmd.Lookup("readConcern"))
	}
	if mode := mockmongo.ReadPreferenceMode(agg[0]); mode != "" && mode != "primaryPreferred" {
		t.Errorf("read preference %q, want primary", mode)
	}
}

// mockEvents are n events of one stream, versions 1..n.
func mockEvents(n int) []mongostore.Event {
	stream := uuid.New()
	at := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	out := make([]mongostore.Event, n)
	for i := range out {
		out[i] = mongostore.Event{ID: uuid.New(), Stream: stream, StreamType: "Account", Version: int64(i + 1),
			Name: "Deposited", SchemaVersion: 1, RecordedAt: at.Add(time.Duration(i) * time.Millisecond)}
	}
	return out
}

// counting is a projection whose handler makes one upsert per event.
func counting() *projections.Projection {
	return projections.New("counts", []string{"Deposited"}, func(ctx context.Context, tx *projections.Tx, ev mongostore.Event) error {
		_, err := tx.Collection().UpdateOne(ctx, bson.D{{Key: "_id", Value: ev.Stream.String()}},
			bson.D{{Key: "$inc", Value: bson.D{{Key: "n", Value: 1}}}}, options.Update().SetUpsert(true))
		return err
	})
}

// batchReplies answers one projection batch transaction of n events of
// one stream applied by counting: read the positions (none), n handler
// upserts, the positions' bulk write, the fenced checkpoint update, the
// commit.
func batchReplies(n int) []bson.D {
	out := []bson.D{mockmongo.Found("annals.projection_positions")}
	for range n + 1 {
		out = append(out, mockmongo.OK(bson.E{Key: "n", Value: 1}, bson.E{Key: "nModified", Value: 1}))
	}
	return append(out, mockmongo.OK(bson.E{Key: "n", Value: 1}, bson.E{Key: "nModified", Value: 1}), mockmongo.OK())
}

// A projection batch is one transaction: snapshot reads, the store's
// majority journaled write concern on the commit, every command in the
// same session and transaction, the checkpoint update fenced by the
// runner's lease. It costs 4 + n round trips for n events with a handler
// that writes once per event.
func TestMockProjectionBatch(t *testing.T) {
	m, _, store := mockStore(t)
	r := projections.NewRunner(store, counting())
	p, _ := r.Projection("counts")
	m.Script(batchReplies(2)...)
	n, err := projections.ApplyCatchUpBatch(t.Context(), r, p, mockEvents(2))
	if err != nil || n != 2 {
		t.Fatalf("apply: %d, %v (commands %v)", n, err, m.Names())
	}
	want := []string{"find", "update", "update", "update", "update", "commitTransaction"}
	if got := m.Names(); !slices.Equal(got, want) {
		t.Fatalf("commands %v, want %v", got, want)
	}
	cmds := m.Commands()
	first := cmds[0].Command
	if v, err := first.LookupErr("startTransaction"); err != nil || !v.Boolean() {
		t.Errorf("the first command does not start the transaction: %s", first)
	}
	if lvl, err := first.LookupErr("readConcern", "level"); err != nil || lvl.StringValue() != "snapshot" {
		t.Errorf("transaction read concern %v, want snapshot", first.Lookup("readConcern"))
	}
	lsid, txn := first.Lookup("lsid"), first.Lookup("txnNumber")
	for _, c := range cmds[1:] {
		if !c.Command.Lookup("lsid").Equal(lsid) || !c.Command.Lookup("txnNumber").Equal(txn) {
			t.Errorf("%s is not in the batch's transaction", c.CommandName)
		}
		if _, err := c.Command.LookupErr("readConcern"); err == nil {
			t.Errorf("%s repeats a read concern inside the transaction", c.CommandName)
		}
	}
	commit := cmds[len(cmds)-1].Command
	if w, err := commit.LookupErr("writeConcern", "w"); err != nil || w.StringValue() != "majority" {
		t.Errorf("commit write concern %v, want majority", commit.Lookup("writeConcern"))
	}
	if j, err := commit.LookupErr("writeConcern", "j"); err != nil || !j.Boolean() {
		t.Errorf("commit write concern %v, want journaled", commit.Lookup("writeConcern"))
	}
	fence := cmds[4].Command
	if c := fence.Lookup("update").StringValue(); c != projections.CollectionCheckpoints {
		t.Fatalf("fifth command updates %s, want the checkpoint", c)
	}
	if owner, err := fence.LookupErr("updates", "0", "q", "owner"); err != nil || owner.StringValue() != projections.Owner(r) {
		t.Errorf("checkpoint update %s is not fenced by the lease owner", fence.Lookup("updates"))
	}
}

// A handler write that meets a write conflict inside the batch (MongoDB:
// 112 WriteConflict, labelled TransientTransactionError) makes the driver
// abort and run the whole batch again, which then commits: nothing is
// applied twice, since the first attempt's writes were rolled back.
func TestMockProjectionBatchWriteConflictRetried(t *testing.T) {
	m, _, store := mockStore(t)
	r := projections.NewRunner(store, counting())
	p, _ := r.Projection("counts")
	m.Script(
		mockmongo.Found("annals.projection_positions"),
		mockmongo.CommandError(112, "WriteConflict", "TransientTransactionError"),
		mockmongo.OK(), // abortTransaction
	)
	m.Script(batchReplies(1)...)
	n, err := projections.ApplyCatchUpBatch(t.Context(), r, p, mockEvents(1))
	if err != nil || n != 1 {
		t.Fatalf("apply: %d, %v (commands %v)", n, err, m.Names())
	}
	want := []string{"find", "update", "abortTransaction", "find", "update", "update", "update", "commitTransaction"}
	if got := m.Names(); !slices.Equal(got, want) {
		t.Fatalf("commands %v, want %v", got, want)
	}
}

// changeDoc is a change stream insert event carrying an event of stream
// at version, with resume token data.
func changeDoc(stream uuid.UUID, version int64, data string) bson.D {
	id := mongostore.UUIDValue(uuid.New())
	return bson.D{
		{Key: "_id", Value: bson.D{{Key: "_data", Value: data}}},
		{Key: "operationType", Value: "insert"},
		{Key: "clusterTime", Value: primitive.Timestamp{T: 1_700_000_000, I: uint32(version)}},
		{Key: "ns", Value: bson.D{{Key: "db", Value: "annals"}, {Key: "coll", Value: "events"}}},
		{Key: "documentKey", Value: bson.D{{Key: "_id", Value: id}}},
		{Key: "fullDocument", Value: bson.D{
			{Key: "_id", Value: id},
			{Key: "aggregate_uuid", Value: mongostore.UUIDValue(stream)},
			{Key: "aggregate_type", Value: "Account"},
			{Key: "version", Value: version},
			{Key: "name", Value: "Deposited"},
			{Key: "schema_version", Value: int32(1)},
			{Key: "data", Value: bson.D{}},
			{Key: "metadata", Value: bson.D{}},
			{Key: "recorded_at", Value: primitive.DateTime(1_700_000_000_000 + version)},
		}},
	}
}

// withToken adds a postBatchResumeToken to a cursor reply.
func withToken(reply bson.D, data string) bson.D {
	for i, e := range reply {
		if e.Key == "cursor" {
			c := e.Value.(bson.D)
			reply[i].Value = append(c, bson.E{Key: "postBatchResumeToken", Value: bson.D{{Key: "_data", Value: data}}})
		}
	}
	return reply
}

// How the projections' change stream meets the errors MongoDB reports.
// Opening: 286 ChangeStreamHistoryLost and 280 ChangeStreamFatalError (a
// resume token the oplog no longer holds) are history lost, which sends
// the worker back to catching up from the events collection; 10334
// BSONObjectTooLarge (a change event over 16 MiB) is IsChangeTooLarge,
// which the worker treats the same way, since resuming cannot get past it.
// The same error from a getMore surfaces to the worker the same way: the
// driver does not resume on errors without the ResumableChangeStreamError
// label (MongoDB 4.4+ labels the resumable ones itself).
func TestMockChangeStreamErrors(t *testing.T) {
	cases := []struct {
		name                  string
		code                  int32
		codeName              string
		historyLost, tooLarge bool
		onGetMore             bool
	}{
		{"history lost on open", 286, "ChangeStreamHistoryLost", true, false, false},
		{"token not found on open", 280, "ChangeStreamFatalError", true, false, false},
		{"change too large on open", 10334, "BSONObjectTooLarge", false, true, false},
		{"history lost on getMore", 286, "ChangeStreamHistoryLost", true, false, true},
		{"change too large on getMore", 10334, "BSONObjectTooLarge", false, true, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, store := mockStoreOn(t, false)
			r := projections.NewRunner(store)
			if c.onGetMore {
				m.Script(withToken(mockmongo.Cursor(42, "annals.events", true), "8200000001"))
			}
			m.Script(mockmongo.CommandError(c.code, c.codeName))
			_, err := projections.WatchFirst(t.Context(), r, projections.EventCounts(), nil)
			if err == nil {
				t.Fatal("watch delivered an event, want the error")
			}
			if got := mongostore.IsHistoryLost(err); got != c.historyLost {
				t.Errorf("IsHistoryLost(%v) = %v, want %v", err, got, c.historyLost)
			}
			if got := mongostore.IsChangeTooLarge(err); got != c.tooLarge {
				t.Errorf("IsChangeTooLarge(%v) = %v, want %v", err, got, c.tooLarge)
			}
		})
	}
}

// A getMore failing with an error MongoDB labels ResumableChangeStreamError
// (here 10107 NotWritablePrimary, as during a step-down) is resumed by the
// driver from the last post-batch resume token, without the projection
// seeing an error. A dropped connection is resumed the same way by the
// driver, but the mock cannot drop one.
func TestMockChangeStreamResumes(t *testing.T) {
	m, store := mockStoreOn(t, false)
	r := projections.NewRunner(store)
	stream := uuid.New()
	m.Script(
		withToken(mockmongo.Cursor(42, "annals.events", true), "8200000001"),
		mockmongo.CommandError(10107, "NotWritablePrimary", "ResumableChangeStreamError"),
		mockmongo.OK(), // killCursors of the failed cursor
		withToken(mockmongo.Cursor(43, "annals.events", true, changeDoc(stream, 1, "8200000002")), "8200000002"),
	)
	ev, err := projections.WatchFirst(t.Context(), r, projections.EventCounts(), nil)
	if err != nil {
		t.Fatalf("watch: %v (commands %v, failures %v)", err, m.Names(), m.Failures())
	}
	if ev.Stream != stream || ev.Version != 1 {
		t.Fatalf("event %+v, want stream %s version 1", ev, stream)
	}
	aggs := m.Named("aggregate")
	if len(aggs) < 2 {
		t.Fatalf("commands %v, want a second aggregate (the resume)", m.Names())
	}
	resume, err := aggs[1].Command.LookupErr("pipeline", "0", "$changeStream", "resumeAfter", "_data")
	if err != nil || resume.StringValue() != "8200000001" {
		t.Fatalf("the resume's $changeStream %v, want resumeAfter the post-batch token", aggs[1].Command.Lookup("pipeline"))
	}
}

// The batch handler form sends its writes as one bulk write: a batch of
// two events is find positions, one update command carrying both upserts,
// the positions, the fenced checkpoint, the commit.
func TestMockProjectionBatchForm(t *testing.T) {
	m, _, store := mockStore(t)
	r := projections.NewRunner(store, depositCounts(true))
	p, _ := r.Projection("deposits")
	m.Script(mockmongo.Found("annals.projection_positions"))
	for range 3 {
		m.Script(mockmongo.OK(bson.E{Key: "n", Value: 2}, bson.E{Key: "nModified", Value: 2}))
	}
	m.Script(mockmongo.OK())
	n, err := projections.ApplyCatchUpBatch(t.Context(), r, p, mockEvents(2))
	if err != nil || n != 2 {
		t.Fatalf("apply: %d, %v (commands %v)", n, err, m.Names())
	}
	want := []string{"find", "update", "update", "update", "commitTransaction"}
	if got := m.Names(); !slices.Equal(got, want) {
		t.Fatalf("commands %v, want %v", got, want)
	}
	bulk := m.Commands()[1].Command
	if c := bulk.Lookup("update").StringValue(); c != "deposits" {
		t.Fatalf("second command updates %s, want the query collection", c)
	}
	ups, _ := bulk.Lookup("updates").Array().Values()
	if len(ups) != 2 {
		t.Fatalf("the bulk write carries %d updates, want 2", len(ups))
	}
	if o, err := bulk.LookupErr("ordered"); err != nil || !o.Boolean() {
		t.Errorf("the bulk write is not ordered: %v", bulk.Lookup("ordered"))
	}
}

// A batch handler may queue nothing for a collection (a filter that
// matched no event): that is no write at all, not a bulk write of nothing,
// which both engines refuse (mongo.ErrEmptySlice) and which failed the
// batch.
func TestMockBatchFormQueuesNothing(t *testing.T) {
	m, _, store := mockStore(t)
	p := projections.NewBatch("ledger", []string{"Deposited"}, func(ctx context.Context, w *projections.Writes, events []mongostore.Event) error {
		for _, ev := range events {
			w.Queue(ev, "totals", mongo.NewUpdateOneModel().SetFilter(bson.D{{Key: "_id", Value: ev.Stream.String()}}).
				SetUpdate(bson.D{{Key: "$inc", Value: bson.D{{Key: "n", Value: 1}}}}).SetUpsert(true))
			w.Queue(ev, "large") // no deposit was large
		}
		return nil
	})
	p.Collections = []string{"totals", "large"}
	r := projections.NewRunner(store, p)
	m.Script(mockmongo.Found("annals.projection_positions"))
	for range 3 {
		m.Script(mockmongo.OK(bson.E{Key: "n", Value: 2}, bson.E{Key: "nModified", Value: 2}))
	}
	m.Script(mockmongo.OK())
	n, err := projections.ApplyCatchUpBatch(t.Context(), r, p, mockEvents(2))
	if err != nil || n != 2 {
		t.Fatalf("apply: %d, %v (commands %v)", n, err, m.Names())
	}
	want := []string{"find", "update", "update", "update", "commitTransaction"}
	if got := m.Names(); !slices.Equal(got, want) {
		t.Fatalf("commands %v, want %v", got, want)
	}
	if c := m.Commands()[1].Command.Lookup("update").StringValue(); c != "totals" {
		t.Errorf("the bulk write went to %s, want totals", c)
	}
}

// A queued write that fails fails the projection naming the event it was
// queued for, not the batch's first event: MongoDB reports the index of
// the failing write in the bulk write, which maps back to its event.
func TestMockBatchFormWriteErrorNamesItsEvent(t *testing.T) {
	m, _, store := mockStore(t)
	p := projections.NewBatch("owners", []string{"Deposited"}, func(ctx context.Context, w *projections.Writes, events []mongostore.Event) error {
		for _, ev := range events {
			w.Queue(ev, "", mongo.NewInsertOneModel().SetDocument(bson.D{{Key: "_id", Value: ev.ID.String()}}))
		}
		return nil
	})
	r := projections.NewRunner(store, p)
	events := mockEvents(3)
	m.Script(
		mockmongo.Found("annals.projection_positions"),
		// The second insert (index 1) meets a duplicate key; an ordered
		// bulk write stops there.
		mockmongo.WriteError(1, 11000, "E11000 duplicate key error"),
		mockmongo.OK(), // abortTransaction
	)
	_, err := projections.ApplyCatchUpBatch(t.Context(), r, p, events)
	var he *projections.HandlerError
	if !errors.As(err, &he) {
		t.Fatalf("apply: %v (commands %v), want a HandlerError", err, m.Names())
	}
	if he.EventID != events[1].ID || he.Version != 2 {
		t.Fatalf("the failure names event %s version %d, want %s version 2 (whose write failed)", he.EventID, he.Version, events[1].ID)
	}
	if !mongostore.IsDuplicate(err) {
		t.Errorf("err = %v, want the duplicate key error inside", err)
	}
}

// A worker tearing down closes its change stream with a context of its
// own, bounded so that a hung connection cannot hold up the teardown, and
// alive even when the worker's has ended: the driver sends killCursors
// for the stream's server cursor, which would otherwise stay open for 10
// minutes. The mock's connection ignores contexts (the driver records
// killCursors even on an ended one, which a real connection would refuse
// to write), so the close's context is checked as well as the command.
func TestMockStreamCloseKillsCursor(t *testing.T) {
	m := mockmongo.New(t, nil)
	m.Script(mockmongo.StoreSchema()...)
	idle := mockmongo.NewIdleStreams(m)
	store, err := mongostore.New(t.Context(), idle)
	if err != nil {
		t.Fatal(err)
	}
	m.Clear()
	r := projections.NewRunner(store)
	m.Script(
		withToken(mockmongo.Cursor(42, "annals.events", true), "8200000001"), // the aggregate: an open cursor
		mockmongo.OK(), // killCursors
	)
	ctx, cancel := context.WithCancel(t.Context())
	err = projections.WatchAndClose(ctx, r, projections.EventCounts(), cancel) // the worker stops
	if err != nil {
		t.Fatalf("watch: %v", err)
	}
	if got := m.KilledCursors(); !slices.Equal(got, []int64{42}) {
		t.Fatalf("killed cursors %v (commands %v), want [42]", got, m.Names())
	}
	c := <-idle.Closes
	if !c.Deadline {
		t.Error("the change stream was closed with a context without a deadline: a hung connection blocks the teardown")
	}
	if c.Err != nil {
		t.Errorf("the change stream was closed with a context that had ended (%v)", c.Err)
	}
}
