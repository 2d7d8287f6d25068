package mongotest

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/modules/mongodb"
)

// EnvURI names the environment variable that points the tests at a MongoDB
// replica set or sharded cluster, e.g.
// mongodb://localhost:27017/?replicaSet=rs0.
const EnvURI = "ANNALS_TEST_MONGODB_URI"

const (
	// image is the MongoDB image the container runs.
	image = "mongo:8"
	// replicaSet is the name of the container's one-node replica set.
	replicaSet = "rs0"
	// probeTimeout bounds asking whether a Docker engine answers. With no
	// engine the probe fails in milliseconds; the bound covers a DOCKER_HOST
	// that points at a machine that never replies.
	probeTimeout = 3 * time.Second
	// startTimeout bounds pulling the image and starting the replica set.
	startTimeout = 5 * time.Minute
)

// source says where a MongoDB deployment comes from.
type source int

const (
	sourceNone source = iota
	sourceContainer
	sourceEnv
)

// found is the outcome of looking for a MongoDB deployment: its URI and
// source, or an empty URI and the reason none is available.
type found struct {
	uri    string
	source source
	reason string
	// note says why a Docker engine that answers was not used.
	note string
}

// describe says in a few words where the deployment comes from.
func (f found) describe() string {
	switch f.source {
	case sourceContainer:
		return "a MongoDB replica set (" + image + ") in a testcontainers container"
	case sourceEnv:
		if f.note != "" {
			return "the MongoDB deployment named by " + EnvURI + " (" + f.note + ")"
		}
		return "the MongoDB deployment named by " + EnvURI
	}
	return "no MongoDB"
}

// finder looks for a MongoDB deployment. Its functions are fields so tests
// can replace Docker and the environment.
type finder struct {
	getenv func(key string) string
	// probe reports whether a Docker engine answers.
	probe func(ctx context.Context) error
	// start runs a MongoDB replica set and returns its URI.
	start func(ctx context.Context) (string, error)
}

// find tries, in order, a replica set in a container when a Docker engine
// answers, then the deployment named by EnvURI.
func (f finder) find(ctx context.Context) found {
	var docker, note string
	if err := f.probe(ctx); err != nil {
		docker = "no Docker engine answers: " + oneLine(err)
	} else {
		uri, err := f.start(ctx)
		if err == nil {
			return found{uri: uri, source: sourceContainer}
		}
		docker = "starting MongoDB in Docker failed: " + oneLine(err)
		note = docker
	}
	if uri := f.getenv(EnvURI); uri != "" {
		return found{uri: uri, source: sourceEnv, note: note}
	}
	return found{reason: EnvURI + " is not set and " + docker}
}

// oneLine returns an error's text on one line: joined errors are separated
// by "; " rather than newlines, so a reason reads well in a skip message.
func oneLine(err error) string {
	return strings.ReplaceAll(err.Error(), "\n", "; ")
}

// lookup finds a deployment once per test binary and caches the outcome, so
// at most one container is started and Docker is probed once.
var lookup = sync.OnceValue(func() found {
	f := finder{getenv: os.Getenv, probe: probeDocker, start: startContainer}
	return f.find(context.Background())
})

// probeDocker asks the Docker engine testcontainers would use for a ping,
// within probeTimeout. testcontainers panics when it finds no Docker host at
// all; the panic becomes the returned error.
func probeDocker(ctx context.Context) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("testcontainers found no Docker host: %v", r)
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		return fmt.Errorf("docker client: %w", err)
	}
	defer cli.Close()
	if _, err := cli.Ping(ctx); err != nil {
		return fmt.Errorf("ping docker: %w", err)
	}
	return nil
}

// startContainer runs a one-node MongoDB replica set and returns a URI that
// connects to it directly.
//
// Nothing here terminates the container: it lives as long as the test
// binary, and testcontainers' reaper (Ryuk) removes it once the binary
// exits. With the reaper disabled (TESTCONTAINERS_RYUK_DISABLED=true) the
// container outlives the tests and must be removed by hand.
func startContainer(ctx context.Context) (uri string, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("testcontainers: %v", r)
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	c, err := mongodb.Run(ctx, image, mongodb.WithReplicaSet(replicaSet))
	if err != nil {
		if c != nil {
			err = errors.Join(err, c.Terminate(context.Background()))
		}
		return "", fmt.Errorf("start %s: %w", image, err)
	}
	uri, err = c.ConnectionString(ctx)
	if err == nil {
		uri, err = direct(uri)
	}
	if err != nil {
		return "", errors.Join(fmt.Errorf("container address: %w", err), c.Terminate(context.Background()))
	}
	return uri, nil
}

// direct adds directConnection=true to a URI. The replica set names its
// member by the container's own address, which the host cannot always
// reach (Docker Desktop); a direct connection uses the mapped port only and
// still gets transactions and change streams from the one-node set.
func direct(uri string) (string, error) {
	u, err := url.Parse(uri)
	if err != nil {
		return "", fmt.Errorf("parse %q: %w", uri, err)
	}
	q := u.Query()
	q.Set("directConnection", "true")
	u.RawQuery = q.Encode()
	return u.String(), nil
}
