package main

import (
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/google/uuid"
)

// TestNamesAndMetadataKeysOverHTTP: names other event stores accept and
// dotted (OpenTelemetry) or '$' metadata keys go through the API and come
// back exactly as sent.
func TestNamesAndMetadataKeysOverHTTP(t *testing.T) {
	api := startAPI(t)
	stream := uuid.NewString()
	meta := map[string]any{"http.method": "POST", "trace.id": "4bf92f3577b34da6", "$x": 1.5, "a%2Eb": "literal", "correlation_id": "c-1"}
	metaJSON, _ := json.Marshal(meta)
	body := `{"aggregate_type":"orders@v2","events":[{"name":"todolist:created"},{"name":"Order/Created","metadata":` + string(metaJSON) + `}]}`
	req, _ := http.NewRequest(http.MethodPost, api.url+"/v1/streams/"+stream+"/events", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("append: %d %s", resp.StatusCode, out)
	}
	req, _ = http.NewRequest(http.MethodGet, api.url+"/v1/streams/"+stream+"/events", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got struct {
		AggregateType string `json:"aggregate_type"`
		Events        []struct {
			Name     string         `json:"name"`
			Metadata map[string]any `json:"metadata"`
		} `json:"events"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if got.AggregateType != "orders@v2" || len(got.Events) != 2 || got.Events[0].Name != "todolist:created" || got.Events[1].Name != "Order/Created" {
		t.Fatalf("got %+v", got)
	}
	if !reflect.DeepEqual(got.Events[1].Metadata, meta) {
		t.Errorf("metadata came back as %v, want %v", got.Events[1].Metadata, meta)
	}
}
