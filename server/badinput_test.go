package server_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/annalsdb/annals/server"
	"github.com/google/uuid"
)

// Limits of the server the bad input goes to.
const (
	badMaxEvents = 3
	badMaxBody   = 64 << 10
)

// TestBadInput sends input the API must refuse: each gets the exact 4xx,
// as application/problem+json with a detail saying what is wrong, and
// nothing is written.
func TestBadInput(t *testing.T) {
	small := newEnv(t, server.Options{MaxEvents: badMaxEvents, MaxBodyBytes: badMaxBody, MaxPageSize: 50})
	big := newEnv(t, server.Options{})
	authed := newEnv(t, server.Options{Tokens: []server.Token{
		{Secret: "rw-secret", Access: server.ReadWrite}, {Secret: "ro-secret", Access: server.ReadOnly},
	}})
	stream := uuid.New()
	small.appendOK(stream, "no_stream", "Account", event{Name: "AccountOpened", Data: map[string]any{"owner": "alice"}},
		event{Name: "Deposited", Data: map[string]any{"amount": 5}})
	small.openAccount("bob", 2, 10)
	small.waitLive()
	onStream := streamPath(stream)
	docs := "/v1/projections/accounts/documents"

	// A cursor issued for sort=owner.
	var page documents
	small.get(docs+"?sort=owner&limit=1").want(t, http.StatusOK).decode(t, &page)
	if page.NextCursor == "" {
		t.Fatal("no cursor issued")
	}
	ownerCursor := page.NextCursor

	ev := func(fields string) string { return `{"events":[{` + fields + `}]}` }
	valid := ev(`"name":"Noted"`)
	huge := `{"events":[{"name":"Big","data":{"s":"` + strings.Repeat("x", 17<<20) + `"}}]}`

	tests := []struct {
		name        string
		env         *env // default small
		method      string
		path        string
		body        string
		chunked     bool // send the body without a Content-Length
		contentType string
		header      map[string]string
		wantStatus  int
		wantDetail  string
	}{
		// The append body.
		{name: "malformed JSON", body: `{"events": [}`, wantStatus: 400, wantDetail: "malformed JSON"},
		{name: "truncated JSON", body: `{"events": [{"name": "Noted"`, wantStatus: 400, wantDetail: "ends too early"},
		{name: "trailing garbage", body: valid + ` xyz`, wantStatus: 400, wantDetail: "after the JSON body"},
		{name: "trailing second value", body: valid + valid, wantStatus: 400, wantDetail: "after the JSON body"},
		{name: "trailing closing brace", body: valid + `}`, wantStatus: 400, wantDetail: "after the JSON body"},
		{name: "trailing closing bracket", body: valid + `]`, wantStatus: 400, wantDetail: "after the JSON body"},
		{name: "empty body", body: "", wantStatus: 400, wantDetail: "body is empty"},
		{name: "JSON array body", body: `[` + valid + `]`, wantStatus: 400, wantDetail: "the body must be an object"},
		{name: "JSON string body", body: `"events"`, wantStatus: 400, wantDetail: "the body must be an object"},
		{name: "JSON null body", body: `null`, wantStatus: 400, wantDetail: "at least one event"},
		{name: "no events", body: `{"expected_version":"any"}`, wantStatus: 400, wantDetail: "at least one event"},
		{name: "empty events", body: `{"events":[]}`, wantStatus: 400, wantDetail: "at least one event"},
		{name: "events not an array", body: `{"events":{"name":"Noted"}}`, wantStatus: 400, wantDetail: "events must be an array"},
		{name: "event not an object", body: `{"events":["Noted"]}`, wantStatus: 400, wantDetail: "events must be an object"},
		{name: "name a number", body: ev(`"name":7`), wantStatus: 400, wantDetail: "events.name must be a string, got a JSON number"},
		{name: "data a string", body: ev(`"name":"Noted","data":"x"`), wantStatus: 400, wantDetail: "events[0].data must be a JSON object"},
		{name: "data an array", body: ev(`"name":"Noted","data":[1]`), wantStatus: 400, wantDetail: "events[0].data must be a JSON object"},
		{name: "data a number", body: ev(`"name":"Noted","data":3`), wantStatus: 400, wantDetail: "events[0].data must be a JSON object"},
		{name: "metadata a string", body: ev(`"name":"Noted","metadata":"x"`), wantStatus: 400, wantDetail: "events[0].metadata: must be a JSON object"},
		{name: "metadata correlation_id a number", body: ev(`"name":"Noted","metadata":{"correlation_id":5}`), wantStatus: 400, wantDetail: "correlation_id must be a string"},
		{name: "metadata nested operator key", body: ev(`"name":"Noted","metadata":{"x":{"$where":"1"}}`), wantStatus: 400, wantDetail: "$where"},
		{name: "schema_version a string", body: ev(`"name":"Noted","schema_version":"1"`), wantStatus: 400, wantDetail: "schema_version must be a whole number"},
		{name: "schema_version 0", body: ev(`"name":"Noted","schema_version":0`), wantStatus: 400, wantDetail: "schema_version 0 must be at least 1"},
		{name: "schema_version negative", body: ev(`"name":"Noted","schema_version":-2`), wantStatus: 400, wantDetail: "schema_version -2 must be at least 1"},
		{name: "schema_version a fraction", body: ev(`"name":"Noted","schema_version":1.5`), wantStatus: 400, wantDetail: "schema_version must be a whole number"},
		{name: "expected_version a float", body: `{"expected_version":1.5,"events":[{"name":"Noted"}]}`, wantStatus: 400, wantDetail: "expected_version 1.5 must be a whole number"},
		{name: "expected_version negative", body: `{"expected_version":-1,"events":[{"name":"Noted"}]}`, wantStatus: 400, wantDetail: "expected_version -1 is negative"},
		{name: "expected_version overflowing 2^63", body: `{"expected_version":9223372036854775808,"events":[{"name":"Noted"}]}`, wantStatus: 400, wantDetail: "must be a whole number from 0 to 9223372036854775807"},
		{name: "expected_version leaving no room", body: `{"expected_version":9223372036854775807,"events":[{"name":"Noted"}]}`, wantStatus: 400, wantDetail: "leaves no room"},
		{name: "expected_version an unknown word", body: `{"expected_version":"latest","events":[{"name":"Noted"}]}`, wantStatus: 400, wantDetail: `expected_version "latest" must be`},
		{name: "expected_version a boolean", body: `{"expected_version":true,"events":[{"name":"Noted"}]}`, wantStatus: 400, wantDetail: "expected_version true must be"},
		{name: "expected_version an object", body: `{"expected_version":{"$gt":0},"events":[{"name":"Noted"}]}`, wantStatus: 400, wantDetail: "expected_version"},
		{name: "aggregate_type invalid", body: `{"aggregate_type":"$Order","events":[{"name":"Noted"}]}`, wantStatus: 400, wantDetail: "aggregate type"},
		{name: "stream UUID too short", path: "/v1/streams/123e4567-e89b-12d3-a456/events", body: valid, wantStatus: 400, wantDetail: "is not a UUID"},
		{name: "stream UUID not hex", path: "/v1/streams/123e4567-e89b-12d3-a456-42661417zzzz/events", body: valid, wantStatus: 400, wantDetail: "is not a UUID"},
		{name: "stream UUID without dashes", path: "/v1/streams/123e4567e89b12d3a456426614174000/events", body: valid, wantStatus: 400, wantDetail: "is not a UUID"},
		{name: "stream nil UUID", path: "/v1/streams/00000000-0000-0000-0000-000000000000/events", body: valid, wantStatus: 400, wantDetail: "nil UUID"},
		{name: "bad event id", body: ev(`"id":"not-a-uuid","name":"Noted"`), wantStatus: 400, wantDetail: `events[0].id "not-a-uuid" is not a UUID`},
		{name: "nil event id", body: ev(`"id":"00000000-0000-0000-0000-000000000000","name":"Noted"`), wantStatus: 400, wantDetail: "is not a UUID"},
		{name: "event id a number", body: ev(`"id":12,"name":"Noted"`), wantStatus: 400, wantDetail: "events.id must be a string"},
		{name: "duplicate event ids", body: fmt.Sprintf(`{"events":[{"id":%q,"name":"A"},{"id":%[1]q,"name":"B"}]}`, "0190f1d2-7c4e-7a8b-9c0d-1e2f3a4b5c6d"), wantStatus: 400, wantDetail: "appears twice"},
		{name: "unknown top-level field", body: `{"events":[{"name":"Noted"}],"expected":1}`, wantStatus: 400, wantDetail: `unknown field "expected"`},
		{name: "unknown event field", body: ev(`"name":"Noted","payload":{}`), wantStatus: 400, wantDetail: `unknown field "payload"`},
		{name: "top-level field in another case", body: `{"Events":[{"name":"Noted"}]}`, wantStatus: 400, wantDetail: `unknown field "Events"`},
		{name: "event field in another case", body: `{"events":[{"NAME":"Noted"}]}`, wantStatus: 400, wantDetail: `unknown field "NAME"`},
		{name: "event name $where", body: ev(`"name":"$where"`), wantStatus: 400, wantDetail: "must not start with '$'"},
		{name: "event name with a control character", body: ev(`"name":"Order\u0000Created"`), wantStatus: 400, wantDetail: "not a printable character"},
		{name: "event name empty", body: ev(`"name":""`), wantStatus: 400, wantDetail: "is empty"},
		{name: "event name missing", body: ev(`"data":{}`), wantStatus: 400, wantDetail: "is empty"},
		{name: "operator key in data", body: ev(`"name":"Noted","data":{"$set":{"balance":1}}`), wantStatus: 400, wantDetail: "$set"},
		{name: "nested operator key in data", body: ev(`"name":"Noted","data":{"a":{"b":{"$gt":1}}}`), wantStatus: 400, wantDetail: "$gt"},
		{name: "too many events", body: `{"events":[{"name":"A"},{"name":"A"},{"name":"A"},{"name":"A"}]}`, wantStatus: 413, wantDetail: "the limit is 3"},
		{name: "body over MaxBodyBytes", body: ev(`"name":"Noted","data":{"s":"` + strings.Repeat("x", badMaxBody) + `"}`), wantStatus: 413, wantDetail: "too large"},
		{name: "chunked body over MaxBodyBytes", chunked: true, body: ev(`"name":"Noted","data":{"s":"` + strings.Repeat("x", badMaxBody) + `"}`), wantStatus: 413, wantDetail: "exceeds"},
		{name: "oversized event document", env: big, body: huge, wantStatus: 413, wantDetail: "MongoDB's limit"},
		{name: "text/plain", body: valid, contentType: "text/plain", wantStatus: 415, wantDetail: "must be application/json"},
		{name: "no content type", body: valid, contentType: "-", wantStatus: 415, wantDetail: "must be application/json"},
		{name: "form content type", body: "events=1", contentType: "application/x-www-form-urlencoded", wantStatus: 415, wantDetail: "must be application/json"},

		// Reading a stream.
		{name: "read: negative from_version", method: "GET", path: onStream + "?from_version=-1", wantStatus: 400, wantDetail: "from_version must be a whole number from 0"},
		{name: "read: from after to", method: "GET", path: onStream + "?from_version=5&to_version=2", wantStatus: 400, wantDetail: "from_version 5 is after to_version 2"},
		{name: "read: negative to_version", method: "GET", path: onStream + "?to_version=-3", wantStatus: 400, wantDetail: "to_version must be"},
		{name: "read: limit 0", method: "GET", path: onStream + "?limit=0", wantStatus: 400, wantDetail: "limit must be a whole number from 1 to 50"},
		{name: "read: limit over the max", method: "GET", path: onStream + "?limit=51", wantStatus: 400, wantDetail: "limit must be a whole number from 1 to 50"},
		{name: "read: limit not a number", method: "GET", path: onStream + "?limit=ten", wantStatus: 400, wantDetail: `got "ten"`},
		{name: "read: version overflowing", method: "GET", path: onStream + "?from_version=9223372036854775808", wantStatus: 400, wantDetail: "from_version must be"},
		{name: "read: as_of not RFC 3339", method: "GET", path: onStream + "?as_of=yesterday", wantStatus: 400, wantDetail: "not an RFC 3339 time"},
		{name: "read: as_of the zero time", method: "GET", path: onStream + "?as_of=0001-01-01T00:00:00Z", wantStatus: 400, wantDetail: "as_of"},
		{name: "read: as_of the zero time in nanoseconds", method: "GET", path: onStream + "?as_of=0001-01-01T00:00:00.000000000Z", wantStatus: 400, wantDetail: "as_of"},
		{name: "read: as_of a date only", method: "GET", path: onStream + "?as_of=2026-01-02", wantStatus: 400, wantDetail: "not an RFC 3339 time"},
		{name: "read: unknown query parameter", method: "GET", path: onStream + "?from=1", wantStatus: 400, wantDetail: `unknown query parameter "from"`},
		{name: "read: repeated parameter", method: "GET", path: onStream + "?limit=1&limit=2", wantStatus: 400, wantDetail: `"limit" is given 2 times`},
		{name: "read: bad stream UUID", method: "GET", path: "/v1/streams/nope/events", wantStatus: 400, wantDetail: "is not a UUID"},

		// Querying read models: no operator can get through.
		{name: "docs: operator object as value", method: "GET", path: docs + "?owner=" + url.QueryEscape(`{"$ne":""}`), wantStatus: 400, wantDetail: "objects and arrays are not allowed"},
		{name: "docs: $gt object as value", method: "GET", path: docs + "?balance=" + url.QueryEscape(`{"$gt":""}`), wantStatus: 400, wantDetail: "objects and arrays are not allowed"},
		{name: "docs: operator object after spaces", method: "GET", path: docs + "?owner=" + url.QueryEscape(` {"$gt":""}`), wantStatus: 400, wantDetail: "objects and arrays are not allowed"},
		{name: "docs: operator object with an explicit op", method: "GET", path: docs + "?owner[ne]=" + url.QueryEscape(`{"$exists":true}`), wantStatus: 400, wantDetail: "objects and arrays are not allowed"},
		{name: "docs: array as value", method: "GET", path: docs + "?owner=" + url.QueryEscape(`["alice","bob"]`), wantStatus: 400, wantDetail: "objects and arrays are not allowed"},
		{name: "docs: $where key", method: "GET", path: docs + "?" + url.QueryEscape("$where") + "=1", wantStatus: 400, wantDetail: "is not a field name"},
		{name: "docs: $or key", method: "GET", path: docs + "?" + url.QueryEscape("$or") + "=" + url.QueryEscape(`[{}]`), wantStatus: 400, wantDetail: "$or"},
		{name: "docs: a[$ne] key", method: "GET", path: docs + "?" + url.QueryEscape("a[$ne]") + "=1", wantStatus: 400, wantDetail: `operator "$ne" is not one of`},
		{name: "docs: balance[regex] key", method: "GET", path: docs + "?" + url.QueryEscape("balance[regex]") + "=x", wantStatus: 400, wantDetail: `operator "regex" is not one of`},
		{name: "docs: owner[$regex] key", method: "GET", path: docs + "?" + url.QueryEscape("owner[$regex]") + "=.*", wantStatus: 400, wantDetail: `operator "$regex" is not one of`},
		{name: "docs: nested a.$b key", method: "GET", path: docs + "?" + url.QueryEscape("a.$b") + "=1", wantStatus: 400, wantDetail: "is not a field name"},
		{name: "docs: unclosed bracket", method: "GET", path: docs + "?" + url.QueryEscape("a[eq") + "=1", wantStatus: 400, wantDetail: "must look like field[op]=value"},
		{name: "docs: sort $natural", method: "GET", path: docs + "?sort=" + url.QueryEscape("$natural"), wantStatus: 400, wantDetail: "sort"},
		{name: "docs: sort --owner", method: "GET", path: docs + "?sort=--owner", wantStatus: 400, wantDetail: "sort"},
		{name: "docs: repeated filter", method: "GET", path: docs + "?owner=a&owner=b", wantStatus: 400, wantDetail: `"owner" is given 2 times`},
		{name: "docs: limit 0", method: "GET", path: docs + "?limit=0", wantStatus: 400, wantDetail: "limit must be"},
		{name: "docs: limit over the max", method: "GET", path: docs + "?limit=1000", wantStatus: 400, wantDetail: "limit must be"},
		{name: "docs: garbage cursor", method: "GET", path: docs + "?cursor=" + url.QueryEscape("!!garbage!!"), wantStatus: 400, wantDetail: "cursor"},
		{name: "docs: base64 cursor that is not JSON", method: "GET", path: docs + "?cursor=" + base64.RawURLEncoding.EncodeToString([]byte("hello")), wantStatus: 400, wantDetail: "cursor"},
		{name: "docs: cursor with a bad value", method: "GET", path: docs + "?cursor=" + cursorOf(t, map[string]any{"i": "x"}), wantStatus: 400, wantDetail: "cursor"},
		{name: "docs: cursor with a regex value", method: "GET", path: docs + "?sort=owner&cursor=" + cursorOf(t, map[string]any{
			"i": map[string]any{"v": ""}, "f": "owner",
			"s": map[string]any{"v": map[string]any{"$regularExpression": map[string]any{"pattern": ".*", "options": ""}}},
		}), wantStatus: 400, wantDetail: "cursor"},
		{name: "docs: cursor from another sort", method: "GET", path: docs + "?sort=-owner&cursor=" + ownerCursor, wantStatus: 400, wantDetail: "another sort order"},
		{name: "docs: cursor without its sort", method: "GET", path: docs + "?cursor=" + ownerCursor, wantStatus: 400, wantDetail: "another sort order"},
		{name: "docs: unknown projection", method: "GET", path: "/v1/projections/nope/documents?owner=x", wantStatus: 404, wantDetail: "unknown projection"},
		{name: "docs: unknown collection", method: "GET", path: docs + "?collection=users", wantStatus: 404, wantDetail: "unknown collection"},
		{name: "docs: unknown projection by id", method: "GET", path: "/v1/projections/nope/documents/x", wantStatus: 404, wantDetail: "unknown projection"},

		// Other endpoints.
		{name: "streams: bad cursor", method: "GET", path: "/v1/streams?cursor=xyz", wantStatus: 400, wantDetail: "cursor"},
		{name: "streams: limit not a number", method: "GET", path: "/v1/streams?limit=many", wantStatus: 400, wantDetail: "limit must be"},
		{name: "projections: unknown projection", method: "GET", path: "/v1/projections/nope", wantStatus: 404, wantDetail: "unknown projection"},
		{name: "projections: unknown parameter", method: "GET", path: "/v1/projections?state=live", wantStatus: 400, wantDetail: `unknown query parameter "state"`},
		{name: "rebuild: bad mode", path: "/v1/projections/accounts/rebuild?mode=fast", wantStatus: 400, wantDetail: `mode "fast"`},
		{name: "rebuild: unknown projection", path: "/v1/projections/nope/rebuild", wantStatus: 404, wantDetail: "unknown projection"},
		{name: "live: garbage Last-Event-ID", method: "GET", path: "/v1/events/live", header: map[string]string{"Last-Event-ID": "garbage"}, wantStatus: 400, wantDetail: "Last-Event-ID"},
		{name: "live: unknown parameter", method: "GET", path: "/v1/events/live?since=1", wantStatus: 400, wantDetail: `unknown query parameter "since"`},

		// Authentication.
		{name: "auth: missing token", env: authed, body: valid, wantStatus: 401, wantDetail: "bearer token is required"},
		{name: "auth: invalid token", env: authed, body: valid, header: map[string]string{"Authorization": "Bearer wrong"}, wantStatus: 401, wantDetail: "not valid"},
		{name: "auth: not a bearer token", env: authed, body: valid, header: map[string]string{"Authorization": "rw-secret"}, wantStatus: 401, wantDetail: "bearer token is required"},
		{name: "auth: read-only token writes", env: authed, body: valid, header: map[string]string{"Authorization": "Bearer ro-secret"}, wantStatus: 403, wantDetail: "read-only token cannot POST"},
	}
	kinds := map[string]bool{}
	for _, tt := range tests {
		if kinds[tt.name] {
			t.Fatalf("two cases named %q", tt.name)
		}
		kinds[tt.name] = true
		t.Run(tt.name, func(t *testing.T) {
			e := tt.env
			if e == nil {
				e = small
			}
			e = e.with(t)
			r := request{method: tt.method, path: tt.path, contentType: tt.contentType, header: tt.header}
			if r.method == "" {
				r.method = http.MethodPost
			}
			if r.path == "" {
				r.path = onStream
			}
			if r.method == http.MethodPost {
				r.body = strings.NewReader(tt.body)
				if tt.chunked {
					r.body = io.MultiReader(r.body) // hides the length: sent chunked
				}
			}
			before := e.eventCount()
			e.do(r).wantProblem(t, tt.wantStatus, tt.wantDetail)
			if after := e.eventCount(); after != before {
				t.Errorf("events stored: got %d, want %d: the refused request wrote", after, before)
			}
		})
	}
	if len(kinds) < 30 {
		t.Errorf("%d kinds of bad input, want at least 30", len(kinds))
	}
	// The stream is as it was.
	var got struct {
		Version int64 `json:"version"`
	}
	small.get(onStream).want(t, http.StatusOK).decode(t, &got)
	if got.Version != 2 {
		t.Errorf("stream version: got %d, want 2", got.Version)
	}
}

// cursorOf encodes a page cursor the way the server does, from any JSON.
func cursorOf(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// TestInjectionMatchesNothing checks that values looking like operators
// are taken literally: they match only documents holding that very text,
// never every document.
func TestInjectionMatchesNothing(t *testing.T) {
	e := newEnv(t, server.Options{})
	e.openAccount("alice", 1, 10)
	e.openAccount("bob", 2, 20)
	e.openAccount(`{"$ne":""}`, 3) // an owner whose name is the attack text
	e.waitLive()
	const docs = "/v1/projections/accounts/documents"

	tests := []struct {
		query string
		want  int
	}{
		{"owner=" + url.QueryEscape("$ne"), 0},
		{"owner=" + url.QueryEscape(`"{\"$ne\":\"\"}"`), 1}, // quoted: the literal string, only that owner
		{"owner=" + url.QueryEscape(`"$exists"`), 0},
		{"owner[ne]=" + url.QueryEscape(`"{\"$ne\":\"\"}"`), 2},
		{"owner=" + url.QueryEscape(".*"), 0},
		{"owner=" + url.QueryEscape("/.*/"), 0},
		{"balance=" + url.QueryEscape("this.balance > 0"), 0},
		{"owner=" + url.QueryEscape("alice' || '1'=='1"), 0},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			e := e.with(t)
			var page documents
			e.get(docs+"?"+tt.query).want(t, http.StatusOK).decode(t, &page)
			if len(page.Documents) != tt.want {
				t.Errorf("got %d documents, want %d: %v", len(page.Documents), tt.want, page.Documents)
			}
		})
	}

	t.Run("streams by aggregate type", func(t *testing.T) {
		e := e.with(t)
		for _, typ := range []string{`{"$ne":""}`, `{"$gt":""}`, "$ne"} {
			var page struct {
				Streams []map[string]any `json:"streams"`
			}
			e.get("/v1/streams?aggregate_type="+url.QueryEscape(typ)).want(t, http.StatusOK).decode(t, &page)
			if len(page.Streams) != 0 {
				t.Errorf("aggregate_type=%s: got %d streams, want none", typ, len(page.Streams))
			}
		}
	})

	// A forged cursor whose sort value is an operator document must not
	// turn into a query operator: it either is refused or matches
	// nothing.
	t.Run("forged cursor", func(t *testing.T) {
		e := e.with(t)
		for _, op := range []map[string]any{{"$exists": true}, {"$ne": nil}, {"$gte": ""}} {
			cur := cursorOf(t, map[string]any{"i": map[string]any{"v": ""}, "s": map[string]any{"v": op}, "f": "owner"})
			res := e.get(docs + "?sort=owner&cursor=" + cur)
			if res.status == http.StatusBadRequest {
				continue
			}
			var page documents
			res.want(t, http.StatusOK).decode(t, &page)
			if len(page.Documents) != 0 {
				t.Errorf("cursor with sort value %v: got %d documents, want none", op, len(page.Documents))
			}
		}
	})
	t.Run("forged id cursor", func(t *testing.T) {
		e := e.with(t)
		cur := cursorOf(t, map[string]any{"i": map[string]any{"v": map[string]any{"$exists": true}}})
		res := e.get(docs + "?cursor=" + cur)
		if res.status != http.StatusBadRequest {
			var page documents
			res.want(t, http.StatusOK).decode(t, &page)
			if len(page.Documents) != 0 {
				t.Errorf("got %d documents, want none", len(page.Documents))
			}
		}
	})
}
