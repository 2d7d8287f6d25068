package server_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/annalsdb/annals/mongostore"
	"github.com/annalsdb/annals/projections"
	"github.com/annalsdb/annals/server"
	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/bson"
)

// sseDeadline bounds every wait on the live feed.
const sseDeadline = 10 * time.Second

// sseEvent is one event of a Server-Sent Events stream.
type sseEvent struct {
	id   string
	name string
	data string
}

// feed is an open connection to the live feed, read by a goroutine that
// ends when the connection does.
type feed struct {
	t      testing.TB
	cancel context.CancelFunc
	// ready is closed when the feed's opening comment arrived: the change
	// stream is open, and events appended from then on will be sent.
	ready chan struct{}
	// events delivers the feed's events; it is closed when the reader
	// stops.
	events chan sseEvent
}

// openFeed connects to the live feed with the query and headers given and
// waits until it is ready. The connection is closed when the test ends
// or by close.
func (e *env) openFeed(query string, header map[string]string) *feed {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.http.URL+"/v1/events/live"+query, nil)
	if err != nil {
		cancel()
		e.t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := e.http.Client().Do(req)
	if err != nil {
		cancel()
		e.t.Fatalf("GET /v1/events/live: %v", err)
	}
	if res.StatusCode != http.StatusOK {
		cancel()
		res.Body.Close()
		e.t.Fatalf("GET /v1/events/live: status %d, want 200", res.StatusCode)
	}
	if ct := res.Header.Get("Content-Type"); ct != "text/event-stream" {
		e.t.Errorf("Content-Type: got %q, want text/event-stream", ct)
	}
	if cc := res.Header.Get("Cache-Control"); cc != "no-cache" {
		e.t.Errorf("Cache-Control: got %q, want no-cache", cc)
	}
	f := &feed{t: e.t, cancel: cancel, ready: make(chan struct{}), events: make(chan sseEvent)}
	go func() {
		defer close(f.events)
		defer res.Body.Close()
		sc := bufio.NewScanner(res.Body)
		sc.Buffer(make([]byte, 64<<10), 16<<20)
		var cur sseEvent
		readySeen := false
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if cur.data == "" && cur.id == "" {
					continue
				}
				select {
				case f.events <- cur:
				case <-ctx.Done():
					return
				}
				cur = sseEvent{}
			case strings.HasPrefix(line, ":"):
				if !readySeen && strings.Contains(line, "annals live feed") {
					readySeen = true
					close(f.ready)
				}
			default:
				field, value, _ := strings.Cut(line, ":")
				value = strings.TrimPrefix(value, " ")
				switch field {
				case "id":
					cur.id = value
				case "event":
					cur.name = value
				case "data":
					if cur.data != "" {
						cur.data += "\n"
					}
					cur.data += value
				}
			}
		}
	}()
	e.t.Cleanup(f.close)
	select {
	case <-f.ready:
	case <-time.After(sseDeadline):
		e.t.Fatal("the live feed did not open")
	}
	return f
}

// close disconnects and waits for the reader to stop.
func (f *feed) close() {
	f.cancel()
	for range f.events {
	}
}

// liveEvent is the data of a feed event.
type liveEvent struct {
	ID            string         `json:"id"`
	AggregateUUID string         `json:"aggregate_uuid"`
	Version       int64          `json:"version"`
	Name          string         `json:"name"`
	Data          map[string]any `json:"data"`
}

// next returns the feed's next event, failing after sseDeadline.
func (f *feed) next() (sseEvent, liveEvent) {
	f.t.Helper()
	select {
	case ev, ok := <-f.events:
		if !ok {
			f.t.Fatal("the live feed ended")
		}
		var le liveEvent
		if err := json.Unmarshal([]byte(ev.data), &le); err != nil {
			f.t.Fatalf("event data %q: %v", ev.data, err)
		}
		if ev.name != le.Name {
			f.t.Errorf("SSE event name %q, data names %q", ev.name, le.Name)
		}
		if ev.id == "" {
			f.t.Errorf("event %s has no SSE id", le.ID)
		}
		return ev, le
	case <-time.After(sseDeadline):
		f.t.Fatal("no event from the live feed")
	}
	panic("unreachable")
}

// expect reads len(ids) events and fails unless they are those events, in
// order. It returns their SSE ids.
func (f *feed) expect(ids []string) []string {
	f.t.Helper()
	var sseIDs []string
	for i, want := range ids {
		ev, le := f.next()
		if le.ID != want {
			f.t.Fatalf("event %d: got %s (%s v%d), want %s", i, le.ID, le.Name, le.Version, want)
		}
		sseIDs = append(sseIDs, ev.id)
	}
	return sseIDs
}

// appendN appends n events to stream over HTTP, one request each or all
// in one, and returns their event ids in order.
func (e *env) appendN(stream uuid.UUID, n int, batch bool) []string {
	e.t.Helper()
	var ids []string
	var evs []event
	for i := range n {
		id := uuid.NewString()
		ids = append(ids, id)
		evs = append(evs, event{ID: id, Name: "Ticked", Data: map[string]any{"i": i}})
	}
	if batch {
		e.appendOK(stream, nil, "", evs...)
		return ids
	}
	for _, ev := range evs {
		e.appendOK(stream, nil, "", ev)
	}
	return ids
}

func TestLiveResumesWithoutGaps(t *testing.T) {
	e := newEnv(t, server.Options{})
	a, b := uuid.New(), uuid.New()

	f := e.openFeed("", nil)
	first := append(e.appendN(a, 3, true), e.appendN(b, 2, false)...)
	sseIDs := f.expect(first)
	f.close()

	// Appended while nobody listens.
	missed := append(e.appendN(b, 2, true), e.appendN(a, 3, false)...)

	t.Run("Last-Event-ID header", func(t *testing.T) {
		e := e.with(t)
		f := e.openFeed("", map[string]string{"Last-Event-ID": sseIDs[len(sseIDs)-1]})
		f.expect(missed)
		// Nothing else was between: the next event is one appended now.
		marker := e.appendN(a, 1, false)
		f.expect(marker)
		missed = append(missed, marker...)
		f.close()
	})

	t.Run("last_event_id parameter", func(t *testing.T) {
		e := e.with(t)
		// Resume from the middle of the first batch.
		f := e.openFeed("?last_event_id="+url.QueryEscape(sseIDs[1]), nil)
		f.expect(append(first[2:], missed...))
		marker := e.appendN(b, 1, false)
		f.expect(marker)
	})

	t.Run("parameter wins over header", func(t *testing.T) {
		e := e.with(t)
		f := e.openFeed("?last_event_id="+url.QueryEscape(sseIDs[3]), map[string]string{"Last-Event-ID": sseIDs[0]})
		f.expect(first[4:5])
	})

	t.Run("garbage Last-Event-ID is 400", func(t *testing.T) {
		e := e.with(t)
		for _, id := range []string{"garbage", "!!!", base64.RawURLEncoding.EncodeToString([]byte("not bson at all"))} {
			e.do(request{method: http.MethodGet, path: "/v1/events/live", header: map[string]string{"Last-Event-ID": id}}).
				wantProblem(t, http.StatusBadRequest, "Last-Event-ID")
			e.get("/v1/events/live?last_event_id="+url.QueryEscape(id)).wantProblem(t, http.StatusBadRequest, "Last-Event-ID")
		}
	})

	t.Run("an id the feed never issued is 400", func(t *testing.T) {
		e := e.with(t)
		raw, err := bson.Marshal(bson.D{{Key: "ts", Value: int64(1)}})
		if err != nil {
			t.Fatal(err)
		}
		issued, err := base64.RawURLEncoding.DecodeString(sseIDs[0])
		if err != nil {
			t.Fatal(err)
		}
		edited := append([]byte{}, issued...)
		edited[len(edited)-3] ^= 1
		for _, id := range []string{
			base64.RawURLEncoding.EncodeToString(raw),
			base64.RawURLEncoding.EncodeToString(issued[32:]), // the bare token, without its tag
			base64.RawURLEncoding.EncodeToString(edited),
		} {
			e.do(request{method: http.MethodGet, path: "/v1/events/live", header: map[string]string{"Last-Event-ID": id}}).
				wantProblem(t, http.StatusBadRequest, "not an event id this feed issued")
		}
	})
}

// TestLiveHistoryLostIs410: an id the feed issued whose position has left
// the change log is 410 Gone.
func TestLiveHistoryLostIs410(t *testing.T) {
	ctx := context.Background()
	store, err := mongostore.Open(ctx, "memory:", mongostore.WithEngineOptions(mongostore.EngineOptions{OplogEntries: 5}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close(ctx) })
	srv, err := server.New(store, projections.NewRunner(store), server.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, store: store, srv: srv, http: newHTTPServer(t, srv)}
	stream := uuid.New()
	f := e.openFeed("", nil)
	ids := e.appendN(stream, 1, true)
	from := f.expect(ids)[0]
	f.close()
	e.appendN(stream, 20, false)
	e.do(request{method: http.MethodGet, path: "/v1/events/live", header: map[string]string{"Last-Event-ID": from}}).
		wantProblem(t, http.StatusGone, "no longer holds events")
}

// TestLiveDisconnectMidStream disconnects while the feed is still
// sending a backlog, many times: the handler must return each time (it
// once could wait forever for its reader's error).
func TestLiveDisconnectMidStream(t *testing.T) {
	e := newEnv(t, server.Options{})
	stream := uuid.New()
	f := e.openFeed("", nil)
	ids := e.appendN(stream, 1000, true)
	from := f.expect(ids[:1])[0]
	f.close()

	const rounds = 30
	for i := range rounds {
		f := e.openFeed("?last_event_id="+url.QueryEscape(from), nil)
		f.expect(ids[1:2])
		f.close()
		e.waitLiveHandlers(i + 2)
	}
}

// waitLiveHandlers waits until n live feed requests have ended, as the
// request latency histogram counts them.
func (e *env) waitLiveHandlers(n int) {
	e.t.Helper()
	want := fmt.Sprintf(`annals_http_request_duration_seconds_count{code="200",method="GET",route="/v1/events/live"} %d`, n)
	deadline := time.After(sseDeadline)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		if strings.Contains(string(e.get("/metrics").want(e.t, http.StatusOK).body), want) {
			return
		}
		select {
		case <-deadline:
			e.t.Fatalf("live feed handlers still running: want %d ended", n)
		case <-tick.C:
		}
	}
}
