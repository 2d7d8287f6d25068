package server_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/annalsdb/annals/mongostore"
	"github.com/annalsdb/annals/projections"
	"github.com/annalsdb/annals/server"
	"github.com/annalsdb/annals/subscriptions"
	"github.com/google/uuid"
)

// BenchmarkSubscriptionDelivery appends b.N events over HTTP, each to a
// new stream, while a consumer group of 1 or 4 consumers fetches
// (long-poll, up to 100 a batch) and acks them over HTTP, and an SSE
// client follows /v1/events/live in the same run. It reports, for both,
// events delivered per second (first append to last receipt) and the
// latency from just before an event's append request to its receipt
// (p50, p99). load=burst appends as fast as 4 appenders can;
// load=serial appends one event at a time, the next once both the group
// and the SSE client have it (latency on an idle server; its events/s is
// 1/latency); load=backlog stores b.N events first, then creates the
// subscription and times the group draining them (the feed catching up,
// fetches and acks; no SSE, no latency). poll is the subscriptions service's Poll: how often a
// waiting fetch looks for new events (100ms is the default).
//
//	go test ./server/ -run '^$' -bench SubscriptionDelivery -benchtime 1000x
func BenchmarkSubscriptionDelivery(b *testing.B) {
	for _, load := range []string{"burst", "serial", "backlog"} {
		for _, poll := range []time.Duration{subscriptions.DefaultPoll, 10 * time.Millisecond} {
			for _, consumers := range []int{1, 4, 0} {
				group := fmt.Sprintf("consumers=%d", consumers)
				if consumers == 0 {
					group = "webhook"
				}
				b.Run(fmt.Sprintf("load=%s/poll=%s/%s", load, poll, group), func(b *testing.B) {
					benchDelivery(b, load, poll, consumers)
				})
			}
		}
	}
}

func benchDelivery(b *testing.B, load string, poll time.Duration, consumers int) {
	serial, backlog := load == "serial", load == "backlog"
	ctx, cancel := context.WithCancel(context.Background())
	store, err := mongostore.Open(ctx, "memory:")
	if err != nil {
		b.Fatal(err)
	}
	svc := subscriptions.New(store)
	svc.Poll = poll
	api, err := server.New(store, projections.NewRunner(store), server.Options{Subscriptions: svc})
	if err != nil {
		b.Fatal(err)
	}
	runDone := make(chan error, 1)
	go func() { runDone <- svc.Run(ctx) }()
	ts := httptest.NewServer(api)
	b.Cleanup(func() {
		api.CloseLiveFeeds()
		ts.Close()
		cancel()
		<-runDone
		store.Close(context.Background())
	})
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	post := func(path, body string, out any) error {
		resp, err := client.Post(ts.URL+path, "application/json", strings.NewReader(body))
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			msg, _ := io.ReadAll(resp.Body)
			return fmt.Errorf("POST %s: %d %s", path, resp.StatusCode, msg)
		}
		if out == nil {
			_, err = io.Copy(io.Discard, resp.Body)
			return err
		}
		return json.NewDecoder(resp.Body).Decode(out)
	}
	// With no consumers, the subscription pushes to a webhook instead
	// (created through the Go API: the receiver is on loopback).
	var hook *subscriptions.Webhook
	var onHook atomic.Pointer[func(id string)]
	if consumers == 0 {
		svc.AllowPrivateWebhooks = true
		receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			if f := onHook.Load(); f != nil {
				(*f)(r.Header.Get("webhook-id"))
			}
		}))
		b.Cleanup(receiver.Close)
		hook = &subscriptions.Webhook{URL: receiver.URL}
	}
	create := func() {
		if hook != nil {
			def := subscriptions.Subscription{Name: "bench", Start: subscriptions.StartNow, Webhook: hook}
			if backlog {
				def.Start = subscriptions.StartBeginning
			}
			if _, err := svc.Create(ctx, def); err != nil {
				b.Fatal(err)
			}
			return
		}
		def := `{"name": "bench", "start": {"now": true}}`
		if backlog {
			def = `{"name": "bench"}` // from the beginning
		}
		if err := post("/v1/subscriptions", def, nil); err != nil {
			b.Fatal(err)
		}
	}
	if !backlog {
		create()
	}

	n := b.N
	ids := make([]uuid.UUID, n)
	index := make(map[string]int, n)
	for i := range ids {
		ids[i] = uuid.New()
		index[ids[i].String()] = i
	}
	sent := make([]atomic.Int64, n)
	sub, sse := newReceipts(n), newReceipts(n)
	if backlog {
		for from := 0; from < n; from += 100 {
			var batch []mongostore.StreamAppend
			for i := from; i < min(from+100, n); i++ {
				batch = append(batch, mongostore.StreamAppend{Stream: uuid.New(), Expected: mongostore.NoStream,
					Events: []mongostore.EventData{{ID: ids[i], Name: "Incremented", Data: map[string]any{"i": i}}}})
			}
			if _, err := store.AppendStreams(ctx, batch...); err != nil {
				b.Fatal(err)
			}
		}
		for i := range n {
			sse.got(i) // no SSE client: its feed is live only
		}
	}

	// The SSE client.
	feedCtx, closeFeed := context.WithCancel(ctx)
	defer closeFeed()
	req, _ := http.NewRequestWithContext(feedCtx, http.MethodGet, ts.URL+"/v1/events/live", nil)
	feed, err := client.Do(req)
	if err != nil || feed.StatusCode != http.StatusOK {
		b.Fatalf("live feed: %v %v", err, feed)
	}
	defer feed.Body.Close()
	var wg sync.WaitGroup
	wg.Go(func() {
		sc := bufio.NewScanner(feed.Body)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Bytes()
			if !bytes.HasPrefix(line, []byte("data: ")) {
				continue
			}
			var ev struct {
				ID string `json:"id"`
			}
			if json.Unmarshal(line[6:], &ev) == nil {
				if i, ok := index[ev.ID]; ok && sse.got(i) {
					return
				}
			}
		}
	})

	// The consumers, or the webhook's receiver.
	receive := func(id string) {
		if i, ok := index[id]; ok {
			sub.got(i)
		}
	}
	onHook.Store(&receive)
	startConsumers := func() {
		for c := range consumers {
			wg.Go(func() {
				body := fmt.Sprintf(`{"consumer": "c%d", "max": 100, "wait_ms": 1000}`, c)
				for !sub.complete() {
					var batch struct {
						Deliveries []struct {
							Event struct {
								ID string `json:"id"`
							} `json:"event"`
						} `json:"deliveries"`
					}
					if err := post("/v1/subscriptions/bench/fetch", body, &batch); err != nil {
						if ctx.Err() == nil && !sub.complete() {
							b.Error(err)
						}
						return
					}
					if len(batch.Deliveries) == 0 {
						continue
					}
					acks := make([]string, len(batch.Deliveries))
					for k, d := range batch.Deliveries {
						acks[k] = d.Event.ID
						if i, ok := index[d.Event.ID]; ok {
							sub.got(i)
						}
					}
					ack, _ := json.Marshal(map[string]any{"consumer": fmt.Sprintf("c%d", c), "event_ids": acks})
					if err := post("/v1/subscriptions/bench/ack", string(ack), nil); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
	}
	if !backlog {
		startConsumers()
	}

	b.ResetTimer()
	start := time.Now()
	if backlog {
		for i := range n {
			sent[i].Store(start.UnixNano())
		}
		create()
		startConsumers()
	}
	toAppend := n
	if backlog {
		toAppend = 0
	}
	appenders := 4
	if serial {
		appenders = 1
	}
	var next atomic.Int64
	var pw sync.WaitGroup
	for range appenders {
		pw.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= toAppend {
					return
				}
				sent[i].Store(time.Now().UnixNano())
				body := fmt.Sprintf(`{"events":[{"id":%q,"name":"Incremented","data":{"i":%d}}]}`, ids[i], i)
				if err := post("/v1/streams/"+uuid.NewString()+"/events", body, nil); err != nil {
					b.Error(err)
					return
				}
				if serial {
					<-sub.each[i]
					<-sse.each[i]
				}
			}
		})
	}
	pw.Wait()
	timeout := time.After(5 * time.Minute)
	for _, r := range []*receipts{sub, sse} {
		select {
		case <-r.done:
		case <-timeout:
			b.Fatalf("not every event arrived: subscription %d/%d, SSE %d/%d", sub.count.Load(), n, sse.count.Load(), n)
		}
	}
	b.StopTimer()
	closeFeed()
	api.CloseLiveFeeds() // ends the consumers' waiting fetches
	wg.Wait()
	for name, r := range map[string]*receipts{"sub": sub, "sse": sse} {
		if backlog && name == "sse" {
			continue
		}
		p50, p99, last := r.latencies(sent)
		b.ReportMetric(float64(r.n)/time.Duration(last-start.UnixNano()).Seconds(), name+"_events/s")
		if !backlog {
			b.ReportMetric(p50, name+"_p50_ms")
			b.ReportMetric(p99, name+"_p99_ms")
		}
	}
}

// receipts records when each of n events first arrived.
type receipts struct {
	at    []atomic.Int64
	each  []chan struct{} // closed when event i arrives
	count atomic.Int64
	n     int64
	done  chan struct{}
}

func newReceipts(n int) *receipts {
	r := &receipts{at: make([]atomic.Int64, n), each: make([]chan struct{}, n), n: int64(n), done: make(chan struct{})}
	for i := range r.each {
		r.each[i] = make(chan struct{})
	}
	return r
}

// got records event i and reports whether every event has arrived.
func (r *receipts) got(i int) bool {
	if r.at[i].CompareAndSwap(0, time.Now().UnixNano()) {
		close(r.each[i])
		if r.count.Add(1) == r.n {
			close(r.done)
		}
	}
	return r.complete()
}

func (r *receipts) complete() bool { return r.count.Load() == r.n }

// latencies returns the p50 and p99 latency in milliseconds from sent to
// receipt, and the last receipt's time.
func (r *receipts) latencies(sent []atomic.Int64) (p50, p99 float64, last int64) {
	ms := make([]float64, len(r.at))
	for i := range r.at {
		at := r.at[i].Load()
		last = max(last, at)
		ms[i] = float64(at-sent[i].Load()) / float64(time.Millisecond)
	}
	slices.Sort(ms)
	return ms[len(ms)/2], ms[len(ms)*99/100], last
}
