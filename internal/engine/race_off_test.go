//go:build !race

package engine

// raceEnabled: the race detector makes the engine about ten times slower;
// long randomised tests run less under it.
const raceEnabled = false
