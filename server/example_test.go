package server_test

import (
	"context"
	"fmt"
	"go/parser"
	"go/token"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/annalsdb/annals/mongostore"
	"github.com/annalsdb/annals/projections"
	"github.com/annalsdb/annals/server"
)

// Example embeds the API in a program of one's own: a store, a runner
// keeping the built-in projections current, the handler from server.New
// served by an http.Server (here httptest's, on a loopback port).
func Example() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	store, err := mongostore.Open(ctx, "memory:")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer store.Close(context.Background())

	runner := projections.NewRunner(store, projections.Streams(), projections.EventCounts())
	api, err := server.New(store, runner, server.Options{
		Tokens: []server.Token{{Secret: "s3cret", Access: server.ReadWrite}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	runnerDone := make(chan error, 1)
	go func() { runnerDone <- runner.Run(ctx) }()
	srv := httptest.NewServer(api) // an *http.Server on 127.0.0.1, started
	defer func() {
		srv.Close() // stop serving first, then the runner
		cancel()
		<-runnerDone
	}()

	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/streams/0198c0de-5b6a-7c3e-9d2a-4f1e2d3c4b5a/events",
		strings.NewReader(`{"aggregate_type":"Order","events":[{"name":"OrderPlaced","data":{"total":42.5}}]}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer s3cret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	fmt.Println("append:", resp.Status)

	req, _ = http.NewRequest(http.MethodGet, srv.URL+"/v1/streams/0198c0de-5b6a-7c3e-9d2a-4f1e2d3c4b5a/events", nil)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	resp.Body.Close()
	fmt.Println("read without a token:", resp.Status)
	// Output:
	// append: 201 Created
	// read without a token: 401 Unauthorized
}

// TestPackageDoc: `go doc ./server` has a package overview that shows how
// to embed the API.
func TestPackageDoc(t *testing.T) {
	fset := token.NewFileSet()
	var doc string
	for _, name := range mustGlob(t, "*.go") {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ParseComments|parser.PackageClauseOnly)
		if err != nil {
			t.Fatal(err)
		}
		if f.Doc != nil {
			doc += f.Doc.Text()
		}
	}
	for _, want := range []string{"Package server", "server.New(", "runner.Run(", "http.Server{"} {
		if !strings.Contains(doc, want) {
			t.Errorf("the package documentation lacks %q", want)
		}
	}
}

func mustGlob(t *testing.T, pattern string) []string {
	t.Helper()
	names, err := filepath.Glob(pattern)
	if err != nil {
		t.Fatal(err)
	}
	return names
}
