package main

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestServeBindsFirst: a serve that cannot bind fails before it opens the
// store, so it leaves no new store file behind.
func TestServeBindsFirst(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	dir := t.TempDir()
	path := filepath.Join(dir, "new.db")
	cli(t, nil, "serve", "--store", "file:"+path, "--addr", taken.Addr().String()).expect(t, exitError, "listen on "+taken.Addr().String())
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Errorf("a serve that could not bind left %v in the store's directory", entries)
	}
}

// TestServeSaysWhatItWaitsFor: before connecting to MongoDB, serve logs
// that it is waiting for it (and how long the driver waits), without the
// URI's password; it does not sit silent until the driver gives up.
func TestServeSaysWhatItWaitsFor(t *testing.T) {
	uri := "mongodb://ana:s3cretpw@127.0.0.1:1/?replicaSet=rs0&serverSelectionTimeoutMS=200&connectTimeoutMS=200"
	r := cli(t, nil, "serve", "--store", uri, "--addr", "127.0.0.1:0")
	r.expect(t, exitError, "connecting to MongoDB; waiting until a member answers", `store="mongodb://ana:***@127.0.0.1:1/`)
	if strings.Contains(r.stderr, "s3cretpw") {
		t.Errorf("the log shows the password:\n%s", r.stderr)
	}
	if i, j := strings.Index(r.stderr, "connecting to MongoDB"), strings.Index(r.stderr, "annals: "); i < 0 || j < i {
		t.Errorf("serve did not say it was connecting before it failed:\n%s", r.stderr)
	}
}
