package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	for _, uri := range []string{"memory:", "file:" + filepath.Join(t.TempDir(), "demo.db")} {
		t.Run(uri, func(t *testing.T) {
			var out bytes.Buffer
			if err := run(context.Background(), uri, &out); err != nil {
				t.Fatalf("run: %v\n%s", err, out.String())
			}
			for _, want := range []string{
				"created order", "cancel refused: expected version 1, the order is at version 2",
				"confirmation retried: version 2, replayed true", "(Order) is at version 2",
				"as of version 1: created for ana, total 42.50",
				`OrderCreated    {"customer":"ana","total":42.5}`,
			} {
				if !strings.Contains(out.String(), want) {
					t.Errorf("output lacks %q:\n%s", want, out.String())
				}
			}
			if strings.Contains(out.String(), "$number") {
				t.Errorf("output shows canonical Extended JSON:\n%s", out.String())
			}
		})
	}
}
