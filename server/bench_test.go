package server_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/annalsdb/annals/mongostore"
	"github.com/annalsdb/annals/projections"
	"github.com/annalsdb/annals/server"
	"github.com/google/uuid"
)

// The HTTP benchmarks run the same work through the API over loopback TCP
// (impl=http) and by calling the store directly (impl=store), at several
// concurrencies, so that benchstat -col /impl gives the HTTP layer's
// overhead. Each sub-benchmark gets a fresh embedded engine.

var benchConcurrency = []int{1, 8, 32}

type benchEnv struct {
	store *mongostore.Store
	base  string
}

func newBenchEnv(b *testing.B) *benchEnv {
	b.Helper()
	ctx := context.Background()
	store, err := mongostore.Open(ctx, "memory:")
	if err != nil {
		b.Fatal(err)
	}
	runner := projections.NewRunner(store) // no projections: measure the API, not read-model upkeep
	api, err := server.New(store, runner, server.Options{})
	if err != nil {
		b.Fatal(err)
	}
	ts := httptest.NewServer(api)
	b.Cleanup(func() {
		ts.Close()
		store.Close(ctx)
	})
	return &benchEnv{store: store, base: ts.URL}
}

// parallel splits b.N operations over n goroutines, each with its own
// stream.
func benchParallel(b *testing.B, n int, op func(worker int, stream uuid.UUID, i int) error) {
	var wg sync.WaitGroup
	per := b.N / n
	extra := b.N % n
	b.ResetTimer()
	for w := range n {
		count := per
		if w < extra {
			count++
		}
		stream := uuid.New()
		wg.Go(func() {
			for i := range count {
				if err := op(w, stream, i); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

var benchClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

func BenchmarkHTTPAppend(b *testing.B) {
	for _, conc := range benchConcurrency {
		b.Run(fmt.Sprintf("conc=%d/impl=store", conc), func(b *testing.B) {
			env := newBenchEnv(b)
			benchParallel(b, conc, func(_ int, stream uuid.UUID, i int) error {
				_, err := env.store.Append(context.Background(), stream, mongostore.Exact(int64(i)),
					mongostore.EventData{Name: "Incremented", Data: map[string]any{"by": 1}})
				return err
			})
		})
		b.Run(fmt.Sprintf("conc=%d/impl=http", conc), func(b *testing.B) {
			env := newBenchEnv(b)
			benchParallel(b, conc, func(_ int, stream uuid.UUID, i int) error {
				body := fmt.Sprintf(`{"expected_version":%d,"events":[{"name":"Incremented","data":{"by":1}}]}`, i)
				resp, err := benchClient.Post(env.base+"/v1/streams/"+stream.String()+"/events", "application/json", strings.NewReader(body))
				if err != nil {
					return err
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusCreated {
					return fmt.Errorf("status %d", resp.StatusCode)
				}
				return nil
			})
		})
	}
}

func BenchmarkHTTPRead(b *testing.B) {
	const events = 20
	benchSeed := func(b *testing.B, env *benchEnv, n int) []uuid.UUID {
		streams := make([]uuid.UUID, n)
		batch := make([]mongostore.EventData, events)
		for i := range batch {
			batch[i] = mongostore.EventData{Name: "Incremented", Data: map[string]any{"by": i}}
		}
		for i := range streams {
			streams[i] = uuid.New()
			if _, err := env.store.Append(context.Background(), streams[i], mongostore.NoStream, batch...); err != nil {
				b.Fatal(err)
			}
		}
		return streams
	}
	for _, conc := range benchConcurrency {
		b.Run(fmt.Sprintf("conc=%d/impl=store", conc), func(b *testing.B) {
			env := newBenchEnv(b)
			streams := benchSeed(b, env, conc)
			benchParallel(b, conc, func(w int, _ uuid.UUID, _ int) error {
				_, err := env.store.Load(context.Background(), streams[w])
				return err
			})
		})
		b.Run(fmt.Sprintf("conc=%d/impl=http", conc), func(b *testing.B) {
			env := newBenchEnv(b)
			streams := benchSeed(b, env, conc)
			benchParallel(b, conc, func(w int, _ uuid.UUID, _ int) error {
				resp, err := benchClient.Get(env.base + "/v1/streams/" + streams[w].String() + "/events")
				if err != nil {
					return err
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					return fmt.Errorf("status %d", resp.StatusCode)
				}
				return nil
			})
		})
	}
}
