package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const stream = "0198c0de-5b6a-7c3e-9d2a-4f1e2d3c4b5a"

// TestAppendAndRead appends and reads one stream through each way a
// command can reach the events: a file: store and a server.
func TestAppendAndRead(t *testing.T) {
	for _, via := range []string{"store", "server"} {
		t.Run(via, func(t *testing.T) {
			var environ map[string]string
			if via == "store" {
				environ = map[string]string{"ANNALS_STORE": fileStore(t)}
			} else {
				environ = startAPI(t).env()
			}
			body := filepath.Join(t.TempDir(), "events.json")
			if err := os.WriteFile(body, []byte(`{"expected_version":1,"events":[
				{"id":"0198c0de-5b6a-7c3e-9d2a-4f1e2d3c4b5b","name":"ItemAdded","data":{"sku":"a-1","qty":2},"metadata":{"actor":"ana","attempt":1}},
				{"id":"0198c0de-5b6a-7c3e-9d2a-4f1e2d3c4b5c","name":"ItemAdded","schema_version":2,"data":{"sku":"b-2","qty":1.0}}]}`), 0o600); err != nil {
				t.Fatal(err)
			}

			cli(t, environ, "append", stream, "--name", "OrderCreated", "--data", `{"total":42}`, "--type", "Order", "--expected-version", "no_stream").
				expect(t, exitOK, "VERSION", "1  ", "OrderCreated")
			r := cli(t, environ, "append", stream, "--file", body, "--json")
			r.expect(t, exitOK)
			var res appendView
			if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
				t.Fatalf("append --json: %v\n%s", err, r.stdout)
			}
			if res.FromVersion != 2 || res.ToVersion != 3 || res.Replayed || res.Events[0].ID != "0198c0de-5b6a-7c3e-9d2a-4f1e2d3c4b5b" {
				t.Errorf("append --json: got %+v, want versions 2..3 with the file's id first", res)
			}
			// The same ids again: nothing new, the versions they got.
			cli(t, environ, "append", stream, "--file", body).expect(t, exitOK, "2  ", "0198c0de-5b6a-7c3e-9d2a-4f1e2d3c4b5b", "nothing new was written")
			withStdin(t, `{"events":[{"name":"OrderPaid","data":{"amount":42}}]}`, func() {
				cli(t, environ, "append", stream, "--file", "-", "--expected-version", "3").expect(t, exitOK, "4  ", "OrderPaid")
			})
			cli(t, environ, "append", stream, "--name", "Late", "--expected-version", "2").expect(t, exitError, "concurrency")

			r = cli(t, environ, "read", stream)
			r.expect(t, exitOK, "VERSION  NAME", `{"total":42}`, `{"sku":"b-2","qty":1.0}`, "OrderPaid")
			if lines := strings.Count(r.stdout, "\n"); lines != 5 {
				t.Errorf("read printed %d lines, want a header and 4 events:\n%s", lines, r.stdout)
			}
			r = cli(t, environ, "read", stream, "--from", "2", "--to", "3", "--json")
			r.expect(t, exitOK)
			var st streamView
			if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
				t.Fatalf("read --json: %v\n%s", err, r.stdout)
			}
			if len(st.Events) != 2 || st.Events[0].Version != 2 || st.AggregateType != "Order" || st.Version != 3 {
				t.Errorf("read --from 2 --to 3: got %+v", st)
			}
			if got := compactJSON(st.Events[0].Metadata); got != `{"actor":"ana","attempt":1}` {
				t.Errorf("metadata %s", got)
			}
			if st.Events[1].SchemaVersion != 2 {
				t.Errorf("schema_version %d, want 2", st.Events[1].SchemaVersion)
			}
			r = cli(t, environ, "read", stream, "--limit", "1")
			r.expect(t, exitOK, "OrderCreated")
			if strings.Contains(r.stdout, "ItemAdded") {
				t.Errorf("read --limit 1 printed more:\n%s", r.stdout)
			}
			cli(t, environ, "read", stream, "--as-of", "2001-01-01T00:00:00Z").expect(t, exitError, "not found")
			cli(t, environ, "read", stream, "--as-of", time.Now().Add(time.Hour).Format(time.RFC3339)).expect(t, exitOK, "OrderPaid")
			cli(t, environ, "read", "0198c0de-5b6a-7c3e-9d2a-4f1e2d3c4b50").expect(t, exitError, "not found")
		})
	}
}

func TestAppendAndReadErrors(t *testing.T) {
	store := map[string]string{"ANNALS_STORE": fileStore(t)}
	cases := []struct {
		name    string
		environ map[string]string
		args    []string
		code    int
		want    string
	}{
		{"no target", nil, []string{"read", stream}, exitUsage, "--store URI or --server URL"},
		{"both targets", nil, []string{"read", stream, "--store", "memory:", "--server", "http://127.0.0.1:1"}, exitUsage, "not both"},
		{"flag beats environment", map[string]string{"ANNALS_SERVER": "http://127.0.0.1:1"}, []string{"read", stream, "--store", "memory:"}, exitError, "not found"},
		{"server beats store in the environment", map[string]string{"ANNALS_SERVER": "http://127.0.0.1:1", "ANNALS_STORE": "memory:"}, []string{"read", stream}, exitError, "reach the server"},
		{"no stream argument", store, []string{"read"}, exitUsage, "one argument"},
		{"bad stream", store, []string{"append", "nope", "--name", "X"}, exitUsage, "not a UUID"},
		{"nothing to append", store, []string{"append", stream}, exitUsage, "--name"},
		{"bad expected version", store, []string{"append", stream, "--name", "X", "--expected-version", "soon"}, exitUsage, "--expected-version"},
		{"data not an object", store, []string{"append", stream, "--name", "X", "--data", "[1]"}, exitUsage, "--data must be a JSON object"},
		{"metadata not JSON", store, []string{"append", stream, "--name", "X", "--metadata", "{"}, exitUsage, "--metadata"},
		{"bad id", store, []string{"append", stream, "--name", "X", "--id", "42"}, exitUsage, "--id"},
		{"file and flags", store, []string{"append", stream, "--file", "x.json", "--name", "X"}, exitUsage, "exclude each other"},
		{"missing file", store, []string{"append", stream, "--file", "/nonexistent/x.json"}, exitError, "no such file"},
		{"invalid event name", store, []string{"append", stream, "--name", "$where"}, exitError, "must not start with '$'"},
		{"bad as-of", store, []string{"read", stream, "--as-of", "yesterday"}, exitUsage, "RFC 3339"},
		{"from after to", store, []string{"read", stream, "--from", "3", "--to", "2"}, exitUsage, "after --to"},
		{"unsupported store", map[string]string{"ANNALS_STORE": "postgres://x"}, []string{"read", stream}, exitError, "unsupported store URI"},
		{"bad server URL", map[string]string{"ANNALS_SERVER": "ftp://x"}, []string{"read", stream}, exitUsage, "not an http"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cli(t, c.environ, c.args...).expect(t, c.code, c.want)
		})
	}
}

func TestServerErrors(t *testing.T) {
	api := startAPI(t)
	cli(t, map[string]string{"ANNALS_SERVER": api.url}, "read", stream).expect(t, exitError, "401", "--token")
	cli(t, api.env(), "append", stream, "--name", "bad\tname").expect(t, exitError, "400")
}
