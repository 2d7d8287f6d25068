package server_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/annalsdb/annals/mongostore"
	"github.com/annalsdb/annals/server"
	"github.com/google/uuid"
)

// nested is a JSON value nested levels deep: an object (or array) holding
// the next, down to an empty one.
func nested(levels int, array bool) string {
	open, close := `{"a":`, `}`
	leaf := `{}`
	if array {
		open, close, leaf = `[`, `]`, `[]`
	}
	return strings.Repeat(open, levels-1) + leaf + strings.Repeat(close, levels-1)
}

// Data or metadata nested deeper than MongoDB stores (MaxNestingDepth,
// counting the event document) is refused with 400 and the invalid-input
// problem on every engine, not stored by the embedded engine and a 500 on
// MongoDB; nesting at the limit is stored.
func TestAppendNestingLimit(t *testing.T) {
	e := newEnv(t, server.Options{})
	limit := mongostore.MaxNestingDepth - 1 // the data document is level 1
	tests := []struct {
		name  string
		event string
		want  int
	}{
		{"data at the limit", `"data":` + nested(limit, false), http.StatusCreated},
		{"data one level deeper", `"data":` + nested(limit+1, false), http.StatusBadRequest},
		{"data arrays one level deeper", `"data":{"a":` + nested(limit, true) + `}`, http.StatusBadRequest},
		{"metadata one level deeper", `"metadata":` + nested(limit+1, false), http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := `{"events":[{"name":"Noted",` + tt.event + `}]}`
			before := e.eventCount()
			res := e.with(t).do(request{method: http.MethodPost, path: streamPath(uuid.New()), body: strings.NewReader(body)})
			if tt.want == http.StatusCreated {
				res.want(t, http.StatusCreated)
				return
			}
			p := res.wantProblem(t, http.StatusBadRequest, "levels deep")
			if !strings.HasSuffix(p.Type, "/invalid-input") {
				t.Errorf("problem type %q, want the invalid-input problem", p.Type)
			}
			if after := e.eventCount(); after != before {
				t.Errorf("events stored: got %d, want %d", after, before)
			}
		})
	}
}
