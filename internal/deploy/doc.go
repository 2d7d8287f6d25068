// Package deploy holds the checks of annals' deployment files
// (docker-compose.yml and the Dockerfile at the repository's root). There
// is no Docker engine where annals is built and tested, so these tests
// check what can be checked without one: that the files parse and say
// what the deployment relies on.
package deploy
