package main

import (
	"os"
	"strings"
	"testing"
)

// TestReadmeSaysHowToGetTheBinary: the README's CLI tour runs `annals …`;
// before its first command it must say how to get the binary.
func TestReadmeSaysHowToGetTheBinary(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	_, tour, ok := strings.Cut(readme, "## The CLI")
	if !ok {
		t.Fatal("README has no '## The CLI' section")
	}
	first := strings.Index(tour, "$ annals ")
	install := strings.Index(tour, "go install ./cmd/annals")
	if first < 0 {
		t.Fatal("the CLI section runs no annals command")
	}
	if install < 0 || install > first {
		t.Errorf("the CLI section runs `annals` before saying `go install ./cmd/annals`")
	}
}
