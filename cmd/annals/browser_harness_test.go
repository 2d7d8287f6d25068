package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// The harness of the browser tests: a test-hooks build of annals, one
// headless Chromium per test, tabs with their own storage, waits on DOM
// conditions and screenshots.

// hooked is the test-hooks build of annals, made once.
var hooked struct {
	once sync.Once
	bin  string
	err  error
}

func buildHookedBinary(t *testing.T) string {
	t.Helper()
	hooked.once.Do(func() {
		dir, err := os.MkdirTemp("", "annals-console-")
		if err != nil {
			hooked.err = err
			return
		}
		cleanups = append(cleanups, func() { _ = os.RemoveAll(dir) })
		hooked.bin = filepath.Join(dir, "annals")
		if out, err := exec.Command("go", "build", "-tags", "annals_testhooks", "-o", hooked.bin, ".").CombinedOutput(); err != nil {
			hooked.err = fmt.Errorf("go build -tags annals_testhooks: %v\n%s", err, out)
		}
	})
	if hooked.err != nil {
		t.Fatal(hooked.err)
	}
	return hooked.bin
}

// chromiumPath finds a Chromium to drive, or skips the test.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("drives a browser against the binary")
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no Chromium installed (apt-get install chromium): the console's browser tests need one")
	return ""
}

// startBrowser starts one headless Chromium for a test; tabs share it.
func startBrowser(t *testing.T) context.Context {
	t.Helper()
	path := chromiumPath(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
		// This machine refuses Chromium's own connections; without these
		// flags it tries them and stalls.
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return ctx
}

// tab opens a tab with its own storage (a fresh browser context) and
// fails the test on any uncaught exception in the page.
func tab(t *testing.T, browser context.Context) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	var mu sync.Mutex
	var exceptions []string
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, e := range exceptions {
			t.Errorf("the page threw: %s", e)
		}
		cancel()
	})
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("open a tab: %v", err)
	}
	if err := chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*runtime.EventExceptionThrown); ok {
			mu.Lock()
			d := e.ExceptionDetails
			msg := d.Text
			if d.Exception != nil && d.Exception.Description != "" {
				msg += " " + d.Exception.Description
			}
			exceptions = append(exceptions, fmt.Sprintf("%s (%s:%d)", msg, d.URL, d.LineNumber+1))
			mu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}
	return ctx
}

// do runs browser actions with a bound, failing the test on error.
func do(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(tctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(tctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// until waits until a JavaScript predicate holds in the page: the DOM
// condition a step waits for.
func until(pred string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		_, err := chromedp.Poll[bool]("!!("+pred+")", chromedp.WithPollingTimeout(15*time.Second), chromedp.WithPollingInterval(50*time.Millisecond))(ctx, tg)
		if err != nil {
			return chromedp.Void{}, fmt.Errorf("waiting for %s: %w", pred, err)
		}
		return chromedp.Void{}, nil
	}
}

// textHas is a predicate: the first element matching sel contains text.
func textHas(sel, text string) string {
	return fmt.Sprintf("(document.querySelector(%s)?.textContent ?? '').includes(%s)", jsString(sel), jsString(text))
}

// shot saves a screenshot of the viewport (or of the full page).
func shot(t *testing.T, ctx context.Context, name string, full bool) {
	t.Helper()
	dir := t.TempDir()
	if os.Getenv("ANNALS_UPDATE_SCREENSHOTS") == "1" {
		dir = filepath.Join("..", "..", "docs", "screenshots")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	tctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	var png []byte
	var err error
	if full {
		png, err = chromedp.Run(tctx, chromedp.FullScreenshot(100))
	} else {
		png, err = chromedp.Run(tctx, chromedp.CaptureScreenshot())
	}
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	p := filepath.Join(dir, name+".png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", p)
}

// appendEvents posts events to a stream; it fails the test unless 201.
func appendEvents(t *testing.T, base, token, stream, body string) {
	t.Helper()
	status, resp := request(t, http.MethodPost, base+"/v1/streams/"+stream+"/events", token, body)
	if status != http.StatusCreated {
		t.Fatalf("append to %s: status %d: %s", stream, status, resp)
	}
}

// listed waits until the streams listing (the streams projection, which
// trails the appends) shows every one of streams.
func listed(t *testing.T, base string, streams ...string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		status, body := request(t, http.MethodGet, base+"/v1/streams?limit=1000", "", "")
		missing := slices.DeleteFunc(slices.Clone(streams), func(s string) bool { return strings.Contains(body, s) })
		if status == http.StatusOK && len(missing) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the streams listing (status %d) still lacks %q", status, missing)
		}
		time.Sleep(20 * time.Millisecond) // polls an eventually consistent read model
	}
}

func request(t *testing.T, method, url, token, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}
