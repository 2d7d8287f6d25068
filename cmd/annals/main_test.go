package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func env(kv map[string]string) func(string) string {
	return func(k string) string { return kv[k] }
}

func TestCommandLine(t *testing.T) {
	cases := []struct {
		name     string
		args     []string
		env      map[string]string
		code     int
		contains string
	}{
		{"help", []string{"--help"}, nil, exitOK, "serve"},
		{"serve help", []string{"serve", "--help"}, nil, exitOK, "--store"},
		{"unknown command", []string{"frobnicate"}, nil, exitUsage, "unknown command"},
		{"unknown flag", []string{"serve", "--nope"}, nil, exitUsage, "unknown flag"},
		{"stray argument", []string{"serve", "extra"}, nil, exitUsage, "extra"},
		{"public bind without token", []string{"serve", "--store", "memory:", "--addr", "0.0.0.0:0"}, nil, exitUsage, "without a token"},
		{"public bind from the environment", []string{"serve", "--store", "memory:"}, map[string]string{"ANNALS_ADDR": ":0"}, exitUsage, "without a token"},
		{"bad log level", []string{"serve", "--store", "memory:", "--log-level", "loud"}, nil, exitUsage, "--log-level"},
		{"bad log format from the environment", []string{"serve", "--store", "memory:"}, map[string]string{"ANNALS_LOG_FORMAT": "xml"}, exitUsage, "--log-format"},
		{"bad store", []string{"serve", "--store", "postgres://db", "--addr", "127.0.0.1:0"}, nil, exitError, "unsupported store URI"},
		{"bad duration", []string{"serve", "--shutdown-timeout", "soon"}, nil, exitUsage, "shutdown-timeout"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(context.Background(), c.args, &out, &errOut, env(c.env))
			if code != c.code {
				t.Errorf("exit code %d, want %d\nstdout: %s\nstderr: %s", code, c.code, out.String(), errOut.String())
			}
			if all := out.String() + errOut.String(); !strings.Contains(all, c.contains) {
				t.Errorf("output lacks %q:\n%s", c.contains, all)
			}
		})
	}
}

// TestServeRunsAndStops serves on memory:, answers, and stops cleanly when
// its context ends (as on SIGINT), with exit code 0.
func TestServeRunsAndStops(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--log-format", "json", "--token", "s3cret", "--read-token", "r3ad"},
			io.Discard, pw, env(map[string]string{"ANNALS_STORE": "memory:", "ANNALS_ADDR": "127.0.0.1:0"}))
		pw.Close()
	}()
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			var rec struct {
				Msg  string `json:"msg"`
				Addr string `json:"addr"`
			}
			if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.Msg == "annals listening" {
				addr <- rec.Addr
			}
		}
	}()
	var base string
	select {
	case base = <-addr:
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not start")
	}
	for path, want := range map[string]int{"/healthz": 200, "/v1/projections": 401} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s: %d, want %d", path, resp.StatusCode, want)
		}
	}
	req, _ := http.NewRequest(http.MethodGet, base+"/v1/projections", nil)
	req.Header.Set("Authorization", "Bearer r3ad")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("read token: %d", resp.StatusCode)
	}
	cancel()
	select {
	case code := <-done:
		if code != exitOK {
			t.Errorf("exit code %d after shutdown, want 0", code)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop")
	}
}
