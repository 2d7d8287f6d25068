package main

import (
	"context"
	"fmt"
	"io"

	"github.com/google/uuid"
)

// demoRace races two operators adding items to one order (both succeed,
// one after a retry), then two operators confirming and cancelling it
// (one succeeds, the other retries and is refused).
func demoRace(ctx context.Context, orders *Orders, out io.Writer) (uuid.UUID, error) {
	id, err := orders.Create(ctx, "ana", 42_50)
	if err != nil {
		return id, err
	}
	fmt.Fprintf(out, "created order %s for ana, 42.50\n", id)

	fmt.Fprintln(out, "race 1: ana and bo each add an item, released together")
	printOutcomes(out, orders.race(ctx, id, true,
		command{"ana", "adds a pen", func(o *order) error { return addItem(o, "pen", 2_50) }},
		command{"bo", "adds a pad", func(o *order) error { return addItem(o, "pad", 5_00) }},
	))
	if err := show(ctx, out, orders, id, "  "); err != nil {
		return id, err
	}

	fmt.Fprintln(out, "race 2: ana confirms while bo cancels, released together")
	printOutcomes(out, orders.race(ctx, id, true,
		command{"ana", "confirms", func(o *order) error { return confirm(o, "ana") }},
		command{"bo", "cancels", func(o *order) error { return cancel(o, "bo", "customer called") }},
	))
	return id, show(ctx, out, orders, id, "  ")
}

func printOutcomes(out io.Writer, outcomes []outcome) {
	for _, o := range outcomes {
		result := "saved"
		if o.Err != nil {
			result = "refused"
		}
		fmt.Fprintf(out, "  %s %s: %s after %d attempt%s", o.Operator, o.What, result, o.Attempts, plural(o.Attempts))
		if o.Err != nil {
			fmt.Fprintf(out, ": %v", o.Err)
		}
		fmt.Fprintln(out)
	}
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
