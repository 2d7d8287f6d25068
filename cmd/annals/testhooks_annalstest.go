//go:build annals_testhooks

package main

import (
	"context"
	"fmt"
	"os"

	"github.com/annalsdb/annals/mongostore"
	"github.com/annalsdb/annals/projections"
)

// Test builds only (go build -tags annals_testhooks): `annals serve` also
// runs the projection "test_poison", which fails on every event named
// Poison while the file named by ANNALS_TEST_POISON_FILE exists. Removing
// the file removes the cause, so a retry then succeeds. The console's
// browser tests use it to fail a projection on demand; production builds
// have neither the projection nor the variable.

// testPoisonProjection is the projection's name; testPoisonEvent the
// event name it fails on.
const (
	testPoisonProjection = "test_poison"
	testPoisonEvent      = "Poison"
	testPoisonEnv        = "ANNALS_TEST_POISON_FILE"
)

func init() {
	testProjections = func() []*projections.Projection {
		marker := os.Getenv(testPoisonEnv)
		return []*projections.Projection{projections.New(testPoisonProjection, []string{projections.AllEvents},
			func(_ context.Context, _ *projections.Tx, ev mongostore.Event) error {
				if ev.Name != testPoisonEvent || marker == "" {
					return nil
				}
				if _, err := os.Stat(marker); err == nil {
					return fmt.Errorf("poisoned: %s exists (remove it, then retry)", marker)
				}
				return nil
			})}
	}
}
