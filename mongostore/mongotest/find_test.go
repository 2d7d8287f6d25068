package mongotest

import (
	"context"
	"errors"
	"testing"
)

func TestFind(t *testing.T) {
	const (
		containerURI = "mongodb://127.0.0.1:32768/?directConnection=true&replicaSet=rs0"
		envURI       = "mongodb://db.example:27017/?replicaSet=rs0"
	)
	noDocker := errors.New("Cannot connect to the Docker daemon")
	tests := []struct {
		name      string
		probe     error // nil: a Docker engine answers
		start     error // nil: the container starts
		env       string
		want      found
		wantStart bool
	}{
		{
			name:      "container first",
			env:       envURI,
			want:      found{uri: containerURI, source: sourceContainer},
			wantStart: true,
		},
		{
			name:  "env without Docker",
			probe: noDocker,
			env:   envURI,
			want:  found{uri: envURI, source: sourceEnv},
		},
		{
			name:      "env when the container fails",
			start:     errors.New("pull mongo:8: denied"),
			env:       envURI,
			want:      found{uri: envURI, source: sourceEnv, note: "starting MongoDB in Docker failed: pull mongo:8: denied"},
			wantStart: true,
		},
		{
			name:  "nothing",
			probe: errors.Join(errors.New("check host: refused"), errors.New("rootless Docker not found")),
			want: found{reason: "ANNALS_TEST_MONGODB_URI is not set and no Docker engine answers: " +
				"check host: refused; rootless Docker not found"},
		},
		{
			name:      "container fails and no env",
			start:     errors.New("pull mongo:8: denied"),
			want:      found{reason: "ANNALS_TEST_MONGODB_URI is not set and starting MongoDB in Docker failed: pull mongo:8: denied"},
			wantStart: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			started := false
			f := finder{
				getenv: func(key string) string {
					if key != EnvURI {
						t.Errorf("getenv(%q), want %q", key, EnvURI)
					}
					return tt.env
				},
				probe: func(context.Context) error { return tt.probe },
				start: func(context.Context) (string, error) {
					started = true
					if tt.start != nil {
						return "", tt.start
					}
					return containerURI, nil
				},
			}
			if got := f.find(t.Context()); got != tt.want {
				t.Errorf("find() = %+v, want %+v", got, tt.want)
			}
			if started != tt.wantStart {
				t.Errorf("container started: got %v, want %v", started, tt.wantStart)
			}
		})
	}
}

func TestDirect(t *testing.T) {
	tests := []struct{ uri, want string }{
		{"mongodb://localhost:32768/?replicaSet=rs0", "mongodb://localhost:32768/?directConnection=true&replicaSet=rs0"},
		{"mongodb://localhost:32768/", "mongodb://localhost:32768/?directConnection=true"},
		{"mongodb://localhost:32768/?directConnection=false", "mongodb://localhost:32768/?directConnection=true"},
	}
	for _, tt := range tests {
		got, err := direct(tt.uri)
		if err != nil {
			t.Fatalf("direct(%q): %v", tt.uri, err)
		}
		if got != tt.want {
			t.Errorf("direct(%q) = %q, want %q", tt.uri, got, tt.want)
		}
	}
}
