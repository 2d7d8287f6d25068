package mongostore_test

import (
	"errors"
	"fmt"
	"io/fs"
	"syscall"
	"testing"

	"go.mongodb.org/mongo-driver/mongo"

	"github.com/annalsdb/annals/mongostore"
)

// TestIsDiskFull: ENOSPC however wrapped, and MongoDB's OutOfDiskSpace
// (14031) in each error shape the driver returns, are a full disk; text
// that merely says so, and other codes, are not.
func TestIsDiskFull(t *testing.T) {
	for _, err := range []error{
		fmt.Errorf("engine: commit: %w", syscall.ENOSPC),
		fmt.Errorf("a: %w", fmt.Errorf("b: %w", &fs.PathError{Op: "write", Path: "x.log", Err: syscall.ENOSPC})),
		mongo.CommandError{Code: 14031, Name: "OutOfDiskSpace"},
		fmt.Errorf("append: %w", mongo.WriteException{WriteErrors: []mongo.WriteError{{Code: 14031}}}),
		mongo.BulkWriteException{WriteErrors: []mongo.BulkWriteError{{WriteError: mongo.WriteError{Code: 14031}}}},
		mongo.WriteException{WriteConcernError: &mongo.WriteConcernError{Code: 14031}},
	} {
		if !mongostore.IsDiskFull(err) {
			t.Errorf("%v: not reported as a full disk", err)
		}
	}
	for _, err := range []error{
		errors.New("no space left on device"), // text is not a cause
		mongo.CommandError{Code: 112, Name: "WriteConflict"},
		syscall.EIO,
		nil,
	} {
		if mongostore.IsDiskFull(err) {
			t.Errorf("%v: reported as a full disk", err)
		}
	}
}
