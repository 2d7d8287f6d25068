package mongostore_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/annalsdb/annals/internal/mockmongo"
	"github.com/annalsdb/annals/mongostore"
	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/event"
	"go.mongodb.org/mongo-driver/mongo/options"
	"go.mongodb.org/mongo-driver/mongo/readpref"
)

// The tests in this file run the store against the driver's mock
// deployment (see internal/mockmongo): they check the commands the store
// sends and its reaction to scripted server replies. Each scripted reply
// is what MongoDB 7/8 answers in that situation, as documented; where a
// real server would differ, the test says so.

// mockStore opens a store on a mock deployment whose client has opts.
func mockStore(t *testing.T, opts *options.ClientOptions, sopts ...mongostore.Option) (*mockmongo.Mock, *mongostore.Store) {
	t.Helper()
	m := mockmongo.New(t, opts)
	m.Script(mockmongo.StoreSchema()...)
	store, err := mongostore.New(t.Context(), m.Client, sopts...)
	if err != nil {
		t.Fatalf("mongostore.New on the mock: %v (commands %v)", err, m.Names())
	}
	m.Clear()
	return m, store
}

const eventsNS = "annals.events"

// storedDoc is an event document as MongoDB would return it.
func storedDoc(stream uuid.UUID, version int64, name string) bson.D {
	return bson.D{
		{Key: "_id", Value: mongostore.UUIDValue(uuid.New())},
		{Key: "aggregate_uuid", Value: mongostore.UUIDValue(stream)},
		{Key: "aggregate_type", Value: "Account"},
		{Key: "version", Value: version},
		{Key: "name", Value: name},
		{Key: "schema_version", Value: int32(1)},
		{Key: "data", Value: bson.D{}},
		{Key: "metadata", Value: bson.D{}},
		{Key: "recorded_at", Value: primitive.DateTime(1_700_000_000_000 + version)},
	}
}

func wantNames(t *testing.T, m *mockmongo.Mock, want ...string) {
	t.Helper()
	if got := m.Names(); !slices.Equal(got, want) {
		t.Fatalf("commands %v, want %v", got, want)
	}
}

// notSecondary fails when a command would be routed to a secondary.
func notSecondary(t *testing.T, cmds []*event.CommandStartedEvent) {
	t.Helper()
	for _, c := range cmds {
		if mode := mockmongo.ReadPreferenceMode(c); mode != "" && mode != "primary" && mode != "primaryPreferred" {
			t.Errorf("%s carries $readPreference %q, want primary", c.CommandName, mode)
		}
	}
}

// A URI asking for secondaries must not reach the store's reads or
// transactions: the driver refuses a transaction whose read preference is
// not primary, and a head read from a lagging secondary makes appends
// conflict spuriously. (The mock's topology is Single, so primary reads
// carry mode primaryPreferred; on a replica set they carry none.)
func TestMockReadPreferencePinnedToPrimary(t *testing.T) {
	m, store := mockStore(t, options.Client().SetReadPreference(readpref.Secondary()))
	ctx := t.Context()
	stream := uuid.New()

	t.Run("single append", func(t *testing.T) {
		m.Clear()
		m.Script(
			mockmongo.Found(eventsNS, storedDoc(stream, 3, "Deposited")),
			mockmongo.OK(bson.E{Key: "n", Value: 1}),
		)
		if _, err := store.Append(ctx, stream, mongostore.Exact(3), mongostore.EventData{Name: "Deposited"}); err != nil {
			t.Fatalf("append: %v", err)
		}
		wantNames(t, m, "find", "insert")
		notSecondary(t, m.Commands())
	})
	t.Run("batch append in a transaction", func(t *testing.T) {
		m.Clear()
		m.Script(
			mockmongo.Found(eventsNS, storedDoc(stream, 4, "Deposited")),
			mockmongo.OK(bson.E{Key: "n", Value: 2}),
			mockmongo.OK(), // commitTransaction
		)
		_, err := store.Append(ctx, stream, mongostore.Any,
			mongostore.EventData{Name: "Deposited"}, mongostore.EventData{Name: "Withdrawn"})
		if err != nil {
			t.Fatalf("append: %v", err)
		}
		wantNames(t, m, "find", "insert", "commitTransaction")
		notSecondary(t, m.Commands())
	})
	t.Run("load", func(t *testing.T) {
		m.Clear()
		m.Script(mockmongo.Found(eventsNS, storedDoc(stream, 1, "Opened"), storedDoc(stream, 2, "Deposited")))
		s, err := store.Load(ctx, stream)
		if err != nil {
			t.Fatalf("load: %v", err)
		}
		if s.Version != 2 {
			t.Fatalf("loaded version %d, want 2", s.Version)
		}
		wantNames(t, m, "find")
		notSecondary(t, m.Commands())
	})
}

// createIndexes refused because an index with annals' name or keys exists
// with other keys (86) or options (85) is ErrIndexConflict, which doctor
// turns into the specific fix; other failures are not.
func TestMockIndexConflict(t *testing.T) {
	cases := []struct {
		code     int32
		name     string
		conflict bool
	}{
		{85, "IndexOptionsConflict", true},
		{86, "IndexKeySpecsConflict", true},
		{13, "Unauthorized", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := mockmongo.New(t, nil)
			schema := mockmongo.StoreSchema()
			schema[len(schema)-1] = mockmongo.CommandError(c.code, c.name)
			m.Script(schema...)
			_, err := mongostore.New(t.Context(), m.Client)
			if err == nil {
				t.Fatal("New succeeded, want an error")
			}
			if got := errors.Is(err, mongostore.ErrIndexConflict); got != c.conflict {
				t.Fatalf("errors.Is(%v, ErrIndexConflict) = %v, want %v", err, got, c.conflict)
			}
			if last := m.Commands()[len(m.Commands())-1]; last.CommandName != "createIndexes" {
				t.Fatalf("last command %s, want createIndexes", last.CommandName)
			}
		})
	}
}

// A scan page (what a projection's catch-up reads) is one find whose
// filter bounds recorded_at from below, sorted in the recorded_at index's
// order, hinted to that index, limited to the page, in one batch, with
// majority read concern on the primary. On a real server the hint makes
// the plan an index range from the page's first key; the scripted reply
// cannot show the plan (TestMongoScanPageIsIndexRange does, on MongoDB).
func TestMockScanPage(t *testing.T) {
	m, store := mockStore(t, nil)
	stream := uuid.New()
	after := mongostore.Position{RecordedAt: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), Stream: stream, Version: 3}
	m.Script(mockmongo.Found(eventsNS, storedDoc(stream, 4, "Deposited")))
	var got []mongostore.Event
	for e, err := range store.Scan(t.Context(), mongostore.ScanQuery{After: after, Names: []string{"Deposited"}, Limit: 200}) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, e)
	}
	if len(got) != 1 || got[0].Version != 4 {
		t.Fatalf("scanned %v, want the one scripted event", got)
	}
	wantNames(t, m, "find")
	cmd := m.Commands()[0].Command
	checks := []struct {
		path []string
		want string
	}{
		{[]string{"hint"}, `"` + mongostore.IndexRecordedAt + `"`},
		{[]string{"sort"}, `{"recorded_at": {"$numberInt":"1"},"aggregate_uuid": {"$numberInt":"1"},"version": {"$numberInt":"1"}}`},
		{[]string{"limit"}, `{"$numberLong":"200"}`},
		{[]string{"batchSize"}, `{"$numberInt":"200"}`},
		{[]string{"readConcern", "level"}, `"majority"`},
		{[]string{"filter", "recorded_at", "$gte"}, fmt.Sprintf(`{"$date":{"$numberLong":"%d"}}`, after.RecordedAt.UnixMilli())},
		{[]string{"filter", "name", "$in", "0"}, `"Deposited"`},
	}
	for _, c := range checks {
		v, err := cmd.LookupErr(c.path...)
		if err != nil {
			t.Errorf("%v missing from %s", c.path, cmd)
			continue
		}
		if v.String() != c.want {
			t.Errorf("%v = %s, want %s", c.path, v.String(), c.want)
		}
	}
	if _, err := cmd.LookupErr("filter", "$or"); err != nil {
		t.Errorf("filter without the keyset $or: %s", cmd.Lookup("filter"))
	}
	notSecondary(t, m.Commands())
}

// The commands of an append as MongoDB receives them. One event with an
// exact expected version: a point read of the event at that version (no
// sort, one document, three fields, majority read concern) and an insert
// with the majority, journaled write concern. With Any, the read is the
// head: the stream's last version, newest first. A batch: the same in a
// snapshot transaction, the insert ordered, the commit carrying the write
// concern.
func TestMockAppendCommands(t *testing.T) {
	m, store := mockStore(t, nil)
	ctx := t.Context()
	stream := uuid.New()
	lookup := func(c *event.CommandStartedEvent, path ...string) string {
		v, err := c.Command.LookupErr(path...)
		if err != nil {
			return "<absent>"
		}
		return v.String()
	}
	t.Run("one event", func(t *testing.T) {
		m.Clear()
		m.Script(mockmongo.Found(eventsNS, storedDoc(stream, 3, "Deposited")), mockmongo.OK(bson.E{Key: "n", Value: 1}))
		if _, err := store.Append(ctx, stream, mongostore.Exact(3), mongostore.EventData{Name: "Deposited"}); err != nil {
			t.Fatal(err)
		}
		wantNames(t, m, "find", "insert")
		find, insert := m.Commands()[0], m.Commands()[1]
		for _, c := range []struct{ got, want string }{
			{lookup(find, "filter", "version"), `{"$numberLong":"3"}`},
			{lookup(find, "sort"), "<absent>"},
			{lookup(find, "limit"), `{"$numberLong":"1"}`},
			{lookup(find, "readConcern", "level"), `"majority"`},
			{lookup(find, "projection", "data"), "<absent>"},
			{lookup(insert, "writeConcern", "w"), `"majority"`},
			{lookup(insert, "writeConcern", "j"), "true"},
			{lookup(insert, "documents", "0", "version"), `{"$numberLong":"4"}`},
			{lookup(insert, "startTransaction"), "<absent>"},
		} {
			if c.got != c.want {
				t.Errorf("got %s, want %s", c.got, c.want)
			}
		}
	})
	t.Run("any", func(t *testing.T) {
		m.Clear()
		m.Script(mockmongo.Found(eventsNS, storedDoc(stream, 4, "Deposited")), mockmongo.OK(bson.E{Key: "n", Value: 1}))
		if _, err := store.Append(ctx, stream, mongostore.Any, mongostore.EventData{Name: "Deposited"}); err != nil {
			t.Fatal(err)
		}
		wantNames(t, m, "find", "insert")
		find, insert := m.Commands()[0], m.Commands()[1]
		for _, c := range []struct{ got, want string }{
			{lookup(find, "filter", "version"), "<absent>"},
			{lookup(find, "sort"), `{"version": {"$numberInt":"-1"}}`},
			{lookup(find, "limit"), `{"$numberLong":"1"}`},
			{lookup(insert, "documents", "0", "version"), `{"$numberLong":"5"}`},
		} {
			if c.got != c.want {
				t.Errorf("got %s, want %s", c.got, c.want)
			}
		}
	})
	t.Run("batch", func(t *testing.T) {
		m.Clear()
		m.Script(mockmongo.Found(eventsNS, storedDoc(stream, 4, "Deposited")), mockmongo.OK(bson.E{Key: "n", Value: 2}), mockmongo.OK())
		_, err := store.Append(ctx, stream, mongostore.Exact(4), mongostore.EventData{Name: "Deposited"}, mongostore.EventData{Name: "Withdrawn"})
		if err != nil {
			t.Fatal(err)
		}
		wantNames(t, m, "find", "insert", "commitTransaction")
		find, insert, commit := m.Commands()[0], m.Commands()[1], m.Commands()[2]
		for _, c := range []struct{ got, want string }{
			{lookup(find, "startTransaction"), "true"},
			{lookup(find, "autocommit"), "false"},
			{lookup(find, "readConcern", "level"), `"snapshot"`},
			{lookup(insert, "ordered"), "true"},
			{lookup(insert, "writeConcern"), "<absent>"},
			{lookup(insert, "documents", "1", "version"), `{"$numberLong":"6"}`},
			{lookup(commit, "writeConcern", "w"), `"majority"`},
			{lookup(commit, "writeConcern", "j"), "true"},
		} {
			if c.got != c.want {
				t.Errorf("got %s, want %s", c.got, c.want)
			}
		}
	})
}

// Loading a stream is one find on the (aggregate_uuid, version) index's
// order, in one large batch, with majority read concern: a stream of up
// to 5,000 events is one round trip.
func TestMockLoadCommand(t *testing.T) {
	m, store := mockStore(t, nil)
	stream := uuid.New()
	m.Script(mockmongo.Found(eventsNS, storedDoc(stream, 1, "Opened"), storedDoc(stream, 2, "Deposited")))
	s, err := store.Load(t.Context(), stream)
	if err != nil || s.Version != 2 || len(s.Events) != 2 {
		t.Fatalf("load: %v, %v", s, err)
	}
	wantNames(t, m, "find")
	find := m.Commands()[0].Command
	for path, want := range map[string]string{
		"sort":              `{"version": {"$numberInt":"1"}}`,
		"batchSize":         `{"$numberInt":"5000"}`,
		"readConcern.level": `"majority"`,
	} {
		v, err := find.LookupErr(strings.Split(path, ".")...)
		if err != nil || v.String() != want {
			t.Errorf("%s = %v, want %s", path, v, want)
		}
	}
	id, err := find.LookupErr("filter", "aggregate_uuid")
	if sub, data, ok := id.BinaryOK(); err != nil || !ok || sub != 4 || string(data) != string(stream[:]) {
		t.Errorf("filter %s, want the stream's UUID", find.Lookup("filter"))
	}
}

// The position scans that status and readiness run (ScanPositions) ask
// MongoDB for the position fields only: an inclusion projection without
// data or metadata, so their cost does not grow with the events' size.
// They page like Scan: the recorded_at index, hinted, limited.
func TestMockScanPositionsLeavesOutData(t *testing.T) {
	m, store := mockStore(t, nil)
	stream := uuid.New()
	after := mongostore.Position{RecordedAt: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), Stream: stream, Version: 3}
	// What the server answers that projection with: the fields asked for
	// and _id, which an inclusion projection keeps.
	doc := storedDoc(stream, 4, "Deposited")
	m.Script(mockmongo.Found(eventsNS, bson.D{doc[0], doc[1], doc[3], doc[8]}))
	var got []mongostore.Position
	for p, err := range store.ScanPositions(t.Context(), mongostore.ScanQuery{After: after, Names: []string{"Deposited"}, Limit: 50}) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, p)
	}
	if len(got) != 1 || got[0].Stream != stream || got[0].Version != 4 {
		t.Fatalf("scanned %v, want the one scripted position", got)
	}
	wantNames(t, m, "find")
	cmd := m.Commands()[0].Command
	proj, err := cmd.LookupErr("projection")
	if err != nil {
		t.Fatalf("the position scan has no projection: %s", cmd)
	}
	fields, _ := proj.Document().Elements()
	var keys []string
	for _, f := range fields {
		keys = append(keys, f.Key())
		if v, ok := f.Value().AsInt64OK(); !ok || v != 1 {
			t.Errorf("projection %s: %s is not included (1), so data may come back", proj, f.Key())
		}
	}
	slices.Sort(keys)
	if want := []string{"aggregate_uuid", "recorded_at", "version"}; !slices.Equal(keys, want) {
		t.Errorf("projection fields %v, want %v", keys, want)
	}
	if h, err := cmd.LookupErr("hint"); err != nil || h.StringValue() != mongostore.IndexRecordedAt {
		t.Errorf("hint %v, want %s", cmd.Lookup("hint"), mongostore.IndexRecordedAt)
	}
	if l, err := cmd.LookupErr("limit"); err != nil || l.AsInt64() != 50 {
		t.Errorf("limit %v, want 50", cmd.Lookup("limit"))
	}
}
