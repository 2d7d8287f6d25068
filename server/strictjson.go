package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp/syntax"
	"slices"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
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

// checkStrict refuses what encoding/json and Extended JSON would change
// silently rather than refuse: duplicate object keys (last wins, or both
// stored), bytes that are not UTF-8 and lone surrogate escapes (both
// become U+FFFD), integers in data beyond int64 (they become doubles),
// numbers beyond float64, and $regularExpression values MongoDB cannot
// hold. Syntax errors are left to the decoder, which words them better.
func checkStrict(b []byte) error {
	if !utf8.Valid(b) {
		return badRequest("the body is not valid UTF-8")
	}
	if err := checkEscapes(b); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	w := strictWalker{dec: dec}
	err := w.value("", false)
	if errors.Is(err, errBadRequest) {
		return err
	}
	return nil // a syntax error: the decoder reports it
}

// checkEscapes refuses \u escapes of lone UTF-16 surrogates.
func checkEscapes(b []byte) error {
	for i := 0; i < len(b); i++ {
		if b[i] != '\\' || i+1 >= len(b) {
			continue
		}
		i++
		if b[i] != 'u' {
			continue
		}
		r, ok := hex4(b, i+1)
		if !ok {
			continue // a syntax error
		}
		i += 4
		switch {
		case utf16.IsSurrogate(r) && r < 0xDC00: // high: a low one must follow
			lo, ok := hex4(b, i+3)
			if i+2 >= len(b) || b[i+1] != '\\' || b[i+2] != 'u' || !ok || lo < 0xDC00 || lo > 0xDFFF {
				return badRequest(`a string holds the escape \u%04X, half of a UTF-16 surrogate pair without its other half`, r)
			}
			i += 6
		case utf16.IsSurrogate(r):
			return badRequest(`a string holds the escape \u%04X, half of a UTF-16 surrogate pair without its other half`, r)
		}
	}
	return nil
}

func hex4(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	n, err := strconv.ParseUint(string(b[i:i+4]), 16, 16)
	return rune(n), err == nil
}

// strictWalker walks one JSON value token by token.
type strictWalker struct {
	dec   *json.Decoder
	depth int
}

const maxStrictDepth = 200

// value checks the next value; path names it for messages, and inData
// says whether it is event data or metadata, where numbers must fit.
func (w *strictWalker) value(path string, inData bool) error {
	tok, err := w.dec.Token()
	if err != nil {
		return err
	}
	switch t := tok.(type) {
	case json.Delim:
		if w.depth++; w.depth > maxStrictDepth {
			return badRequest("the body nests deeper than %d levels", maxStrictDepth)
		}
		defer func() { w.depth-- }()
		if t == '[' {
			for i := 0; w.dec.More(); i++ {
				if err := w.value(fmt.Sprintf("%s[%d]", path, i), inData); err != nil {
					return err
				}
			}
		} else {
			if err := w.object(path, inData); err != nil {
				return err
			}
		}
		_, err := w.dec.Token() // the closing delimiter
		return err
	case json.Number:
		if inData {
			return checkNumber(path, t)
		}
	}
	return nil
}

func (w *strictWalker) object(path string, inData bool) error {
	seen := map[string]bool{}
	for w.dec.More() {
		tok, err := w.dec.Token()
		if err != nil {
			return err
		}
		key, _ := tok.(string)
		if seen[key] {
			return badRequest("%s holds the key %q twice", orBody(path), key)
		}
		seen[key] = true
		child := key
		if path != "" {
			child = path + "." + key
		}
		data := inData || dataField(path, key)
		if data && key == "$regularExpression" {
			if err := w.regex(child); err != nil {
				return err
			}
			continue
		}
		if err := w.value(child, data); err != nil {
			return err
		}
	}
	return nil
}

// dataField reports whether key of the object at path is an event's data
// or metadata: events[i].data, events[i].metadata.
func dataField(path, key string) bool {
	return (key == "data" || key == "metadata") && strings.HasPrefix(path, "events[") && !strings.Contains(path, ".")
}

// regex checks a $regularExpression value the way MongoDB stores it:
// options from "ilmsux" once each, no NUL, and a pattern that is not
// malformed in any regular expression dialect (unbalanced parentheses or
// brackets, a trailing backslash, a repeat of nothing).
func (w *strictWalker) regex(path string) error {
	var raw json.RawMessage
	if err := w.dec.Decode(&raw); err != nil {
		return err
	}
	sub := strictWalker{dec: json.NewDecoder(bytes.NewReader(raw)), depth: w.depth}
	sub.dec.UseNumber()
	if err := sub.value(path, false); err != nil {
		return err
	}
	var re struct {
		Pattern *string `json:"pattern"`
		Options *string `json:"options"`
	}
	if json.Unmarshal(raw, &re) != nil || re.Pattern == nil || re.Options == nil {
		return badRequest(`%s must be {"pattern": string, "options": string}`, path)
	}
	if strings.ContainsRune(*re.Pattern, 0) || strings.ContainsRune(*re.Options, 0) {
		return badRequest("%s holds a NUL character", path)
	}
	seen := map[rune]bool{}
	for _, o := range *re.Options {
		if !strings.ContainsRune("ilmsux", o) || seen[o] {
			return badRequest("%s.options %q must be letters from \"ilmsux\", each at most once", path, *re.Options)
		}
		seen[o] = true
	}
	if _, err := syntax.Parse(*re.Pattern, syntax.Perl); err != nil {
		var se *syntax.Error
		if errors.As(err, &se) {
			switch se.Code {
			case syntax.ErrMissingParen, syntax.ErrUnexpectedParen, syntax.ErrMissingBracket,
				syntax.ErrTrailingBackslash, syntax.ErrMissingRepeatArgument, syntax.ErrInvalidCharRange:
				return badRequest("%s.pattern %q is not a valid regular expression: %s", path, *re.Pattern, se.Code)
			}
		}
	}
	return nil
}

// checkNumber refuses numbers that would not be stored as written:
// integers beyond int64 (Extended JSON would make them doubles) and
// numbers beyond float64.
func checkNumber(path string, n json.Number) error {
	s := string(n)
	if !strings.ContainsAny(s, ".eE") {
		if _, err := strconv.ParseInt(s, 10, 64); err != nil {
			return badRequest("%s: the integer %s is beyond int64 (%d to %d); send it as a string, or as a number with a fraction to store a double",
				path, s, int64(math.MinInt64), int64(math.MaxInt64))
		}
		return nil
	}
	if _, err := strconv.ParseFloat(s, 64); err != nil {
		return badRequest("%s: the number %s is beyond a double's range", path, s)
	}
	return nil
}

func orBody(path string) string {
	if path == "" {
		return "the body"
	}
	return path
}
