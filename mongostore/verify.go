package mongostore

import (
	"context"
	"errors"
	"fmt"

	"github.com/256dpi/lungo"

	"github.com/annalsdb/annals/internal/engine"
)

// ErrNotEmbedded is returned by Verify on stores that do not run on the
// embedded engine: MongoDB checks its own data files.
var ErrNotEmbedded = errors.New("mongostore: not an embedded store")

// Verify reads back every block of an embedded store's files and checks
// its checksum, which opening does only for small stores. It returns nil
// when everything reads back intact, an error wrapping ErrCorruptStore
// naming the damage, or ErrNotEmbedded on MongoDB.
func (s *Store) Verify(ctx context.Context) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	eng := embeddedEngine(s.client)
	if eng == nil {
		return ErrNotEmbedded
	}
	if err := eng.Verify(ctx); err != nil {
		return fmt.Errorf("mongostore: verify: %w", err)
	}
	return nil
}

// embeddedEngine returns the engine behind a client (or the client it
// wraps), or nil.
func embeddedEngine(c lungo.IClient) *engine.Engine {
	if ec, ok := unwrapClient(c).(*engine.Client); ok {
		return ec.Engine()
	}
	return nil
}
