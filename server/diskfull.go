package server

import (
	"context"
	"time"

	"github.com/annalsdb/annals/mongostore"
)

// DefaultDiskFullProbeInterval is Options.DiskFullProbeInterval's
// default.
const DefaultDiskFullProbeInterval = 5 * time.Second

// diskFullDetail is what a client is told; the cause is logged.
const diskFullDetail = "the store's disk is full: nothing more can be written. An append that met it was not stored, " +
	"or (if it failed while committing) its outcome is unknown: once space is freed (and, on an embedded store, annals " +
	"restarted), retry it with the same event ids, which never stores an event twice"

// diskFreed reports whether a full disk, flagged by a request that met
// it, has been freed: while flagged, it makes a probe write at most once
// per Options.DiskFullProbeInterval and clears the flag when one commits.
// Readiness so recovers by itself once space is freed, with no append
// (which a load balancer that respects readiness would never send).
func (s *Server) diskFreed(ctx context.Context) bool {
	last := s.lastProbe.Load()
	now := time.Now().UnixNano()
	if now-last < int64(s.opts.DiskFullProbeInterval) || !s.lastProbe.CompareAndSwap(last, now) {
		return false // probed recently, or another readiness check probes now
	}
	if err := s.store.ProbeWrite(ctx); err != nil {
		if !mongostore.IsDiskFull(err) {
			s.log.Warn("readiness: probe write", logKeyError, err)
		}
		return false
	}
	s.diskFull.Store(false)
	s.log.Info("the store's disk accepts writes again")
	return true
}
