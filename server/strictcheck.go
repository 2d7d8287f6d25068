package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"regexp/syntax"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// checkStrict refuses what encoding/json and Extended JSON would change
// silently rather than refuse: duplicate object keys (last wins, or both
// stored), bytes that are not UTF-8 and lone surrogate escapes (both
// become U+FFFD), integers in data or metadata beyond int64 (they become
// doubles), numbers beyond float64, and $regularExpression values MongoDB
// cannot hold. Syntax errors are left to the decoder, which words them
// better: the check stops at the first one and passes.
func checkStrict(b []byte) error {
	if !utf8.Valid(b) {
		return badRequest("the body is not valid UTF-8")
	}
	if err := checkEscapes(b); err != nil {
		return err
	}
	sc := strictScanner{b: b}
	sc.space()
	if err := sc.value(false); err != nil && !errors.Is(err, errStrictSyntax) {
		return err
	}
	return nil
}

// checkEscapes refuses \u escapes of lone UTF-16 surrogates. Outside
// strings a backslash is a syntax error, so the whole body is scanned.
func checkEscapes(b []byte) error {
	for i := bytes.IndexByte(b, '\\'); i >= 0 && i+1 < len(b); {
		i++
		if b[i] == 'u' {
			if r, ok := hex4(b, i+1); ok {
				i += 4
				if utf16.IsSurrogate(r) {
					lo, ok := hex4(b, i+3)
					if r >= 0xDC00 || i+2 >= len(b) || b[i+1] != '\\' || b[i+2] != 'u' || !ok || lo < 0xDC00 || lo > 0xDFFF {
						return badRequest(`a string holds the escape \u%04X, half of a UTF-16 surrogate pair without its other half`, r)
					}
					i += 6
				}
			}
		}
		next := bytes.IndexByte(b[i+1:], '\\')
		if next < 0 {
			break
		}
		i += 1 + next
	}
	return nil
}

func hex4(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		switch {
		case '0' <= c && c <= '9':
			r = r<<4 | rune(c-'0')
		case 'a' <= c && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case 'A' <= c && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

// errStrictSyntax stops the scan at malformed JSON.
var errStrictSyntax = errors.New("syntax")

const maxStrictDepth = 200

// strictScanner walks a JSON body once, byte by byte, keeping the path it
// is at for messages.
type strictScanner struct {
	b    []byte
	i    int
	path []pathSeg
}

// pathSeg is one step of a path: an object key or an array index.
type pathSeg struct {
	key   []byte
	index int
}

func (sc *strictScanner) where() string {
	var b strings.Builder
	for i, seg := range sc.path {
		if seg.key == nil {
			b.WriteString("[" + strconv.Itoa(seg.index) + "]")
			continue
		}
		if i > 0 {
			b.WriteByte('.')
		}
		b.Write(seg.key)
	}
	if b.Len() == 0 {
		return "the body"
	}
	return b.String()
}

func (sc *strictScanner) space() {
	for sc.i < len(sc.b) {
		switch sc.b[sc.i] {
		case ' ', '\t', '\n', '\r':
			sc.i++
		default:
			return
		}
	}
}

// value checks the value at sc.i; inData says whether it is in an
// event's data or metadata, where numbers must fit.
func (sc *strictScanner) value(inData bool) error {
	if sc.i >= len(sc.b) {
		return errStrictSyntax
	}
	if len(sc.path) > maxStrictDepth {
		return badRequest("the body nests deeper than %d levels", maxStrictDepth)
	}
	switch c := sc.b[sc.i]; {
	case c == '{':
		return sc.object(inData)
	case c == '[':
		return sc.array(inData)
	case c == '"':
		_, _, err := sc.str()
		return err
	case c == '-' || '0' <= c && c <= '9':
		start := sc.i
		for sc.i < len(sc.b) && strings.IndexByte("+-.0123456789eE", sc.b[sc.i]) >= 0 {
			sc.i++
		}
		if inData {
			return sc.number(sc.b[start:sc.i])
		}
		return nil
	case 'a' <= c && c <= 'z': // true, false, null
		for sc.i < len(sc.b) && 'a' <= sc.b[sc.i] && sc.b[sc.i] <= 'z' {
			sc.i++
		}
		return nil
	}
	return errStrictSyntax
}

// str scans a string and returns its raw contents and whether they hold
// escapes.
func (sc *strictScanner) str() (raw []byte, escaped bool, err error) {
	sc.i++ // the opening quote
	start := sc.i
	for sc.i < len(sc.b) {
		switch sc.b[sc.i] {
		case '"':
			raw = sc.b[start:sc.i]
			sc.i++
			return raw, escaped, nil
		case '\\':
			escaped = true
			sc.i++
		}
		sc.i++
	}
	return nil, false, errStrictSyntax
}

func (sc *strictScanner) array(inData bool) error {
	sc.i++
	sc.space()
	if sc.i < len(sc.b) && sc.b[sc.i] == ']' {
		sc.i++
		return nil
	}
	sc.path = append(sc.path, pathSeg{})
	defer func() { sc.path = sc.path[:len(sc.path)-1] }()
	for n := 0; ; n++ {
		sc.path[len(sc.path)-1] = pathSeg{index: n}
		sc.space()
		if err := sc.value(inData); err != nil {
			return err
		}
		sc.space()
		if sc.i >= len(sc.b) {
			return errStrictSyntax
		}
		switch sc.b[sc.i] {
		case ',':
			sc.i++
		case ']':
			sc.i++
			return nil
		default:
			return errStrictSyntax
		}
	}
}

func (sc *strictScanner) object(inData bool) error {
	// An event of the append body: events[i]. Its data and metadata are
	// where numbers must fit.
	event := len(sc.path) == 2 && string(sc.path[0].key) == "events" && sc.path[1].key == nil
	sc.i++
	sc.space()
	if sc.i < len(sc.b) && sc.b[sc.i] == '}' {
		sc.i++
		return nil
	}
	var buf [8][]byte
	keys := buf[:0] // few keys: a linear scan beats a map
	var many map[string]bool
	sc.path = append(sc.path, pathSeg{})
	defer func() { sc.path = sc.path[:len(sc.path)-1] }()
	for {
		sc.space()
		if sc.i >= len(sc.b) || sc.b[sc.i] != '"' {
			return errStrictSyntax
		}
		key, escaped, err := sc.str()
		if err != nil {
			return err
		}
		if escaped {
			var k string
			if json.Unmarshal(sc.b[sc.i-len(key)-2:sc.i], &k) != nil {
				return errStrictSyntax
			}
			key = []byte(k)
		}
		sc.path[len(sc.path)-1] = pathSeg{key: key}
		dup := false
		if many == nil {
			for _, k := range keys {
				dup = dup || bytes.Equal(k, key)
			}
			if keys = append(keys, key); len(keys) > 16 {
				many = make(map[string]bool, 2*len(keys))
				for _, k := range keys[:len(keys)-1] {
					many[string(k)] = true
				}
			}
		}
		if many != nil {
			dup = dup || many[string(key)]
			many[string(key)] = true
		}
		if dup {
			sc.path = sc.path[:len(sc.path)-1]
			where := sc.where()
			sc.path = append(sc.path, pathSeg{key: key})
			return badRequest("%s holds the key %q twice", where, key)
		}
		sc.space()
		if sc.i >= len(sc.b) || sc.b[sc.i] != ':' {
			return errStrictSyntax
		}
		sc.i++
		sc.space()
		data := inData || event && (string(key) == "data" || string(key) == "metadata")
		if data && string(key) == "$regularExpression" {
			err = sc.regex()
		} else {
			err = sc.value(data)
		}
		if err != nil {
			return err
		}
		sc.space()
		if sc.i >= len(sc.b) {
			return errStrictSyntax
		}
		switch sc.b[sc.i] {
		case ',':
			sc.i++
		case '}':
			sc.i++
			return nil
		default:
			return errStrictSyntax
		}
	}
}

// number refuses numbers that would not be stored as written: integers
// beyond int64 (Extended JSON would make them doubles) and numbers beyond
// float64.
func (sc *strictScanner) number(n []byte) error {
	if fitsSurely(n) {
		return nil
	}
	s := string(n)
	if !strings.ContainsAny(s, ".eE") {
		if _, err := strconv.ParseInt(s, 10, 64); err != nil {
			if errors.Is(err, strconv.ErrSyntax) {
				return errStrictSyntax
			}
			return badRequest("%s: the integer %s is beyond int64 (%d to %d); send it as a string, or as a number with a fraction to store a double",
				sc.where(), s, int64(math.MinInt64), int64(math.MaxInt64))
		}
		return nil
	}
	if _, err := strconv.ParseFloat(s, 64); err != nil {
		if errors.Is(err, strconv.ErrSyntax) {
			return errStrictSyntax
		}
		return badRequest("%s: the number %s is beyond a double's range", sc.where(), s)
	}
	return nil
}

// fitsSurely reports numbers that need no parsing to fit: integers of at
// most 18 digits, and plain decimals (no exponent) of under 300 digits.
func fitsSurely(n []byte) bool {
	digits := len(n)
	if digits > 0 && n[0] == '-' {
		digits--
	}
	if bytes.IndexByte(n, '.') < 0 {
		return digits <= 18 && bytes.IndexAny(n, "eE") < 0
	}
	return digits < 300 && bytes.IndexAny(n, "eE") < 0
}

// regex checks a $regularExpression value the way MongoDB stores it:
// options from "ilmsux" once each, no NUL, and a pattern that is not
// malformed in any regular expression dialect (unbalanced parentheses or
// brackets, a trailing backslash, a repeat of nothing, a reversed range).
// Constructs only some dialects have (lookahead, backreferences) pass.
func (sc *strictScanner) regex() error {
	start := sc.i
	if err := sc.value(false); err != nil {
		return err
	}
	where := sc.where()
	var re struct {
		Pattern *string `json:"pattern"`
		Options *string `json:"options"`
	}
	if json.Unmarshal(sc.b[start:sc.i], &re) != nil || re.Pattern == nil || re.Options == nil {
		return badRequest(`%s must be {"pattern": string, "options": string}`, where)
	}
	if strings.ContainsRune(*re.Pattern, 0) || strings.ContainsRune(*re.Options, 0) {
		return badRequest("%s holds a NUL character", where)
	}
	var seen [128]bool
	for _, o := range *re.Options {
		if !strings.ContainsRune("ilmsux", o) || seen[o] {
			return badRequest(`%s.options %q must be letters from "ilmsux", each at most once`, where, *re.Options)
		}
		seen[o] = true
	}
	if _, err := syntax.Parse(*re.Pattern, syntax.Perl); err != nil {
		var se *syntax.Error
		if errors.As(err, &se) {
			switch se.Code {
			case syntax.ErrMissingParen, syntax.ErrUnexpectedParen, syntax.ErrMissingBracket,
				syntax.ErrTrailingBackslash, syntax.ErrMissingRepeatArgument, syntax.ErrInvalidCharRange:
				return badRequest("%s.pattern %q is not a valid regular expression: %s", where, *re.Pattern, se.Code)
			}
		}
	}
	return nil
}
