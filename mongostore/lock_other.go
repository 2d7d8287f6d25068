//go:build !unix

package mongostore

import (
	"errors"
	"fmt"
	"os"
)

// lockFile creates path exclusively. Without flock a crashed process leaves
// the lock file behind; delete it by hand once no annals process runs.
func lockFile(path string) (unlock func() error, err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("%w: %s exists; delete it if no annals process runs", ErrLocked, path)
		}
		return nil, fmt.Errorf("mongostore: lock %s: %w", path, err)
	}
	return func() error {
		if f == nil {
			return errNotLocked
		}
		err := f.Close()
		f = nil
		if rerr := os.Remove(path); err == nil {
			err = rerr
		}
		return err
	}, nil
}
