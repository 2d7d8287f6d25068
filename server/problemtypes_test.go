package server

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

// TestEveryProblemTypeIsDocumented: every problem type and status the
// server can answer with (the error table, Echo's own statuses and the
// internal error) is a documented response in openapi.yaml, and the spec
// documents no problem type the server never returns.
func TestEveryProblemTypeIsDocumented(t *testing.T) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(OpenAPI)
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{} // "slug status"
	for name, ref := range doc.Components.Responses {
		mt := ref.Value.Content.Get("application/problem+json")
		if mt == nil {
			continue
		}
		types, statuses := problemConsts(mt.Schema.Value)
		if len(types) == 0 || len(statuses) == 0 {
			t.Errorf("response %s documents a problem without its types or status", name)
		}
		for _, ty := range types {
			for _, st := range statuses {
				documented[fmt.Sprintf("%s %v", strings.TrimPrefix(ty, problemBase), st)] = true
			}
		}
	}
	code := map[string]bool{fmt.Sprintf("%s %d", internalKind.slug, internalKind.status): true}
	for _, row := range table {
		code[fmt.Sprintf("%s %d", row.slug, row.status)] = true
	}
	for _, k := range echoKinds {
		code[fmt.Sprintf("%s %d", k.slug, k.status)] = true
	}
	for _, k := range slices.Sorted(maps.Keys(code)) {
		if !documented[k] {
			t.Errorf("problem %q (type and status) is returned by the server but not documented in openapi.yaml", k)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(documented)) {
		if !code[k] {
			t.Errorf("openapi.yaml documents problem %q, which the server never returns", k)
		}
	}
	for _, want := range []string{"canceled 503", "timeout 503", "request-timeout 408"} {
		if !code[want] {
			t.Errorf("the error table lacks %q", want)
		}
	}
	t.Logf("%d problem types and statuses in the server", len(code))
}

// problemConsts collects the const or enum values of a problem schema's
// type and status, through allOf and oneOf.
func problemConsts(s *openapi3.Schema) (types []string, statuses []any) {
	if s == nil {
		return nil, nil
	}
	for _, sub := range append(append(openapi3.SchemaRefs{}, s.AllOf...), s.OneOf...) {
		ty, st := problemConsts(sub.Value)
		types, statuses = append(types, ty...), append(statuses, st...)
	}
	if p := s.Properties["type"]; p != nil {
		if c, ok := p.Value.Const.(string); ok {
			types = append(types, c)
		}
		for _, e := range p.Value.Enum {
			types = append(types, e.(string))
		}
	}
	if p := s.Properties["status"]; p != nil && p.Value.Const != nil {
		statuses = append(statuses, p.Value.Const)
	}
	return types, statuses
}
