package server

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// encoding/json matches field names case-insensitively, so "Events" would
// fill events. The API's field names are exact: these methods refuse any
// other spelling before decoding.

var (
	appendFields = []string{"expected_version", "aggregate_type", "events"}
	eventFields  = []string{"id", "name", "schema_version", "data", "metadata"}
)

// exactFields refuses object keys that are not exactly one of allowed. A
// value that is not an object is left for the decoder to report.
func exactFields(b []byte, where string, allowed []string) error {
	var m map[string]json.RawMessage
	if json.Unmarshal(b, &m) != nil {
		return nil
	}
	for k := range m {
		if !slices.Contains(allowed, k) {
			return fmt.Errorf("%w: unknown field %q in %s; the fields are %s (case-sensitive)",
				errBadRequest, k, where, strings.Join(allowed, ", "))
		}
	}
	return nil
}

// UnmarshalJSON decodes the append body with exact field names, refusing
// what JSON decoding would change silently (see checkStrict).
func (r *AppendRequest) UnmarshalJSON(b []byte) error {
	if err := checkStrict(b); err != nil {
		return err
	}
	if err := exactFields(b, "the body", appendFields); err != nil {
		return err
	}
	type plain AppendRequest
	return json.Unmarshal(b, (*plain)(r))
}

// UnmarshalJSON decodes one event of the append body with exact field
// names.
func (e *EventRequest) UnmarshalJSON(b []byte) error {
	if err := exactFields(b, "an event", eventFields); err != nil {
		return err
	}
	type plain EventRequest
	return json.Unmarshal(b, (*plain)(e))
}
