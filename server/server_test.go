package server_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/annalsdb/annals/mongostore"
	"github.com/annalsdb/annals/projections"
	"github.com/annalsdb/annals/server"
	"github.com/google/uuid"
)

func TestNewRefusesMissingPartsAndEmptyTokens(t *testing.T) {
	store, err := mongostore.Open(context.Background(), "memory:")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close(context.Background()) })
	runner := projections.NewRunner(store)
	tests := []struct {
		name   string
		store  *mongostore.Store
		runner *projections.Runner
		opts   server.Options
	}{
		{"no store", nil, runner, server.Options{}},
		{"no runner", store, nil, server.Options{}},
		{"empty token", store, runner, server.Options{Tokens: []server.Token{{Secret: ""}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := server.New(tt.store, tt.runner, tt.opts); err == nil {
				t.Errorf("server.New: got nil error, want one")
			}
		})
	}
}

func TestAppend(t *testing.T) {
	e := newEnv(t, server.Options{})
	stream := uuid.New()
	ids := []string{uuid.NewString(), uuid.NewString()}
	body := appendBody(t, "no_stream", "Account",
		event{ID: ids[0], Name: "AccountOpened", Data: map[string]any{"owner": "alice", "tier": 1},
			Metadata: map[string]any{"correlation_id": "c-1", "actor": "tester", "source": "web", "n": 1.5}},
		event{ID: ids[1], Name: "Deposited", SchemaVersion: 2, Data: map[string]any{"amount": 10}})

	t.Run("201", func(t *testing.T) {
		e := e.with(t)
		res := e.post(streamPath(stream), body).want(t, http.StatusCreated)
		if got, want := res.header.Get("Location"), streamPath(stream); got != want {
			t.Errorf("Location: got %q, want %q", got, want)
		}
		var out appended
		res.decode(t, &out)
		if out.AggregateUUID != stream.String() || out.FromVersion != 1 || out.ToVersion != 2 || out.Replayed {
			t.Errorf("got %+v, want stream %s versions 1..2 not replayed", out, stream)
		}
		if len(out.Events) != 2 || out.Events[0].ID != ids[0] || out.Events[1].ID != ids[1] ||
			out.Events[0].Version != 1 || out.Events[1].Version != 2 {
			t.Errorf("events: got %+v, want ids %v at versions 1, 2", out.Events, ids)
		}
		if out.RecordedAt.IsZero() {
			t.Errorf("recorded_at is zero")
		}
	})

	t.Run("replay with the same event ids", func(t *testing.T) {
		e := e.with(t)
		before := e.eventCount()
		var out appended
		e.post(streamPath(stream), body).want(t, http.StatusCreated).decode(t, &out)
		if !out.Replayed || out.FromVersion != 1 || out.ToVersion != 2 {
			t.Errorf("got %+v, want replayed versions 1..2", out)
		}
		if got := e.eventCount(); got != before {
			t.Errorf("events stored: got %d, want %d (no duplicates)", got, before)
		}
		// A replay whatever the expected version.
		e.post(streamPath(stream), strings.Replace(body, `"no_stream"`, `"any"`, 1)).want(t, http.StatusCreated).decode(t, &out)
		if !out.Replayed {
			t.Errorf("replay with expected any: got %+v, want replayed", out)
		}
		if got := e.eventCount(); got != before {
			t.Errorf("events stored: got %d, want %d (no duplicates)", got, before)
		}
	})

	t.Run("an event id reused for another event is 409", func(t *testing.T) {
		e := e.with(t)
		before := e.eventCount()
		e.post(streamPath(uuid.New()), appendBody(t, nil, "", event{ID: ids[0], Name: "AccountOpened"})).
			wantProblem(t, http.StatusConflict, ids[0])
		if got := e.eventCount(); got != before {
			t.Errorf("events stored: got %d, want %d", got, before)
		}
	})

	t.Run("expected versions", func(t *testing.T) {
		e := e.with(t)
		other := uuid.New()
		tests := []struct {
			expected     any
			wantStatus   int
			wantExpected any // in the 409 body
			wantActual   int64
		}{
			{"exists", http.StatusConflict, "exists", 0},
			{3, http.StatusConflict, float64(3), 0},
			{0, http.StatusCreated, nil, 0},
			{"no_stream", http.StatusConflict, float64(0), 1},
			{2, http.StatusConflict, float64(2), 1},
			{1, http.StatusCreated, nil, 0},
			{"exists", http.StatusCreated, nil, 0},
			{"any", http.StatusCreated, nil, 0},
			{nil, http.StatusCreated, nil, 0},
			{1, http.StatusConflict, float64(1), 5},
		}
		for i, tt := range tests {
			t.Run(fmt.Sprintf("%d:%v", i, tt.expected), func(t *testing.T) {
				e := e.with(t)
				res := e.post(streamPath(other), appendBody(t, tt.expected, "", event{Name: "Noted"}))
				if tt.wantStatus == http.StatusCreated {
					res.want(t, http.StatusCreated)
					return
				}
				p := res.wantProblem(t, http.StatusConflict, "concurrency conflict")
				if p.ExpectedVersion != tt.wantExpected {
					t.Errorf("expected_version: got %#v, want %#v", p.ExpectedVersion, tt.wantExpected)
				}
				if p.ActualVersion == nil || *p.ActualVersion != tt.wantActual {
					t.Errorf("actual_version: got %v, want %d", p.ActualVersion, tt.wantActual)
				}
			})
		}
	})

	t.Run("a different aggregate type is 400", func(t *testing.T) {
		e := e.with(t)
		e.post(streamPath(stream), appendBody(t, nil, "Order", event{Name: "Noted"})).
			wantProblem(t, http.StatusBadRequest, `aggregate type is "Account"`)
	})

	t.Run("read back", func(t *testing.T) {
		e := e.with(t)
		var got struct {
			AggregateUUID string `json:"aggregate_uuid"`
			AggregateType string `json:"aggregate_type"`
			Version       int64  `json:"version"`
			Events        []struct {
				ID            string         `json:"id"`
				AggregateUUID string         `json:"aggregate_uuid"`
				AggregateType string         `json:"aggregate_type"`
				Version       int64          `json:"version"`
				Name          string         `json:"name"`
				SchemaVersion int32          `json:"schema_version"`
				Data          map[string]any `json:"data"`
				Metadata      map[string]any `json:"metadata"`
				RecordedAt    time.Time      `json:"recorded_at"`
			} `json:"events"`
		}
		e.get(streamPath(stream)).want(t, http.StatusOK).decode(t, &got)
		if got.AggregateUUID != stream.String() || got.AggregateType != "Account" || got.Version != 2 || len(got.Events) != 2 {
			t.Fatalf("got %+v, want stream %s of type Account at version 2 with 2 events", got, stream)
		}
		ev := got.Events[0]
		if ev.ID != ids[0] || ev.Name != "AccountOpened" || ev.SchemaVersion != 1 || ev.Data["owner"] != "alice" || ev.Data["tier"] != float64(1) {
			t.Errorf("event 1: got %+v", ev)
		}
		if ev.Metadata["correlation_id"] != "c-1" || ev.Metadata["actor"] != "tester" || ev.Metadata["source"] != "web" || ev.Metadata["n"] != 1.5 {
			t.Errorf("event 1 metadata: got %v", ev.Metadata)
		}
		if got.Events[1].SchemaVersion != 2 || got.Events[1].Data["amount"] != float64(10) {
			t.Errorf("event 2: got %+v", got.Events[1])
		}
	})
}

func TestReadEvents(t *testing.T) {
	e := newEnv(t, server.Options{})
	stream := uuid.New()
	var evs []event
	for i := range 6 {
		evs = append(evs, event{Name: "Noted", Data: map[string]any{"i": i + 1}})
	}
	e.appendOK(stream, "no_stream", "Note", evs...)
	// Events recorded later than as_of must not show.
	cut := time.Now().UTC().Add(time.Second)
	later, err := e.store.Read(context.Background(), stream, mongostore.ReadQuery{})
	if err != nil {
		t.Fatal(err)
	}
	asOf := later.Events[len(later.Events)-1].RecordedAt

	tests := []struct {
		query       string
		wantVersion int64
		wantEvents  []int64
	}{
		{"", 6, []int64{1, 2, 3, 4, 5, 6}},
		{"?from_version=3", 6, []int64{3, 4, 5, 6}},
		{"?to_version=2", 2, []int64{1, 2}},
		{"?from_version=2&to_version=4", 4, []int64{2, 3, 4}},
		{"?limit=2", 6, []int64{1, 2}},
		{"?from_version=5&limit=10", 6, []int64{5, 6}},
		{"?from_version=9", 6, nil},
		{"?as_of=" + url.QueryEscape(asOf.Format(time.RFC3339Nano)), 6, []int64{1, 2, 3, 4, 5, 6}},
		{"?as_of=" + url.QueryEscape(cut.Format(time.RFC3339)), 6, []int64{1, 2, 3, 4, 5, 6}},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			e := e.with(t)
			var got struct {
				Version int64 `json:"version"`
				Events  []struct {
					Version int64 `json:"version"`
				} `json:"events"`
			}
			e.get(streamPath(stream)+tt.query).want(t, http.StatusOK).decode(t, &got)
			var versions []int64
			for _, ev := range got.Events {
				versions = append(versions, ev.Version)
			}
			if got.Version != tt.wantVersion || !slices.Equal(versions, tt.wantEvents) {
				t.Errorf("got version %d events %v, want version %d events %v", got.Version, versions, tt.wantVersion, tt.wantEvents)
			}
		})
	}

	t.Run("before the stream began is 404", func(t *testing.T) {
		e := e.with(t)
		before := asOf.Add(-time.Hour).Format(time.RFC3339)
		e.get(streamPath(stream)+"?as_of="+url.QueryEscape(before)).wantProblem(t, http.StatusNotFound, "stream not found")
	})
	t.Run("an unknown stream is 404", func(t *testing.T) {
		e := e.with(t)
		e.get(streamPath(uuid.New())).wantProblem(t, http.StatusNotFound, "stream not found")
	})
	t.Run("an empty events array is rendered as []", func(t *testing.T) {
		e := e.with(t)
		res := e.get(streamPath(stream)+"?from_version=9").want(t, http.StatusOK)
		if !strings.Contains(string(res.body), `"events":[]`) {
			t.Errorf("body %s: want \"events\":[]", res.body)
		}
	})
}

func TestListStreams(t *testing.T) {
	e := newEnv(t, server.Options{})
	want := map[string][]string{}
	for i := range 7 {
		typ := "Account"
		if i%3 == 0 {
			typ = "Order"
		}
		id := uuid.New()
		e.appendOK(id, "no_stream", typ, event{Name: "Created"}, event{Name: "Touched"})
		want[typ] = append(want[typ], id.String())
		want[""] = append(want[""], id.String())
	}
	e.waitLive(projections.StreamsProjection)

	type stream struct {
		ID            string `json:"_id"`
		AggregateUUID string `json:"aggregate_uuid"`
		AggregateType string `json:"aggregate_type"`
		Version       int64  `json:"version"`
	}
	list := func(t *testing.T, query string) (streams []stream, next string) {
		t.Helper()
		var page struct {
			Streams    []stream `json:"streams"`
			NextCursor string   `json:"next_cursor"`
		}
		e.with(t).get("/v1/streams"+query).want(t, http.StatusOK).decode(t, &page)
		return page.Streams, page.NextCursor
	}

	for _, typ := range []string{"", "Account", "Order"} {
		for _, limit := range []int{1, 2, 3, 100} {
			t.Run(fmt.Sprintf("type=%s limit=%d", typ, limit), func(t *testing.T) {
				var got []string
				cursor, pages := "", 0
				for {
					q := url.Values{"limit": {strconv.Itoa(limit)}}
					if typ != "" {
						q.Set("aggregate_type", typ)
					}
					if cursor != "" {
						q.Set("cursor", cursor)
					}
					streams, next := list(t, "?"+q.Encode())
					if len(streams) > limit {
						t.Fatalf("page of %d streams, limit %d", len(streams), limit)
					}
					pages++
					for _, s := range streams {
						if typ != "" && s.AggregateType != typ {
							t.Errorf("stream %s has type %q, want %q", s.ID, s.AggregateType, typ)
						}
						if s.AggregateUUID != s.ID || s.Version != 2 {
							t.Errorf("stream %+v: want aggregate_uuid = _id and version 2", s)
						}
						got = append(got, s.ID)
					}
					if next == "" {
						break
					}
					if pages > 20 {
						t.Fatal("pagination does not end")
					}
					cursor = next
				}
				w := slices.Clone(want[typ])
				slices.Sort(w)
				if !slices.Equal(got, w) {
					t.Errorf("got streams %v, want %v (each once, in _id order)", got, w)
				}
				if limit < len(w) && pages < 2 {
					t.Errorf("got %d pages, want several", pages)
				}
			})
		}
	}
	t.Run("default limit", func(t *testing.T) {
		streams, next := list(t, "")
		if len(streams) != 7 || next != "" {
			t.Errorf("got %d streams and cursor %q, want 7 and none", len(streams), next)
		}
	})
	t.Run("bad cursor", func(t *testing.T) {
		e := e.with(t)
		e.get("/v1/streams?cursor=garbage!").wantProblem(t, http.StatusBadRequest, "cursor")
	})
	t.Run("cursor from a documents listing", func(t *testing.T) {
		e := e.with(t)
		var page documents
		e.get("/v1/projections/streams/documents?sort=version&limit=1").want(t, http.StatusOK).decode(t, &page)
		if page.NextCursor == "" {
			t.Fatal("no next cursor")
		}
		e.get("/v1/streams?cursor="+page.NextCursor).wantProblem(t, http.StatusBadRequest, "cursor")
	})
	t.Run("bad limit", func(t *testing.T) {
		e := e.with(t)
		e.get("/v1/streams?limit=0").wantProblem(t, http.StatusBadRequest, "limit")
	})
	t.Run("unknown parameter", func(t *testing.T) {
		e := e.with(t)
		e.get("/v1/streams?type=Order").wantProblem(t, http.StatusBadRequest, `unknown query parameter "type"`)
	})
}

func TestListStreamsWithoutStreamsProjection(t *testing.T) {
	store, err := mongostore.Open(context.Background(), "memory:")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close(context.Background()) })
	srv, err := server.New(store, projections.NewRunner(store, accounts()), server.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, store: store, srv: srv}
	e.http = newHTTPServer(t, srv)
	e.get("/v1/streams").wantProblem(t, http.StatusNotFound, "streams projection")
}

func TestProjections(t *testing.T) {
	e := newEnv(t, server.Options{})
	e.openAccount("alice", 1, 5)
	e.waitLive()

	type status struct {
		Name        string   `json:"name"`
		State       string   `json:"state"`
		Generation  int64    `json:"generation"`
		Applied     int64    `json:"applied"`
		Behind      int64    `json:"behind"`
		LagSeconds  *float64 `json:"lag_seconds"`
		Collections []string `json:"collections"`
		Checkpoint  struct {
			Version int64 `json:"version"`
		} `json:"checkpoint"`
		LastEvent *struct {
			Name string `json:"name"`
		} `json:"last_event"`
		Rebuild *status `json:"rebuild"`
	}
	t.Run("list", func(t *testing.T) {
		e := e.with(t)
		var got struct {
			Projections []status `json:"projections"`
		}
		e.get("/v1/projections").want(t, http.StatusOK).decode(t, &got)
		var names []string
		for _, p := range got.Projections {
			names = append(names, p.Name)
			if p.State != projections.StateLive || p.Behind != 0 || p.LagSeconds == nil {
				t.Errorf("projection %+v: want live, 0 behind, with lag_seconds", p)
			}
		}
		if want := []string{"streams", "event_counts", "accounts"}; !slices.Equal(names, want) {
			t.Errorf("projections: got %v, want %v", names, want)
		}
	})
	t.Run("one", func(t *testing.T) {
		e := e.with(t)
		var got status
		e.get("/v1/projections/accounts").want(t, http.StatusOK).decode(t, &got)
		if got.Name != "accounts" || got.State != projections.StateLive || got.Applied != 2 ||
			!slices.Equal(got.Collections, []string{"accounts", "ledger"}) || got.Checkpoint.Version != 2 ||
			got.LastEvent == nil || got.LastEvent.Name != "Deposited" {
			t.Errorf("got %+v", got)
		}
	})
	t.Run("unknown is 404", func(t *testing.T) {
		e := e.with(t)
		e.get("/v1/projections/nope").wantProblem(t, http.StatusNotFound, "unknown projection")
	})
	t.Run("rebuild unknown is 404", func(t *testing.T) {
		e := e.with(t)
		e.post("/v1/projections/nope/rebuild", "").wantProblem(t, http.StatusNotFound, "unknown projection")
	})
	t.Run("rebuild with a bad mode is 400", func(t *testing.T) {
		e := e.with(t)
		e.post("/v1/projections/accounts/rebuild?mode=now", "").wantProblem(t, http.StatusBadRequest, `mode "now"`)
	})
	for _, mode := range []string{"", "?mode=blue_green", "?mode=drop"} {
		t.Run("rebuild"+mode, func(t *testing.T) {
			e := e.with(t)
			res := e.post("/v1/projections/event_counts/rebuild"+mode, "").want(t, http.StatusAccepted)
			if got := res.header.Get("Location"); got != "/v1/projections/event_counts" {
				t.Errorf("Location: got %q", got)
			}
			var got status
			res.decode(t, &got)
			if got.Name != "event_counts" {
				t.Errorf("got %+v", got)
			}
			e.waitLive(projections.EventCountsProjection)
			var after status
			e.get("/v1/projections/event_counts").want(t, http.StatusOK).decode(t, &after)
			if after.Generation <= 1 && mode != "?mode=drop" {
				t.Errorf("generation after a blue/green rebuild: got %d, want > 1", after.Generation)
			}
			var doc map[string]any
			e.get("/v1/projections/event_counts/documents/Deposited").want(t, http.StatusOK).decode(t, &doc)
			if doc["count"] != float64(1) {
				t.Errorf("event_counts after rebuild: got %v, want count 1", doc)
			}
		})
	}
}

func TestDocuments(t *testing.T) {
	e := newEnv(t, server.Options{})
	type acct struct {
		owner    string
		tier     int64
		deposits []int64
	}
	accts := []acct{
		{"alice", 1, []int64{10, 5}}, {"bob", 2, []int64{40}}, {"carol", 1, nil}, {"dave", 3, []int64{100}},
		{"erin", 2, []int64{7, 7, 7}}, {"frank", 1, []int64{50}}, {"grace", 2, []int64{15}}, {"heidi", 3, []int64{0}},
		{"ivan", 1, []int64{30}}, {"judy", 2, []int64{49}}, {"mallory", 3, []int64{1}},
	}
	ids := map[string]uuid.UUID{}
	balance := map[string]int64{}
	for _, a := range accts {
		ids[a.owner] = e.openAccount(a.owner, a.tier, a.deposits...)
		for _, d := range a.deposits {
			balance[a.owner] += d
		}
	}
	e.waitLive(accountsProjection)
	const base = "/v1/projections/accounts/documents"

	owners := func(page documents) []string {
		var out []string
		for _, d := range page.Documents {
			out = append(out, d["owner"].(string))
		}
		return out
	}
	// all pages through a listing, with a limit, checking each page.
	all := func(t *testing.T, query url.Values, limit int) []map[string]any {
		t.Helper()
		var out []map[string]any
		query.Set("limit", strconv.Itoa(limit))
		for pages := 0; ; pages++ {
			if pages > 50 {
				t.Fatal("pagination does not end")
			}
			var page documents
			e.with(t).get(base+"?"+query.Encode()).want(t, http.StatusOK).decode(t, &page)
			if len(page.Documents) > limit {
				t.Fatalf("page of %d documents, limit %d", len(page.Documents), limit)
			}
			if page.NextCursor != "" && len(page.Documents) != limit {
				t.Fatalf("a short page (%d of %d) with a next cursor", len(page.Documents), limit)
			}
			out = append(out, page.Documents...)
			if page.NextCursor == "" {
				return out
			}
			query.Set("cursor", page.NextCursor)
		}
	}

	t.Run("filters", func(t *testing.T) {
		e := e.with(t)
		tests := []struct {
			query string
			want  []string // owners, sorted
		}{
			{"owner=alice", []string{"alice"}},
			{`owner="alice"`, []string{"alice"}},
			{"owner[eq]=bob", []string{"bob"}},
			{"owner=nobody", nil},
			{"tier=3", []string{"dave", "heidi", "mallory"}},
			{"balance[gte]=15&balance[lt]=50", []string{"alice", "bob", "erin", "grace", "ivan", "judy"}},
			{"balance[gt]=49", []string{"dave", "frank"}},
			{"balance[lte]=0", []string{"carol", "heidi"}},
			{"tier=2&balance[gt]=20", []string{"bob", "erin", "judy"}},
			{"owner[gt]=j&owner[lte]=m", []string{"judy"}},
			{"owner[ne]=alice&tier=1", []string{"carol", "frank", "ivan"}},
			{"_id=" + ids["dave"].String(), []string{"dave"}},
		}
		for _, tt := range tests {
			t.Run(tt.query, func(t *testing.T) {
				e := e.with(t)
				var page documents
				e.get(base+"?"+tt.query).want(t, http.StatusOK).decode(t, &page)
				got := owners(page)
				slices.Sort(got)
				if !slices.Equal(got, tt.want) {
					t.Errorf("got %v, want %v", got, tt.want)
				}
			})
		}
	})

	t.Run("sort", func(t *testing.T) {
		e := e.with(t)
		byBalance := func(desc bool) []string {
			var out []string
			for _, a := range accts {
				out = append(out, a.owner)
			}
			slices.SortStableFunc(out, func(a, b string) int {
				c := int(balance[a] - balance[b])
				if c == 0 {
					c = strings.Compare(ids[a].String(), ids[b].String())
				}
				if desc {
					c = -c
				}
				return c
			})
			return out
		}
		tests := []struct {
			query string
			want  []string
		}{
			{"sort=owner", []string{"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory"}},
			{"sort=-owner", []string{"mallory", "judy", "ivan", "heidi", "grace", "frank", "erin", "dave", "carol", "bob", "alice"}},
			{"sort=owner&limit=3", []string{"alice", "bob", "carol"}},
			{"sort=-owner&limit=2", []string{"mallory", "judy"}},
			{"sort=balance", byBalance(false)},
			{"sort=-balance", byBalance(true)},
			{"sort=owner&tier=3", []string{"dave", "heidi", "mallory"}},
		}
		for _, tt := range tests {
			t.Run(tt.query, func(t *testing.T) {
				e := e.with(t)
				var page documents
				e.get(base+"?"+tt.query).want(t, http.StatusOK).decode(t, &page)
				if got := owners(page); !slices.Equal(got, tt.want) {
					t.Errorf("got %v, want %v", got, tt.want)
				}
			})
		}
	})

	t.Run("pagination visits every document once", func(t *testing.T) {
		for _, sortBy := range []string{"", "_id", "-_id", "owner", "-owner", "balance", "-balance", "tier", "-tier", "opened"} {
			for _, limit := range []int{1, 2, 4, 11, 50} {
				for _, filter := range []string{"", "tier[gte]=2"} {
					t.Run(fmt.Sprintf("sort=%s limit=%d %s", sortBy, limit, filter), func(t *testing.T) {
						q, _ := url.ParseQuery(filter)
						if sortBy != "" {
							q.Set("sort", sortBy)
						}
						docs := all(t, q, limit)
						seen := map[string]int{}
						for _, d := range docs {
							seen[d["owner"].(string)]++
						}
						for _, a := range accts {
							want := 1
							if filter != "" && a.tier < 2 {
								want = 0
							}
							if seen[a.owner] != want {
								t.Errorf("%s seen %d times, want %d", a.owner, seen[a.owner], want)
							}
						}
						// In sort order.
						field := strings.TrimPrefix(sortBy, "-")
						if field == "" {
							field = "_id"
						}
						less := func(a, b map[string]any) int {
							c := compareJSON(a[field], b[field])
							if c == 0 {
								c = compareJSON(a["_id"], b["_id"])
							}
							if strings.HasPrefix(sortBy, "-") {
								c = -c
							}
							return c
						}
						if !slices.IsSortedFunc(docs, less) {
							t.Errorf("documents not in %q order", sortBy)
						}
					})
				}
			}
		}
	})

	t.Run("rendering", func(t *testing.T) {
		e := e.with(t)
		var page documents
		e.get(base+"?owner=alice").want(t, http.StatusOK).decode(t, &page)
		if len(page.Documents) != 1 {
			t.Fatalf("got %d documents", len(page.Documents))
		}
		d := page.Documents[0]
		if d["_id"] != ids["alice"].String() || d["balance"] != float64(15) || d["tier"] != float64(1) {
			t.Errorf("got %v", d)
		}
		if s, ok := d["opened"].(string); !ok {
			t.Errorf("opened: got %#v, want an RFC 3339 string", d["opened"])
		} else if _, err := time.Parse(time.RFC3339, s); err != nil {
			t.Errorf("opened %q: %v", s, err)
		}
	})

	t.Run("another collection", func(t *testing.T) {
		e := e.with(t)
		var page documents
		e.get(base+"?collection=ledger&account="+ids["erin"].String()).want(t, http.StatusOK).decode(t, &page)
		if len(page.Documents) != 3 {
			t.Errorf("erin's ledger: got %d entries, want 3", len(page.Documents))
		}
	})

	t.Run("one document", func(t *testing.T) {
		e := e.with(t)
		var d map[string]any
		e.get(base+"/"+ids["bob"].String()).want(t, http.StatusOK).decode(t, &d)
		if d["owner"] != "bob" || d["balance"] != float64(40) {
			t.Errorf("got %v", d)
		}
		e.get(base+"/"+uuid.NewString()).wantProblem(t, http.StatusNotFound, "no document")
		e.get(base+"/"+ids["bob"].String()+"?collection=ledger").wantProblem(t, http.StatusNotFound, "no document")
		e.get("/v1/projections/event_counts/documents/Deposited").want(t, http.StatusOK)
		e.get("/v1/projections/nope/documents/x").wantProblem(t, http.StatusNotFound, "unknown projection")
		e.get(base+"/x?collection=nope").wantProblem(t, http.StatusNotFound, "unknown collection")
		e.get(base+"/x?owner=bob").wantProblem(t, http.StatusBadRequest, `unknown query parameter "owner"`)
	})

	t.Run("unknown projection or collection is 404", func(t *testing.T) {
		e := e.with(t)
		e.get("/v1/projections/nope/documents").wantProblem(t, http.StatusNotFound, "unknown projection")
		e.get(base+"?collection=nope").wantProblem(t, http.StatusNotFound, "unknown collection")
	})
}

// compareJSON orders two decoded JSON scalars of the same kind.
func compareJSON(a, b any) int {
	switch x := a.(type) {
	case float64:
		y, _ := b.(float64)
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	case string:
		y, _ := b.(string)
		// Dates are RFC 3339 with the fraction's trailing zeros trimmed,
		// which does not sort as text ("…05Z" after "…05.1Z").
		tx, errx := time.Parse(time.RFC3339Nano, x)
		ty, erry := time.Parse(time.RFC3339Nano, y)
		if errx == nil && erry == nil {
			return tx.Compare(ty)
		}
		return strings.Compare(x, y)
	}
	return 0
}

func TestServiceEndpoints(t *testing.T) {
	e := newEnv(t, server.Options{})
	stream := uuid.New()
	id := uuid.NewString()
	e.appendOK(stream, "no_stream", "", event{ID: id, Name: "Noted"})
	e.appendOK(stream, "no_stream", "", event{ID: id, Name: "Noted"}) // a replay
	e.post(streamPath(stream), appendBody(t, "no_stream", "", event{Name: "Noted"})).want(t, http.StatusConflict)
	e.waitLive()

	t.Run("healthz", func(t *testing.T) {
		e := e.with(t)
		res := e.get("/healthz").want(t, http.StatusOK)
		if !strings.Contains(string(res.body), `"ok"`) {
			t.Errorf("body %s", res.body)
		}
	})
	t.Run("readyz", func(t *testing.T) {
		e := e.with(t)
		res := e.get("/readyz").want(t, http.StatusOK)
		if !strings.Contains(string(res.body), `"ok"`) {
			t.Errorf("body %s", res.body)
		}
	})
	t.Run("metrics", func(t *testing.T) {
		e := e.with(t)
		res := e.get("/metrics").want(t, http.StatusOK)
		body := string(res.body)
		for _, want := range []string{
			`annals_appends_total{result="ok"} 2`,
			`annals_appends_total{result="conflict"} 1`,
			"annals_append_conflicts_total 1",
			"annals_appended_events_total 1", // the replay stored nothing
			"annals_http_request_duration_seconds_bucket{code=\"201\",method=\"POST\",route=\"/v1/streams/:id/events\"",
			`annals_projection_lag_seconds{projection="accounts"}`,
			`annals_projection_state{projection="streams",state="live"} 1`,
			`annals_projection_state{projection="streams",state="failed"} 0`,
		} {
			if !strings.Contains(body, want) {
				t.Errorf("metrics lack %q", want)
			}
		}
	})
	t.Run("openapi", func(t *testing.T) {
		e := e.with(t)
		res := e.get("/openapi.yaml").want(t, http.StatusOK)
		if ct := res.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/yaml") {
			t.Errorf("Content-Type: got %q, want application/yaml", ct)
		}
		if !strings.Contains(string(res.body), "openapi: 3.1") {
			t.Errorf("body does not start an OpenAPI 3.1 document: %.80s", res.body)
		}
	})
	t.Run("unknown route is a 404 problem", func(t *testing.T) {
		e := e.with(t)
		e.get("/v1/nothing").wantProblem(t, http.StatusNotFound, "not found")
	})
	t.Run("wrong method is a 405 problem", func(t *testing.T) {
		e := e.with(t)
		res := e.do(request{method: http.MethodDelete, path: "/v1/streams"})
		res.wantProblem(t, http.StatusMethodNotAllowed, "method not allowed")
		if got := res.header.Get("Allow"); !strings.Contains(got, http.MethodGet) {
			t.Errorf("Allow: got %q, want it to name GET", got)
		}
	})
}

func TestReadyzWhenAProjectionFailed(t *testing.T) {
	e := newEnv(t, server.Options{}, fragile())
	e.waitLive()
	e.get("/readyz").want(t, http.StatusOK)
	e.appendOK(uuid.New(), "no_stream", "", event{Name: poisonEvent})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := e.runner.WaitLive(ctx, fragileProjection); err == nil || ctx.Err() != nil {
		t.Fatalf("WaitLive(fragile): got %v, want a failure", err)
	}
	var got struct {
		Status string   `json:"status"`
		Failed []string `json:"failed"`
	}
	e.get("/readyz").want(t, http.StatusServiceUnavailable).decode(t, &got)
	if got.Status != "unavailable" || !slices.Equal(got.Failed, []string{fragileProjection}) {
		t.Errorf("got %+v, want unavailable with fragile failed", got)
	}
	var st struct {
		State   string `json:"state"`
		Failure *struct {
			EventName string `json:"event_name"`
			Error     string `json:"error"`
		} `json:"failure"`
	}
	e.get("/v1/projections/fragile").want(t, http.StatusOK).decode(t, &st)
	if st.State != projections.StateFailed || st.Failure == nil || st.Failure.EventName != poisonEvent || !strings.Contains(st.Failure.Error, "poisoned") {
		t.Errorf("got %+v", st)
	}
	body := string(e.get("/metrics").want(t, http.StatusOK).body)
	if want := `annals_projection_state{projection="fragile",state="failed"} 1`; !strings.Contains(body, want) {
		t.Errorf("metrics lack %q", want)
	}
	e.get("/healthz").want(t, http.StatusOK)
}

func TestAuth(t *testing.T) {
	e := newEnv(t, server.Options{Tokens: []server.Token{
		{Secret: "rw-secret", Access: server.ReadWrite},
		{Secret: "ro-secret", Access: server.ReadOnly},
	}})
	stream := uuid.New()
	body := appendBody(t, nil, "", event{Name: "Noted"})
	tests := []struct {
		name       string
		method     string
		path       string
		auth       string
		wantStatus int
		wantDetail string
	}{
		{"no token GET", http.MethodGet, "/v1/projections", "", http.StatusUnauthorized, "bearer token is required"},
		{"no token POST", http.MethodPost, streamPath(stream), "", http.StatusUnauthorized, "bearer token is required"},
		{"no token live", http.MethodGet, "/v1/events/live", "", http.StatusUnauthorized, "bearer token is required"},
		{"wrong token", http.MethodGet, "/v1/projections", "Bearer nope", http.StatusUnauthorized, "not valid"},
		{"wrong token POST", http.MethodPost, streamPath(stream), "Bearer nope", http.StatusUnauthorized, "not valid"},
		{"prefix of a token", http.MethodGet, "/v1/projections", "Bearer rw-secre", http.StatusUnauthorized, "not valid"},
		{"wrong scheme", http.MethodGet, "/v1/projections", "Basic rw-secret", http.StatusUnauthorized, "bearer token is required"},
		{"empty bearer", http.MethodGet, "/v1/projections", "Bearer ", http.StatusUnauthorized, "bearer token is required"},
		{"read-only GET", http.MethodGet, "/v1/projections", "Bearer ro-secret", http.StatusOK, ""},
		{"read-only POST", http.MethodPost, streamPath(stream), "Bearer ro-secret", http.StatusForbidden, "read-only"},
		{"read-only rebuild", http.MethodPost, "/v1/projections/accounts/rebuild", "Bearer ro-secret", http.StatusForbidden, "read-only"},
		{"read-write GET", http.MethodGet, "/v1/projections", "Bearer rw-secret", http.StatusOK, ""},
		{"read-write POST", http.MethodPost, streamPath(stream), "Bearer rw-secret", http.StatusCreated, ""},
		{"scheme is case-insensitive", http.MethodGet, "/v1/projections", "bearer ro-secret", http.StatusOK, ""},
		{"healthz needs no token", http.MethodGet, "/healthz", "", http.StatusOK, ""},
		{"readyz needs no token", http.MethodGet, "/readyz", "", http.StatusOK, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := e.with(t)
			before := e.eventCount()
			r := request{method: tt.method, path: tt.path, header: map[string]string{}}
			if tt.method == http.MethodPost {
				r.body = strings.NewReader(body)
			}
			if tt.auth != "" {
				r.header["Authorization"] = tt.auth
			}
			res := e.do(r)
			if tt.wantDetail == "" {
				res.want(t, tt.wantStatus)
				return
			}
			res.wantProblem(t, tt.wantStatus, tt.wantDetail)
			if tt.wantStatus == http.StatusUnauthorized {
				if got := res.header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") {
					t.Errorf("WWW-Authenticate: got %q, want a Bearer challenge", got)
				}
			}
			if got := e.eventCount(); got != before {
				t.Errorf("events stored: got %d, want %d", got, before)
			}
		})
	}
}

// TestClosedStore: a store that is gone is 503 on appends, readiness
// fails, and no internal error text reaches the client.
func TestClosedStore(t *testing.T) {
	e := newEnv(t, server.Options{})
	stream := uuid.New()
	e.appendOK(stream, "no_stream", "", event{Name: "Noted"})
	e.waitLive()
	if err := e.store.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.post(streamPath(stream), appendBody(t, nil, "", event{Name: "Noted"})).wantProblem(t, http.StatusServiceUnavailable, "store closed")
	e.get("/readyz").want(t, http.StatusServiceUnavailable)
	for _, path := range []string{streamPath(stream), "/v1/projections", "/v1/streams", "/v1/projections/accounts/documents"} {
		t.Run(path, func(t *testing.T) {
			e := e.with(t)
			res := e.get(path)
			if res.status < 500 {
				t.Fatalf("status: got %d, want a 5xx", res.status)
			}
			var p problem
			res.decode(t, &p)
			if ct := res.header.Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("Content-Type: got %q", ct)
			}
			if p.Status == http.StatusInternalServerError {
				for _, leak := range []string{"lungo", "mongo", "closed", "engine"} {
					if strings.Contains(strings.ToLower(p.Detail), leak) {
						t.Errorf("internal detail %q leaks %q", p.Detail, leak)
					}
				}
			}
		})
	}
}
