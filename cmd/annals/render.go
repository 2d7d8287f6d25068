package main

import (
	"bytes"
	"encoding/json"
	"io"
	"time"

	"github.com/annalsdb/annals/mongostore"
	"github.com/annalsdb/annals/server"
)

// eventView is an event as the commands print it: the HTTP API's shape,
// so --json output is the same whether a command talks to a store or a
// server.
type eventView = server.EventView

// viewOf renders a stored event as the API does.
func viewOf(e mongostore.Event) (eventView, error) { return server.RenderEvent(e) }

// formatTime is how annals prints times everywhere (tables, exports,
// the HTTP API): UTC, RFC 3339 with as many fractional digits as needed
// (time.RFC3339Nano, trailing zeros trimmed), as encoding/json and
// relaxed Extended JSON write them.
func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// writeJSON writes v as one line of JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// writeJSONIndent writes v as indented JSON, for single documents.
func writeJSONIndent(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// compactJSON renders raw JSON on one line, or {} when empty.
func compactJSON(raw json.RawMessage) string {
	if len(raw) == 0 {
		return "{}"
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return string(raw)
	}
	return buf.String()
}
