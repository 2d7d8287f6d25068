package main

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestSecondSignalEndsTheDrainDelay: with an hour of drain delay, a second
// SIGINT (Ctrl-C pressed again) ends the lame-duck phase and the server
// exits.
func TestSecondSignalEndsTheDrainDelay(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	p := startServe(t, bin, "--store", "file:"+filepath.Join(t.TempDir(), "annals.db"), "--drain-delay", "1h")
	if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	// Draining once /readyz says 503.
	for deadline := time.Now().Add(30 * time.Second); ; {
		resp, err := http.Get(p.base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusServiceUnavailable {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz never answered 503 after SIGINT (last error %v)", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- p.cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("serve exited with %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("serve still draining a minute after the second SIGINT; the drain delay is an hour")
	}
}
