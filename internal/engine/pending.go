package engine

import (
	"context"
	"sync"
)

// Reads see only durable data (as MongoDB's majority read concern): a read
// never answers with a commit a crash could still take away. Commits are
// visible as soon as they are applied, before their fsync, so a read must
// wait for the syncs of the commits its answer depends on.
//
// Waiting for every commit applied when the read began would make each
// read pay for the fsyncs of unrelated writers: a single-event append (a
// head read, then an insert) would wait for two syncs instead of one. So
// the engine remembers which documents the applied-but-unsynced commits
// inserted, and a read waits only for the commits of the documents it
// selected. Inserting a document changes no answer that does not select
// it. Updates, replaces, deletes and catalog changes can change an answer
// by what it no longer selects, so a read that starts while one of those
// is unsynced waits for everything it can see, as before.

// pendingSet tracks the commits that are applied but not yet durable.
type pendingSet struct {
	mu sync.Mutex
	// inserted maps the key of each document inserted by a pending commit
	// to the latest such commit.
	inserted map[string]uint64
	// commits are the pending commits in commit order.
	commits []pendingCommit
	// barrier is the latest pending commit that did more than insert.
	barrier uint64
}

type pendingCommit struct {
	ts   uint64
	keys [][]byte
}

// add registers a commit before it is applied: once it is visible, a read
// that selects one of its documents finds it here.
func (p *pendingSet) add(ts uint64, inserted [][]byte, other bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.inserted == nil {
		p.inserted = map[string]uint64{}
	}
	for _, k := range inserted {
		p.inserted[string(k)] = ts
	}
	if other {
		p.barrier = ts
	}
	p.commits = append(p.commits, pendingCommit{ts: ts, keys: inserted})
}

// release forgets the commits up to ts, which are durable; a commit that
// failed to apply is released by its own ts.
func (p *pendingSet) release(ts uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, c := range p.commits {
		if c.ts > ts {
			p.commits[n] = c
			n++
			continue
		}
		for _, k := range c.keys {
			if p.inserted[string(k)] == c.ts {
				delete(p.inserted, string(k))
			}
		}
	}
	clear(p.commits[n:])
	p.commits = p.commits[:n]
}

// insertedBy returns the pending commit that inserted the document at key,
// or 0.
func (p *pendingSet) insertedBy(key []byte) uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.inserted[string(key)]
}

// lastOther returns the latest pending commit that did more than insert.
func (p *pendingSet) lastOther() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.barrier
}

// observer collects what a read outside transactions depends on, so that
// it can wait for exactly those commits to be durable before answering.
// Create it after the read's snapshot, so that every commit the snapshot
// shows is counted.
type observer struct {
	e *Engine
	// visible is the last commit the snapshot can show (or a later one).
	visible uint64
	// need is the last commit the answer so far depends on.
	need uint64
	key  []byte
}

func (e *Engine) observe() *observer {
	o := &observer{e: e, visible: e.latest.Load()}
	if e.durable.Load() < o.visible && e.pending.lastOther() > e.durable.Load() {
		o.need = o.visible
	}
	return o
}

// selected records that the answer includes (or skipped past) the
// document with the given encoded _id in collection coll.
func (o *observer) selected(coll uint32, idKey []byte) {
	if o == nil || o.need >= o.visible || o.e.durable.Load() >= o.visible {
		return
	}
	o.key = appendDocKey(o.key[:0], coll, idKey)
	switch ts := o.e.pending.insertedBy(o.key); {
	case ts > o.visible:
		// Inserted again after the snapshot (so deleted in between):
		// which commit the snapshot's version came from is unknown.
		o.need = o.visible
	case ts > o.need:
		o.need = ts
	}
}

// selectedDoc is selected for a document read without its _id key at
// hand (through a clustered collection's index): the key is encoded from
// the document only when the answer can depend on an unsynced commit.
func (o *observer) selectedDoc(coll uint32, s *stored) {
	if o == nil || o.need >= o.visible || o.e.durable.Load() >= o.visible {
		return
	}
	idKey, err := appendKey(nil, s.id())
	if err != nil {
		// Every stored _id has a key; without one, depend on everything.
		o.need = o.visible
		return
	}
	o.selected(coll, idKey)
}

// everything makes the answer depend on every commit the snapshot shows,
// for reads that cannot say which documents they used.
func (o *observer) everything() {
	if o != nil {
		o.need = o.visible
	}
}

// wait returns once every commit the answer depends on is durable.
func (o *observer) wait(ctx context.Context) error {
	if o == nil {
		return nil
	}
	return o.e.waitUntil(ctx, o.need)
}
