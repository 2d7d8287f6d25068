package server_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/annalsdb/annals/server"
	"github.com/google/uuid"
)

// TestSlowBodyIsCutOff: a body that stalls, or trickles in a byte at a
// time, is refused with 408 request-timeout once BodyReadTimeout has
// passed, its connection is closed, and nothing is written. A body that
// arrives in time, over the same kind of connection, is stored.
func TestSlowBodyIsCutOff(t *testing.T) {
	e := newEnv(t, server.Options{BodyReadTimeout: 300 * time.Millisecond})
	addr := strings.TrimPrefix(e.http.URL, "http://")
	body := `{"events":[{"name":"Noted","data":{"s":"` + strings.Repeat("x", 200) + `"}}]}`
	// send writes the request head and then the body as feed says, and
	// returns the response. The test fails, rather than hangs, if no
	// response comes within 20 s: without a body deadline none would.
	send := func(t *testing.T, feed func(w io.Writer) error) (*http.Response, net.Conn) {
		t.Helper()
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", streamPath(uuid.New()), len(body))
		fed := make(chan error, 1)
		go func() { fed <- feed(conn) }()
		conn.SetReadDeadline(time.Now().Add(20 * time.Second))
		res, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("no response: %v", err)
		}
		conn.SetDeadline(time.Now()) // stops the feeder
		<-fed
		conn.SetReadDeadline(time.Now().Add(20 * time.Second))
		return res, conn
	}
	refused := func(t *testing.T, res *http.Response, conn net.Conn) {
		t.Helper()
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode != http.StatusRequestTimeout || !strings.Contains(string(b), "request-timeout") {
			t.Fatalf("got %d %s, want 408 request-timeout", res.StatusCode, b)
		}
		// The server closed the connection: the next read ends.
		var ne net.Error
		if _, err := conn.Read(make([]byte, 1)); err == nil || errors.As(err, &ne) && ne.Timeout() {
			t.Errorf("the connection is still open after the refusal: %v", err)
		}
	}
	before := e.eventCount()
	t.Run("stalled body", func(t *testing.T) {
		res, conn := send(t, func(w io.Writer) error {
			_, err := io.WriteString(w, body[:10])
			return err
		})
		refused(t, res, conn)
	})
	t.Run("a byte at a time", func(t *testing.T) {
		res, conn := send(t, func(w io.Writer) error {
			tick := time.NewTicker(20 * time.Millisecond) // paces the client; not synchronisation
			defer tick.Stop()
			for i := range len(body) {
				if _, err := w.Write([]byte{body[i]}); err != nil {
					return err
				}
				<-tick.C
			}
			return nil
		})
		refused(t, res, conn)
	})
	if after := e.eventCount(); after != before {
		t.Errorf("events stored: got %d, want %d", after, before)
	}
	t.Run("a body in time", func(t *testing.T) {
		res, _ := send(t, func(w io.Writer) error {
			_, err := io.WriteString(w, body)
			return err
		})
		if res.StatusCode != http.StatusCreated {
			b, _ := io.ReadAll(res.Body)
			t.Fatalf("got %d %s, want 201", res.StatusCode, b)
		}
	})
}
