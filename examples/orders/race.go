package main

import (
	"context"
	"sync"

	"github.com/google/uuid"
)

// command is one operator's decision on an order.
type command struct {
	Operator string
	What     string
	Decide   func(*order) error
}

// outcome is how an operator's command ended.
type outcome struct {
	command
	// Attempts counts the load-decide-save rounds Update ran.
	Attempts int
	// Err is nil when the command's events were saved.
	Err error
}

// race releases the operators' commands on one order together, each
// through Repository.Update. With collide set, every operator's first
// round waits until all have loaded the order, so all decide on the same
// version and all but one certainly lose the first save; without it the
// goroutines race freely.
func (o *Orders) race(ctx context.Context, id uuid.UUID, collide bool, cmds ...command) []outcome {
	out := make([]outcome, len(cmds))
	var loaded, wg sync.WaitGroup
	loaded.Add(len(cmds))
	start := make(chan struct{})
	for i, c := range cmds {
		wg.Go(func() {
			var once sync.Once
			arrive := func() { once.Do(loaded.Done) }
			defer arrive() // a failed load must not keep the others waiting
			<-start
			attempts := 0
			err := o.repo.Update(ctx, id, func(r *order) error {
				attempts++
				if collide {
					arrive()
					loaded.Wait()
				}
				return c.Decide(r)
			})
			out[i] = outcome{command: c, Attempts: attempts, Err: err}
		})
	}
	close(start)
	wg.Wait()
	return out
}
