package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/annalsdb/annals/mongostore"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/writeconcern"
)

// doctor runs doctor and checks its exit code and that its report, with
// runs of spaces squeezed to one, says every want.
func doctor(t *testing.T, environ map[string]string, code int, args []string, wants ...string) {
	t.Helper()
	r := cli(t, environ, append([]string{"doctor"}, args...)...)
	if r.code != code {
		t.Errorf("exit code %d, want %d\n%s%s", r.code, code, r.stdout, r.stderr)
	}
	squeezed := strings.Join(strings.Fields(r.stdout+r.stderr), " ")
	for _, w := range wants {
		if !strings.Contains(squeezed, w) {
			t.Errorf("the report lacks %q:\n%s%s", w, r.stdout, r.stderr)
		}
	}
}

func TestDoctorEmbedded(t *testing.T) {
	uri := fileStore(t)
	doctor(t, nil, exitOK, []string{"--store", uri},
		"ok engine embedded engine (file)",
		"ok indexes present: "+strings.Join([]string{mongostore.IndexStreamVersion, mongostore.IndexTypeStream, mongostore.IndexRecordedAt}, ", "),
		"ok checksums every block of the store reads back intact",
		"ok oplog window the embedded engine keeps its change log on disk",
		"ok write concern not applicable",
		"healthy: nothing to fix, 0 warnings.")
	doctor(t, map[string]string{"ANNALS_STORE": "memory:"}, exitOK, []string{}, "warn engine embedded engine in memory", "healthy: nothing to fix, 1 warning.",
		"ok oplog window the embedded engine keeps its change log in memory")

	// A file another process (here: this test) holds.
	s := openStore(t, uri)
	defer s.Close(context.Background())
	doctor(t, nil, exitError, []string{"--store", uri}, "FIX", "locked", "stop it first", "1 problem to fix")
}

// TestDoctorCorruptStore: a damaged store is refused, with the fix, and
// left as it was.
func TestDoctorCorruptStore(t *testing.T) {
	uri := fileStore(t)
	s := openStore(t, uri)
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	dir := strings.TrimPrefix(uri, "file:")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	damaged := ""
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".sst") {
			damaged = filepath.Join(dir, e.Name())
			break
		}
	}
	if damaged == "" {
		t.Fatalf("no table file in %s: %v", dir, entries)
	}
	b, err := os.ReadFile(damaged)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/3] ^= 0xff
	if err := os.WriteFile(damaged, b, 0o600); err != nil {
		t.Fatal(err)
	}
	doctor(t, nil, exitError, []string{"--store", uri}, "FIX checksums", "store is corrupt", dir, "restore", "1 problem to fix")
	after, err := os.ReadFile(damaged)
	if err != nil || string(after) != string(b) {
		t.Errorf("doctor changed the damaged file (err %v)", err)
	}
}

func TestDoctorErrors(t *testing.T) {
	doctor(t, nil, exitUsage, []string{}, "--store URI")
	doctor(t, nil, exitUsage, []string{"--server", "http://127.0.0.1:1"}, "unknown flag: --server")
	doctor(t, nil, exitError, []string{"--store", "postgres://db"}, "FIX", "unsupported store URI")
	doctor(t, nil, exitError, []string{"--store", "mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=200&connectTimeoutMS=200"}, "FIX", "cannot reach the deployment", "reachable")
	doctor(t, nil, exitError, []string{"--store", "mongodb://localhost:99999"}, "does not parse")
}

// TestDoctorMongoDB runs doctor's MongoDB checks against a stand-in that
// answers like a deployment (there is no MongoDB server in the tests).
func TestDoctorMongoDB(t *testing.T) {
	day := uint32(24 * 60 * 60)
	t.Run("standalone", func(t *testing.T) {
		f := startFakeMongo(t, "")
		doctor(t, nil, exitError, []string{"--store", f.uri()},
			"ok engine MongoDB", "FIX replica set the deployment is a standalone mongod", "rs.initiate()", "1 problem to fix")
	})
	t.Run("new replica set", func(t *testing.T) {
		f := startFakeMongo(t, "rs0")
		f.oplog = []primitive.Timestamp{{T: 1_000_000}, {T: 1_000_000 + 2*day}}
		f.oplogFull = true
		doctor(t, nil, exitOK, []string{"--store", f.uri()},
			"warn replica set rs0, 1 member", "no redundancy",
			"ok indexes the events collection did not exist: created now",
			"ok oplog window 48h0m0s (at least 24h0m0s wanted)",
			"ok write concern w=majority, j=true",
			"healthy: nothing to fix, 1 warning.")
		got := strings.Join(f.indexNames("annals.events"), ",")
		for _, name := range []string{mongostore.IndexStreamVersion, mongostore.IndexTypeStream, mongostore.IndexRecordedAt} {
			if !strings.Contains(got, name) {
				t.Errorf("doctor did not create %s: %s", name, got)
			}
		}
		// Again: now everything was there before.
		doctor(t, nil, exitOK, []string{"--store", f.uri(), "--db", "annals"}, "ok indexes present: "+mongostore.IndexStreamVersion)
	})
	t.Run("dropped index and short oplog", func(t *testing.T) {
		f := startFakeMongo(t, "rs0")
		f.arbiters = []string{"arbiter:27017"}
		f.oplog = []primitive.Timestamp{{T: 1_000_000}, {T: 1_000_000 + 3600}}
		f.oplogFull = true
		f.collections["annals.events"] = []bson.D{{{Key: "v", Value: int32(2)}, {Key: "key", Value: bson.D{{Key: "_id", Value: int32(1)}}}, {Key: "name", Value: "_id_"}}}
		doctor(t, nil, exitError, []string{"--store", f.uri()}, "1 arbiter", "majority writes", mongostore.IndexStreamVersion+" was missing and has been created now", "FIX oplog window 1h0m0s", "replSetResizeOplog", "1 problem to fix, 4 warnings.")
	})
	// An existing index that clashes with annals' own: the server refuses
	// createIndexes with 86 (same name, other keys) or 85 (same name and
	// keys, other options), and doctor says which index to drop rather
	// than blaming the credentials.
	conflicts := []struct {
		name string
		spec bson.D
		code string
	}{
		{"index with other keys", bson.D{{Key: "key", Value: bson.D{{Key: "aggregate_uuid", Value: int32(1)}}}, {Key: "name", Value: mongostore.IndexStreamVersion}}, "IndexKeySpecsConflict"},
		{"index not unique", bson.D{{Key: "key", Value: bson.D{{Key: "aggregate_uuid", Value: int32(1)}, {Key: "version", Value: int32(1)}}}, {Key: "name", Value: mongostore.IndexStreamVersion}}, "IndexOptionsConflict"},
	}
	for _, c := range conflicts {
		t.Run(c.name, func(t *testing.T) {
			f := startFakeMongo(t, "rs0")
			f.collections["annals.events"] = []bson.D{
				{{Key: "v", Value: int32(2)}, {Key: "key", Value: bson.D{{Key: "_id", Value: int32(1)}}}, {Key: "name", Value: "_id_"}},
				append(bson.D{{Key: "v", Value: int32(2)}}, c.spec...),
			}
			doctor(t, nil, exitError, []string{"--store", f.uri()},
				"FIX indexes an index on events conflicts with one annals needs", c.code,
				"db.events.dropIndex", "1 problem to fix")
		})
	}
	t.Run("write concern not acknowledged", func(t *testing.T) {
		f := startFakeMongo(t, "rs0")
		f.oplog = []primitive.Timestamp{{T: 1_000_000}, {T: 1_000_000 + 2*day}}
		f.oplogFull = true
		f.writeConcernFails = true
		doctor(t, nil, exitError, []string{"--store", f.uri()},
			"FIX write concern w=majority, j=true: a probe write was not acknowledged", "rs.status()", "1 problem to fix")
		if got := f.lastWriteConcern; !strings.Contains(got, "majority") || !strings.Contains(got, "wtimeout") {
			t.Errorf("the probe's write concern was %s, want majority with a wtimeout", got)
		}
	})
	t.Run("young oplog", func(t *testing.T) {
		f := startFakeMongo(t, "rs0")
		f.oplog = []primitive.Timestamp{{T: 1_000_000}, {T: 1_000_100}}
		doctor(t, nil, exitOK, []string{"--store", f.uri()}, "warn oplog window", "not full yet")
	})
}

func TestIndexFindings(t *testing.T) {
	spec := func(name string, unique bool, keys ...string) indexSpec {
		d := bson.D{}
		for _, k := range keys {
			d = append(d, bson.E{Key: k, Value: int32(1)})
		}
		raw, _ := bson.Marshal(d)
		return indexSpec{Name: name, Key: raw, Unique: unique}
	}
	good := []indexSpec{
		spec("_id_", true, "_id"),
		spec(mongostore.IndexStreamVersion, true, "aggregate_uuid", "version"),
		spec(mongostore.IndexTypeStream, false, "aggregate_type", "aggregate_uuid"),
		spec(mongostore.IndexRecordedAt, false, "recorded_at", "aggregate_uuid", "version"),
	}
	cases := []struct {
		name        string
		now, before []indexSpec
		want        []string // levels in order
		says        string
	}{
		{"all present", good, good, []string{levelOK}, "present"},
		{"created by opening", good, good[:2], []string{levelOK, levelWarn, levelWarn}, "created now"},
		{"missing", good[:3], nil, []string{levelOK, levelFix}, "is missing"},
		{"not unique", append([]indexSpec{spec(mongostore.IndexStreamVersion, false, "aggregate_uuid", "version")}, good[2:]...), nil, []string{levelOK, levelFix}, "dropIndex"},
		{"other keys", append([]indexSpec{spec(mongostore.IndexStreamVersion, true, "version", "aggregate_uuid")}, good[2:]...), nil, []string{levelOK, levelFix}, "not the unique index"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fs := indexFindings(c.now, c.before)
			var levels []string
			all := ""
			for _, f := range fs {
				levels = append(levels, f.level)
				all += f.msg + " " + f.fix + "\n"
			}
			if strings.Join(levels, ",") != strings.Join(c.want, ",") || !strings.Contains(all, c.says) {
				t.Errorf("got %v:\n%s\nwant %v saying %q", levels, all, c.want, c.says)
			}
		})
	}
}

func TestReplicaFinding(t *testing.T) {
	cases := []struct {
		h     hello
		level string
		says  string
	}{
		{hello{SetName: "rs0", Hosts: []string{"a", "b", "c"}}, levelOK, "rs0, 3 members"},
		{hello{SetName: "rs0", Hosts: []string{"a"}}, levelWarn, "no redundancy"},
		{hello{SetName: "rs0", Hosts: []string{"a", "b"}, Arbiters: []string{"c"}}, levelWarn, "1 arbiter"},
		{hello{Msg: "isdbgrid"}, levelOK, "sharded cluster"},
		{hello{}, levelFix, "standalone"},
	}
	for _, c := range cases {
		f := replicaFinding(c.h)
		if f.level != c.level || !strings.Contains(f.msg+f.fix, c.says) {
			t.Errorf("%+v: %s %q %q, want %s saying %q", c.h, f.level, f.msg, f.fix, c.level, c.says)
		}
	}
}

func TestWindowFinding(t *testing.T) {
	yes, no := true, false
	cases := []struct {
		window time.Duration
		full   *bool
		level  string
	}{
		{48 * time.Hour, &yes, levelOK},
		{2 * time.Hour, &yes, levelFix},
		{2 * time.Hour, nil, levelFix},
		{2 * time.Hour, &no, levelWarn},
	}
	for _, c := range cases {
		if f := windowFinding(c.window, 24*time.Hour, c.full); f.level != c.level {
			t.Errorf("window %s, full %v: %s (%s), want %s", c.window, c.full, f.level, f.msg, c.level)
		}
	}
	if f := windowFinding(time.Hour, 24*time.Hour, nil); !strings.Contains(f.fix, "replSetResizeOplog") || !strings.Contains(f.fix, "minRetentionHours: 24") {
		t.Errorf("fix %q", f.fix)
	}
}

func TestWriteConcernFinding(t *testing.T) {
	j := true
	cases := []struct {
		wc    *writeconcern.WriteConcern
		probe error
		level string
	}{
		{&writeconcern.WriteConcern{W: "majority", Journal: &j}, nil, levelOK},
		{&writeconcern.WriteConcern{W: "majority", Journal: &j},
			mongo.WriteException{WriteConcernError: &mongo.WriteConcernError{Code: 64, Name: "WriteConcernFailed", Message: "waiting for replication timed out"}}, levelFix},
		{&writeconcern.WriteConcern{W: "majority", Journal: &j}, context.DeadlineExceeded, levelFix},
		{&writeconcern.WriteConcern{W: "majority", Journal: &j}, mongo.CommandError{Code: 13, Name: "Unauthorized"}, levelWarn},
		{writeconcern.W1(), nil, levelFix},
		{&writeconcern.WriteConcern{W: "majority"}, nil, levelFix},
		{nil, nil, levelFix},
	}
	for _, c := range cases {
		if f := writeConcernFinding(c.wc, c.probe); f.level != c.level {
			t.Errorf("%+v: %s (%s), want %s", c.wc, f.level, f.msg, c.level)
		}
	}
	// What the store uses by default is healthy.
	s := openStore(t, "memory:")
	if f := writeConcernFinding(s.WriteConcern(), nil); f.level != levelOK {
		t.Errorf("the store's default write concern: %s (%s)", f.level, f.msg)
	}
}
