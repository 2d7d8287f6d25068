package projections

import (
	"time"

	"github.com/annalsdb/annals/mongostore"
)

// Stall reasons (Stall.Reason).
const (
	// StallDiskFull: the store's disk is full (see mongostore.IsDiskFull).
	StallDiskFull = "disk_full"
	// StallError: any other error.
	StallError = "error"
)

// Stall says that this runner's worker for a projection cannot make
// progress: its last attempt failed (to read, apply, commit or renew its
// lease) and it is retrying with backoff. The checkpoint's state does not
// change meanwhile, so without it a projection that cannot commit would
// show live with a growing lag. It clears once the worker commits a
// batch, or finds nothing to do; a stall no batch caused (a lease
// renewal, a read or the change stream failed) also clears once the
// worker records its checkpoint again. A batch whose transaction keeps
// failing, at commit as well, is one stall until a batch commits.
type Stall struct {
	// Reason classifies the last error: StallDiskFull or StallError.
	Reason string `json:"reason"`
	// Error is the last error's text.
	Error string `json:"error"`
	// Since is when the first failed attempt in a row failed.
	Since time.Time `json:"since"`
	// Attempts counts the failed attempts in a row.
	Attempts int `json:"attempts"`
}

// stallReason classifies err for Stall.Reason.
func stallReason(err error) string {
	if mongostore.IsDiskFull(err) {
		return StallDiskFull
	}
	return StallError
}

// setStalled records that the worker of checkpoint id failed with err.
func (r *Runner) setStalled(id string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.stalled[id]
	if !ok {
		s = Stall{Since: r.now()}
	}
	s.Reason, s.Error = stallReason(err), err.Error()
	s.Attempts++
	r.stalled[id] = s
}

// clearStalled records that the worker of checkpoint id made progress.
func (r *Runner) clearStalled(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.stalled, id)
}

// stalledFor returns the stall of the worker of checkpoint id.
func (r *Runner) stalledFor(id string) (Stall, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.stalled[id]
	return s, ok
}
