//go:build race

package mongostore

// raceEnabled: the race detector changes allocation counts.
const raceEnabled = true
