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
// leading '$' — all the keys stores written before escaping hold — are
// stored and read unchanged. The escape is injective: '%' is escaped
// too, so two keys never share a stored name.
//
// On load, a stored key is unescaped only when each of its '%' starts one
// of the three escapes; any other stored key (say "100%", written before
// escaping) loads as it is.

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
// name stored: the inverse of EscapeMetadataKey.
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
