package projections

import "time"

// LeaseWait says that a runner is ready to apply a projection but another
// owner holds its lease: the runner takes over when that owner gives the
// lease up or stops renewing it. A crashed owner's lease stalls the
// projection until it expires (LeaseTTL), except on file: and memory:
// stores, where the store's lock proves the crashed owner gone and the
// lease is taken over at once.
type LeaseWait struct {
	// Owner is the runner holding the lease.
	Owner string `json:"owner"`
	// Until is when the lease expires unless its owner renews it.
	Until time.Time `json:"until"`
	// Since is when this runner first found the lease held.
	Since time.Time `json:"since"`
}

// setWaiting records that the worker of checkpoint id waits for cp's
// lease.
func (r *Runner) setWaiting(id string, cp *checkpoint) {
	r.mu.Lock()
	defer r.mu.Unlock()
	w, ok := r.waiting[id]
	if !ok || w.Owner != cp.Owner {
		w = LeaseWait{Owner: cp.Owner, Since: r.now()}
	}
	w.Until = cp.LeaseUntil.UTC()
	r.waiting[id] = w
}

// clearWaiting records that the worker of checkpoint id waits for no
// lease.
func (r *Runner) clearWaiting(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.waiting, id)
}

// waitingFor returns the lease the worker of checkpoint id waits for.
func (r *Runner) waitingFor(id string) (LeaseWait, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	w, ok := r.waiting[id]
	return w, ok
}
