package subscriptions

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/annalsdb/annals/mongostore"
)

// BenchmarkDelivery appends b.N one-event appends (to 16 streams) while
// consumers of one subscription fetch and acknowledge them, or a webhook
// receives them, and reports delivery throughput and the latency from the
// append's return to the consumer's receipt (p50, p99).
//
//	go test -run '^$' -bench Delivery -benchtime 2000x ./subscriptions/
func BenchmarkDelivery(b *testing.B) {
	for _, uri := range []string{"memory:", "file:"} {
		for _, mode := range []string{"consumers=1", "consumers=4", "webhook"} {
			b.Run(fmt.Sprintf("engine=%s/%s", uri[:len(uri)-1], mode), func(b *testing.B) { benchDelivery(b, uri, mode) })
		}
	}
}

func benchDelivery(b *testing.B, uri, mode string) {
	ctx := context.Background()
	if uri == "file:" {
		uri += b.TempDir() + "/annals.db"
	}
	store, err := mongostore.Open(ctx, uri)
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close(ctx)
	svc := New(store)
	svc.Poll = 5 * time.Millisecond
	svc.AllowPrivateWebhooks = true
	var mu sync.Mutex
	appended := map[uuid.UUID]time.Time{}
	var latencies []time.Duration
	received := make(chan struct{}, b.N)
	receive := func(id uuid.UUID) {
		now := time.Now()
		mu.Lock()
		if at, ok := appended[id]; ok {
			latencies = append(latencies, now.Sub(at))
			delete(appended, id)
			received <- struct{}{}
		}
		mu.Unlock()
	}
	sub := Subscription{Name: "bench", Settings: Settings{BatchSize: 100}}
	if mode == "webhook" {
		receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			if id, err := uuid.Parse(r.Header.Get("webhook-id")); err == nil {
				receive(id)
			}
		}))
		defer receiver.Close()
		sub.Webhook = &Webhook{URL: receiver.URL}
	}
	if _, err := svc.Create(ctx, sub); err != nil {
		b.Fatal(err)
	}
	rctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = svc.Run(rctx) }()
	consumers := 0
	fmt.Sscanf(mode, "consumers=%d", &consumers)
	for c := range consumers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprintf("c%d", c)
			for rctx.Err() == nil {
				got, err := svc.Fetch(rctx, "bench", name, 0, time.Second)
				if err != nil || len(got) == 0 {
					continue
				}
				for _, d := range got {
					receive(d.Event.ID)
				}
				_ = svc.Ack(rctx, "bench", name, ids(got)...)
			}
		}()
	}
	streams := make([]uuid.UUID, 16)
	for i := range streams {
		streams[i] = uuid.New()
	}
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		id := uuid.New()
		mu.Lock()
		appended[id] = time.Time{}
		mu.Unlock()
		if _, err := store.Append(ctx, streams[i%len(streams)], mongostore.Any, mongostore.EventData{ID: id, Name: "E", Data: map[string]any{"i": i}}); err != nil {
			b.Fatal(err)
		}
		mu.Lock()
		appended[id] = time.Now()
		mu.Unlock()
	}
	for range b.N {
		select {
		case <-received:
		case <-time.After(time.Minute):
			b.Fatalf("received %d of %d", len(latencies), b.N)
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	stop()
	wg.Wait()
	slices.Sort(latencies)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(latencies[len(latencies)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(latencies[len(latencies)*99/100].Microseconds())/1000, "p99-ms")
}
