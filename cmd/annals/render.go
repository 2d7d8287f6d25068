package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"time"

	"github.com/annalsdb/annals/mongostore"
	"go.mongodb.org/mongo-driver/bson"
)

// eventView is an event as the commands print it: the shape of the HTTP
// API's events, so --json output is the same whether a command talks to a
// store or a server.
type eventView struct {
	ID            string          `json:"id"`
	AggregateUUID string          `json:"aggregate_uuid"`
	AggregateType string          `json:"aggregate_type"`
	Version       int64           `json:"version"`
	Name          string          `json:"name"`
	SchemaVersion int32           `json:"schema_version"`
	Data          json.RawMessage `json:"data"`
	Metadata      json.RawMessage `json:"metadata"`
	RecordedAt    time.Time       `json:"recorded_at"`
}

// viewOf renders a stored event as the API does: data and metadata as
// relaxed Extended JSON, the named metadata fields first, then the others
// by key.
func viewOf(e mongostore.Event) (eventView, error) {
	data, err := bson.MarshalExtJSON(e.Data, false, false)
	if err != nil {
		return eventView{}, fmt.Errorf("render event %s data: %w", e.ID, err)
	}
	meta := bson.D{}
	for _, f := range []struct{ k, v string }{
		{"correlation_id", e.Metadata.CorrelationID},
		{"causation_id", e.Metadata.CausationID},
		{"actor", e.Metadata.Actor},
	} {
		if f.v != "" {
			meta = append(meta, bson.E{Key: f.k, Value: f.v})
		}
	}
	for _, k := range slices.Sorted(maps.Keys(e.Metadata.Extra)) {
		meta = append(meta, bson.E{Key: k, Value: e.Metadata.Extra[k]})
	}
	metaJSON, err := bson.MarshalExtJSON(meta, false, false)
	if err != nil {
		return eventView{}, fmt.Errorf("render event %s metadata: %w", e.ID, err)
	}
	return eventView{
		ID: e.ID.String(), AggregateUUID: e.Stream.String(), AggregateType: e.StreamType, Version: e.Version,
		Name: e.Name, SchemaVersion: e.SchemaVersion, Data: data, Metadata: metaJSON, RecordedAt: e.RecordedAt,
	}, nil
}

// timeFormat is how the tables print times: UTC with milliseconds, the
// precision events are recorded with.
const timeFormat = "2006-01-02T15:04:05.000Z07:00"

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
