package mongostore

import "strings"

// Metadata keys are stored escaped so that any key round-trips while the
// stored field names keep MongoDB's rules (no '.', which is a path
// separator, and no leading '$', which marks an operator):
//
//	'%'         is stored as "%25"
//	'.'         is stored as "%2E"
//	leading '$' is stored as "%24"
//
// Every other byte is stored as it is, so keys without '%', '.' or a
// leading '$' are stored and read unchanged. The escape is injective: '%'
// is escaped too, so two keys never share a stored name.
//
// Stores written before escaping existed (released file: stores and
// MongoDB databases) refused only keys with a '.' or a leading '$': their
// keys may hold '%', and so may literally be "100%25", "a%2Eb" or
// "%24x". Unescaping those would change them. So an event whose metadata
// has at least one key that escaping changed is marked with
// metadata_escaped: true, and only the keys of marked events are
// unescaped on load; every other event's keys load as stored, whatever
// they hold. (UnescapeMetadataKey itself leaves a stored name that is
// not a canonical escape, such as "100%", as it is.)

// EscapeMetadataKey returns the field name metadata key k is stored
// under in the events collection (in metadata.<name>): what a query
// against the collection itself must use.
func EscapeMetadataKey(k string) string {
	if !strings.ContainsAny(k, "%.") && !strings.HasPrefix(k, "$") {
		return k
	}
	var b strings.Builder
	b.Grow(len(k) + 4)
	for i := 0; i < len(k); i++ {
		switch c := k[i]; {
		case c == '%':
			b.WriteString("%25")
		case c == '.':
			b.WriteString("%2E")
		case c == '$' && i == 0:
			b.WriteString("%24")
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// UnescapeMetadataKey returns the metadata key stored under the field
// name stored by an event marked metadata_escaped: the inverse of
// EscapeMetadataKey. The keys of unmarked events are not escaped.
func UnescapeMetadataKey(stored string) string {
	if !strings.Contains(stored, "%") || !canonicalEscapes(stored) {
		return stored
	}
	var b strings.Builder
	b.Grow(len(stored))
	for i := 0; i < len(stored); i++ {
		if stored[i] != '%' {
			b.WriteByte(stored[i])
			continue
		}
		switch stored[i+1 : i+3] {
		case "25":
			b.WriteByte('%')
		case "2E":
			b.WriteByte('.')
		case "24":
			b.WriteByte('$')
		}
		i += 2
	}
	return b.String()
}

// canonicalEscapes reports whether every '%' of s starts "%25", "%2E" or
// "%24" (this last one only at the start), as EscapeMetadataKey writes
// them.
func canonicalEscapes(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			continue
		}
		if i+3 > len(s) {
			return false
		}
		switch s[i+1 : i+3] {
		case "25", "2E":
		case "24":
			if i != 0 {
				return false
			}
		default:
			return false
		}
		i += 2
	}
	return true
}
