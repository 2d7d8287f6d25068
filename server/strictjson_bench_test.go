package server

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// strictBenchBody is an append of 100 events with 100-field data each
// (about 0.5 MB).
func strictBenchBody() []byte {
	var b strings.Builder
	b.WriteString(`{"events":[`)
	for i := range 100 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"name":"Measured","data":{`)
		for j := range 100 {
			if j > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `"field_%d":{"n":%d,"s":"value %d"}`, j, i*j, j)
		}
		b.WriteString(`},"metadata":{"actor":"bench"}}`)
	}
	b.WriteString(`]}`)
	return []byte(b.String())
}

// BenchmarkCheckStrict measures the strict JSON walk alone, beside
// BenchmarkDecodeAppend, the decoding it comes with.
func BenchmarkCheckStrict(b *testing.B) {
	body := strictBenchBody()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if err := checkStrict(body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeAppend decodes the same body as the server does (strict
// walk included).
func BenchmarkDecodeAppend(b *testing.B) {
	body := strictBenchBody()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		var r AppendRequest
		if err := json.Unmarshal(body, &r); err != nil {
			b.Fatal(err)
		}
	}
}
