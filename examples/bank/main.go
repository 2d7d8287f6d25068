// Command bank shows aggregates, a read model and an atomic transfer with
// annals: accounts are opened, credited and debited through a repository,
// an overdraft is refused without writing anything, a projection keeps a
// balances read model, and a transfer saves both accounts in one
// transaction — or neither, when it would overdraw.
//
//	go run ./examples/bank                      # embedded engine, in memory
//	go run ./examples/bank --store file:bank.db # embedded engine, in a file
//	go run ./examples/bank --store 'mongodb://localhost:27017/?replicaSet=rs0'
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	"github.com/annalsdb/annals/mongostore"
	"github.com/annalsdb/annals/projections"
	"github.com/google/uuid"
)

// liveTimeout bounds the wait for the read model to catch up.
const liveTimeout = 10 * time.Second

func main() {
	store := flag.String("store", "memory:", "store URI: memory:, file:PATH or mongodb://…")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *store, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bank:", err)
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

// accounts are the demo's two accounts.
type accounts struct{ Ana, Bo uuid.UUID }

// demo opens two accounts, moves money between them and prints the
// balances read model once it has caught up.
func demo(ctx context.Context, store *mongostore.Store, out io.Writer) (ids accounts, err error) {
	bank := NewBank(store)
	runner := projections.NewRunner(store, balances(bank.reg))
	stopRunner := start(ctx, runner)
	defer func() { err = errors.Join(err, stopRunner()) }()

	if ids.Ana, err = bank.Open(ctx, "ana"); err != nil {
		return ids, err
	}
	if ids.Bo, err = bank.Open(ctx, "bo"); err != nil {
		return ids, err
	}
	fmt.Fprintf(out, "opened accounts: ana %s, bo %s\n", ids.Ana, ids.Bo)

	show := func(what string, id uuid.UUID) error {
		a, err := bank.Account(ctx, id)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "%s: %s's balance %s (version %d)\n", what, a.State.Owner, money(a.State.Balance), a.Version)
		return nil
	}
	steps := []struct {
		what    string
		id      uuid.UUID
		command func() error
	}{
		{"ana deposits 100.00", ids.Ana, func() error { return bank.Deposit(ctx, ids.Ana, 100_00) }},
		{"ana withdraws 30.00", ids.Ana, func() error { return bank.Withdraw(ctx, ids.Ana, 30_00) }},
		{"bo deposits 20.00", ids.Bo, func() error { return bank.Deposit(ctx, ids.Bo, 20_00) }},
	}
	for _, s := range steps {
		if err := s.command(); err != nil {
			return ids, fmt.Errorf("%s: %w", s.what, err)
		}
		if err := show(s.what, s.id); err != nil {
			return ids, err
		}
	}

	err = bank.Withdraw(ctx, ids.Ana, 500_00)
	if !errors.Is(err, ErrInsufficientFunds) {
		return ids, fmt.Errorf("overdraft: want %v, got %v", ErrInsufficientFunds, err)
	}
	fmt.Fprintf(out, "ana withdraws 500.00: refused: %v\n", err)
	if err := show("  after the refusal", ids.Ana); err != nil {
		return ids, err
	}

	if err := bank.Transfer(ctx, ids.Ana, ids.Bo, 50_00); err != nil {
		return ids, fmt.Errorf("transfer: %w", err)
	}
	fmt.Fprintln(out, "transfer 50.00 from ana to bo: saved on both accounts in one transaction")
	err = bank.Transfer(ctx, ids.Ana, ids.Bo, 25_00)
	if !errors.Is(err, ErrInsufficientFunds) {
		return ids, fmt.Errorf("overdrawing transfer: want %v, got %v", ErrInsufficientFunds, err)
	}
	fmt.Fprintf(out, "transfer 25.00 from ana to bo: refused: %v\n", err)
	for _, id := range []uuid.UUID{ids.Ana, ids.Bo} {
		if err := show("  after the transfers", id); err != nil {
			return ids, err
		}
	}
	return ids, printBalances(ctx, out, runner, ids)
}

// printBalances waits for the balances read model to catch up and prints
// the demo's accounts from it.
func printBalances(ctx context.Context, out io.Writer, runner *projections.Runner, ids accounts) error {
	waitCtx, cancel := context.WithTimeout(ctx, liveTimeout)
	defer cancel()
	st, err := runner.WaitLive(waitCtx, balancesProjection)
	if err != nil {
		return err
	}
	rows, err := readBalances(ctx, runner, ids.Ana, ids.Bo)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "balances read model (projection %s, %d events applied):\n", st.State, st.Applied)
	for _, b := range rows {
		fmt.Fprintf(out, "  %-4s %8s (version %d)\n", b.Owner, money(b.Cents), b.Version)
	}
	return nil
}

// start runs runner in a goroutine until the returned stop is called;
// stop waits for it to finish and returns Run's error.
func start(ctx context.Context, runner *projections.Runner) (stop func() error) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- runner.Run(ctx) }()
	return func() error {
		cancel()
		if err := <-done; err != nil {
			return fmt.Errorf("projection runner: %w", err)
		}
		return nil
	}
}
