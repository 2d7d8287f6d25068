package main

import (
	"strings"
	"testing"

	"github.com/google/uuid"
)

// TestLockedAdvice: a command that finds its file: store locked gives the
// advice that works for it, once: commands with --server suggest it (with
// the command's own name, --server being no flag of the root command);
// the others, and serve, say to stop the holder.
func TestLockedAdvice(t *testing.T) {
	uri := fileStore(t)
	openStore(t, uri) // held by this process, as a running server would
	stream := uuid.NewString()
	cases := []struct {
		name   string
		args   []string
		want   string
		refuse []string
	}{
		{name: "read", args: []string{"read", stream, "--store", uri}, want: "annals read --server http://127.0.0.1:8080", refuse: []string{"annals --server", "stop the process"}},
		{name: "projections status", args: []string{"projections", "status", "streams", "--store", uri}, want: "annals projections status --server", refuse: []string{"annals --server"}},
		{name: "export", args: []string{"export", "--store", uri, "--out", t.TempDir() + "/out.jsonl"}, want: "annals export needs the store itself: stop the process that holds it", refuse: []string{"--server"}},
		{name: "serve", args: []string{"serve", "--store", uri, "--addr", "127.0.0.1:0"}, want: "give this server a store of its own with --store", refuse: []string{"--server"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := cli(t, nil, c.args...)
			r.expect(t, exitError, "store file is locked", c.want)
			for _, bad := range c.refuse {
				if strings.Contains(r.stderr, bad) {
					t.Errorf("stderr says %q:\n%s", bad, r.stderr)
				}
			}
			if n := strings.Count(r.stderr, "instead") + strings.Count(r.stderr, "stop it"); n > 1 {
				t.Errorf("the advice is given %d times:\n%s", n, r.stderr)
			}
		})
	}
}
