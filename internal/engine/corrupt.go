package engine

import (
	"errors"

	"github.com/cockroachdb/pebble/v2"
)

// pebbleCorrupt reports whether err is Pebble saying stored data is
// damaged (a checksum mismatch, a malformed block or a missing file).
func pebbleCorrupt(err error) bool {
	return err != nil && (errors.Is(err, pebble.ErrCorruption) || pebble.IsCorruptionError(err))
}
