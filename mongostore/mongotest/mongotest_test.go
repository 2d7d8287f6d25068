package mongotest_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/annalsdb/annals/mongostore"
	"github.com/annalsdb/annals/mongostore/mongotest"
)

// recorder passes a test through and remembers what the helper logged and
// why it skipped.
type recorder struct {
	testing.TB
	mu   sync.Mutex
	logs []string
	skip string
}

func (r *recorder) Logf(format string, args ...any) {
	r.mu.Lock()
	r.logs = append(r.logs, fmt.Sprintf(format, args...))
	r.mu.Unlock()
	r.TB.Helper()
	r.TB.Logf(format, args...)
}

func (r *recorder) Skip(args ...any) {
	r.mu.Lock()
	r.skip = fmt.Sprint(args...)
	r.mu.Unlock()
	r.TB.Helper()
	r.TB.Skip(args...)
}

// skipIfMongoDB skips tests of the fallbacks where a MongoDB is available.
func skipIfMongoDB(t *testing.T) {
	t.Helper()
	if uri, _ := mongotest.MongoURI(t); uri != "" {
		t.Skip("a MongoDB replica set is available, so there is no fallback to test")
	}
}

func TestMongoURIReason(t *testing.T) {
	skipIfMongoDB(t)
	uri, reason := mongotest.MongoURI(t)
	if uri != "" {
		t.Fatalf("uri = %q, want none", uri)
	}
	if want := mongotest.EnvURI + " is not set and "; !strings.HasPrefix(reason, want) {
		t.Errorf("reason = %q, want it to start with %q", reason, want)
	}
	if strings.Contains(reason, "\n") {
		t.Errorf("reason = %q, want one line", reason)
	}
}

func TestOpenFallsBackToMemory(t *testing.T) {
	skipIfMongoDB(t)
	_, reason := mongotest.MongoURI(t)
	rec := &recorder{TB: t}
	s := mongotest.Open(rec)
	if got, want := s.Engine(), mongostore.EngineMemory; got != want {
		t.Errorf("engine = %q, want %q", got, want)
	}
	want := []string{"mongotest: using the embedded engine (memory:): " + reason}
	if got := rec.logs; len(got) != len(want) || got[0] != want[0] {
		t.Errorf("logged %q, want %q", got, want)
	}
	if _, err := s.Load(t.Context(), uuid.New()); !errors.Is(err, mongostore.ErrStreamNotFound) {
		t.Errorf("load a new stream: got %v, want %v", err, mongostore.ErrStreamNotFound)
	}
}

func TestOpenClosesAtCleanup(t *testing.T) {
	var s *mongostore.Store
	if !t.Run("test", func(t *testing.T) { s = mongotest.Open(t) }) {
		t.Fatal("Open failed")
	}
	if _, err := s.Load(t.Context(), uuid.New()); !errors.Is(err, mongostore.ErrClosed) {
		t.Errorf("load after the test ended: got %v, want %v", err, mongostore.ErrClosed)
	}
}

func TestOpenMongoSkipsWithReason(t *testing.T) {
	skipIfMongoDB(t)
	rec := &recorder{}
	var sub *testing.T
	t.Run("OpenMongo", func(t *testing.T) {
		sub, rec.TB = t, t
		mongotest.OpenMongo(rec)
		t.Error("OpenMongo returned a store, want a skip")
	})
	if !sub.Skipped() {
		t.Fatal("OpenMongo did not skip")
	}
	if !strings.Contains(rec.skip, mongotest.EnvURI) {
		t.Errorf("skip reason = %q, want it to mention %s", rec.skip, mongotest.EnvURI)
	}
}

func TestOpenMongoFreshDatabase(t *testing.T) {
	a, b := mongotest.OpenMongo(t), mongotest.OpenMongo(t)
	if got, want := a.Engine(), mongostore.EngineMongoDB; got != want {
		t.Errorf("engine = %q, want %q", got, want)
	}
	na, nb := a.Database().Name(), b.Database().Name()
	if !strings.HasPrefix(na, "annals_test_") || na == nb {
		t.Errorf("databases %q and %q, want two distinct annals_test_… names", na, nb)
	}
}

func TestOpenMongoOverridesDatabase(t *testing.T) {
	s := mongotest.OpenMongo(t, mongostore.WithDatabase("annals"))
	if got := s.Database().Name(); !strings.HasPrefix(got, "annals_test_") {
		t.Errorf("database = %q, want a fresh annals_test_… one", got)
	}
}
