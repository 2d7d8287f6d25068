// Command annals runs and operates the annals event store.
//
//	annals serve                       # the HTTP API on 127.0.0.1:8080, events in file:annals.db
//	annals serve --store 'mongodb://localhost:27017/?replicaSet=rs0' --addr :8080 --token s3cret
//
// Every flag can also be set with an ANNALS_* environment variable
// (--store is ANNALS_STORE); flags win.
package main

import (
	"context"
	"os"
	"syscall"
)

func main() {
	ctx, stop := notifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}
