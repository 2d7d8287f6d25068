package mongostore

import (
	"context"

	"github.com/256dpi/lungo"
	"go.mongodb.org/mongo-driver/mongo/options"
)

// ConsistentRead runs fn with a context whose reads through this store's
// client (the events collection, query collections, checkpoints) all see
// one point in time, so that fn can combine several reads without a
// commit landing between them. It uses a snapshot session: MongoDB's
// snapshot reads (MongoDB 5.0 or later; find, aggregate, count and
// distinct, not writes or transactions) and the embedded engine's
// equivalent. lungo's own engine has no snapshot reads: there fn's reads
// are made one by one.
func (s *Store) ConsistentRead(ctx context.Context, fn func(ctx context.Context) error) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	if !snapshotReads(s.client) {
		return fn(ctx)
	}
	return s.client.UseSessionWithOptions(ctx, options.Session().SetSnapshot(true), func(sc lungo.ISessionContext) error {
		return fn(sc)
	})
}

// snapshotReads reports whether a client supports snapshot sessions: all
// but lungo's own engine, which panics on the option.
func snapshotReads(c lungo.IClient) bool {
	_, lungoEngine := unwrapClient(c).(*lungo.Client)
	return !lungoEngine
}
