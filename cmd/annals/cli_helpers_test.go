package main

import (
	"bytes"
	"context"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/annalsdb/annals/mongostore"
	"github.com/annalsdb/annals/projections"
	"github.com/annalsdb/annals/server"
)

// result is what one run of the command line gave.
type result struct {
	code           int
	stdout, stderr string
}

// cli runs the command line in-process with the given environment.
func cli(t *testing.T, environ map[string]string, args ...string) result {
	t.Helper()
	return cliContext(t, context.Background(), environ, args...)
}

func cliContext(t *testing.T, ctx context.Context, environ map[string]string, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(ctx, args, &out, &errOut, env(environ))
	return result{code: code, stdout: out.String(), stderr: errOut.String()}
}

// expect checks the exit code and that the output holds every want.
func (r result) expect(t *testing.T, code int, wants ...string) {
	t.Helper()
	if r.code != code {
		t.Errorf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, code, r.stdout, r.stderr)
		return
	}
	for _, w := range wants {
		if !strings.Contains(r.stdout+r.stderr, w) {
			t.Errorf("output lacks %q\nstdout:\n%s\nstderr:\n%s", w, r.stdout, r.stderr)
		}
	}
}

// fileStore returns a file: store URI in a fresh temporary directory.
func fileStore(t *testing.T) string {
	t.Helper()
	return "file:" + filepath.Join(t.TempDir(), "annals.db")
}

// openStore opens a store for a test and closes it at the end.
func openStore(t *testing.T, uri string) *mongostore.Store {
	t.Helper()
	s, err := mongostore.Open(context.Background(), uri)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	return s
}

// testAPI is an HTTP API over a memory: store with the built-in
// projections running.
type testAPI struct {
	url   string
	srv   *httptest.Server
	store *mongostore.Store
}

const testToken = "s3cret"

// startAPI serves the API with server.New on an httptest server; the
// runner and the server stop when the test ends.
func startAPI(t *testing.T) *testAPI {
	t.Helper()
	store := openStore(t, "memory:")
	runner := projections.NewRunner(store, projections.Streams(), projections.EventCounts())
	api, err := server.New(store, runner, server.Options{Tokens: []server.Token{{Secret: testToken, Access: server.ReadWrite}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runner.Run(ctx) }()
	srv := httptest.NewServer(api)
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("runner: %v", err)
		}
	})
	return &testAPI{url: srv.URL, srv: srv, store: store}
}

// env returns the environment that points commands at the API.
func (a *testAPI) env() map[string]string {
	return map[string]string{"ANNALS_SERVER": a.url, "ANNALS_TOKEN": testToken}
}

// watcher is a writer that tells when what was written contains a string.
type watcher struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	wants []watch
}

type watch struct {
	s  string
	ch chan struct{}
}

func (w *watcher) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n, err := w.buf.Write(p)
	kept := w.wants[:0]
	for _, x := range w.wants {
		if strings.Contains(w.buf.String(), x.s) {
			close(x.ch)
		} else {
			kept = append(kept, x)
		}
	}
	w.wants = kept
	return n, err
}

// when returns a channel closed once the output contains s.
func (w *watcher) when(s string) <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	ch := make(chan struct{})
	if strings.Contains(w.buf.String(), s) {
		close(ch)
		return ch
	}
	w.wants = append(w.wants, watch{s, ch})
	return ch
}

func (w *watcher) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// wait waits for ch or fails the test after a while.
func wait(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(20 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}

// background runs the command line in a goroutine; the returned function
// waits for its exit code.
func background(ctx context.Context, environ map[string]string, stdout, stderr io.Writer, args ...string) func() int {
	done := make(chan int, 1)
	go func() { done <- run(ctx, args, stdout, stderr, env(environ)) }()
	return func() int {
		select {
		case code := <-done:
			return code
		case <-time.After(20 * time.Second):
			return -1
		}
	}
}

// withStdin makes os.Stdin read s while fn runs.
func withStdin(t *testing.T, s string, fn func()) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		_, _ = io.WriteString(w, s)
		w.Close()
	}()
	old := os.Stdin
	os.Stdin = r
	defer func() { os.Stdin = old; r.Close() }()
	fn()
}

// asTerminal makes every writer count as a terminal while the test runs.
func asTerminal(t *testing.T) {
	t.Helper()
	old := isTerminal
	isTerminal = func(io.Writer) bool { return true }
	t.Cleanup(func() { isTerminal = old })
}
