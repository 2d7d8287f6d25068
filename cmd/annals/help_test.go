package main

import (
	"strings"
	"testing"
)

// TestHelpSaysWhere: every command's --help says whether it talks to the
// store or a server, and names the ANNALS_* variables.
func TestHelpSaysWhere(t *testing.T) {
	cases := []struct {
		args  []string
		wants []string
	}{
		{[]string{"--help"}, []string{"append", "read", "tail", "projections", "export", "import", "doctor"}},
		{[]string{"append", "--help"}, []string{"either to a running server", "--server", "--store", "ANNALS_SERVER", "--expected-version", "POST /v1/streams/{id}/events"}},
		{[]string{"read", "--help"}, []string{"either to a running server", "--as-of", "--from", "--to", "--limit"}},
		{[]string{"tail", "--help"}, []string{"either to a running server", "GET /v1/events/live", "only sees appends made in the same process"}},
		{[]string{"projections", "--help"}, []string{"either to a running server", "list", "status", "rebuild", "reset"}},
		{[]string{"projections", "list", "--help"}, []string{"either to a running server", "--server"}},
		{[]string{"projections", "status", "--help"}, []string{"either to a running server"}},
		{[]string{"projections", "rebuild", "--help"}, []string{"either to a running server", "--mode", "blue_green", "progress bar"}},
		{[]string{"projections", "reset", "--help"}, []string{"either to a running server", "--wait"}},
		{[]string{"export", "--help"}, []string{"talks to the store directly", "ANNALS_STORE", "--out", "canonical Extended JSON"}},
		{[]string{"import", "--help"}, []string{"talks to the store directly", "--in", "idempotent"}},
		{[]string{"doctor", "--help"}, []string{"talks to the store directly", "oplog window", "exit code is 0"}},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			cli(t, nil, c.args...).expect(t, exitOK, c.wants...)
		})
	}
}
