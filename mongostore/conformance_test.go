package mongostore_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/annalsdb/annals/mongostore"
	"github.com/annalsdb/annals/mongostore/mongotest"
	"github.com/annalsdb/annals/mongostore/storetest"
)

func openURI(tb testing.TB, uri string, opts ...mongostore.Option) *mongostore.Store {
	tb.Helper()
	s, err := mongostore.Open(context.Background(), uri, opts...)
	if err != nil {
		tb.Fatalf("open %s: %v", uri, err)
	}
	tb.Cleanup(func() {
		if err := s.Close(context.Background()); err != nil {
			tb.Errorf("close %s: %v", uri, err)
		}
	})
	return s
}

func TestConformanceMemory(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(tb testing.TB, opts ...mongostore.Option) *mongostore.Store {
		return openURI(tb, "memory:", opts...)
	})
}

func TestConformanceFile(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(tb testing.TB, opts ...mongostore.Option) *mongostore.Store {
		return openURI(tb, "file:"+filepath.Join(tb.TempDir(), "annals.db"), opts...)
	})
}

func TestConformanceMongoDB(t *testing.T) {
	if uri, reason := mongotest.MongoURI(t); uri == "" {
		t.Skip("no MongoDB replica set: " + reason)
	}
	storetest.Run(t, func(tb testing.TB, opts ...mongostore.Option) *mongostore.Store {
		return mongotest.OpenMongo(tb, opts...)
	})
}
