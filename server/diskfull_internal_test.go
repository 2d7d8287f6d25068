package server

import (
	"fmt"
	"io/fs"
	"net/http"
	"strings"
	"syscall"
	"testing"

	"go.mongodb.org/mongo-driver/mongo"
)

// TestDiskFullProblem: ENOSPC however wrapped, and MongoDB's OutOfDiskSpace
// (14031) in each error shape the driver returns, are 507 with the fixed
// detail, which does not leak the cause's text.
func TestDiskFullProblem(t *testing.T) {
	full := []error{
		fmt.Errorf("engine: commit: %w", syscall.ENOSPC),
		fmt.Errorf("a: %w", fmt.Errorf("b: %w", &fs.PathError{Op: "write", Path: "x.log", Err: syscall.ENOSPC})),
		mongo.CommandError{Code: 14031, Name: "OutOfDiskSpace", Message: "secret path /data/db"},
		fmt.Errorf("append: %w", mongo.WriteException{WriteErrors: []mongo.WriteError{{Code: 14031, Message: "secret"}}}),
		mongo.BulkWriteException{WriteErrors: []mongo.BulkWriteError{{WriteError: mongo.WriteError{Code: 14031}}}},
		mongo.WriteException{WriteConcernError: &mongo.WriteConcernError{Code: 14031}},
	}
	for _, err := range full {
		p, internal := problemFor(err)
		if internal || p.Status != http.StatusInsufficientStorage || p.Type != problemBase+"insufficient-storage" {
			t.Errorf("%v: got %d %s", err, p.Status, p.Type)
		}
		if strings.Contains(p.Detail, "secret") || !strings.Contains(p.Detail, "disk is full") {
			t.Errorf("%v: detail %q", err, p.Detail)
		}
	}
}
