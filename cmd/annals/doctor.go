package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/256dpi/lungo"
	"github.com/annalsdb/annals/mongostore"
	"github.com/annalsdb/annals/server"
	"github.com/spf13/cobra"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
	"go.mongodb.org/mongo-driver/mongo/writeconcern"
	"go.mongodb.org/mongo-driver/x/mongo/driver/connstring"
)

// Levels of a doctor finding.
const (
	levelOK   = "ok"
	levelSkip = "skip"
	levelWarn = "warn"
	levelFix  = "FIX"
)

// finding is one thing doctor checked.
type finding struct {
	level, topic, msg string
	// fix says what to do, for warnings and problems.
	fix string
}

type doctorFlags struct {
	target
	timeout   time.Duration
	minWindow time.Duration
}

func doctorCommand(getenv func(string) string) *cobra.Command {
	var fl doctorFlags
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Check a deployment and say what to fix",
		Long: `Check the deployment behind --store and print what to fix:

  engine        what the store runs on
  checksums     embedded engine: every block of the store reads back intact
  replica set   MongoDB must be a replica set or sharded cluster: a
                standalone mongod has no transactions or change streams
  indexes       annals' indexes on the events collection
  oplog window  how far back change streams can resume (projections and
                live feeds down for longer replay from the events
                collection)
  write concern what appends wait for (majority, journaled), and on
                MongoDB whether the deployment acknowledges it: doctor
                writes one document to the annals_doctor collection

Doctor opens the store as 'annals serve' does, which creates the events
collection and any missing index (idempotent); it reports what was
missing before. The exit code is 0 when nothing needs fixing (warnings
allowed) and 1 when something does.

` + helpStoreOnly,
		Example: `  annals doctor --store 'mongodb://localhost:27017/?replicaSet=rs0'
  annals doctor --store file:annals.db`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := fl.setup(cmd, getenv); err != nil {
				return err
			}
			if fl.timeout <= 0 {
				return usagef("--timeout must be positive")
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), fl.timeout)
			defer cancel()
			var fs []finding
			if strings.HasPrefix(fl.store, "mongodb://") || strings.HasPrefix(fl.store, "mongodb+srv://") {
				fs = fl.checkMongo(ctx)
			} else {
				fs = fl.checkEmbedded(ctx)
			}
			return printFindings(cmd.OutOrStdout(), server.MaskURI(fl.store), fs)
		},
	}
	f := cmd.Flags()
	fl.storeFlags(f)
	f.DurationVar(&fl.timeout, "timeout", 30*time.Second, "give up after this long")
	f.DurationVar(&fl.minWindow, "min-oplog-window", 24*time.Hour, "the shortest oplog window that is healthy")
	return cmd
}

// printFindings prints the findings and returns an error when one needs
// fixing.
func printFindings(w io.Writer, store string, fs []finding) error {
	fmt.Fprintf(w, "annals doctor: %s\n\n", store)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	problems, warnings := 0, 0
	for _, f := range fs {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", f.level, f.topic, f.msg)
		if f.fix != "" {
			fmt.Fprintf(tw, "\t\t→ %s\n", f.fix)
		}
		switch f.level {
		case levelFix:
			problems++
		case levelWarn:
			warnings++
		}
	}
	tw.Flush()
	fmt.Fprintln(w)
	if problems > 0 {
		fmt.Fprintf(w, "%s to fix, %s.\n", plural(problems, "problem"), plural(warnings, "warning"))
		return fmt.Errorf("doctor: %s to fix", plural(problems, "problem"))
	}
	fmt.Fprintf(w, "healthy: nothing to fix, %s.\n", plural(warnings, "warning"))
	return nil
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// checkEmbedded checks a memory: or file: store.
func (fl *doctorFlags) checkEmbedded(ctx context.Context) []finding {
	var fs []finding
	err := fl.withStore(ctx, func(s *mongostore.Store) error {
		eng := finding{level: levelOK, topic: "engine",
			msg: "embedded engine (file): durable commits, checksummed files; one node, one process"}
		if s.Engine() == mongostore.EngineMemory {
			eng = finding{level: levelWarn, topic: "engine", msg: "embedded engine in memory: nothing is kept when the process ends",
				fix: "use file:PATH to keep the events, or a MongoDB replica set"}
		}
		fs = append(fs, eng,
			finding{level: levelOK, topic: "replica set", msg: "not needed: the embedded engine has transactions and change streams built in"})
		specs, err := indexesOf(ctx, s.EventsCollection())
		if err != nil {
			fs = append(fs, finding{level: levelFix, topic: "indexes", msg: fmt.Sprintf("cannot list the indexes of events: %v", err)})
		} else {
			fs = append(fs, indexFindings(specs, nil)...)
		}
		oplog := finding{level: levelOK, topic: "oplog window", msg: "the embedded engine keeps its change log on disk (the last 100,000 changes by default): change streams resume across restarts within it"}
		if s.Engine() == mongostore.EngineMemory {
			oplog.msg = "the embedded engine keeps its change log in memory (the last 100,000 changes by default): change streams resume within it while the process runs"
		}
		fs = append(fs, checksumFinding(ctx, s), oplog,
			finding{level: levelOK, topic: "write concern", msg: "not applicable: the embedded engine syncs every commit to disk before acknowledging it"})
		return nil
	})
	if err != nil {
		return append(fs, openFinding(err))
	}
	return fs
}

// checksumFinding reads back every block of an embedded store.
func checksumFinding(ctx context.Context, s *mongostore.Store) finding {
	start := time.Now()
	err := s.Verify(ctx)
	switch {
	case err == nil:
		return finding{level: levelOK, topic: "checksums", msg: fmt.Sprintf("every block of the store reads back intact (%s)", time.Since(start).Round(time.Millisecond))}
	case errors.Is(err, mongostore.ErrCorruptStore):
		return finding{level: levelFix, topic: "checksums", msg: err.Error(),
			fix: "the store's files are damaged: restore them from a backup (annals export/import), or export what still reads and import it into a new store"}
	}
	return finding{level: levelFix, topic: "checksums", msg: fmt.Sprintf("could not check the store: %v", err)}
}

// openFinding explains why the store did not open.
func openFinding(err error) finding {
	f := finding{level: levelFix, topic: "store", msg: err.Error()}
	if le := (*lockedError)(nil); errors.As(err, &le) {
		f.msg = le.err.Error() // the finding's fix gives doctor's own advice
	}
	switch {
	case errors.Is(err, mongostore.ErrLocked):
		f.fix = "another process (a running 'annals serve'?) holds the file: stop it first, or check the server with GET /readyz"
	case errors.Is(err, mongostore.ErrCorruptStore):
		f.topic = "checksums"
		f.fix = "the store's files are damaged and annals will not open it (nor write to it): restore them from a backup (annals export/import), or move the directory aside to start a new store"
	case errors.Is(err, mongostore.ErrUnsupportedURI):
		f.fix = "use mongodb://…, mongodb+srv://…, memory: or file:PATH"
	case errors.Is(err, mongostore.ErrIndexConflict):
		f.topic = "indexes"
		f.msg = "an index on events conflicts with one annals needs: " + err.Error()
		f.fix = fmt.Sprintf("annals needs %s as a unique index on {aggregate_uuid: 1, version: 1}, %s on {aggregate_type: 1, aggregate_uuid: 1} "+
			"and %s on {recorded_at: 1, aggregate_uuid: 1, version: 1}; list them with db.events.getIndexes() in mongosh, drop the one "+
			"named in the message (db.events.dropIndex(\"<name>\")) and run doctor again, which creates it as annals needs it",
			mongostore.IndexStreamVersion, mongostore.IndexTypeStream, mongostore.IndexRecordedAt)
	case errors.Is(err, mongostore.ErrNoReplicaSet):
		f.topic = "replica set"
		f.msg = "the deployment is a standalone mongod: annals needs transactions (appends) and change streams (projections, live feed), which only replica sets and sharded clusters have"
		f.fix = "start mongod with --replSet rs0, run rs.initiate() once in mongosh (one member is enough), and add ?replicaSet=rs0 to the URI; or use Atlas"
	default:
		f.fix = "check the URI, that the deployment is up and reachable from here, and the credentials"
	}
	return f
}

// hello is what doctor reads of MongoDB's hello command.
type hello struct {
	SetName  string   `bson:"setName"`
	Msg      string   `bson:"msg"`
	Hosts    []string `bson:"hosts"`
	Passives []string `bson:"passives"`
	Arbiters []string `bson:"arbiters"`
}

// checkMongo checks a MongoDB deployment: what it is, the indexes as they
// were before the store opened, the oplog window and the write concern.
func (fl *doctorFlags) checkMongo(ctx context.Context) []finding {
	cs, err := connstring.ParseAndValidate(fl.store)
	if err != nil {
		return []finding{{level: levelFix, topic: "store", msg: fmt.Sprintf("the URI does not parse: %v", err),
			fix: "see https://www.mongodb.com/docs/manual/reference/connection-string/"}}
	}
	db := fl.db
	if db == "" {
		db = cs.Database
	}
	if db == "" {
		db = mongostore.DefaultDatabase
	}
	client, err := lungo.Connect(ctx, options.Client().ApplyURI(fl.store))
	if err != nil {
		return []finding{openFinding(fmt.Errorf("connect: %w", err))}
	}
	defer client.Disconnect(context.WithoutCancel(ctx))
	start := time.Now()
	if err := client.Ping(ctx, nil); err != nil {
		return []finding{openFinding(fmt.Errorf("cannot reach the deployment: %w", err))}
	}
	fs := []finding{{level: levelOK, topic: "engine", msg: fmt.Sprintf("MongoDB, reached in %s; database %s", time.Since(start).Round(time.Millisecond), db)}}

	var h hello
	if err := client.Database("admin").RunCommand(ctx, bson.D{{Key: "hello", Value: 1}}).Decode(&h); err != nil {
		return append(fs, finding{level: levelFix, topic: "replica set", msg: fmt.Sprintf("the deployment does not answer hello: %v", err)})
	}
	before, hadEvents, err := listIndexes(ctx, client.Database(db))
	if err != nil {
		fs = append(fs, finding{level: levelWarn, topic: "indexes", msg: fmt.Sprintf("cannot list the indexes before opening: %v", err)})
	}

	store, err := mongostore.New(ctx, client, mongostore.WithDatabase(db))
	if err != nil {
		return append(fs, openFinding(err))
	}
	defer store.Close(context.WithoutCancel(ctx))
	fs = append(fs, replicaFinding(h))

	after, _, err := listIndexes(ctx, store.Database())
	switch {
	case err != nil:
		fs = append(fs, finding{level: levelFix, topic: "indexes", msg: fmt.Sprintf("cannot list the indexes of events: %v", err)})
	case !hadEvents:
		fs = append(fs, finding{level: levelOK, topic: "indexes", msg: "the events collection did not exist: created now, with its indexes"})
		fs = append(fs, indexFindings(after, nil)...)
	default:
		fs = append(fs, indexFindings(after, before)...)
	}

	if h.SetName != "" {
		fs = append(fs, oplogFinding(ctx, client, fl.minWindow))
	} else {
		fs = append(fs, finding{level: levelSkip, topic: "oplog window",
			msg: "skipped through mongos: each shard has its own oplog; run doctor against a shard's replica set to check its window"})
	}
	return append(fs, writeConcernFinding(store.WriteConcern(), probeWriteConcern(ctx, store)))
}

// Write concern probe.
const (
	// probeCollection is where doctor writes its one probe document.
	probeCollection = "annals_doctor"
	// probeTimeout is how long the probe waits for the write concern.
	probeTimeout = 10 * time.Second
)

// probeWriteConcern writes one small document with the store's write
// concern, bounded by probeTimeout, and returns the error: whether the
// deployment can acknowledge what appends wait for (a majority of
// data-bearing members up and replicating), not only whether annals asks
// for it.
func probeWriteConcern(ctx context.Context, store *mongostore.Store) error {
	if store.WriteConcern() == nil {
		return nil // judged by writeConcernFinding alone
	}
	wc := *store.WriteConcern()
	wc.WTimeout = probeTimeout // the v1 driver's way to bound the wait (server-side wtimeout)
	coll := store.Database().Collection(probeCollection, options.Collection().SetWriteConcern(&wc))
	_, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: "write-concern-probe"}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "at", Value: time.Now().UTC()}}}}, options.Update().SetUpsert(true))
	return err
}

// indexSpec is what doctor reads of an index.
type indexSpec struct {
	Name   string   `bson:"name"`
	Key    bson.Raw `bson:"key"`
	Unique bool     `bson:"unique"`
}

// listIndexes lists the indexes of the events collection, and whether the
// collection exists.
func listIndexes(ctx context.Context, db lungo.IDatabase) ([]indexSpec, bool, error) {
	names, err := db.ListCollectionNames(ctx, bson.D{{Key: "name", Value: mongostore.CollectionEvents}})
	if err != nil {
		return nil, false, err
	}
	if !slices.Contains(names, mongostore.CollectionEvents) {
		return nil, false, nil
	}
	specs, err := indexesOf(ctx, db.Collection(mongostore.CollectionEvents))
	return specs, true, err
}

// indexesOf lists a collection's indexes (the embedded engine has no
// ListSpecifications).
func indexesOf(ctx context.Context, c lungo.ICollection) ([]indexSpec, error) {
	cur, err := c.Indexes().List(ctx)
	if err != nil {
		return nil, err
	}
	var specs []indexSpec
	if err := cur.All(ctx, &specs); err != nil {
		return nil, err
	}
	return specs, nil
}

// wantIndex is an index annals needs on the events collection.
type wantIndex struct {
	name   string
	keys   []string
	unique bool
	why    string
}

var wantIndexes = []wantIndex{
	{mongostore.IndexStreamVersion, []string{fieldStream, fieldVersion}, true, "enforces optimistic concurrency: without it two appends can store the same version"},
	{mongostore.IndexTypeStream, []string{fieldStreamType, fieldStream}, false, "serves listing streams by type"},
	{mongostore.IndexRecordedAt, []string{fieldRecordedAt, fieldStream, fieldVersion}, false, "serves reading all events in order (projections, export)"},
}

// indexFindings compares the indexes on events with annals' own. before,
// when not nil, is what was there before the store opened (which creates
// missing indexes).
func indexFindings(now, before []indexSpec) []finding {
	byName := func(specs []indexSpec) map[string]indexSpec {
		m := map[string]indexSpec{}
		for _, s := range specs {
			m[s.Name] = s
		}
		return m
	}
	cur, old := byName(now), byName(before)
	var fs []finding
	var good []string
	for _, w := range wantIndexes {
		s, ok := cur[w.name]
		switch {
		case !ok:
			fs = append(fs, finding{level: levelFix, topic: "indexes", msg: fmt.Sprintf("%s is missing: it %s", w.name, w.why),
				fix: "run 'annals serve' or 'annals doctor' with a user allowed to create indexes (createIndex)"})
			continue
		case !sameKeys(s.Key, w.keys) || (w.unique && !s.Unique):
			uniq := ""
			if w.unique {
				uniq = " unique"
			}
			fs = append(fs, finding{level: levelFix, topic: "indexes", msg: fmt.Sprintf("%s is not the%s index on %s that annals needs: it %s", w.name, uniq, strings.Join(w.keys, ", "), w.why),
				fix: fmt.Sprintf("db.events.dropIndex(%q), then run 'annals doctor' or 'annals serve' to create it again", w.name)})
			continue
		}
		if _, had := old[w.name]; before != nil && !had {
			fs = append(fs, finding{level: levelWarn, topic: "indexes", msg: fmt.Sprintf("%s was missing and has been created now: it %s", w.name, w.why),
				fix: "nothing more to do; find out who dropped it"})
			continue
		}
		good = append(good, w.name)
	}
	if len(good) > 0 {
		fs = append([]finding{{level: levelOK, topic: "indexes", msg: "present: " + strings.Join(good, ", ")}}, fs...)
	}
	return fs
}

// sameKeys reports whether an index's key document is ascending on the
// given fields, in order.
func sameKeys(doc bson.Raw, keys []string) bool {
	elems, err := doc.Elements()
	if err != nil || len(elems) != len(keys) {
		return false
	}
	for i, el := range elems {
		if el.Key() != keys[i] {
			return false
		}
		v := el.Value()
		if n, ok := v.AsInt64OK(); !ok || n != 1 {
			if f, ok := v.DoubleOK(); !ok || f != 1 {
				return false
			}
		}
	}
	return true
}

// replicaFinding says what kind of deployment hello describes.
func replicaFinding(h hello) finding {
	if h.SetName == "" {
		if h.Msg == "isdbgrid" {
			return finding{level: levelOK, topic: "replica set", msg: "sharded cluster (mongos): transactions and change streams available"}
		}
		return finding{level: levelFix, topic: "replica set", msg: "standalone mongod"}
	}
	members := len(h.Hosts) + len(h.Passives) + len(h.Arbiters)
	f := finding{level: levelOK, topic: "replica set", msg: fmt.Sprintf("%s, %s", h.SetName, plural(members, "member"))}
	switch {
	case len(h.Arbiters) > 0:
		f.level = levelWarn
		f.msg += fmt.Sprintf(", %s", plural(len(h.Arbiters), "arbiter"))
		f.fix = "with an arbiter, majority writes (which appends wait for) stall while a data-bearing member is down: prefer three data-bearing members"
	case members == 1:
		f.level = levelWarn
		f.fix = "one member has no redundancy: fine for development, use three members in production"
	}
	return f
}

// oplogFinding measures the oplog window: the time between its first and
// last entries.
func oplogFinding(ctx context.Context, client lungo.IClient, min time.Duration) finding {
	f := finding{topic: "oplog window"}
	oplog := client.Database("local").Collection("oplog.rs")
	entry := func(dir int) (primitive.Timestamp, error) {
		var e struct {
			TS primitive.Timestamp `bson:"ts"`
		}
		err := oplog.FindOne(ctx, bson.D{}, options.FindOne().SetSort(bson.D{{Key: "$natural", Value: dir}}).
			SetProjection(bson.D{{Key: "ts", Value: 1}})).Decode(&e)
		return e.TS, err
	}
	first, err := entry(1)
	var last primitive.Timestamp
	if err == nil {
		last, err = entry(-1)
	}
	if err != nil {
		f.level, f.msg = levelWarn, fmt.Sprintf("cannot read local.oplog.rs: %v", err)
		f.fix = "check it with rs.printReplicationInfo() in mongosh, or grant this user read on the local database"
		return f
	}
	var full *bool
	var stats struct {
		Size    float64 `bson:"size"`
		MaxSize float64 `bson:"maxSize"`
	}
	if client.Database("local").RunCommand(ctx, bson.D{{Key: "collStats", Value: "oplog.rs"}}).Decode(&stats) == nil && stats.MaxSize > 0 {
		v := stats.Size >= 0.9*stats.MaxSize
		full = &v
	}
	return windowFinding(time.Duration(int64(last.T)-int64(first.T))*time.Second, min, full)
}

// windowFinding judges an oplog window against the minimum; full says
// whether the oplog has reached its size (nil when unknown): a young oplog
// that is not full yet has a window that will shrink when it fills up.
func windowFinding(window, min time.Duration, full *bool) finding {
	f := finding{topic: "oplog window", level: levelOK, msg: fmt.Sprintf("%s (at least %s wanted)", window, min)}
	if window >= min {
		return f
	}
	if full != nil && !*full {
		f.level = levelWarn
		f.msg += "; the oplog is not full yet, so its window is only as old as the deployment"
		f.fix = "check again once it is full; size it to hold at least --min-oplog-window of writes"
		return f
	}
	f.level = levelFix
	f.fix = fmt.Sprintf("projections or live feeds stopped for longer than %s must replay history: grow the oplog, "+
		"e.g. db.adminCommand({replSetResizeOplog: 1, size: <MB>, minRetentionHours: %d}) on each member", window, int(min.Hours()+0.5))
	return f
}

// writeConcernFinding judges what appends wait for, and whether the probe
// write made with it (nil on the embedded engine) was acknowledged.
func writeConcernFinding(wc *writeconcern.WriteConcern, probe error) finding {
	f := finding{topic: "write concern"}
	if wc == nil {
		f.level, f.msg = levelFix, "none: appends would be acknowledged before they are durable"
		f.fix = "use annals' default (majority, journaled)"
		return f
	}
	j := wc.Journal != nil && *wc.Journal
	desc := fmt.Sprintf("w=%v, j=%v", wc.W, j)
	if wc.WTimeout > 0 {
		desc += fmt.Sprintf(", wtimeout=%s", wc.WTimeout)
	}
	var we mongo.WriteException
	if probe != nil && !(errors.As(probe, &we) && we.WriteConcernError != nil) && !mongo.IsTimeout(probe) {
		// Not the write concern's fault (permissions, a network error):
		// say the probe could not tell.
		f.level, f.msg = levelWarn, desc+": the probe write failed, so whether the deployment acknowledges it is unknown: "+probe.Error()
		f.fix = fmt.Sprintf("doctor writes one document to the %s collection: let this user write it, or check the deployment", probeCollection)
		return f
	}
	if probe != nil {
		f.level, f.msg = levelFix, desc+": a probe write was not acknowledged: "+probe.Error()
		f.fix = fmt.Sprintf("appends would time out or fail: a majority of the data-bearing members must be up and replicating "+
			"(check rs.status() in mongosh; an arbiter does not acknowledge writes); doctor's probe writes one document "+
			"to the %s collection and waits %s", probeCollection, probeTimeout)
		return f
	}
	if wc.W == "majority" && j {
		f.level, f.msg = levelOK, desc+": an acknowledged append survives the loss of a minority of members"
		return f
	}
	f.level, f.msg = levelFix, desc+": an acknowledged append can be rolled back after a failover"
	f.fix = "use w=majority with journaling, annals' default"
	return f
}
