package mongostore

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/256dpi/lungo"

	"github.com/annalsdb/annals/internal/engine"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo/options"
	"go.mongodb.org/mongo-driver/x/mongo/driver/connstring"
)

// Open opens a store from a URI:
//
//	mongodb://host/?replicaSet=rs0   MongoDB replica set or sharded cluster
//	mongodb+srv://cluster.example    the same, through DNS seed lists
//	memory:                          embedded engine in memory
//	file:PATH                        embedded engine persisted in the directory PATH
//
// On MongoDB the store reads from and writes to the primary, whatever
// readPreference the URI names: its transactions must, and reads of a
// stream's head from a lagging secondary would make appends conflict.
//
// Opening creates the collections and indexes and is idempotent. A
// standalone mongod is refused with ErrNoReplicaSet; a file already opened
// by another process with ErrLocked; an unknown scheme with
// ErrUnsupportedURI. Close the store when done.
func Open(ctx context.Context, uri string, opts ...Option) (*Store, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	switch {
	case uri == "memory:":
		return openEmbedded(ctx, EngineMemory, "", nil, cfg)
	case strings.HasPrefix(uri, "memory:"):
		return nil, fmt.Errorf("%w: %q: memory: takes nothing after the colon", ErrUnsupportedURI, uri)
	case strings.HasPrefix(uri, "file:"):
		return openFile(ctx, uri, cfg)
	case strings.HasPrefix(uri, "mongodb://"), strings.HasPrefix(uri, "mongodb+srv://"):
		return openMongo(ctx, uri, cfg)
	}
	return nil, fmt.Errorf("%w: %q: use mongodb://…, mongodb+srv://…, memory: or file:PATH", ErrUnsupportedURI, redact(uri))
}

// redact hides credentials in a URI quoted in an error.
func redact(uri string) string {
	scheme, rest, ok := strings.Cut(uri, "://")
	if !ok {
		return uri
	}
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		if slash := strings.Index(rest, "/"); slash < 0 || at < slash {
			return scheme + "://…@" + rest[at+1:]
		}
	}
	return uri
}

func openFile(ctx context.Context, uri string, cfg config) (*Store, error) {
	path := strings.TrimPrefix(strings.TrimPrefix(uri, "file:"), "//")
	if path == "" {
		return nil, fmt.Errorf("%w: %q: file: needs a path, e.g. file:annals.db", ErrUnsupportedURI, uri)
	}
	real, err := realPath(path)
	if err != nil {
		return nil, err
	}
	unlock, err := lockFile(real + ".lock")
	if err != nil {
		return nil, err
	}
	eopts := cfg.engineOptions(real)
	convert, err := engine.NeedsConversion(real)
	if err == nil && convert {
		err = engine.ConvertLungo(ctx, real, eopts)
	}
	if err != nil {
		_ = unlock()
		return nil, fmt.Errorf("mongostore: %w", err)
	}
	s, err := openEmbedded(ctx, EngineFile, real, unlock, cfg)
	if err != nil {
		_ = unlock()
		return nil, err
	}
	return s, nil
}

// realPath resolves a store path to an absolute path with symlinks
// resolved, so two names of one store share its lock. The store itself
// need not exist yet; its directory must.
func realPath(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("mongostore: file path %q: %w", path, err)
	}
	if r, err := filepath.EvalSymlinks(abs); err == nil {
		return r, nil
	}
	dir, err := filepath.EvalSymlinks(filepath.Dir(abs))
	if err != nil {
		return "", fmt.Errorf("mongostore: file store directory: %w", err)
	}
	return filepath.Join(dir, filepath.Base(abs)), nil
}

func (c config) engineOptions(path string) engine.Options {
	return engine.Options{
		Path:                path,
		CacheSize:           c.engine.CacheSize,
		OplogEntries:        c.engine.OplogEntries,
		OplogRetention:      c.engine.OplogRetention,
		TransactionLifetime: c.engine.TransactionLifetime,
		// A store converted from lungo's file gets the events' layout a
		// new store has (ensureSchema).
		ConvertClustered: []string{c.database + "." + CollectionEvents + "." + IndexStreamVersion},
		Logger:           c.logger,
	}
}

func openEmbedded(ctx context.Context, kind Engine, path string, unlock func() error, cfg config) (*Store, error) {
	eng, err := engine.Open(ctx, cfg.engineOptions(path))
	if err != nil {
		return nil, fmt.Errorf("mongostore: open %s engine: %w", kind, err)
	}
	release := func(context.Context) error {
		err := eng.Close()
		if unlock != nil {
			err = errors.Join(err, unlock())
		}
		return err
	}
	s, err := build(ctx, eng.Client(), kind, release, cfg)
	if err != nil {
		_ = eng.Close()
		return nil, err
	}
	s.exclusiveID = newExclusiveID()
	return s, nil
}

func openMongo(ctx context.Context, uri string, cfg config) (*Store, error) {
	cs, err := connstring.ParseAndValidate(uri)
	if err != nil {
		return nil, fmt.Errorf("%w: %s", ErrUnsupportedURI, err)
	}
	// A database in the URI's path is the default; WithDatabase wins.
	if cs.Database != "" && !cfg.databaseSet {
		cfg.database = cs.Database
	}
	client, err := lungo.Connect(ctx, options.Client().ApplyURI(uri))
	if err != nil {
		return nil, fmt.Errorf("mongostore: connect to %s: %w", redact(uri), err)
	}
	release := func(ctx context.Context) error { return client.Disconnect(ctx) }
	if err := client.Ping(ctx, nil); err != nil {
		_ = client.Disconnect(ctx)
		return nil, fmt.Errorf("mongostore: reach %s: %w", redact(uri), err)
	}
	s, err := build(ctx, client, EngineMongoDB, release, cfg)
	if err != nil {
		_ = client.Disconnect(ctx)
		return nil, err
	}
	return s, nil
}

// checkReplicaSet refuses a standalone mongod: it cannot run the
// transactions appends need nor the change streams projections need. It
// reports whether the client talks to a mongos (a sharded cluster).
func checkReplicaSet(ctx context.Context, client lungo.IClient) (sharded bool, err error) {
	var hello struct {
		SetName string `bson:"setName"`
		Msg     string `bson:"msg"`
	}
	err = client.Database("admin").RunCommand(ctx, bson.D{{Key: "hello", Value: 1}}).Decode(&hello)
	if err != nil {
		return false, fmt.Errorf("mongostore: ask the deployment what it is (hello): %w", err)
	}
	sharded = hello.Msg == "isdbgrid"
	if hello.SetName == "" && !sharded {
		return false, fmt.Errorf("%w: annals needs transactions and change streams, which a standalone mongod "+
			"does not offer; start mongod with --replSet rs0 and run rs.initiate() once "+
			"(a one-node replica set is enough), or point annals at a replica set or Atlas cluster", ErrNoReplicaSet)
	}
	return sharded, nil
}

// isEmbedded reports whether a client (or the client it wraps) is the
// embedded engine.
func isEmbedded(c lungo.IClient) bool {
	switch unwrapClient(c).(type) {
	case *lungo.Client, *engine.Client:
		return true
	}
	return false
}

// unwrapClient returns the client at the end of a chain of wrappers (for
// tracing or counting) that have an Unwrap() lungo.IClient method.
func unwrapClient(c lungo.IClient) lungo.IClient {
	for {
		w, ok := c.(interface{ Unwrap() lungo.IClient })
		if !ok {
			return c
		}
		c = w.Unwrap()
	}
}

var errNotLocked = errors.New("mongostore: lock not held")
