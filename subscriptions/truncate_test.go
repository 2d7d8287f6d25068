package subscriptions

import (
	"testing"
	"unicode/utf8"
)

// TestTruncate: reasons and errors are cut to their byte limit without
// splitting a character.
func TestTruncate(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"abcdef", 3, "abc"},
		{"ééé", 3, "é"}, // é is 2 bytes: 3 would split the second
		{"ééé", 4, "éé"},
		{"日本", 2, ""},
	} {
		got := truncate(tc.in, tc.n)
		if got != tc.want || !utf8.ValidString(got) {
			t.Errorf("truncate(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}
