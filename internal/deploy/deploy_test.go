package deploy

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func root(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type compose struct {
	Services map[string]struct {
		Image       string            `yaml:"image"`
		Build       string            `yaml:"build"`
		Command     []string          `yaml:"command"`
		Environment map[string]string `yaml:"environment"`
		Ports       []string          `yaml:"ports"`
		Volumes     []string          `yaml:"volumes"`
		DependsOn   map[string]struct {
			Condition string `yaml:"condition"`
		} `yaml:"depends_on"`
		Restart     string `yaml:"restart"`
		Healthcheck struct {
			Test        []string `yaml:"test"`
			Interval    string   `yaml:"interval"`
			Timeout     string   `yaml:"timeout"`
			StartPeriod string   `yaml:"start_period"`
			Retries     int      `yaml:"retries"`
		} `yaml:"healthcheck"`
	} `yaml:"services"`
	Volumes map[string]any `yaml:"volumes"`
}

func TestCompose(t *testing.T) {
	var c compose
	dec := yaml.NewDecoder(strings.NewReader(string(root(t, "docker-compose.yml"))))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	mongo, ok := c.Services["mongo"]
	if !ok {
		t.Fatal("no mongo service")
	}
	if !regexp.MustCompile(`^mongo:(8|[1-9][0-9])(\.|$)`).MatchString(mongo.Image) {
		t.Errorf("mongo image %q is not the official image at a current major", mongo.Image)
	}
	if !slices.Contains(mongo.Command, "--replSet") {
		t.Errorf("mongo does not run as a replica set: %v", mongo.Command)
	}
	if hc := strings.Join(mongo.Healthcheck.Test, " "); !strings.Contains(hc, "rs.initiate") {
		t.Errorf("the mongo healthcheck does not initiate the replica set: %s", hc)
	}
	annals, ok := c.Services["annals"]
	if !ok {
		t.Fatal("no annals service")
	}
	if annals.Build != "." {
		t.Errorf("annals is not built from the Dockerfile: build %q", annals.Build)
	}
	if annals.DependsOn["mongo"].Condition != "service_healthy" {
		t.Errorf("annals does not wait for a healthy replica set")
	}
	if s := annals.Environment["ANNALS_STORE"]; !strings.HasPrefix(s, "mongodb://mongo:27017") || !strings.Contains(s, "replicaSet=rs0") {
		t.Errorf("ANNALS_STORE %q does not point at the replica set", s)
	}
	if !slices.ContainsFunc(annals.Ports, func(p string) bool { return strings.HasSuffix(p, ":8080:8080") }) {
		t.Errorf("the API is not published on port 8080: %v", annals.Ports)
	}
	if len(mongo.Volumes) == 0 || len(annals.Volumes) == 0 || len(c.Volumes) < 2 {
		t.Errorf("data volumes missing")
	}
	for k := range annals.Environment {
		if !strings.HasPrefix(k, "ANNALS_") {
			t.Errorf("unexpected variable %s", k)
		}
	}
}

func TestDockerfile(t *testing.T) {
	df := string(root(t, "Dockerfile"))
	var from, user, health, entry int
	for _, line := range strings.Split(df, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		switch strings.ToUpper(f[0]) {
		case "FROM":
			from++
		case "USER":
			user++
			if len(f) < 2 || f[1] == "root" || f[1] == "0" {
				t.Errorf("runs as root: %s", line)
			}
		case "HEALTHCHECK":
			health++
		case "ENTRYPOINT":
			entry++
		}
	}
	if from < 2 {
		t.Errorf("not a multi-stage build: %d FROM lines", from)
	}
	if user == 0 || health == 0 || entry == 0 {
		t.Errorf("USER %d, HEALTHCHECK %d, ENTRYPOINT %d; want each", user, health, entry)
	}
	if !strings.Contains(df, "CGO_ENABLED=0") {
		t.Error("the binary is not built static (CGO_ENABLED=0)")
	}
}
