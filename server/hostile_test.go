package server_test

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/annalsdb/annals/server"
	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/bson"
)

// TestHostileClient sends what a hostile client tried (issue 11): each
// request gets the exact status and problem type, and nothing is written;
// every refused append is counted as invalid (item 10), and invented
// methods do not grow /metrics (item 2). Requests that look alike but are
// valid are accepted, so that the checks are not simply refusing
// everything. The items that need servers or processes of their own are
// tested beside it:
//   - 3 (drain): TestServeDrainsOnSIGTERM (cmd/annals), TestDrain,
//     TestCloseLiveFeeds, TestEveryProblemTypeIsDocumented;
//   - 4 (slow bodies): TestSlowBodyIsCutOff;
//   - 5 (disk full): TestDiskFull, TestDiskFullOnMongoDB;
//   - 8 (names and dotted metadata keys): TestNamesAndMetadataKeysOverHTTP
//     (cmd/annals), TestMetadataWrittenBeforeEscapingLoads (mongostore);
//   - 9 (lag after a crash): TestProjectionLagAfterSIGKILL and
//     TestStatusShowsLeaseWait (cmd/annals);
//   - 11–15 (CLI and first hour): TestLockedAdvice,
//     TestReadmeSaysHowToGetTheBinary, TestRun (examples/quickstart),
//     TestPackageDoc and the tests of cmd/annals/polish_test.go.
func TestHostileClient(t *testing.T) {
	e := newEnv(t, server.Options{})
	stream := uuid.New()
	e.appendOK(stream, "no_stream", "Account", event{Name: "AccountOpened", Data: map[string]any{"owner": "alice"}})
	e.openAccount("bob", 2, 10)
	e.openAccount("carol", 1)
	e.waitLive()
	onStream := streamPath(stream)
	const docs = "/v1/projections/accounts/documents"
	var page documents
	e.get(docs+"?sort=owner&limit=1").want(t, http.StatusOK).decode(t, &page)
	if page.NextCursor == "" {
		t.Fatal("no cursor issued")
	}
	edited := []byte(page.NextCursor)
	edited[len(edited)/2] ^= 0x02
	gz := func(s string) string {
		var b bytes.Buffer
		w := gzip.NewWriter(&b)
		w.Write([]byte(s))
		w.Close()
		return b.String()
	}
	ev := func(fields string) string { return `{"events":[{` + fields + `}]}` }
	tokenLike, err := bson.Marshal(bson.D{{Key: "_data", Value: "0000000100000001"}})
	if err != nil {
		t.Fatal(err)
	}

	const (
		invalid = "invalid-input"
		media   = "unsupported-media-type"
	)
	tests := []struct {
		item        string
		name        string
		method      string // default POST to onStream
		path        string
		body        string
		contentType string
		header      map[string]string
		status      int
		problem     string // "" for a success
	}{
		// 1. Forged and edited page cursors.
		{item: "1", name: "cursor edited", method: "GET", path: docs + "?sort=owner&cursor=" + string(edited), status: 400, problem: invalid},
		{item: "1", name: "cursor $minKey id", method: "GET", path: docs + "?cursor=" + forgedCursors(t)["$minKey id"], status: 400, problem: invalid},
		{item: "1", name: "cursor $maxKey sort", method: "GET", path: docs + "?sort=owner&cursor=" + forgedCursors(t)["$maxKey sort"], status: 400, problem: invalid},
		{item: "1", name: "cursor $where on streams", method: "GET", path: "/v1/streams?cursor=" + forgedCursors(t)["$where id"], status: 400, problem: invalid},
		{item: "1", name: "cursor issued, unchanged", method: "GET", path: docs + "?sort=owner&cursor=" + page.NextCursor, status: 200},

		// 6. Strict JSON, the same on every field.
		{item: "6", name: "duplicate top-level key", body: `{"events":[{"name":"A"}],"events":[{"name":"B"}]}`, status: 400, problem: invalid},
		{item: "6", name: "duplicate event key", body: ev(`"name":"A","name":"B"`), status: 400, problem: invalid},
		{item: "6", name: "duplicate key in data", body: ev(`"name":"A","data":{"a":1,"a":2}`), status: 400, problem: invalid},
		{item: "6", name: "duplicate key deep in data", body: ev(`"name":"A","data":{"x":[{"a":1,"b":{"c":1,"c":1}}]}`), status: 400, problem: invalid},
		{item: "6", name: "duplicate key among many", body: ev(`"name":"A","data":{` + manyKeys(20) + `,"k3":0}`), status: 400, problem: invalid},
		{item: "6", name: "duplicate key spelled with an escape", body: ev(`"name":"A","data":{"a":1,"\u0061":2}`), status: 400, problem: invalid},
		{item: "6", name: "duplicate key in metadata", body: ev(`"name":"A","metadata":{"actor":"a","actor":"b"}`), status: 400, problem: invalid},
		{item: "6", name: "integer beyond int64 in data", body: ev(`"name":"A","data":{"n":123456789012345678901234}`), status: 400, problem: invalid},
		{item: "6", name: "integer below int64 in data", body: ev(`"name":"A","data":{"n":-9223372036854775809}`), status: 400, problem: invalid},
		{item: "6", name: "integer beyond int64 in a data array", body: ev(`"name":"A","data":{"n":[1,18446744073709551616]}`), status: 400, problem: invalid},
		{item: "6", name: "integer beyond int64 in metadata", body: ev(`"name":"A","metadata":{"n":123456789012345678901234}`), status: 400, problem: invalid},
		{item: "6", name: "number beyond a double in data", body: ev(`"name":"A","data":{"n":1e400}`), status: 400, problem: invalid},
		{item: "6", name: "invalid UTF-8 in data", body: ev(`"name":"A","data":{"s":"a` + "\xff\xfe" + `b"}`), status: 400, problem: invalid},
		{item: "6", name: "invalid UTF-8 in a key", body: ev(`"name":"A","data":{"` + "\xc3" + `":1}`), status: 400, problem: invalid},
		{item: "6", name: "invalid UTF-8 in metadata", body: ev(`"name":"A","metadata":{"actor":"` + "\xed\xa0\x80" + `"}`), status: 400, problem: invalid},
		{item: "6", name: "lone high surrogate escape", body: ev(`"name":"A","data":{"s":"\ud800"}`), status: 400, problem: invalid},
		{item: "6", name: "lone low surrogate escape", body: ev(`"name":"A","data":{"s":"x\udc00"}`), status: 400, problem: invalid},
		{item: "6", name: "high surrogate before a non-surrogate", body: ev(`"name":"A","data":{"s":"\ud800\u0041"}`), status: 400, problem: invalid},
		{item: "6", name: "regex with unknown option", body: ev(`"name":"A","data":{"r":{"$regularExpression":{"pattern":"a","options":"z"}}}`), status: 400, problem: invalid},
		{item: "6", name: "regex with a repeated option", body: ev(`"name":"A","data":{"r":{"$regularExpression":{"pattern":"a","options":"ii"}}}`), status: 400, problem: invalid},
		{item: "6", name: "regex with an unclosed group", body: ev(`"name":"A","data":{"r":{"$regularExpression":{"pattern":"(","options":""}}}`), status: 400, problem: invalid},
		{item: "6", name: "regex with NUL", body: ev(`"name":"A","data":{"r":{"$regularExpression":{"pattern":"a\u0000b","options":""}}}`), status: 400, problem: invalid},
		{item: "6", name: "regex without options", body: ev(`"name":"A","data":{"r":{"$regularExpression":{"pattern":"a"}}}`), status: 400, problem: invalid},
		{item: "6", name: "gzip body", body: gz(ev(`"name":"A"`)), header: map[string]string{"Content-Encoding": "gzip"}, status: 415, problem: media},
		{item: "6", name: "br body", body: ev(`"name":"A"`), header: map[string]string{"Content-Encoding": "br"}, status: 415, problem: media},
		{item: "6", name: "identity, then gzip", body: gz(ev(`"name":"A"`)), header: map[string]string{"Content-Encoding": "identity, gzip"}, status: 415, problem: media},
		{item: "6", name: "malformed query: cursor=%%%x", method: "GET", path: "/v1/streams?cursor=%%%x", status: 400, problem: invalid},
		{item: "6", name: "malformed query on a read", method: "GET", path: onStream + "?limit=%zz", status: 400, problem: invalid},
		{item: "6", name: "malformed query on documents", method: "GET", path: docs + "?owner=%", status: 400, problem: invalid},
		{item: "6", name: "semicolon in a query", method: "GET", path: onStream + "?limit=1;from_version=1", status: 400, problem: invalid},
		{item: "6", name: "malformed query on an append", path: onStream + "?x=%%", body: ev(`"name":"A"`), status: 400, problem: invalid},
		// The valid neighbours are stored, exactly.
		{item: "6", name: "int64 bounds in data", body: ev(`"name":"A","data":{"max":9223372036854775807,"min":-9223372036854775808}`), status: 201},
		{item: "6", name: "a surrogate pair", body: ev(`"name":"A","data":{"s":"\ud83d\ude00"}`), status: 201},
		{item: "6", name: "a regex with lookahead and options", body: ev(`"name":"A","data":{"r":{"$regularExpression":{"pattern":"^a(?=b)","options":"im"}}}`), status: 201},
		{item: "6", name: "a large double", body: ev(`"name":"A","data":{"n":1.5e300}`), status: 201},
		{item: "6", name: "Content-Encoding identity", body: ev(`"name":"A"`), header: map[string]string{"Content-Encoding": "identity"}, status: 201},
		{item: "6", name: "many distinct keys", body: ev(`"name":"A","data":{` + manyKeys(40) + `}`), status: 201},
		{item: "6", name: "the same key in two objects", body: ev(`"name":"A","data":{"a":{"k":1},"b":{"k":1}},"metadata":{"k":1}`), status: 201},

		// 7. as_of and Last-Event-ID.
		{item: "7", name: "as_of the zero time", method: "GET", path: onStream + "?as_of=0001-01-01T00:00:00Z", status: 400, problem: invalid},
		{item: "7", name: "Last-Event-ID never issued", method: "GET", path: "/v1/events/live", header: map[string]string{"Last-Event-ID": "BQAAAAA"}, status: 400, problem: invalid},
		{item: "7", name: "Last-Event-ID a well-formed token", method: "GET", path: "/v1/events/live?last_event_id=" + url.QueryEscape(base64.RawURLEncoding.EncodeToString(tokenLike)), status: 400, problem: invalid},
	}
	invalidBefore := metricValue(t, e, `annals_appends_total{result="invalid"}`)
	refusedAppends := 0
	for _, tt := range tests {
		if (tt.method == "" || tt.method == http.MethodPost) && (tt.path == "" || strings.HasPrefix(tt.path, onStream)) && tt.problem != "" {
			refusedAppends++
		}
		t.Run(tt.item+" "+tt.name, func(t *testing.T) {
			e := e.with(t)
			r := request{method: tt.method, path: tt.path, contentType: tt.contentType, header: tt.header}
			if r.method == "" {
				r.method = http.MethodPost
			}
			if r.path == "" {
				r.path = onStream
			}
			if r.method == http.MethodPost {
				r.body = strings.NewReader(tt.body)
			}
			before := e.eventCount()
			res := e.do(r)
			after := e.eventCount()
			t.Logf("%s %s → %d %s", r.method, tt.name, res.status, problemType(res))
			if tt.problem == "" {
				res.want(t, tt.status)
				return
			}
			p := res.wantProblem(t, tt.status, "")
			if want := "https://annals.dev/problems/" + tt.problem; p.Type != want {
				t.Errorf("problem type: got %s, want %s", p.Type, want)
			}
			if after != before {
				t.Errorf("events stored: got %d, want %d: the refused request wrote", after, before)
			}
		})
	}
	// 10. Every refused append is counted as invalid, wherever it was
	// refused.
	if got := metricValue(t, e, `annals_appends_total{result="invalid"}`) - invalidBefore; got != float64(refusedAppends) {
		t.Errorf(`annals_appends_total{result="invalid"} grew by %v, want %d`, got, refusedAppends)
	}
	// 2. Invented methods and paths do not grow /metrics.
	before := len(latencySeries(t, e))
	for i := range 500 {
		e.do(request{method: "HOSTILE" + strconv.Itoa(i), path: "/v1/streams/" + strconv.Itoa(i)})
	}
	if after := len(latencySeries(t, e)); after > before+2 {
		t.Errorf("500 invented methods grew the latency series from %d to %d", before, after)
	}
	// The valid neighbours were stored as sent.
	var got struct {
		Events []struct {
			Data json.RawMessage `json:"data"`
		} `json:"events"`
	}
	e.get(onStream).want(t, http.StatusOK).decode(t, &got)
	var all strings.Builder
	for _, ev := range got.Events {
		all.Write(ev.Data)
	}
	for _, want := range []string{`"max":9223372036854775807`, `"min":-9223372036854775808`, `"s":"😀"`, `"pattern":"^a(?=b)","options":"im"`, `"n":1.5E+300`} {
		if !strings.Contains(all.String(), want) {
			t.Errorf("stored data lacks %s: %s", want, all.String())
		}
	}
}

// manyKeys renders n distinct members "k0":0, "k1":1, ….
func manyKeys(n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = fmt.Sprintf(`"k%d":%d`, i, i)
	}
	return strings.Join(parts, ",")
}

// problemType is the short type of a problem response, or "".
func problemType(r response) string {
	if r.status < 400 {
		return ""
	}
	var p problem
	if err := json.Unmarshal(r.body, &p); err != nil {
		return ""
	}
	return strings.TrimPrefix(p.Type, "https://annals.dev/problems/")
}
