package server

import (
	"errors"
	"syscall"

	"go.mongodb.org/mongo-driver/mongo"
)

// codeOutOfDiskSpace is MongoDB's error code for a full disk.
const codeOutOfDiskSpace = 14031

// isDiskFull reports an error caused by a full disk: ENOSPC from the
// embedded engine's file system, or MongoDB's OutOfDiskSpace in a command
// error or a write exception.
func isDiskFull(err error) bool {
	if errors.Is(err, syscall.ENOSPC) {
		return true
	}
	var se mongo.ServerError
	return errors.As(err, &se) && se.HasErrorCode(codeOutOfDiskSpace)
}

// diskFullDetail is what a client is told; the cause is logged.
const diskFullDetail = "the store's disk is full: nothing more can be written. An append that met it was not stored, " +
	"or (if it failed while committing) its outcome is unknown: once space is freed (and, on an embedded store, annals " +
	"restarted), retry it with the same event ids, which never stores an event twice"
