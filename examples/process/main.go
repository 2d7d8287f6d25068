// Command process shows a process manager (saga) with annals: when an
// order is confirmed, a projection records that a shipment must be
// requested, and a dispatcher appends ShipmentRequested to the shipment's
// stream with an event id derived from the confirmation's. Replaying the
// saga from the first event — as after a crash or a rebuild — stores no
// shipment twice.
//
//	go run ./examples/process                         # embedded engine, in memory
//	go run ./examples/process --store file:process.db # embedded engine, in a file
//	go run ./examples/process --store 'mongodb://localhost:27017/?replicaSet=rs0'
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"time"

	"github.com/annalsdb/annals/mongostore"
	"github.com/annalsdb/annals/projections"
	"github.com/google/uuid"
)

// settleTimeout bounds each wait for the saga and the dispatcher.
const settleTimeout = 10 * time.Second

func main() {
	store := flag.String("store", "memory:", "store URI: memory:, file:PATH or mongodb://…")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *store, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "process:", err)
		os.Exit(1)
	}
}

// run opens the store at uri and runs the demo on it, printing to out.
func run(ctx context.Context, uri string, out io.Writer) error {
	store, err := mongostore.Open(ctx, uri)
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	defer store.Close(ctx)
	fmt.Fprintf(out, "store: %s engine\n", store.Engine())
	_, err = demo(ctx, store, out)
	return err
}

// process is the saga's moving parts: the projection runner and the
// dispatcher, each in a goroutine the process owns.
type process struct {
	runner     *projections.Runner
	dispatcher *Dispatcher
}

// withProcess starts the saga's runner and dispatcher over store, calls
// fn, then stops both and waits for them.
func withProcess(ctx context.Context, store *mongostore.Store, reg *mongostore.Registry, fn func(*process) error) error {
	p := &process{runner: projections.NewRunner(store, saga(reg))}
	p.dispatcher = NewDispatcher(store, p.runner)
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var runErr error
	wg.Go(func() { runErr = p.runner.Run(ctx) })
	wg.Go(func() { _ = p.dispatcher.Run(ctx) })
	err := fn(p)
	cancel()
	wg.Wait()
	if runErr != nil {
		err = errors.Join(err, fmt.Errorf("projection runner: %w", runErr))
	}
	return err
}

// settle waits until the saga has applied every confirmation and the
// dispatcher has sent every command it recorded, then prints where they
// stand and the orders' shipments.
func (p *process) settle(ctx context.Context, out io.Writer, store *mongostore.Store, orders []customerOrder) error {
	waitCtx, cancel := context.WithTimeout(ctx, settleTimeout)
	defer cancel()
	st, err := p.runner.WaitLive(waitCtx, sagaProjection)
	if err != nil {
		return err
	}
	if err := p.dispatcher.WaitIdle(waitCtx); err != nil {
		return err
	}
	stored, replayed := p.dispatcher.Stats()
	fmt.Fprintf(out, "saga %s, generation %d, %d confirmations applied; dispatcher: %d commands stored, %d replayed\n",
		st.State, st.Generation, st.Applied, stored, replayed)
	return printShipments(ctx, out, store, orders)
}

// customerOrder is one of the demo's orders.
type customerOrder struct {
	Customer string
	ID       uuid.UUID
	Confirm  bool
}

// demo places three orders, confirms two and cancels one, and shows the
// shipments the saga requested. Then it resets the saga, as a rebuild
// does, and restarts it: the replay sends every command again and the
// store keeps each shipment request once.
func demo(ctx context.Context, store *mongostore.Store, out io.Writer) ([]customerOrder, error) {
	reg := newRegistry()
	svc := NewOrders(store, reg)
	orders := []customerOrder{{Customer: "ana", Confirm: true}, {Customer: "bo"}, {Customer: "cy", Confirm: true}}
	err := withProcess(ctx, store, reg, func(p *process) error {
		for i := range orders {
			o := &orders[i]
			var err error
			if o.ID, err = svc.Place(ctx, o.Customer); err != nil {
				return err
			}
			if o.Confirm {
				err = svc.Confirm(ctx, o.ID, "ops")
			} else {
				err = svc.Cancel(ctx, o.ID, "ops")
			}
			if err != nil {
				return err
			}
		}
		fmt.Fprintln(out, "placed orders for ana, bo and cy; confirmed ana's and cy's, cancelled bo's")
		return p.settle(ctx, out, store, orders)
	})
	if err != nil {
		return orders, err
	}

	fmt.Fprintln(out, "stopped; resetting the saga (runner.Reset) so that it replays every confirmation when restarted")
	if err := projections.NewRunner(store, saga(reg)).Reset(ctx, sagaProjection); err != nil {
		return orders, err
	}
	return orders, withProcess(ctx, store, reg, func(p *process) error {
		return p.settle(ctx, out, store, orders)
	})
}

// printShipments prints each order's shipment stream.
func printShipments(ctx context.Context, out io.Writer, store *mongostore.Store, orders []customerOrder) error {
	for _, o := range orders {
		s, err := store.Load(ctx, shipmentID(o.ID))
		if errors.Is(err, mongostore.ErrStreamNotFound) {
			fmt.Fprintf(out, "  %s's order: no shipment\n", o.Customer)
			continue
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "  %s's order: shipment %s, %d event%s:", o.Customer, s.ID, len(s.Events), plural(len(s.Events)))
		for _, e := range s.Events {
			fmt.Fprintf(out, " %s %s caused by %s", e.Name, e.ID, e.Metadata.CausationID)
		}
		fmt.Fprintln(out)
	}
	return nil
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
