package main

import "github.com/annalsdb/annals/projections"

// testProjections, when set, adds projections to the ones serve runs. Only
// test builds set it (testhooks_annalstest.go, built with -tags
// annals_testhooks); a production build runs the built-in projections
// alone.
var testProjections func() []*projections.Projection

// servedProjections are the projections `annals serve` runs.
func servedProjections() []*projections.Projection {
	ps := []*projections.Projection{projections.Streams(), projections.EventCounts()}
	if testProjections != nil {
		ps = append(ps, testProjections()...)
	}
	return ps
}
