package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
)

// built is the binary the end-to-end tests share: linking it takes
// seconds, so it is built once per test run, in a directory TestMain
// removes.
var built struct {
	once sync.Once
	dir  string
	bin  string
	err  error
}

// buildBinary compiles annals once for the end-to-end tests.
func buildBinary(t *testing.T) string {
	t.Helper()
	built.once.Do(func() {
		if built.dir, built.err = os.MkdirTemp("", "annals-e2e-"); built.err != nil {
			return
		}
		built.bin = filepath.Join(built.dir, "annals")
		if out, err := exec.Command("go", "build", "-o", built.bin, ".").CombinedOutput(); err != nil {
			built.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.bin
}

// cleanups run when the tests are done (temporary builds).
var cleanups []func()

func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		_ = os.RemoveAll(built.dir)
	}
	for _, c := range cleanups {
		c()
	}
	os.Exit(code)
}

// process is a running `annals serve`.
type process struct {
	cmd  *exec.Cmd
	base string
	logs *bytes.Buffer
}

// startServe starts the binary on a free loopback port and waits until it
// says where it listens. It runs without a drain delay unless args set
// one (the last --drain-delay wins).
func startServe(t *testing.T, bin string, args ...string) *process {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve", "--addr", "127.0.0.1:0", "--log-format", "json", "--drain-delay", "0"}, args...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, logs: &bytes.Buffer{}}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			p.logs.WriteString(line + "\n")
			var rec struct {
				Msg  string `json:"msg"`
				Addr string `json:"addr"`
			}
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "annals listening" {
				found <- rec.Addr
			}
		}
	}()
	select {
	case p.base = <-found:
	case <-time.After(60 * time.Second):
		t.Fatalf("annals serve did not start:\n%s", p.logs)
	}
	return p
}

type ack struct {
	stream  uuid.UUID
	id      uuid.UUID
	version int64
}

// TestServeSurvivesSIGKILL appends over HTTP from several clients, kills
// the server with SIGKILL in the middle of the load, restarts it on the
// same file, and checks that every event acknowledged with 201 is stored
// exactly once and that the read models match the events.
func TestServeSurvivesSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	dir := t.TempDir()
	store := "file:" + filepath.Join(dir, "annals.db")
	p := startServe(t, bin, "--store", store)

	const clients = 6
	var acks sync.Map // event id -> ack
	var acked atomic.Int64
	ctx, stopLoad := context.WithCancel(context.Background())
	defer stopLoad()
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			stream := uuid.New()
			version := int64(0)
			for i := 0; ctx.Err() == nil; i++ {
				id := uuid.New()
				body := fmt.Sprintf(`{"expected_version":%d,"aggregate_type":"Counter","events":[{"id":%q,"name":"Incremented","data":{"client":%d,"i":%d}}]}`,
					version, id, c, i)
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, p.base+"/v1/streams/"+stream.String()+"/events", strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					return // the server is gone
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusCreated {
					t.Errorf("append: status %d", resp.StatusCode)
					return
				}
				version++
				acks.Store(id, ack{stream: stream, id: id, version: version})
				acked.Add(1)
			}
		})
	}
	for acked.Load() < 150 {
		time.Sleep(5 * time.Millisecond) // waiting for load to build up, not synchronising
	}
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Wait()
	stopLoad()
	wg.Wait()
	t.Logf("%d appends acknowledged before SIGKILL", acked.Load())

	p2 := startServe(t, bin, "--store", store)
	byStream := map[uuid.UUID][]ack{}
	acks.Range(func(_, v any) bool {
		a := v.(ack)
		byStream[a.stream] = append(byStream[a.stream], a)
		return true
	})
	for stream, want := range byStream {
		var got struct {
			Version int64 `json:"version"`
			Events  []struct {
				ID      string `json:"id"`
				Version int64  `json:"version"`
			} `json:"events"`
		}
		getJSON(t, p2.base+"/v1/streams/"+stream.String()+"/events", &got)
		ids := map[string]int64{}
		for i, e := range got.Events {
			if e.Version != int64(i+1) {
				t.Fatalf("stream %s: version %d at position %d", stream, e.Version, i)
			}
			if _, dup := ids[e.ID]; dup {
				t.Fatalf("stream %s: event %s stored twice", stream, e.ID)
			}
			ids[e.ID] = e.Version
		}
		for _, a := range want {
			if v, ok := ids[a.id.String()]; !ok || v != a.version {
				t.Errorf("acknowledged event %s (stream %s version %d) missing after restart (found at %d)", a.id, stream, a.version, v)
			}
		}
	}

	// The read models catch up to the events.
	deadline := time.Now().Add(60 * time.Second)
	for {
		var st struct {
			Projections []struct {
				Name   string `json:"name"`
				State  string `json:"state"`
				Behind int64  `json:"behind"`
			} `json:"projections"`
		}
		getJSON(t, p2.base+"/v1/projections", &st)
		live := 0
		for _, pr := range st.Projections {
			if pr.State == "live" && pr.Behind == 0 {
				live++
			}
		}
		if live == len(st.Projections) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("projections did not catch up: %+v", st)
		}
		time.Sleep(20 * time.Millisecond)
	}
	var streams struct {
		Streams []struct {
			ID      string `json:"_id"`
			Version int64  `json:"version"`
			Type    string `json:"aggregate_type"`
		} `json:"streams"`
	}
	getJSON(t, p2.base+"/v1/streams?limit=1000", &streams)
	stored := 0
	for _, s := range streams.Streams {
		var got struct {
			Version int64 `json:"version"`
		}
		getJSON(t, p2.base+"/v1/streams/"+s.ID+"/events", &got)
		if s.Version != got.Version || s.Type != "Counter" {
			t.Errorf("streams read model says %s is a %q at version %d; the events say version %d", s.ID, s.Type, s.Version, got.Version)
		}
		stored += int(got.Version)
	}
	if len(streams.Streams) < len(byStream) {
		t.Errorf("streams read model lists %d streams, %d have acknowledged events", len(streams.Streams), len(byStream))
	}
	var counts struct {
		Documents []struct {
			Name  string `json:"_id"`
			Count int64  `json:"count"`
		} `json:"documents"`
	}
	getJSON(t, p2.base+"/v1/projections/event_counts/documents", &counts)
	if len(counts.Documents) != 1 || counts.Documents[0].Count != int64(stored) {
		t.Errorf("event_counts says %+v; %d events are stored", counts.Documents, stored)
	}
	if stored < int(acked.Load()) {
		t.Errorf("%d events stored, %d acknowledged", stored, acked.Load())
	}
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}
