package server_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/annalsdb/annals/mongostore"
	"github.com/annalsdb/annals/projections"
	"github.com/annalsdb/annals/server"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
)

// These tests hold server/openapi.yaml to what the server does: every
// request goes through kin-openapi's request validator (which must refuse
// exactly the requests marked specRejects) and then to the server, whose
// response must match the operation's documented response for its status.

const (
	oaWriter     = "openapi-writer-token"
	oaReader     = "openapi-reader-token"
	oaOrders     = "oa_orders"
	oaCustomers  = "oa_customers"
	oaFailing    = "oa_failing"
	oaProblemURI = "https://annals.dev/problems/"
)

// oaOrdersProjection keeps one document per OrderPlaced event in
// oa_orders (keyed by the order's string id) and one per customer in
// oa_customers (keyed by the customer's number).
func oaOrdersProjection() *projections.Projection {
	return &projections.Projection{
		Name:        oaOrders,
		Events:      []string{"OrderPlaced"},
		Collections: []string{oaOrders, oaCustomers},
		Handler: func(ctx context.Context, tx *projections.Tx, ev mongostore.Event) error {
			var d struct {
				Order      string  `bson:"order"`
				Customer   string  `bson:"customer"`
				CustomerNo int64   `bson:"customer_no"`
				Total      float64 `bson:"total"`
				Status     string  `bson:"status"`
			}
			if err := ev.Decode(&d); err != nil {
				return err
			}
			_, err := tx.Collection(oaOrders).UpdateOne(ctx, bson.D{{Key: "_id", Value: d.Order}}, bson.D{{Key: "$set", Value: bson.D{
				{Key: "customer", Value: d.Customer},
				{Key: "total", Value: d.Total},
				{Key: "status", Value: d.Status},
				{Key: "stream", Value: mongostore.UUIDValue(ev.Stream)},
				{Key: "placed_at", Value: ev.RecordedAt},
			}}}, options.Update().SetUpsert(true))
			if err != nil {
				return err
			}
			_, err = tx.Collection(oaCustomers).UpdateOne(ctx, bson.D{{Key: "_id", Value: d.CustomerNo}}, bson.D{
				{Key: "$set", Value: bson.D{{Key: "name", Value: d.Customer}}},
				{Key: "$inc", Value: bson.D{{Key: "orders", Value: int64(1)}}},
			}, options.Update().SetUpsert(true))
			return err
		},
	}
}

// oaStalling is a projection whose every batch meets a transient error:
// it never fails, it stalls.
const oaStalling = "stalling"

func oaStallingProjection() *projections.Projection {
	return projections.New(oaStalling, []string{projections.AllEvents}, func(context.Context, *projections.Tx, mongostore.Event) error {
		return mongo.CommandError{Code: 112, Name: "WriteConflict"}
	})
}

// oaFailingProjection fails on every event.
func oaFailingProjection() *projections.Projection {
	return projections.New(oaFailing, []string{projections.AllEvents}, func(context.Context, *projections.Tx, mongostore.Event) error {
		return errors.New("this projection refuses every event")
	})
}

// oaEnv is a server over the embedded engine, with the spec's router.
type oaEnv struct {
	store  *mongostore.Store
	runner *projections.Runner
	srv    *server.Server
	http   *httptest.Server
	doc    *openapi3.T
	router routers.Router
}

func loadOpenAPISpec(t testing.TB) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(server.OpenAPI)
	if err != nil {
		t.Fatalf("load server/openapi.yaml: %v", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		t.Fatalf("server/openapi.yaml is not a valid OpenAPI document: %v", err)
	}
	return doc
}

func newOAEnv(t *testing.T, opts server.Options, ps ...*projections.Projection) *oaEnv {
	t.Helper()
	return newOAEnvWith(t, opts, nil, ps...)
}

// newOAEnvWith is newOAEnv with configure, when not nil, called with the
// store before the server is built.
func newOAEnvWith(t *testing.T, opts server.Options, configure func(*mongostore.Store, *server.Options), ps ...*projections.Projection) *oaEnv {
	t.Helper()
	doc := loadOpenAPISpec(t)
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatalf("router from the spec: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	store, err := mongostore.Open(ctx, "memory:")
	if err != nil {
		cancel()
		t.Fatalf("open store: %v", err)
	}
	if configure != nil {
		configure(store, &opts)
	}
	runner := projections.NewRunner(store, ps...)
	done := make(chan error, 1)
	go func() { done <- runner.Run(ctx) }()
	var hs *httptest.Server
	t.Cleanup(func() {
		if hs != nil {
			hs.Close()
		}
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("runner: %v", err)
		}
		if err := store.Close(context.Background()); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	srv, err := server.New(store, runner, opts)
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	hs = httptest.NewServer(srv)
	return &oaEnv{store: store, runner: runner, srv: srv, http: hs, doc: doc, router: router}
}

func (e *oaEnv) waitLive(t *testing.T, names ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, n := range names {
		if _, err := e.runner.WaitLive(ctx, n); err != nil {
			t.Fatalf("wait for %s: %v", n, err)
		}
	}
}

// oaCall is one request and what must come of it.
type oaCall struct {
	name        string
	method      string
	target      string            // path and query
	token       string            // bearer token; "" sends no Authorization
	header      map[string]string // more request headers
	contentType string
	body        []byte
	chunked     bool // send the body without a Content-Length
	// specRejects says the request breaks the spec, so kin-openapi's
	// request validator must refuse it; otherwise it must accept it.
	specRejects bool
	want        int
	problem     string // for errors: the problem type's slug
}

type oaResult struct {
	status int
	header http.Header
	body   []byte
}

func (r oaResult) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", oaTrunc(r.body), err)
	}
}

func oaTrunc(b []byte) string {
	if len(b) > 400 {
		return string(b[:400]) + "…"
	}
	return string(b)
}

// oaBearerPresent is the spec's view of bearerAuth: a token is there.
// Whether the server knows it is the server's business.
func oaBearerPresent(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	scheme, token, ok := strings.Cut(in.RequestValidationInput.Request.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return errors.New("no bearer token")
	}
	return nil
}

func (e *oaEnv) newRequest(t *testing.T, ctx context.Context, c oaCall) *http.Request {
	t.Helper()
	var body io.Reader
	if c.body != nil {
		body = bytes.NewReader(c.body)
		if c.chunked {
			body = io.MultiReader(body) // hides the length
		}
	}
	req, err := http.NewRequestWithContext(ctx, c.method, e.http.URL+c.target, body)
	if err != nil {
		t.Fatalf("request %s %s: %v", c.method, c.target, err)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if c.contentType != "" {
		req.Header.Set("Content-Type", c.contentType)
	}
	for k, v := range c.header {
		req.Header.Set(k, v)
	}
	return req
}

// validateRequest checks the request against the spec and returns the
// input for validating its response.
func (e *oaEnv) validateRequest(t *testing.T, c oaCall) *openapi3filter.RequestValidationInput {
	t.Helper()
	ctx := context.Background()
	req := e.newRequest(t, ctx, oaCall{method: c.method, target: c.target, token: c.token, header: c.header,
		contentType: c.contentType, body: c.body})
	route, params, err := e.router.FindRoute(req)
	if err != nil {
		t.Fatalf("%s %s matches no operation of the spec: %v", c.method, c.target, err)
	}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: oaBearerPresent, MultiError: true}}
	err = openapi3filter.ValidateRequest(ctx, in)
	switch {
	case c.specRejects && err == nil:
		t.Errorf("the spec accepts %s %s, which the server refuses; want the spec to refuse it too", c.method, c.target)
	case !c.specRejects && err != nil:
		t.Errorf("the spec refuses %s %s: %v", c.method, c.target, err)
	}
	return in
}

func (e *oaEnv) send(t *testing.T, c oaCall) oaResult {
	t.Helper()
	resp, err := e.http.Client().Do(e.newRequest(t, context.Background(), c))
	if err != nil {
		t.Fatalf("%s %s: %v", c.method, c.target, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read the response to %s %s: %v", c.method, c.target, err)
	}
	return oaResult{status: resp.StatusCode, header: resp.Header, body: b}
}

// call validates the request, sends it, checks the status and validates
// the response against the operation's documented response.
func (e *oaEnv) call(t *testing.T, c oaCall) oaResult {
	t.Helper()
	in := e.validateRequest(t, c)
	res := e.send(t, c)
	if res.status != c.want {
		t.Fatalf("%s %s: status %d, want %d; body %s", c.method, c.target, res.status, c.want, oaTrunc(res.body))
	}
	err := openapi3filter.ValidateResponse(context.Background(), &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: res.status, Header: res.header,
		Body:    io.NopCloser(bytes.NewReader(res.body)),
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	})
	if err != nil {
		t.Errorf("%s %s: the %d response does not match the spec: %v\nbody: %s", c.method, c.target, res.status, err, oaTrunc(res.body))
	}
	if c.problem != "" {
		oaCheckProblem(t, res, c.problem)
	}
	return res
}

type oaProblem struct {
	Type            string `json:"type"`
	Title           string `json:"title"`
	Status          int    `json:"status"`
	Detail          string `json:"detail"`
	ExpectedVersion any    `json:"expected_version"`
	ActualVersion   *int64 `json:"actual_version"`
	Field           string `json:"field"`
	Index           *int   `json:"index"`
}

func oaCheckProblem(t *testing.T, res oaResult, slug string) oaProblem {
	t.Helper()
	if ct := res.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("Content-Type %q, want application/problem+json", ct)
	}
	var p oaProblem
	res.decode(t, &p)
	if p.Type != oaProblemURI+slug || p.Status != res.status || p.Title == "" || p.Detail == "" {
		t.Errorf("problem %+v, want type %s%s, status %d, a title and a detail", p, oaProblemURI, slug, res.status)
	}
	return p
}

func (e *oaEnv) runCalls(t *testing.T, calls []oaCall) {
	t.Helper()
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) { e.call(t, c) })
	}
}

// oaQuery builds a query string from key, value pairs, in order.
func oaQuery(kv ...string) string {
	var b strings.Builder
	for i := 0; i+1 < len(kv); i += 2 {
		if i > 0 {
			b.WriteByte('&')
		} else {
			b.WriteByte('?')
		}
		b.WriteString(url.QueryEscape(kv[i]) + "=" + url.QueryEscape(kv[i+1]))
	}
	return b.String()
}

func oaEventsPath(id string) string { return "/v1/streams/" + id + "/events" }

func oaJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// oaSchemaCheck validates a value against a schema of the spec's
// components, as OpenAPI 3.1 (JSON Schema 2020-12) does.
func oaSchemaCheck(t *testing.T, s *openapi3.Schema, raw []byte) {
	t.Helper()
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("decode %s: %v", oaTrunc(raw), err)
	}
	if err := s.VisitJSON(v, openapi3.EnableJSONSchema2020(), openapi3.VisitAsResponse()); err != nil {
		t.Errorf("%s does not match the spec: %v", oaTrunc(raw), err)
	}
}

func TestOpenAPISpecIsValid(t *testing.T) {
	doc := loadOpenAPISpec(t)
	if !doc.IsOpenAPI31OrLater() {
		t.Errorf("openapi %q, want 3.1", doc.OpenAPI)
	}
	// Every /v1 operation needs a token and says so, with 401 and 500;
	// writes also document 403; the service endpoints are open.
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			t.Run(method+" "+path, func(t *testing.T) {
				open := op.Security != nil && len(*op.Security) == 0
				if strings.HasPrefix(path, "/v1/") {
					if open {
						t.Errorf("the operation is open; /v1 needs a bearer token")
					}
					for _, status := range []int{401, 500} {
						if op.Responses.Status(status) == nil {
							t.Errorf("no %d response", status)
						}
					}
					if (op.Responses.Status(403) != nil) != (method != http.MethodGet) {
						t.Errorf("403 documented: %v; want it for writes only (read-only tokens may GET)", op.Responses.Status(403) != nil)
					}
				} else if !open {
					t.Errorf("the operation needs a token; service endpoints are open")
				}
				if op.OperationID == "" {
					t.Errorf("no operationId")
				}
			})
		}
	}
}

// TestOpenAPICoversEveryRoute holds the spec's operations and the
// server's routes to the same set.
func TestOpenAPICoversEveryRoute(t *testing.T) {
	e := newOAEnv(t, server.Options{}, projections.Streams())
	param := regexp.MustCompile(`(:[^/]+|\{[^}]+\})`)
	norm := func(method, path string) string { return method + " " + param.ReplaceAllString(path, "{}") }
	var routes, ops []string
	for _, r := range e.srv.Echo().Routes() {
		if r.Method == "echo_route_not_found" || strings.HasSuffix(r.Path, "*") {
			continue
		}
		routes = append(routes, norm(r.Method, r.Path))
	}
	for path, item := range e.doc.Paths.Map() {
		for method := range item.Operations() {
			ops = append(ops, norm(method, path))
		}
	}
	slices.Sort(routes)
	slices.Sort(ops)
	routes, ops = slices.Compact(routes), slices.Compact(ops)
	if !slices.Equal(routes, ops) {
		t.Errorf("the server's routes and the spec's operations differ:\nroutes: %q\nspec:   %q", routes, ops)
	}
}

func TestOpenAPIAppendAndRead(t *testing.T) {
	e := newOAEnv(t, server.Options{Tokens: []server.Token{{Secret: oaWriter}, {Secret: oaReader, Access: server.ReadOnly}}},
		projections.Streams(), projections.EventCounts())
	streamA := uuid.NewString()
	streamB := uuid.NewString() // never written: every append to it fails
	pathA, pathB := oaEventsPath(streamA), oaEventsPath(streamB)
	idA1, idA2 := uuid.NewString(), uuid.NewString()
	first := []byte(`{"expected_version": "no_stream", "aggregate_type": "Order", "events": [
		{"id": "` + idA1 + `", "name": "OrderPlaced", "schema_version": 1,
		 "data": {"order": "o1", "total": 12.5, "lines": [{"sku": "a", "at": {"$date": "2026-01-02T03:04:05Z"}}]},
		 "metadata": {"correlation_id": "req-1", "causation_id": "cmd-1", "actor": "alice", "attempt": 1, "score": 0.5}},
		{"id": "` + idA2 + `", "name": "OrderNoted", "data": null, "metadata": null, "schema_version": null}]}`)
	post := func(name string, path string, body string, want int, problem string, rejects bool) oaCall {
		return oaCall{name: name, method: http.MethodPost, target: path, token: oaWriter, contentType: "application/json",
			body: []byte(body), want: want, problem: problem, specRejects: rejects}
	}
	oneEvent := `"events": [{"name": "OrderNoted"}]`

	var created struct {
		AggregateUUID string `json:"aggregate_uuid"`
		FromVersion   int64  `json:"from_version"`
		ToVersion     int64  `json:"to_version"`
		Events        []struct {
			ID      string `json:"id"`
			Version int64  `json:"version"`
		} `json:"events"`
		RecordedAt time.Time `json:"recorded_at"`
		Replayed   bool      `json:"replayed"`
	}
	t.Run("201", func(t *testing.T) {
		t.Run("creates a stream", func(t *testing.T) {
			res := e.call(t, oaCall{method: http.MethodPost, target: pathA, token: oaWriter, contentType: "application/json",
				body: first, want: http.StatusCreated})
			res.decode(t, &created)
			if created.FromVersion != 1 || created.ToVersion != 2 || len(created.Events) != 2 || created.Events[0].ID != idA1 || created.Replayed {
				t.Errorf("created %+v, want versions 1..2 with the given ids", created)
			}
			if loc := res.header.Get("Location"); loc != pathA {
				t.Errorf("Location %q, want %q", loc, pathA)
			}
		})
		t.Run("a retry is replayed", func(t *testing.T) {
			res := e.call(t, oaCall{method: http.MethodPost, target: pathA, token: oaWriter, contentType: "application/json; charset=utf-8",
				body: first, want: http.StatusCreated})
			var again struct {
				Replayed  bool  `json:"replayed"`
				ToVersion int64 `json:"to_version"`
			}
			res.decode(t, &again)
			if !again.Replayed || again.ToVersion != 2 {
				t.Errorf("retry %+v, want replayed at version 2", again)
			}
		})
		e.runCalls(t, []oaCall{
			post("at an exact version", pathA, `{"expected_version": 2, `+oneEvent+`}`, 201, "", false),
			post("when the stream exists", pathA, `{"expected_version": "exists", "aggregate_type": "Order", `+oneEvent+`}`, 201, "", false),
			post("with any version, nulls and no type", pathA, `{"expected_version": null, "aggregate_type": null, "events": [{"id": null, "name": "Order.Noted_2-b"}]}`, 201, "", false),
			post("with names and metadata keys other stores use", pathA, `{"events": [{"name": "todolist:created"}, {"name": "Order/Created"}, {"name": "orders@v2", "metadata": {"http.method": "POST", "trace.id": "abc", "$x": 1}}]}`, 201, "", false),
			post("with an empty aggregate type", pathA, `{"expected_version": "any", "aggregate_type": "", `+oneEvent+`}`, 201, "", false),
		})
	})
	versionA := func() int64 {
		st, err := e.store.Read(context.Background(), uuid.MustParse(streamA), mongostore.ReadQuery{})
		if err != nil {
			t.Fatalf("read stream A: %v", err)
		}
		return st.Version
	}
	before := versionA()

	t.Run("409", func(t *testing.T) {
		cases := []struct {
			name, path, body string
			problem          string
			expected         any
			actual           int64
		}{
			{"stale version", pathA, `{"expected_version": 1, ` + oneEvent + `}`, "concurrency-conflict", float64(1), before},
			{"no_stream on an existing stream", pathA, `{"expected_version": "no_stream", ` + oneEvent + `}`, "concurrency-conflict", float64(0), before},
			{"exists on a new stream", pathB, `{"expected_version": "exists", ` + oneEvent + `}`, "concurrency-conflict", "exists", 0},
			{"an event id used in another stream", pathB, `{"events": [{"id": "` + idA1 + `", "name": "OrderPlaced"}]}`, "event-id-conflict", nil, 0},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				res := e.call(t, post(c.name, c.path, c.body, http.StatusConflict, c.problem, false))
				var p oaProblem
				res.decode(t, &p)
				if c.problem == "concurrency-conflict" && (p.ExpectedVersion != c.expected || p.ActualVersion == nil || *p.ActualVersion != c.actual) {
					t.Errorf("expected_version %v, actual_version %v; want %v and %d", p.ExpectedVersion, p.ActualVersion, c.expected, c.actual)
				}
			})
		}
	})

	t.Run("400", func(t *testing.T) {
		ev := func(fields string) string { return `{"events": [{"name": "OrderNoted", ` + fields + `}]}` }
		e.runCalls(t, []oaCall{
			post("malformed JSON", pathA, `{"events": [`, 400, "invalid-input", true),
			post("not an object", pathA, `[]`, 400, "invalid-input", true),
			// kin-openapi's JSON decoder stops after the first value.
			post("data after the body", pathA, `{`+oneEvent+`} {}`, 400, "invalid-input", false),
			post("an empty body", pathA, ``, 400, "invalid-input", true),
			post("events of the wrong type", pathA, `{"events": "OrderNoted"}`, 400, "invalid-input", true),
			post("an unknown field", pathA, `{"expected": 1, `+oneEvent+`}`, 400, "invalid-input", true),
			post("an unknown event field", pathA, ev(`"payload": {}`), 400, "invalid-input", true),
			// The spec cannot refuse the nil UUID in a path: kin-openapi
			// does not decode parameters whose schema uses "not".
			post("a nil stream UUID", oaEventsPath(uuid.Nil.String()), `{`+oneEvent+`}`, 400, "invalid-input", false),
			post("a stream id that is not a UUID", oaEventsPath("order-1"), `{`+oneEvent+`}`, 400, "invalid-input", true),
			post("a stream UUID without dashes", oaEventsPath(strings.ReplaceAll(streamB, "-", "")), `{`+oneEvent+`}`, 400, "invalid-input", true),
			post("a negative expected version", pathA, `{"expected_version": -1, `+oneEvent+`}`, 400, "invalid-input", true),
			post("a fractional expected version", pathA, `{"expected_version": 1.5, `+oneEvent+`}`, 400, "invalid-input", true),
			post("an unknown expectation", pathA, `{"expected_version": "sometimes", `+oneEvent+`}`, 400, "invalid-input", true),
			post("a boolean expectation", pathA, `{"expected_version": true, `+oneEvent+`}`, 400, "invalid-input", true),
			post("no events", pathA, `{"events": []}`, 400, "invalid-input", true),
			post("events missing", pathA, `{"expected_version": "any"}`, 400, "invalid-input", true),
			post("an event without a name", pathA, `{"events": [{"data": {}}]}`, 400, "invalid-input", true),
			post("an event name with a control character", pathA, `{"events": [{"name": "Order\u0007Placed"}]}`, 400, "invalid-input", true),
			post("an event name ending with a space", pathA, `{"events": [{"name": "Order "}]}`, 400, "invalid-input", true),
			post("an event name starting with $", pathA, `{"events": [{"name": "$where"}]}`, 400, "invalid-input", true),
			post("an event name over 200 bytes", pathA, `{"events": [{"name": "`+strings.Repeat("a", 201)+`"}]}`, 400, "invalid-input", true),
			post("a bad aggregate type", pathA, `{"aggregate_type": "$Order", `+oneEvent+`}`, 400, "invalid-input", true),
			post("another aggregate type than the stream's", pathA, `{"aggregate_type": "Invoice", `+oneEvent+`}`, 400, "invalid-input", false),
			post("an event id that is not a UUID", pathA, ev(`"id": "evt-1"`), 400, "invalid-input", true),
			post("the nil event id", pathA, ev(`"id": "`+uuid.Nil.String()+`"`), 400, "invalid-input", true),
			post("one id twice", pathB, `{"events": [{"id": "`+idA2+`", "name": "A"}, {"id": "`+idA2+`", "name": "A"}]}`, 400, "invalid-input", false),
			post("schema version 0", pathA, ev(`"schema_version": 0`), 400, "invalid-input", true),
			post("schema version over int32", pathA, ev(`"schema_version": 2147483648`), 400, "invalid-input", true),
			post("data that is an array", pathA, ev(`"data": [1]`), 400, "invalid-input", true),
			post("data that is a string", pathA, ev(`"data": "x"`), 400, "invalid-input", true),
			post("a data field starting with $", pathA, ev(`"data": {"$set": {"a": 1}}`), 400, "invalid-input", true),
			post("a nested data field starting with $", pathA, ev(`"data": {"a": {"$where": "sleep(1)"}}`), 400, "invalid-input", false),
			post("metadata that is an array", pathA, ev(`"metadata": []`), 400, "invalid-input", true),
			post("an actor that is a number", pathA, ev(`"metadata": {"actor": 7}`), 400, "invalid-input", true),
			post("a nested metadata key starting with $", pathA, ev(`"metadata": {"a": {"$gt": 1}}`), 400, "invalid-input", false),
			post("no room after the expected version", pathA, `{"expected_version": 9223372036854775807, `+oneEvent+`}`, 400, "invalid-input", false),
		})
	})

	t.Run("413", func(t *testing.T) {
		many := `{"events": [` + strings.Repeat(`{"name": "A"},`, server.DefaultMaxEvents) + `{"name": "A"}]}`
		overDoc := `{"events": [{"name": "A", "data": {"s": "` + strings.Repeat("x", 17<<20) + `"}}]}`
		e.runCalls(t, []oaCall{
			post("more events than the limit", pathB, many, 413, "too-large", true),
			post("an event over MongoDB's document limit", pathB, overDoc, 413, "too-large", false),
		})
		// The body limit is the same whatever its size; a small one keeps
		// the test quick.
		const limit = 64 << 10
		small := newOAEnv(t, server.Options{Tokens: []server.Token{{Secret: oaWriter}}, MaxBodyBytes: limit})
		overBody := []byte(`{"events": [{"name": "A", "data": {"s": "` + strings.Repeat("x", limit) + `"}}]}`)
		small.runCalls(t, []oaCall{
			{name: "a body over the limit", method: http.MethodPost, target: pathB, token: oaWriter, contentType: "application/json",
				body: overBody, want: 413, problem: "too-large"},
			{name: "a chunked body over the limit", method: http.MethodPost, target: pathB, token: oaWriter, contentType: "application/json",
				body: overBody, chunked: true, want: 413, problem: "too-large"},
		})
	})

	t.Run("415", func(t *testing.T) {
		body := `{` + oneEvent + `}`
		e.runCalls(t, []oaCall{
			{name: "text/plain", method: http.MethodPost, target: pathB, token: oaWriter, contentType: "text/plain", body: []byte(body), want: 415, problem: "unsupported-media-type", specRejects: true},
			{name: "a form", method: http.MethodPost, target: pathB, token: oaWriter, contentType: "application/x-www-form-urlencoded", body: []byte("events=x"), want: 415, problem: "unsupported-media-type", specRejects: true},
			{name: "no content type", method: http.MethodPost, target: pathB, token: oaWriter, body: []byte(body), want: 415, problem: "unsupported-media-type", specRejects: true},
		})
	})

	t.Run("401 and 403", func(t *testing.T) {
		body := []byte(`{` + oneEvent + `}`)
		e.runCalls(t, []oaCall{
			{name: "no token", method: http.MethodPost, target: pathB, contentType: "application/json", body: body, want: 401, problem: "unauthorized", specRejects: true},
			{name: "an unknown token", method: http.MethodPost, target: pathB, token: "nope", contentType: "application/json", body: body, want: 401, problem: "unauthorized"},
			{name: "basic auth", method: http.MethodPost, target: pathB, header: map[string]string{"Authorization": "Basic YTpi"}, contentType: "application/json", body: body, want: 401, problem: "unauthorized", specRejects: true},
			{name: "a read-only token", method: http.MethodPost, target: pathB, token: oaReader, contentType: "application/json", body: body, want: 403, problem: "forbidden"},
		})
	})

	t.Run("refused appends wrote nothing", func(t *testing.T) {
		if v := versionA(); v != before {
			t.Errorf("stream A is at version %d, want %d", v, before)
		}
		if _, err := e.store.Read(context.Background(), uuid.MustParse(streamB), mongostore.ReadQuery{}); !errors.Is(err, mongostore.ErrStreamNotFound) {
			t.Errorf("read stream B: %v, want ErrStreamNotFound", err)
		}
	})

	get := func(name, target, token string, want int, problem string, rejects bool) oaCall {
		return oaCall{name: name, method: http.MethodGet, target: target, token: token, want: want, problem: problem, specRejects: rejects}
	}
	asOf := created.RecordedAt.Format(time.RFC3339Nano)
	t.Run("read", func(t *testing.T) {
		t.Run("the whole stream", func(t *testing.T) {
			res := e.call(t, get("", pathA, oaReader, 200, "", false))
			var st struct {
				Version int64             `json:"version"`
				Events  []json.RawMessage `json:"events"`
			}
			res.decode(t, &st)
			if st.Version != before || int64(len(st.Events)) != before {
				t.Errorf("version %d with %d events, want %d", st.Version, len(st.Events), before)
			}
		})
		e.runCalls(t, []oaCall{
			get("a range", pathA+oaQuery("from_version", "2", "to_version", "3"), oaWriter, 200, "", false),
			get("as of a time", pathA+oaQuery("as_of", asOf), oaReader, 200, "", false),
			get("with an offset time", pathA+oaQuery("as_of", created.RecordedAt.In(time.FixedZone("", 2*3600)).Format(time.RFC3339Nano)), oaReader, 200, "", false),
			get("a limit", pathA+oaQuery("limit", "1"), oaReader, 200, "", false),
			get("an empty value", pathA+"?limit=", oaReader, 200, "", false),
			get("an unknown stream", pathB, oaReader, 404, "stream-not-found", false),
			get("before the stream began", pathA+oaQuery("as_of", "2000-01-01T00:00:00Z"), oaReader, 404, "stream-not-found", false),
			get("from after to", pathA+oaQuery("from_version", "3", "to_version", "2"), oaReader, 400, "invalid-input", false),
			get("a negative from_version", pathA+oaQuery("from_version", "-1"), oaReader, 400, "invalid-input", true),
			get("a word for to_version", pathA+oaQuery("to_version", "last"), oaReader, 400, "invalid-input", true),
			get("limit 0", pathA+oaQuery("limit", "0"), oaReader, 400, "invalid-input", true),
			get("a limit over the page size", pathA+oaQuery("limit", "1001"), oaReader, 400, "invalid-input", true),
			get("as_of that is not a time", pathA+oaQuery("as_of", "yesterday"), oaReader, 400, "invalid-input", true),
			get("as_of that is a date", pathA+oaQuery("as_of", "2026-01-02"), oaReader, 400, "invalid-input", true),
			get("an unknown parameter", pathA+oaQuery("since", "1"), oaReader, 400, "invalid-input", false),
			get("a repeated parameter", pathA+"?limit=1&limit=2", oaReader, 400, "invalid-input", false),
			get("a bad stream UUID", oaEventsPath("xyz"), oaReader, 400, "invalid-input", true),
			get("no token", pathA, "", 401, "unauthorized", true),
			get("an unknown token", pathA, "nope", 401, "unauthorized", false),
		})
	})

	// Streams: A plus a few more, two of type Cart.
	for i := range 4 {
		typ := "Order"
		if i%2 == 0 {
			typ = "Cart"
		}
		e.call(t, post("", oaEventsPath(uuid.NewString()), `{"aggregate_type": "`+typ+`", `+oneEvent+`}`, 201, "", false))
	}
	e.waitLive(t, projections.StreamsProjection)
	t.Run("list streams", func(t *testing.T) {
		seen, cursor := 0, ""
		for page := 0; page < 10; page++ {
			target := "/v1/streams" + oaQuery("limit", "2")
			if cursor != "" {
				target += "&cursor=" + url.QueryEscape(cursor)
			}
			res := e.call(t, get("", target, oaReader, 200, "", false))
			var p struct {
				Streams    []json.RawMessage `json:"streams"`
				NextCursor string            `json:"next_cursor"`
			}
			res.decode(t, &p)
			seen += len(p.Streams)
			if cursor = p.NextCursor; cursor == "" {
				break
			}
		}
		if seen != 5 {
			t.Errorf("listed %d streams, want 5", seen)
		}
		res := e.call(t, get("", "/v1/streams"+oaQuery("aggregate_type", "Cart"), oaReader, 200, "", false))
		var carts struct {
			Streams []struct {
				Type string `json:"aggregate_type"`
			} `json:"streams"`
		}
		res.decode(t, &carts)
		if len(carts.Streams) != 2 || carts.Streams[0].Type != "Cart" {
			t.Errorf("listed %+v, want 2 carts", carts.Streams)
		}
		sorted := e.call(t, get("", "/v1/projections/event_counts/documents"+oaQuery("sort", "-count", "limit", "1"), oaReader, 200, "", false))
		var docs struct {
			NextCursor string `json:"next_cursor"`
		}
		sorted.decode(t, &docs)
		if docs.NextCursor == "" {
			t.Fatalf("no next_cursor in %s", sorted.body)
		}
		e.runCalls(t, []oaCall{
			get("limit 0", "/v1/streams"+oaQuery("limit", "0"), oaReader, 400, "invalid-input", true),
			get("a cursor that is not base64url", "/v1/streams"+oaQuery("cursor", "!!!"), oaReader, 400, "invalid-input", true),
			get("a cursor the server did not issue", "/v1/streams"+oaQuery("cursor", "e30"), oaReader, 400, "invalid-input", false),
			get("a cursor of a sorted listing", "/v1/streams"+oaQuery("cursor", docs.NextCursor), oaReader, 400, "invalid-input", false),
			get("an unknown parameter", "/v1/streams"+oaQuery("type", "Cart"), oaReader, 400, "invalid-input", false),
			get("no token", "/v1/streams", "", 401, "unauthorized", true),
		})
	})
}

func TestOpenAPIProjectionsAndDocuments(t *testing.T) {
	e := newOAEnv(t, server.Options{Tokens: []server.Token{{Secret: oaWriter}, {Secret: oaReader, Access: server.ReadOnly}}},
		projections.Streams(), projections.EventCounts(), oaOrdersProjection())
	orders := []struct {
		order, customer string
		no              int64
		total           float64
		status          string
	}{
		{"o1", "c1", 1, 12.5, "paid"}, {"o2", "c2", 2, 40, "open"}, {"o3", "c1", 1, 7, "paid"},
		{"o4", "c2", 2, 99.99, "paid"}, {"o5", "c1", 1, 20, "open"},
	}
	for _, o := range orders {
		body := oaJSON(t, map[string]any{"aggregate_type": "Order", "events": []any{map[string]any{"name": "OrderPlaced",
			"data": map[string]any{"order": o.order, "customer": o.customer, "customer_no": o.no, "total": o.total, "status": o.status}}}})
		e.call(t, oaCall{method: http.MethodPost, target: oaEventsPath(uuid.NewString()), token: oaWriter, contentType: "application/json", body: body, want: 201})
	}
	e.waitLive(t, oaOrders, projections.StreamsProjection, projections.EventCountsProjection)
	get := func(name, target string, want int, problem string, rejects bool) oaCall {
		return oaCall{name: name, method: http.MethodGet, target: target, token: oaReader, want: want, problem: problem, specRejects: rejects}
	}
	docs := "/v1/projections/" + oaOrders + "/documents"
	type page struct {
		Documents []struct {
			ID    any     `json:"_id"`
			Total float64 `json:"total"`
		} `json:"documents"`
		NextCursor string `json:"next_cursor"`
	}
	list := func(t *testing.T, target string) page {
		t.Helper()
		var p page
		e.call(t, get("", target, 200, "", false)).decode(t, &p)
		return p
	}

	t.Run("projections", func(t *testing.T) {
		var all struct {
			Projections []struct {
				Name string `json:"name"`
			} `json:"projections"`
		}
		e.call(t, get("", "/v1/projections", 200, "", false)).decode(t, &all)
		if len(all.Projections) != 3 {
			t.Errorf("%d projections, want 3", len(all.Projections))
		}
		e.runCalls(t, []oaCall{
			get("one", "/v1/projections/"+oaOrders, 200, "", false),
			get("an unknown projection", "/v1/projections/nope", 404, "projection-not-found", false),
			get("a name over 100 bytes", "/v1/projections/"+strings.Repeat("p", 101), 404, "projection-not-found", true),
			get("a parameter on the list", "/v1/projections"+oaQuery("state", "live"), 400, "invalid-input", false),
			get("a parameter on one", "/v1/projections/"+oaOrders+oaQuery("verbose", "1"), 400, "invalid-input", false),
			{name: "no token", method: http.MethodGet, target: "/v1/projections", want: 401, problem: "unauthorized", specRejects: true},
		})
	})

	t.Run("documents", func(t *testing.T) {
		if p := list(t, docs); len(p.Documents) != 5 || p.NextCursor != "" {
			t.Errorf("%d documents, cursor %q; want 5 and no cursor", len(p.Documents), p.NextCursor)
		}
		for _, sort := range []string{"", "-total", "status"} {
			t.Run("pages sorted by "+sort, func(t *testing.T) {
				seen, cursor := 0, ""
				var totals []float64
				for range 10 {
					target := docs + oaQuery("limit", "2")
					if sort != "" {
						target += "&sort=" + url.QueryEscape(sort)
					}
					if cursor != "" {
						target += "&cursor=" + url.QueryEscape(cursor)
					}
					p := list(t, target)
					seen += len(p.Documents)
					for _, d := range p.Documents {
						totals = append(totals, d.Total)
					}
					if cursor = p.NextCursor; cursor == "" {
						break
					}
					if len(p.Documents) != 2 {
						t.Errorf("a page of %d documents with a cursor, want 2", len(p.Documents))
					}
				}
				if seen != 5 {
					t.Errorf("paged through %d documents, want 5", seen)
				}
				if sort == "-total" && !slices.IsSortedFunc(totals, func(a, b float64) int { return int(b - a) }) {
					t.Errorf("totals %v are not descending", totals)
				}
			})
		}
		filters := []struct {
			query []string
			want  int
		}{
			{[]string{"customer", "c1"}, 3},
			{[]string{"total[gte]", "20"}, 3},
			{[]string{"status", `"paid"`}, 3},
			{[]string{"total[lt]", "10", "customer[ne]", "c2"}, 1},
			{[]string{"status[eq]", "open", "total[gt]", "20.5"}, 1},
			{[]string{"missing", "null"}, 5},
		}
		for _, f := range filters {
			t.Run("filter "+strings.Join(f.query, " "), func(t *testing.T) {
				if p := list(t, docs+oaQuery(f.query...)); len(p.Documents) != f.want {
					t.Errorf("%d documents, want %d", len(p.Documents), f.want)
				}
			})
		}
		var sorted page
		e.call(t, get("", docs+oaQuery("sort", "-total", "limit", "1"), 200, "", false)).decode(t, &sorted)
		tooMany := []string{}
		for i := range 21 {
			tooMany = append(tooMany, fmt.Sprintf("f%d", i), "1")
		}
		e.runCalls(t, []oaCall{
			get("another collection", docs+oaQuery("collection", oaCustomers), 200, "", false),
			get("an unknown collection", docs+oaQuery("collection", "nope"), 404, "collection-not-found", false),
			get("an unknown projection", "/v1/projections/nope/documents", 404, "projection-not-found", false),
			get("a $where field", docs+oaQuery("$where", "sleep(100)"), 400, "invalid-input", true),
			get("a $ operator", docs+oaQuery("total[$gt]", "1"), 400, "invalid-input", true),
			get("an unknown operator", docs+oaQuery("customer[regex]", "^c"), 400, "invalid-input", true),
			get("an unclosed operator", docs+oaQuery("total[gt", "1"), 400, "invalid-input", true),
			get("an object value", docs+oaQuery("customer", `{"$ne": null}`), 400, "invalid-input", true),
			get("an array value", docs+oaQuery("customer", `["c1"]`), 400, "invalid-input", true),
			get("a broken quoted value", docs+oaQuery("customer", `"c1`), 400, "invalid-input", false),
			get("a field nine levels deep", docs+oaQuery("a.b.c.d.e.f.g.h.i", "1"), 400, "invalid-input", true),
			get("a $ sort", docs+oaQuery("sort", "$natural"), 400, "invalid-input", true),
			get("a bare minus sort", docs+oaQuery("sort", "-"), 400, "invalid-input", true),
			get("limit 0", docs+oaQuery("limit", "0"), 400, "invalid-input", true),
			get("a limit over the page size", docs+oaQuery("limit", "1001"), 400, "invalid-input", true),
			get("a cursor that is not base64url", docs+oaQuery("cursor", "??"), 400, "invalid-input", true),
			get("a cursor for another sort", docs+oaQuery("cursor", sorted.NextCursor), 400, "invalid-input", false),
			get("more than 20 filters", docs+oaQuery(tooMany...), 400, "invalid-input", false),
			get("a repeated filter", docs+"?customer=c1&customer=c2", 400, "invalid-input", false),
			{name: "no token", method: http.MethodGet, target: docs, want: 401, problem: "unauthorized", specRejects: true},
		})
	})

	t.Run("one document", func(t *testing.T) {
		var d struct {
			ID       string `json:"_id"`
			Stream   string `json:"stream"`
			PlacedAt string `json:"placed_at"`
		}
		e.call(t, get("", docs+"/o4", 200, "", false)).decode(t, &d)
		if _, err := uuid.Parse(d.Stream); d.ID != "o4" || err != nil {
			t.Errorf("document %+v, want o4 with its stream as a UUID string", d)
		}
		if _, err := time.Parse(time.RFC3339, d.PlacedAt); err != nil {
			t.Errorf("placed_at %q is not RFC 3339: %v", d.PlacedAt, err)
		}
		e.runCalls(t, []oaCall{
			get("by a number", docs+"/2"+oaQuery("collection", oaCustomers), 200, "", false),
			get("an unknown document", docs+"/o9", 404, "not-found", false),
			get("an unknown collection", docs+"/o1"+oaQuery("collection", "nope"), 404, "collection-not-found", false),
			get("an unknown projection", "/v1/projections/nope/documents/o1", 404, "projection-not-found", false),
			get("an unknown parameter", docs+"/o1"+oaQuery("fields", "total"), 400, "invalid-input", false),
			{name: "no token", method: http.MethodGet, target: docs + "/o1", want: 401, problem: "unauthorized", specRejects: true},
		})
	})

	t.Run("rebuild", func(t *testing.T) {
		post := func(name, target, token string, want int, problem string, rejects bool) oaCall {
			return oaCall{name: name, method: http.MethodPost, target: target, token: token, want: want, problem: problem, specRejects: rejects}
		}
		rebuild := "/v1/projections/" + oaOrders + "/rebuild"
		res := e.call(t, post("", rebuild, oaWriter, 202, "", false))
		if loc := res.header.Get("Location"); loc != "/v1/projections/"+oaOrders {
			t.Errorf("Location %q", loc)
		}
		var st struct {
			Rebuild *struct {
				Generation int64 `json:"generation"`
			} `json:"rebuild"`
		}
		res.decode(t, &st)
		if st.Rebuild == nil || st.Rebuild.Generation != 2 {
			t.Errorf("the status shows no build of generation 2: %s", res.body)
		}
		e.runCalls(t, []oaCall{
			post("blue/green", rebuild+oaQuery("mode", "blue_green"), oaWriter, 202, "", false),
			post("drop and replay", rebuild+oaQuery("mode", "drop"), oaWriter, 202, "", false),
			post("an unknown mode", rebuild+oaQuery("mode", "now"), oaWriter, 400, "invalid-input", true),
			post("an unknown parameter", rebuild+oaQuery("force", "1"), oaWriter, 400, "invalid-input", false),
			post("an unknown projection", "/v1/projections/nope/rebuild", oaWriter, 404, "projection-not-found", false),
			post("a read-only token", rebuild, oaReader, 403, "forbidden", false),
			post("no token", rebuild, "", 401, "unauthorized", true),
		})
	})
}

// oaReadSSE reads one Server-Sent Event, skipping comments.
func oaReadSSE(t *testing.T, r *bufio.Reader) (id, name string, data []byte) {
	t.Helper()
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("read the live feed: %v", err)
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "" && data != nil:
			return id, name, data
		case strings.HasPrefix(line, "id: "):
			id = strings.TrimPrefix(line, "id: ")
		case strings.HasPrefix(line, "event: "):
			name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data = append(data, strings.TrimPrefix(line, "data: ")...)
		}
	}
}

func TestOpenAPILiveFeed(t *testing.T) {
	e := newOAEnv(t, server.Options{Tokens: []server.Token{{Secret: oaWriter}, {Secret: oaReader, Access: server.ReadOnly}}})
	eventSchema := e.doc.Components.Schemas["Event"].Value
	appendOne := func(name string) {
		e.call(t, oaCall{method: http.MethodPost, target: oaEventsPath(uuid.NewString()), token: oaWriter,
			contentType: "application/json", body: []byte(`{"events": [{"name": "` + name + `", "data": {"n": 1}}]}`), want: 201})
	}
	// open connects to the feed, checks the request against the spec and
	// the status and media type of the response (the body never ends).
	open := func(t *testing.T, c oaCall) *bufio.Reader {
		t.Helper()
		c.method = http.MethodGet
		e.validateRequest(t, c)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		resp, err := e.http.Client().Do(e.newRequest(t, ctx, c))
		if err != nil {
			cancel()
			t.Fatalf("connect: %v", err)
		}
		t.Cleanup(func() {
			cancel()
			resp.Body.Close()
		})
		op := e.doc.Paths.Find("/v1/events/live").Get
		if resp.StatusCode != http.StatusOK || op.Responses.Status(resp.StatusCode) == nil {
			t.Fatalf("status %d, want 200", resp.StatusCode)
		}
		if ct := resp.Header.Get("Content-Type"); op.Responses.Status(200).Value.Content.Get(ct) == nil || ct != "text/event-stream" {
			t.Fatalf("Content-Type %q, want text/event-stream", ct)
		}
		if cc := resp.Header.Get("Cache-Control"); cc != "no-cache" {
			t.Errorf("Cache-Control %q, want no-cache", cc)
		}
		return bufio.NewReader(resp.Body)
	}

	var lastID string
	t.Run("200", func(t *testing.T) {
		feed := open(t, oaCall{target: "/v1/events/live", token: oaReader})
		appendOne("First")
		id, name, data := oaReadSSE(t, feed)
		if name != "First" || id == "" {
			t.Errorf("event %q with id %q, want First with an id", name, id)
		}
		oaSchemaCheck(t, eventSchema, data)
		lastID = id
		appendOne("Second")
	})
	for _, c := range []oaCall{
		{name: "resume with Last-Event-ID", header: map[string]string{"Last-Event-ID": lastID}},
		{name: "resume with last_event_id", target: oaQuery("last_event_id", lastID)},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.target, c.token = "/v1/events/live"+c.target, oaWriter
			_, name, data := oaReadSSE(t, open(t, c))
			if name != "Second" {
				t.Errorf("resumed at %q, want Second", name)
			}
			oaSchemaCheck(t, eventSchema, data)
		})
	}
	live := "/v1/events/live"
	e.runCalls(t, []oaCall{
		{name: "an id that is not base64url", method: http.MethodGet, target: live + oaQuery("last_event_id", "!!"), token: oaReader, want: 400, problem: "invalid-input", specRejects: true},
		{name: "a header that is not base64url", method: http.MethodGet, target: live, header: map[string]string{"Last-Event-ID": "a b"}, token: oaReader, want: 400, problem: "invalid-input", specRejects: true},
		{name: "an id that is not a token", method: http.MethodGet, target: live + oaQuery("last_event_id", "AAAA"), token: oaReader, want: 400, problem: "invalid-input"},
		{name: "an unknown parameter", method: http.MethodGet, target: live + oaQuery("from", "now"), token: oaReader, want: 400, problem: "invalid-input"},
		{name: "a token this feed never issued", method: http.MethodGet, target: live + oaQuery("last_event_id", "BQAAAAA"), token: oaReader, want: 400, problem: "invalid-input"},
		{name: "no token", method: http.MethodGet, target: live, want: 401, problem: "unauthorized", specRejects: true},
	})
}

func TestOpenAPIServiceEndpoints(t *testing.T) {
	e := newOAEnv(t, server.Options{Tokens: []server.Token{{Secret: oaWriter}}}, projections.Streams())
	e.waitLive(t, projections.StreamsProjection)
	get := func(name, target string, header map[string]string) oaCall {
		return oaCall{name: name, method: http.MethodGet, target: target, header: header, want: 200}
	}
	e.runCalls(t, []oaCall{
		get("healthz", "/healthz", nil),
		get("readyz", "/readyz", nil),
		get("metrics", "/metrics", nil),
		get("metrics as protobuf", "/metrics", map[string]string{"Accept": "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited"}),
		get("openapi.yaml", "/openapi.yaml", nil),
	})
	t.Run("the served document is the embedded one", func(t *testing.T) {
		if res := e.send(t, oaCall{method: http.MethodGet, target: "/openapi.yaml"}); !bytes.Equal(res.body, server.OpenAPI) {
			t.Errorf("GET /openapi.yaml differs from server.OpenAPI")
		}
	})

	// Requests that match no operation answer with the spec's generic
	// responses.
	for _, c := range []struct {
		name, method, target string
		want                 int
		response             string
		allow                bool
	}{
		{"an unknown path", http.MethodGet, "/nope", 404, "NotFound", false},
		{"an unknown /v1 path", http.MethodGet, "/v1/nope", 404, "NotFound", false},
		{"PUT on /healthz", http.MethodPut, "/healthz", 405, "MethodNotAllowed", true},
		{"DELETE on a stream", http.MethodDelete, oaEventsPath(uuid.NewString()), 405, "MethodNotAllowed", true},
		{"HEAD on /v1/streams", http.MethodHead, "/v1/streams", 405, "", true},
		{"OPTIONS on /v1/streams", http.MethodOptions, "/v1/streams", 204, "", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			req := e.newRequest(t, context.Background(), oaCall{method: c.method, target: c.target})
			if _, _, err := e.router.FindRoute(req); err == nil {
				t.Errorf("the spec has an operation for %s %s", c.method, c.target)
			}
			res := e.send(t, oaCall{method: c.method, target: c.target})
			if res.status != c.want {
				t.Fatalf("status %d, want %d; body %s", res.status, c.want, oaTrunc(res.body))
			}
			if c.allow && res.header.Get("Allow") == "" {
				t.Errorf("no Allow header")
			}
			if c.response != "" {
				r := e.doc.Components.Responses[c.response].Value
				if r.Content.Get(res.header.Get("Content-Type")) == nil {
					t.Fatalf("Content-Type %q is not the spec's", res.header.Get("Content-Type"))
				}
				oaSchemaCheck(t, r.Content.Get("application/problem+json").Schema.Value, res.body)
			}
		})
	}
}

// TestOpenAPIFailuresAndShutdown covers a server without tokens, without
// the streams projection, with a failed projection and a stalled one,
// then with its store closed, and then draining.
func TestOpenAPIFailuresAndShutdown(t *testing.T) {
	e := newOAEnv(t, server.Options{}, projections.EventCounts(), oaFailingProjection(), oaStallingProjection())
	const anyToken = "ignored" // the spec always asks for one; this server takes any
	stream := oaEventsPath(uuid.NewString())
	e.call(t, oaCall{method: http.MethodPost, target: stream, token: anyToken, contentType: "application/json",
		body: []byte(`{"events": [{"name": "Happened"}]}`), want: 201})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := e.runner.WaitLive(ctx, oaFailing); err == nil || ctx.Err() != nil {
		t.Fatalf("wait for %s to fail: %v", oaFailing, err)
	}
	get := func(name, target string, want int, problem string) oaCall {
		return oaCall{name: name, method: http.MethodGet, target: target, token: anyToken, want: want, problem: problem}
	}
	t.Run("a failed projection", func(t *testing.T) {
		var p struct {
			State   string `json:"state"`
			Failure *struct {
				EventName string `json:"event_name"`
			} `json:"failure"`
		}
		e.call(t, get("", "/v1/projections/"+oaFailing, 200, "")).decode(t, &p)
		if p.State != projections.StateFailed || p.Failure == nil || p.Failure.EventName != "Happened" {
			t.Errorf("status %+v, want failed on Happened", p)
		}
		var r struct {
			Failed []string `json:"failed"`
		}
		e.call(t, oaCall{method: http.MethodGet, target: "/readyz", want: 503}).decode(t, &r)
		if !slices.Equal(r.Failed, []string{oaFailing}) {
			t.Errorf("readyz names %q as failed, want %q", r.Failed, oaFailing)
		}
		for deadline := time.Now().Add(20 * time.Second); ; {
			var s struct {
				Stalled *struct {
					Reason string `json:"reason"`
				} `json:"stalled"`
			}
			e.call(t, get("", "/v1/projections/"+oaStalling, 200, "")).decode(t, &s)
			if s.Stalled != nil {
				if s.Stalled.Reason != projections.StallError {
					t.Errorf("stalled reason %q, want %q", s.Stalled.Reason, projections.StallError)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s never showed stalled", oaStalling)
			}
			time.Sleep(10 * time.Millisecond) // polling the API, not synchronising goroutines
		}
		e.runCalls(t, []oaCall{
			get("all projections", "/v1/projections", 200, ""),
			get("no streams projection", "/v1/streams", 404, "not-found"),
			{name: "rebuild it", method: http.MethodPost, target: "/v1/projections/" + oaFailing + "/rebuild", token: anyToken, want: 202},
		})
	})
	t.Run("a closed store", func(t *testing.T) {
		if err := e.store.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		e.runCalls(t, []oaCall{
			get("read", stream, 503, "unavailable"),
			{name: "append", method: http.MethodPost, target: stream, token: anyToken, contentType: "application/json",
				body: []byte(`{"events": [{"name": "Happened"}]}`), want: 503, problem: "unavailable"},
			{name: "readyz", method: http.MethodGet, target: "/readyz", want: 503},
		})
	})
	t.Run("draining", func(t *testing.T) {
		e.srv.Drain()
		var r struct {
			Draining bool `json:"draining"`
		}
		e.call(t, oaCall{method: http.MethodGet, target: "/readyz", want: 503}).decode(t, &r)
		if !r.Draining {
			t.Errorf("readyz while draining does not say so")
		}
	})
}
