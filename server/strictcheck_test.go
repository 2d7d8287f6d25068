package server

import (
	"errors"
	"strings"
	"testing"
)

// TestCheckStrictScanner: valid JSON with the scanner's tricky spots
// passes; malformed JSON passes too (the decoder words that error); the
// strict refusals name where they are.
func TestCheckStrictScanner(t *testing.T) {
	pass := []string{
		`{"events":[{"name":"A","data":{"s":"a\"b","t":"\\u0041\\ud800","e":{},"a":[],"n":[[1,[2]],{"x":-0.5e-3}]}}]}`,
		" \n{ \"events\" : [ { \"name\" : \"A\" , \"data\" : { \"k\" : 1 } } ] }\t",
		`{"events":[{"name":"A","data":{"big":12345678901234567890.5,"t":true,"f":false,"z":null}}]}`,
		`{"expected_version":99999999999999999999,"events":[]}`, // not data: the decoder's rule applies
		`{"events":[{"name":"A","data":{"k":1}},{"name":"A","data":{"k":1}}]}`,
		// Malformed: left to the decoder.
		`{"events":[`, `{"a" 1}`, `{"a":1,}`, `[1 2]`, `{"events":[{"data":{"n":1-2}}]}`, ``, `"`,
	}
	for _, body := range pass {
		if err := checkStrict([]byte(body)); err != nil {
			t.Errorf("%s: %v", body, err)
		}
	}
	refuse := map[string]string{
		`{"events":[{"name":"A","data":{"a":{"b":[0,{"c":1,"c":2}]}}}]}`:                             `events[0].data.a.b[1] holds the key "c" twice`,
		`{"events":[{"name":"A","data":{"a":[1,99999999999999999999]}}]}`:                            `events[0].data.a[1]: the integer 99999999999999999999 is beyond int64`,
		`{"events":[{"name":"A","metadata":{"n":-99999999999999999999}}]}`:                           `events[0].metadata.n: the integer`,
		`{"events":[{"name":"A","data":{"r":{"$regularExpression":{"pattern":"[","options":""}}}}]}`: `events[0].data.r.$regularExpression.pattern "[" is not a valid regular expression`,
		`{"a":1,"a":1}`: `the body holds the key "a" twice`,
	}
	for body, want := range refuse {
		err := checkStrict([]byte(body))
		if !errors.Is(err, errBadRequest) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want %q", body, err, want)
		}
	}
}
