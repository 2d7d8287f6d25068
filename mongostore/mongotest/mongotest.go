package mongotest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/256dpi/lungo"
	"github.com/annalsdb/annals/mongostore"
	"go.mongodb.org/mongo-driver/mongo/options"
)

// cleanupTimeout bounds dropping a test database and closing its store.
const cleanupTimeout = 30 * time.Second

// MongoURI returns the URI of a real MongoDB replica set for tests, or an
// empty URI and the reason none is available. It tries, in order:
//
//  1. a one-node replica set (mongo:8) that testcontainers starts when a
//     Docker engine answers;
//  2. the deployment named by ANNALS_TEST_MONGODB_URI (EnvURI).
//
// Both helpers follow this order, so OpenMongo and Open always agree on the
// deployment. The consequence is that ANNALS_TEST_MONGODB_URI is used only
// where no Docker engine answers (or starting the container fails); probing
// first costs milliseconds when there is no engine, and is bounded by a few
// seconds when DOCKER_HOST names a host that does not reply.
//
// The search runs once per test binary and its outcome is cached: at most one
// container is started, shared by every test, and testcontainers' reaper
// removes it when the binary exits. The container's URI connects to it
// directly (directConnection=true) and names no database. A URI from the
// environment is returned as set; it may carry credentials, so do not log
// it.
func MongoURI(tb testing.TB) (uri string, reason string) {
	tb.Helper()
	f := lookup()
	return f.uri, f.reason
}

// OpenMongo opens a store on a real MongoDB replica set (see MongoURI for
// where it comes from), in a fresh database named annals_test_<random>, or
// skips the test with the reason when there is none. When the test ends the
// database is dropped and the store closed.
//
// The database option is the helper's: a WithDatabase among opts is
// overridden, so that cleanup never drops a database the test did not
// create. A deployment that is found but cannot be opened (unreachable, a
// standalone mongod) fails the test.
func OpenMongo(tb testing.TB, opts ...mongostore.Option) *mongostore.Store {
	tb.Helper()
	f := lookup()
	if f.uri == "" {
		tb.Skip("mongotest: no MongoDB for this test: " + f.reason)
	}
	return openMongo(tb, f, opts)
}

// Open opens a store on the best engine available and logs one line saying
// which, trying in order:
//
//  1. a MongoDB replica set that testcontainers starts when a Docker engine
//     answers;
//  2. the MongoDB deployment named by ANNALS_TEST_MONGODB_URI;
//  3. the embedded engine in memory (memory:), which always works.
//
// On MongoDB it behaves as OpenMongo (a fresh database, dropped when the test
// ends, and a failure when the deployment cannot be opened); on the embedded
// engine each call gets its own empty engine. The store is closed when the
// test ends.
func Open(tb testing.TB, opts ...mongostore.Option) *mongostore.Store {
	tb.Helper()
	f := lookup()
	if f.uri != "" {
		return openMongo(tb, f, opts)
	}
	s, err := mongostore.Open(tb.Context(), "memory:", opts...)
	if err != nil {
		tb.Fatalf("mongotest: open memory: store: %v", err)
	}
	tb.Cleanup(func() { closeStore(tb, s) })
	tb.Logf("mongotest: using the embedded engine (memory:): %s", f.reason)
	return s
}

// openMongo opens a store in a fresh database of the deployment f found,
// and registers its cleanup.
func openMongo(tb testing.TB, f found, opts []mongostore.Option) *mongostore.Store {
	tb.Helper()
	name := databaseName()
	opts = append(opts[:len(opts):len(opts)], mongostore.WithDatabase(name))
	s, err := mongostore.Open(tb.Context(), f.uri, opts...)
	if err != nil {
		tb.Fatalf("mongotest: open store on %s: %v", f.describe(), err)
	}
	tb.Cleanup(func() {
		closeStore(tb, s)
		dropDatabase(tb, f.uri, name)
	})
	tb.Logf("mongotest: using %s, database %s", f.describe(), name)
	return s
}

// databaseName returns a database name no other test uses.
func databaseName() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b) // never fails; it crashes the program instead
	return "annals_test_" + hex.EncodeToString(b)
}

// closeStore closes a store at the end of a test.
func closeStore(tb testing.TB, s *mongostore.Store) {
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		tb.Errorf("mongotest: close store: %v", err)
	}
}

// dropDatabase drops a test database through a connection of its own, so
// that it works even when the test closed its store.
func dropDatabase(tb testing.TB, uri, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	client, err := lungo.Connect(ctx, options.Client().ApplyURI(uri))
	if err != nil {
		tb.Errorf("mongotest: connect to drop test database %s: %v", name, err)
		return
	}
	defer client.Disconnect(ctx)
	if err := client.Database(name).Drop(ctx); err != nil {
		tb.Errorf("mongotest: drop test database %s: %v", name, err)
	}
}
