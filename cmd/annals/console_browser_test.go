package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/google/uuid"
)

// The console's browser tests drive headless Chromium against a real
// `annals serve`, built with -tags annals_testhooks for its on-demand
// failing projection (testhooks_annalstest.go). They skip when Chromium
// is not installed (.ci/run installs Debian's chromium package).
//
// Screenshots go to a temporary directory, or to docs/screenshots with
// ANNALS_UPDATE_SCREENSHOTS=1.

// TestConsoleInBrowser runs the console in Chromium against annals serve.
func TestConsoleInBrowser(t *testing.T) {
	chromiumPath(t)
	bin := buildHookedBinary(t)
	browser := startBrowser(t)
	dir := t.TempDir()
	poison := filepath.Join(dir, "poison")
	t.Setenv("ANNALS_TEST_POISON_FILE", poison) // inherited by the server
	openStore := "file:" + filepath.Join(dir, "open.db")
	open := startServe(t, bin, "--store", openStore)
	guarded := startServe(t, bin, "--store", "file:"+filepath.Join(dir, "guarded.db"),
		"--token", "rw-secret-token", "--read-token", "ro-secret-token")

	// restart stops the open server, runs between (with the store free),
	// and starts it again on the same address.
	restart := func(t *testing.T, between func()) {
		t.Helper()
		if err := open.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		_ = open.cmd.Wait()
		between()
		again := startServe(t, bin, "--store", openStore, "--addr", strings.TrimPrefix(open.base, "http://"))
		if again.base != open.base {
			t.Fatalf("restarted on %s, want %s", again.base, open.base)
		}
		open = again
	}
	t.Run("fail and retry", func(t *testing.T) { testConsoleRetry(t, tab(t, browser), open.base, poison) })
	t.Run("rebuild", func(t *testing.T) { testConsoleRebuild(t, tab(t, browser), open.base) })
	t.Run("under a prefix", func(t *testing.T) { testConsoleUnderPrefix(t, tab(t, browser), open.base) })
	// Last on the open server: it restarts it, and the new process ends
	// with this subtest.
	t.Run("streams and live", func(t *testing.T) {
		testConsoleStreamsAndLive(t, tab(t, browser), open.base, func(between func()) { restart(t, between) }, bin, openStore)
	})
	t.Run("live after a memory restart", func(t *testing.T) { testConsoleLiveAfterMemoryRestart(t, tab(t, browser), bin) })
	t.Run("read-only token", func(t *testing.T) { testConsoleReadOnly(t, tab(t, browser), guarded.base, poison) })
	t.Run("token prompt", func(t *testing.T) { testConsoleTokenPrompt(t, tab(t, browser), guarded.base) })
}

// testConsoleStreamsAndLive: events appended over HTTP show in the live
// view as they arrive (filtered, held back while paused), in the stream
// list (searchable by aggregate type) and on the stream page, with their
// payload and metadata as text, also as of an earlier version.
func testConsoleStreamsAndLive(t *testing.T, ctx context.Context, base string, restart func(between func()), bin, store string) {
	order, invoice := uuid.NewString(), uuid.NewString()
	do(t, ctx, "open the live view",
		chromedp.Navigate(base+"/ui/#/live"),
		until(textHas("#live-status", "live")))

	// A payload that would be markup if the console parsed data as HTML.
	const hostile = `<img src=x id=injected onerror=alert(1)>`
	appendEvents(t, base, "", order, `{"aggregate_type":"Order","events":[{"name":"OrderPlaced",
		"data":{"order":"o-42","note":`+jsString(hostile)+`},"metadata":{"actor":"alice"}}]}`)
	do(t, ctx, "see the event arrive live",
		until(`document.querySelector('#live-events li[data-name="OrderPlaced"]')`),
		until(textHas("#live-events", "o-42")))
	if eval[bool](t, ctx, `!!document.getElementById('injected')`) {
		t.Fatal("the payload's markup became an element")
	}
	if !eval[bool](t, ctx, textHas("#live-events", hostile)) {
		t.Error("the payload's markup is not shown as text")
	}

	do(t, ctx, "filter by event name",
		chromedp.SendKeys(chromedp.CSS(`#live-filters input[name="event_name"]`), "InvoiceSent"),
		chromedp.Click(chromedp.CSS(`#live-filters button[type="submit"]`)),
		until(`!document.querySelector('#live-events li[data-name="OrderPlaced"]')`))
	appendEvents(t, base, "", invoice, `{"aggregate_type":"Invoice","events":[{"name":"InvoiceSent","data":{"invoice":"i-1"}}]}`)
	do(t, ctx, "see the matching event",
		until(textHas("#live-events", "i-1")))

	do(t, ctx, "pause", chromedp.Click(chromedp.CSS("#live-pause")), until(textHas("#live-pause", "Resume")))
	appendEvents(t, base, "", invoice, `{"events":[{"name":"InvoiceSent","data":{"invoice":"i-2"}}]}`)
	do(t, ctx, "the event is held while paused", until(textHas("#live-pending", "1 new event held")))
	if eval[bool](t, ctx, textHas("#live-events", "i-2")) {
		t.Fatal("an event appended while paused is shown")
	}
	// Held events outlive the view: leave Live while paused, append while
	// away, come back still paused with both held.
	do(t, ctx, "leave Live while paused",
		chromedp.Navigate(base+"/ui/#/streams"),
		until(textHas("main h1", "Streams")))
	appendEvents(t, base, "", invoice, `{"events":[{"name":"InvoiceSent","data":{"invoice":"i-2b"}}]}`)
	do(t, ctx, "come back: still paused, both held",
		chromedp.Navigate(base+"/ui/#/live"),
		until(textHas("#live-pause", "Resume")),
		until(textHas("#live-pending", "2 new events held")))
	if eval[bool](t, ctx, textHas("#live-events", "i-2")) {
		t.Fatal("an event appended while paused is shown")
	}
	do(t, ctx, "resume shows them",
		chromedp.Click(chromedp.CSS("#live-pause")),
		until(textHas("#live-events", "i-2b")),
		until(textHas("#live-events", `"invoice": "i-2"`)))
	if n := eval[int](t, ctx, `document.querySelectorAll('#live-events > li').length`); n != 3 {
		t.Errorf("%d events shown, want the 3 InvoiceSent", n)
	}
	shot(t, ctx, "console-live", false)

	// Cut the feed: stop the server, append while the console is away,
	// start it again. The console reconnects with Last-Event-ID and gets
	// the event it missed (a feed opened afresh starts at "now").
	restart(func() {
		do(t, ctx, "see the feed drop", until(textHas("#live-status", "reconnecting")))
		out, err := exec.Command(bin, "append", invoice, "--store", store, "--name", "InvoiceSent", "--data", `{"invoice":"i-3"}`).CombinedOutput()
		if err != nil {
			t.Fatalf("append to the store directly: %v\n%s", err, out)
		}
	})
	do(t, ctx, "the feed resumes where it was",
		until(textHas("#live-events", "i-3")),
		until(textHas("#live-status", "live")))

	do(t, ctx, "list the streams",
		chromedp.Navigate(base+"/ui/#/streams"),
		until(textHas("#streams-table", order)),
		until(textHas("#streams-table", invoice)))
	do(t, ctx, "search by aggregate type",
		chromedp.SendKeys(chromedp.CSS(`#filter-type input`), "Order"),
		chromedp.Click(chromedp.CSS(`#filter-type button[type="submit"]`)),
		until(`location.hash.includes('aggregate_type=Order') && !`+textHas("#streams-table", invoice)),
		until(textHas("#streams-table", order)))
	shot(t, ctx, "console-streams", false)

	// Paging with the API's cursors, two streams a page: every stream once.
	fillers := make([]string, 3)
	for i := range fillers {
		fillers[i] = uuid.NewString()
		appendEvents(t, base, "", fillers[i], `{"aggregate_type":"Filler","events":[{"name":"Filled"}]}`)
	}
	// The listing is a projection: wait until it shows the fillers.
	listed(t, base, fillers...)
	ids := eval[[]string](t, ctx, `fetch('/v1/streams?limit=1000').then((r) => r.json()).then((b) => b.streams.map((s) => s._id))`)
	if len(ids) < 5 {
		t.Fatalf("%d streams, want at least 5 to page through", len(ids))
	}
	do(t, ctx, "first page", chromedp.Navigate(base+"/ui/#/streams?limit=2"),
		until(`document.querySelectorAll('#streams-table tbody tr').length === 2 && !!document.querySelector('#next-page')`))
	var seen []string
	for page := 0; ; page++ {
		got := eval[[]string](t, ctx, `[...document.querySelectorAll('#streams-table tbody tr td:first-child')].map((td) => td.textContent)`)
		seen = append(seen, got...)
		if !eval[bool](t, ctx, `!!document.querySelector('#next-page')`) {
			break
		}
		if page > len(ids) {
			t.Fatal("the pages do not end")
		}
		first := got[0]
		do(t, ctx, "next page", chromedp.Click(chromedp.CSS("#next-page")),
			until(`(document.querySelector('#streams-table tbody td')?.textContent ?? `+jsString(first)+`) !== `+jsString(first)))
	}
	if strings.Join(seen, ",") != strings.Join(ids, ",") {
		t.Errorf("paging showed %q, want %q", seen, ids)
	}
	do(t, ctx, "previous page", chromedp.Click(chromedp.CSS("#previous-page")),
		until(`!!document.querySelector('#next-page')`))

	do(t, ctx, "open a stream by id",
		chromedp.Navigate(base+"/ui/#/streams"),
		chromedp.SendKeys(chromedp.CSS(`#open-stream input`), "not-an-id"),
		chromedp.Click(chromedp.CSS(`#open-stream button[type="submit"]`)),
		until(textHas("main .error", "UUID")),
		chromedp.SetValue(chromedp.CSS(`#open-stream input`), invoice),
		chromedp.Click(chromedp.CSS(`#open-stream button[type="submit"]`)),
		until(textHas("#stream-id", invoice)),
		until(textHas("#events", "i-3")))
	do(t, ctx, "back to the list", chromedp.Navigate(base+"/ui/#/streams?aggregate_type=Order"), until(textHas("#streams-table", order)))

	appendEvents(t, base, "", order, `{"events":[{"name":"OrderShipped","data":{"carrier":"post"},"metadata":{"actor":"bob"}}]}`)
	do(t, ctx, "open the stream",
		chromedp.Click(chromedp.CSS(`#streams-table a[href="#/streams/`+order+`"]`)),
		until(`document.querySelectorAll('#events details.event').length === 2`),
		until(textHas(`#events details[data-version="1"] .payload`, `"order": "o-42"`)),
		until(textHas(`#events details[data-version="1"] .metadata`, `"actor": "alice"`)),
		until(textHas(`#events details[data-version="2"]`, "OrderShipped")))
	shot(t, ctx, "console-stream", true)
	first := eval[string](t, ctx, `document.querySelector('#events details[data-version="1"]').querySelector('dd:nth-of-type(2)').textContent`)
	do(t, ctx, "as of the first event's time",
		chromedp.Navigate(base+"/ui/#/streams/"+order+"?as_of="+first),
		until(textHas("main .meta", "as of")),
		until(`document.querySelectorAll('#events details.event').length === 1`),
		until(textHas(`#events details[data-version="1"]`, "OrderPlaced")))
	do(t, ctx, "back to the latest",
		chromedp.Navigate(base+"/ui/#/streams/"+order),
		until(`document.querySelectorAll('#events details.event').length === 2`))
	do(t, ctx, "as of version 1",
		chromedp.SendKeys(chromedp.CSS(`#as-of input[name="to_version"]`), "1"),
		chromedp.Click(chromedp.CSS(`#as-of button[type="submit"]`)),
		until(textHas("main", "as of version 1")),
		until(`document.querySelectorAll('#events details.event').length === 1`),
		until(textHas("#stream-version", "1")))
}

// testConsoleLiveAfterMemoryRestart: a server restarted on a memory:
// store does not know the event ids it gave out before (400 on
// Last-Event-ID); the live view starts from now, says events may have
// been missed, and shows the next event. Pausing holds at most as many
// events as the view shows, and says how many more there were.
func testConsoleLiveAfterMemoryRestart(t *testing.T, ctx context.Context, bin string) {
	srv := startServe(t, bin, "--store", "memory:")
	do(t, ctx, "open the live view",
		chromedp.Navigate(srv.base+"/ui/#/live"),
		until(textHas("#live-status", "live")))
	appendEvents(t, srv.base, "", uuid.NewString(), `{"events":[{"name":"BeforeRestart"}]}`)
	do(t, ctx, "see the event", until(`document.querySelector('#live-events li[data-name="BeforeRestart"]')`))

	if err := srv.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	_ = srv.cmd.Wait()
	do(t, ctx, "see the feed drop", until(textHas("#live-status", "reconnecting")))
	again := startServe(t, bin, "--store", "memory:", "--addr", strings.TrimPrefix(srv.base, "http://"))
	if again.base != srv.base {
		t.Fatalf("restarted on %s, want %s", again.base, srv.base)
	}
	do(t, ctx, "the feed starts again from now",
		until(textHas("#live-status", "live")),
		until(textHas("#live-notice", "may have been missed")))
	appendEvents(t, srv.base, "", uuid.NewString(), `{"events":[{"name":"AfterRestart"}]}`)
	do(t, ctx, "see the next event", until(`document.querySelector('#live-events li[data-name="AfterRestart"]')`))

	do(t, ctx, "pause", chromedp.Click(chromedp.CSS("#live-pause")), until(textHas("#live-pause", "Resume")))
	const many = 205 // the view shows 200
	var events []string
	for i := range many {
		events = append(events, fmt.Sprintf(`{"name":"Burst","data":{"i":%d}}`, i))
	}
	appendEvents(t, srv.base, "", uuid.NewString(), `{"events":[`+strings.Join(events, ",")+`]}`)
	do(t, ctx, "all are counted while paused",
		until(textHas("#live-pending", fmt.Sprintf("%d new events held", many))),
		until(textHas("#live-pending", "newest 200")))
	do(t, ctx, "resume shows the newest and says how many more",
		chromedp.Click(chromedp.CSS("#live-pause")),
		until(textHas("#live-notice", "5 more events arrived while paused")),
		until(`document.querySelectorAll('#live-events > li').length === 200`),
		until(`JSON.parse(document.querySelector('#live-events > li:first-child .payload')?.textContent ?? '{}').i === `+fmt.Sprint(many-1)))
}

// testConsoleUnderPrefix: with the server's handler mounted under a
// prefix (http.StripPrefix, here in front of a proxy to annals serve),
// the console calls the API under that prefix too.
func testConsoleUnderPrefix(t *testing.T, ctx context.Context, base string) {
	target, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httptest.NewServer(http.StripPrefix("/annals", httputil.NewSingleHostReverseProxy(target)))
	t.Cleanup(proxy.Close)
	stream := uuid.NewString()
	appendEvents(t, base, "", stream, `{"aggregate_type":"Prefixed","events":[{"name":"Listed"}]}`)
	do(t, ctx, "streams",
		chromedp.Navigate(proxy.URL+"/annals/ui/#/streams?aggregate_type=Prefixed"),
		until(textHas("#streams-table", stream)))
	do(t, ctx, "live",
		chromedp.Navigate(proxy.URL+"/annals/ui/#/live"),
		until(textHas("#live-status", "live")))
	appendEvents(t, base, "", stream, `{"events":[{"name":"Prefixed"}]}`)
	do(t, ctx, "see the event", until(`document.querySelector('#live-events li[data-name="Prefixed"]')`))
	do(t, ctx, "health",
		chromedp.Navigate(proxy.URL+"/annals/ui/#/health"),
		until(textHas("#ready-status", "ready")),
		until(`document.querySelector('.chart polyline')?.points.numberOfItems >= 1`))
}

// testConsoleRetry: a projection that fails shows the failing event and
// the error; after the cause is gone, Retry puts it back live.
func testConsoleRetry(t *testing.T, ctx context.Context, base, poison string) {
	if err := os.WriteFile(poison, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	appendEvents(t, base, "", uuid.NewString(), `{"events":[{"name":"Poison","data":{"dose":1}}]}`)
	card := `article[data-name="test_poison"]`
	do(t, ctx, "see the failure",
		chromedp.Navigate(base+"/ui/#/projections"),
		until(textHas(card+" .badge.state", "failed")),
		until(textHas(card+" .failed-event", "Poison")),
		until(textHas(card+" .failure-error", "poisoned")))
	shot(t, ctx, "console-projection-failed", false)
	do(t, ctx, "narrow window",
		chromedp.EmulateViewport(420, 900),
		until(textHas(card+" .badge.state", "failed")))
	shot(t, ctx, "console-projections-narrow", true)
	do(t, ctx, "wide again", chromedp.EmulateViewport(1280, 900))

	// Retrying with the cause still there fails again, at a later time.
	failedAt := eval[string](t, ctx, `document.querySelector('`+card+` .failure time').getAttribute('datetime')`)
	do(t, ctx, "retry too early",
		chromedp.Click(chromedp.CSS(card+" button.retry")),
		until(textHas("#projections-message", "Retrying test_poison")),
		until(`(document.querySelector('`+card+` .failure time')?.getAttribute('datetime') ?? `+jsString(failedAt)+`) !== `+jsString(failedAt)),
		until(textHas(card+" .badge.state", "failed")))
	if err := os.Remove(poison); err != nil {
		t.Fatal(err)
	}
	do(t, ctx, "retry",
		chromedp.Click(chromedp.CSS(card+" button.retry")),
		until(textHas(card+" .badge.state", "live")),
		until(`!document.querySelector('`+card+` .failure')`))
	status, body := request(t, http.MethodGet, base+"/readyz", "", "")
	if status != http.StatusOK {
		t.Errorf("readyz after the retry: %d %s", status, body)
	}

	// A blue/green build fails on the same event while the serving
	// generation stays live: the card shows the build's failure and
	// offers Retry, and the page stops polling fast.
	if err := os.WriteFile(poison, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	gen := eval[string](t, ctx, `document.querySelector('`+card+` .generation').textContent`)
	do(t, ctx, "rebuild into a failure",
		chromedp.Click(chromedp.CSS(card+" button.rebuild")),
		until(textHas(card+" .build-failure .failed-event", "Poison")),
		until(textHas(card+" .build-failure .failure-error", "poisoned")),
		until(`document.querySelector('`+card+` button.retry')?.disabled === false`))
	if !eval[bool](t, ctx, textHas(card+" .badge.state", "live")) {
		t.Error("the serving projection is not shown live beside its failed build")
	}
	shot(t, ctx, "console-rebuild-failed", false)
	// Two page refreshes in a row are one request apart: no fast polling.
	const projectionFetches = `performance.getEntriesByType('resource').filter((e) => new URL(e.name).pathname === '/v1/projections').length`
	updated := func() string { return eval[string](t, ctx, `document.querySelector('main h1 .muted').textContent`) }
	u := updated()
	do(t, ctx, "a refresh", until(`document.querySelector('main h1 .muted').textContent !== `+jsString(u)))
	fetched, u := eval[int](t, ctx, projectionFetches), updated()
	do(t, ctx, "the next refresh", until(`document.querySelector('main h1 .muted').textContent !== `+jsString(u)))
	if n := eval[int](t, ctx, projectionFetches) - fetched; n != 1 {
		t.Errorf("%d requests for one refresh with the build failed, want 1 (no fast polling)", n)
	}
	if err := os.Remove(poison); err != nil {
		t.Fatal(err)
	}
	do(t, ctx, "retry the build",
		chromedp.Click(chromedp.CSS(card+" button.retry")),
		until(textHas(card+" .progress", "Rebuild complete")),
		until(`document.querySelector('`+card+` .generation').textContent !== `+jsString(gen)),
		until(`!document.querySelector('`+card+` .build-failure') && !document.querySelector('`+card+` button.retry')`))
}

// testConsoleRebuild: Rebuild starts a blue/green build whose progress bar
// reaches completion, and the projection serves the next generation.
func testConsoleRebuild(t *testing.T, ctx context.Context, base string) {
	var events []string
	for i := range 400 {
		events = append(events, fmt.Sprintf(`{"name":"Ticked","data":{"i":%d}}`, i))
	}
	appendEvents(t, base, "", uuid.NewString(), `{"aggregate_type":"Clock","events":[`+strings.Join(events, ",")+`]}`)
	card := `article[data-name="event_counts"]`
	do(t, ctx, "open the projections",
		chromedp.Navigate(base+"/ui/#/projections"),
		until(textHas(card+" .badge.state", "live")),
		until(`document.querySelector('`+card+` .behind')?.textContent === "0"`))
	gen := eval[string](t, ctx, `document.querySelector('`+card+` .generation').textContent`)
	// By keyboard: the focused button keeps the focus across the page's
	// refreshes, and Enter presses it.
	updated := eval[string](t, ctx, `document.querySelector('main h1 .muted').textContent`)
	do(t, ctx, "focus Rebuild",
		chromedp.Focus(chromedp.CSS(card+" button.rebuild")),
		until(`document.querySelector('main h1 .muted').textContent !== `+jsString(updated)))
	if got := eval[string](t, ctx, `document.activeElement?.dataset?.focus ?? ''`); got != "event_counts:rebuild" {
		t.Fatalf("after a refresh the focus is on %q, want event_counts:rebuild", got)
	}
	do(t, ctx, "rebuild",
		chromedp.KeyEvent(kb.Enter),
		until(`document.querySelector('#progress-event_counts')`),
		until(`document.querySelector('#progress-event_counts[data-done="true"]')?.value === 1`),
		until(`document.querySelector('`+card+` .generation').textContent !== `+jsString(gen)),
		until(textHas(card+" .progress", "Rebuild complete")))
	shot(t, ctx, "console-rebuild", false)
	do(t, ctx, "browse the rebuilt read model",
		chromedp.Click(chromedp.CSS(card+` a[href$="/documents"]`)),
		chromedp.SendKeys(chromedp.CSS(`#documents-form input[name="sort"]`), "-count"),
		chromedp.Click(chromedp.CSS(`#documents-form button[type="submit"]`)),
		until(textHas("#documents li:first-child", `"_id": "Ticked"`)),
		until(textHas("#documents li:first-child", `"count": 400`)),
		until(`document.querySelectorAll('#documents li').length > 1`))
	do(t, ctx, "filter the documents",
		chromedp.Click(chromedp.CSS(`#documents-form button[type="button"]`)),
		chromedp.SendKeys(chromedp.CSS(`#documents-form .filter-row input[name="field"]`), "count"),
		chromedp.SetValue(chromedp.CSS(`#documents-form .filter-row select[name="op"]`), "gte"),
		chromedp.SendKeys(chromedp.CSS(`#documents-form .filter-row input[name="value"]`), "400"),
		chromedp.Click(chromedp.CSS(`#documents-form button[type="submit"]`)),
		until(`location.hash.includes('count%5Bgte%5D=400')`),
		until(`document.querySelectorAll('#documents li').length === 1`),
		until(textHas("#documents li", `"_id": "Ticked"`)))
	shot(t, ctx, "console-documents", false)
}

// signIn types a token into the console's form.
func signIn(t *testing.T, ctx context.Context, token string) {
	t.Helper()
	do(t, ctx, "sign in",
		until(`document.querySelector('#token-input')`),
		chromedp.SendKeys(chromedp.CSS("#token-input"), token),
		chromedp.Click(chromedp.CSS(`#token-form button[type="submit"]`)))
}

// testConsoleReadOnly: a read-only token sees a failed projection with
// Retry and Rebuild disabled, and the server refuses forced requests with
// 403; a read-write token gets them enabled, and its Retry works.
func testConsoleReadOnly(t *testing.T, ctx context.Context, base, poison string) {
	if err := os.WriteFile(poison, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Remove(poison) })
	appendEvents(t, base, "rw-secret-token", uuid.NewString(), `{"events":[{"name":"Poison"}]}`)
	card := `article[data-name="test_poison"]`
	do(t, ctx, "open", chromedp.Navigate(base+"/ui/#/projections"))
	signIn(t, ctx, "ro-secret-token")
	do(t, ctx, "see the projections read-only",
		until(textHas("#access", "read-only")),
		until(`document.querySelectorAll('#projections article').length === 3`),
		until(textHas(card+" .badge.state", "failed")),
		until(`document.querySelector('`+card+` button.retry')?.disabled`),
		until(`[...document.querySelectorAll('#projections button.rebuild')].every((b) => b.disabled)`),
		until(`document.querySelector('#read-only-note')`))
	shot(t, ctx, "console-read-only", false)
	for _, action := range []string{"streams/rebuild", "test_poison/retry"} {
		forced := eval[int](t, ctx, `fetch('/v1/projections/`+action+`', {method: 'POST',
			headers: {Authorization: 'Bearer ' + sessionStorage.getItem('annals.token')}}).then((r) => r.status)`)
		if forced != http.StatusForbidden {
			t.Errorf("POST %s forced with the read-only token: status %d, want 403", action, forced)
		}
	}
	do(t, ctx, "sign out and in with a read-write token",
		chromedp.Click(chromedp.CSS("#signout")),
		until(`document.querySelector('#token-form')`))
	signIn(t, ctx, "rw-secret-token")
	do(t, ctx, "Retry and Rebuild are offered",
		chromedp.Navigate(base+"/ui/#/projections"),
		until(textHas("#access", "read-write")),
		until(`document.querySelectorAll('#projections button.rebuild').length === 3`),
		until(`[...document.querySelectorAll('#projections button.rebuild')].every((b) => !b.disabled)`),
		until(`document.querySelector('`+card+` button.retry')?.disabled === false`))
	if err := os.Remove(poison); err != nil {
		t.Fatal(err)
	}
	do(t, ctx, "retry",
		chromedp.Click(chromedp.CSS(card+" button.retry")),
		until(textHas(card+" .badge.state", "live")))
}

// testConsoleTokenPrompt: with tokens configured the console asks for one
// before showing anything, says when a token is refused, keeps the token
// out of the URL, and works once given a good one.
func testConsoleTokenPrompt(t *testing.T, ctx context.Context, base string) {
	do(t, ctx, "open without a token",
		chromedp.Navigate(base+"/ui/#/streams"),
		until(`document.querySelector('#token-form')`))
	if eval[bool](t, ctx, `!!document.querySelector('#token-error') || !!document.querySelector('#streams-table')`) {
		t.Error("the first prompt shows an error or data")
	}
	signIn(t, ctx, "not-the-token")
	do(t, ctx, "the bad token is refused",
		until(textHas("#token-error", "refused")),
		until(`document.querySelector('#token-form')`))
	if got := eval[string](t, ctx, `sessionStorage.getItem('annals.token') ?? ''`); got != "" {
		t.Errorf("a refused token stays stored: %q", got)
	}
	shot(t, ctx, "console-token-refused", false)
	do(t, ctx, "clear the field", chromedp.Clear(chromedp.CSS("#token-input")))
	signIn(t, ctx, "rw-secret-token")
	do(t, ctx, "the console opens",
		until(`!document.querySelector('#token-form')`),
		until(textHas("main h1", "Streams")),
		until(textHas("#access", "read-write")))
	if u := eval[string](t, ctx, `location.href`); strings.Contains(u, "secret") {
		t.Errorf("the token is in the URL: %s", u)
	}
	// Routes naming an inherited property of a plain object, or not valid
	// percent-encoding, are pages that do not exist (and throw nothing:
	// the tab fails the test on an uncaught exception).
	for _, hash := range []string{"#/constructor", "#/__proto__", "#/toString/x", "#/%E0%A4"} {
		do(t, ctx, "open "+hash,
			chromedp.Navigate(base+"/ui/#/streams"),
			until(textHas("main h1", "Streams")),
			chromedp.Navigate(base+"/ui/"+hash),
			until(textHas("#not-found", "Not found")))
	}
	// The charts sample /metrics every 2 s while Health is shown, and
	// only then: the sample after the first sees the appends made after it.
	const metricsFetches = `performance.getEntriesByType('resource').filter((e) => new URL(e.name).pathname.endsWith('/metrics')).length`
	if n := eval[int](t, ctx, metricsFetches); n != 0 {
		t.Errorf("%d /metrics requests before Health was shown, want 0", n)
	}
	do(t, ctx, "health",
		chromedp.Navigate(base+"/ui/#/health"),
		until(textHas("#info-engine", "file")),
		until(textHas("#info-store", "guarded.db")),
		until(textHas("#ready-status", "ready")),
		until(`document.querySelector('.chart polyline')?.points.numberOfItems >= 1`))
	for range 3 {
		appendEvents(t, base, "rw-secret-token", uuid.NewString(), `{"events":[{"name":"Pinged"}]}`)
	}
	do(t, ctx, "see the appends charted",
		until(`document.querySelector('.chart polyline')?.points.numberOfItems >= 2`),
		until(`!(document.querySelector('.chart figcaption .small')?.textContent ?? '').endsWith(' 0.0')`))
	shot(t, ctx, "console-health", false)

	// Away from Health the sampling stops (two projection refreshes, 2 s
	// apart, pass without a /metrics request); back on it the charts
	// still show the samples taken before.
	points := eval[int](t, ctx, `document.querySelector('.chart polyline').points.numberOfItems`)
	do(t, ctx, "leave Health",
		chromedp.Navigate(base+"/ui/#/projections"),
		until(`document.querySelector('main h1 .muted')?.textContent`))
	fetched := eval[int](t, ctx, metricsFetches)
	updated := eval[string](t, ctx, `document.querySelector('main h1 .muted').textContent`)
	do(t, ctx, "wait for the next refresh",
		until(`document.querySelector('main h1 .muted').textContent !== `+jsString(updated)))
	if n := eval[int](t, ctx, metricsFetches); n != fetched {
		t.Errorf("%d /metrics requests while Projections was shown, want none", n-fetched)
	}
	do(t, ctx, "back to Health",
		chromedp.Navigate(base+"/ui/#/health"),
		until(textHas("#info-engine", "file")))
	if n := eval[int](t, ctx, `document.querySelector('.chart polyline').points.numberOfItems`); n < points {
		t.Errorf("back on Health the chart has %d points, want the %d from before", n, points)
	}
}

// TestServeConsoleFlag: serve runs the console by default, with its
// security headers, and --ui=false (or ANNALS_UI=false) turns it off.
func TestServeConsoleFlag(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	for _, c := range []struct {
		name string
		env  string
		args []string
		want int
	}{
		{"by default", "", nil, http.StatusOK},
		{"--ui=false", "", []string{"--ui=false"}, http.StatusNotFound},
		{"ANNALS_UI=false", "false", nil, http.StatusNotFound},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("ANNALS_UI", c.env)
			p := startServe(t, bin, append([]string{"--store", "memory:"}, c.args...)...)
			res, err := http.Get(p.base + "/ui/")
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != c.want {
				t.Fatalf("GET /ui/: status %d, want %d", res.StatusCode, c.want)
			}
			if c.want == http.StatusOK && !strings.Contains(res.Header.Get("Content-Security-Policy"), "default-src 'self'") {
				t.Errorf("Content-Security-Policy %q", res.Header.Get("Content-Security-Policy"))
			}
		})
	}
}
