package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/annalsdb/annals/projections"
	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
)

// TestHelpFlagsPlain: boolean flags read "--json", not
// "--json[=true|false]", in every command's help.
func TestHelpFlagsPlain(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"read", "--help"}, {"append", "--help"}, {"projections", "status", "--help"}, {"projections", "reset", "--help"}, {"serve", "--help"}, {"doctor", "--help"}} {
		r := cli(t, nil, args...)
		r.expect(t, exitOK, "-h, --help ")
		if strings.Contains(r.stdout, "[=true|false]") {
			t.Errorf("%v: help shows [=true|false]:\n%s", args, r.stdout)
		}
	}
	r := cli(t, nil, "read", "--help")
	r.expect(t, exitOK, "      --json ", "--limit int ", "--store string ")
}

// TestUsageErrorsPointAtTheCommandsHelp: a usage error names the help of
// the command that was misused.
func TestUsageErrorsPointAtTheCommandsHelp(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"read"}, "Run 'annals read --help' for usage."},
		{[]string{"projections", "status", "--bogus"}, "Run 'annals projections status --help' for usage."},
		{[]string{"append", uuid.NewString(), "--store", "memory:", "--server", "http://x"}, "Run 'annals append --help' for usage."},
		{[]string{"nope"}, "Run 'annals --help' for usage."},
	}
	for _, c := range cases {
		cli(t, nil, c.args...).expect(t, exitUsage, c.want)
	}
}

// TestTransferReportsOnStderr: export and import both report on stderr;
// stdout carries export's data and nothing from import.
func TestTransferReportsOnStderr(t *testing.T) {
	store := fileStore(t)
	stream := uuid.NewString()
	cli(t, nil, "append", stream, "--store", store, "--name", "Noted").expect(t, exitOK)
	dump := filepath.Join(t.TempDir(), "dump.ndjson")
	exp := cli(t, nil, "export", "--store", store, "--out", dump)
	exp.expect(t, exitOK)
	imp := cli(t, nil, "import", "--store", fileStore(t), "--in", dump)
	imp.expect(t, exitOK)
	for name, r := range map[string]result{"export": exp, "import": imp} {
		if r.stdout != "" || !strings.Contains(r.stderr, name+"ed 1 events") {
			t.Errorf("%s: stdout %q, stderr %q; want the report on stderr only", name, r.stdout, r.stderr)
		}
	}
}

// TestErrorsWithoutPackageNames: what users read — the CLI's errors and
// the API's problem details — does not start with Go package names.
func TestErrorsWithoutPackageNames(t *testing.T) {
	store := fileStore(t)
	stream := uuid.NewString()
	cli(t, nil, "append", stream, "--store", store, "--name", "Noted").expect(t, exitOK)
	for _, r := range []result{
		cli(t, nil, "append", stream, "--store", store, "--name", "Noted", "--expected-version", "no_stream"),
		cli(t, nil, "append", stream, "--store", store, "--name", "$bad"),
		cli(t, nil, "read", uuid.NewString(), "--store", store),
		cli(t, nil, "projections", "status", "nope", "--store", store),
	} {
		r.expect(t, exitError, "annals: ")
		if strings.Contains(r.stderr, "mongostore:") || strings.Contains(r.stderr, "projections:") {
			t.Errorf("the CLI shows a package name:\n%s", r.stderr)
		}
	}

	api := startAPI(t)
	post := func(stream, body string) *http.Request {
		req, _ := http.NewRequest(http.MethodPost, api.url+"/v1/streams/"+stream+"/events", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		return req
	}
	get := func(path string) *http.Request {
		req, _ := http.NewRequest(http.MethodGet, api.url+path, nil)
		return req
	}
	s := uuid.NewString()
	for _, req := range []*http.Request{
		post(s, `{"events":[{"name":"Noted"}]}`),
		post(s, `{"expected_version":"no_stream","events":[{"name":"Noted"}]}`),
		post(s, `{"events":[{"name":"$bad"}]}`),
		get("/v1/streams/" + uuid.NewString() + "/events"),
		get("/v1/projections/nope"),
		get("/v1/projections/streams/documents/x?collection=nope"),
	} {
		req.Header.Set("Authorization", "Bearer "+testToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var p struct {
			Detail string `json:"detail"`
		}
		_ = json.Unmarshal(body, &p)
		if strings.Contains(p.Detail, "mongostore:") || strings.Contains(p.Detail, "projections:") {
			t.Errorf("%s %s: detail %q names a Go package", req.Method, req.URL.Path, p.Detail)
		}
	}
}

// TestTimesOneFormat: every time annals shows is RFC 3339 in UTC with the
// fraction's trailing zeros trimmed, as encoding/json writes the API's
// times: the CLI's tables and exports, and dates in read-model documents.
func TestTimesOneFormat(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 100_000_000, time.UTC)
	want := "2026-01-02T03:04:05.1Z"
	if got := formatTime(at); got != want {
		t.Errorf("formatTime = %q, want %q", got, want)
	}
	if b, _ := json.Marshal(at); string(b) != `"`+want+`"` {
		t.Errorf("encoding/json writes %s, want %q", b, want)
	}

	api := startAPI(t)
	if _, err := api.store.Database().Collection(projections.StreamsProjection).InsertOne(context.Background(),
		bson.D{{Key: "_id", Value: "time-check"}, {Key: "at", Value: primitive.NewDateTimeFromTime(at)}}); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, api.url+"/v1/projections/streams/documents/time-check", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `"at":"`+want+`"`) {
		t.Errorf("the document shows its date as %s, want %q", body, want)
	}
}
