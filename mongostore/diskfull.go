package mongostore

import (
	"errors"
	"syscall"

	"go.mongodb.org/mongo-driver/mongo"
)

// codeOutOfDiskSpace is MongoDB's error code for a full disk.
const codeOutOfDiskSpace = 14031

// IsDiskFull reports whether err was caused by a full disk: ENOSPC from
// the embedded engine's file system (file:), or MongoDB's OutOfDiskSpace
// in a command error, a write exception or a write concern error. The
// server answers such an append 507, readiness reports it, and a
// projection whose commits fail with it shows it in its status.
func IsDiskFull(err error) bool {
	if errors.Is(err, syscall.ENOSPC) {
		return true
	}
	var se mongo.ServerError
	return errors.As(err, &se) && se.HasErrorCode(codeOutOfDiskSpace)
}
