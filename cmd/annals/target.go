package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/annalsdb/annals/mongostore"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"
)

// operateCommands are the commands that operate a store or a server:
// everything but serve.
func operateCommands(getenv func(string) string) []*cobra.Command {
	return []*cobra.Command{
		appendCommand(getenv),
		readCommand(getenv),
		tailCommand(getenv),
		projectionsCommand(getenv),
		subscriptionsCommand(getenv),
		exportCommand(getenv),
		importCommand(getenv),
		doctorCommand(getenv),
	}
}

// target is where a command finds the events: a store it opens itself
// (--store) or a running server (--server, with --token).
type target struct {
	store  string
	db     string
	server string
	token  string

	useServer bool // set by setup
	hasServer bool // the command takes --server; set by setup
	command   string
}

// Help text shared by the commands.
const (
	helpStoreOnly = `It talks to the store directly (--store URI, or ANNALS_STORE); a file:
store in use by a running 'annals serve' is locked, so stop the server or
point --store at MongoDB.`
	helpStoreOrServer = `It talks either to a running server (--server URL with --token, or
ANNALS_SERVER and ANNALS_TOKEN) or to the store directly (--store URI, or
ANNALS_STORE). A flag on the command line wins over the environment; when
both come from the environment, --server wins. A file: store in use by a
running 'annals serve' is locked: use --server for it.`
)

func (t *target) storeFlags(f *pflag.FlagSet) {
	f.StringVar(&t.store, "store", "", "store URI: mongodb://…, mongodb+srv://…, memory: or file:PATH")
	f.StringVar(&t.db, "db", "", "database name (default: the URI's, else annals)")
}

func (t *target) serverFlags(f *pflag.FlagSet) {
	f.StringVar(&t.server, "server", "", "URL of a running annals server, e.g. http://127.0.0.1:8080")
	f.StringVar(&t.token, "token", "", "bearer token for --server")
}

// setup applies the ANNALS_* environment to the flags not given and, for
// commands that accept both, decides between --store and --server: the
// command line wins over the environment, and --server wins when both
// come from the environment.
func (t *target) setup(cmd *cobra.Command, getenv func(string) string) error {
	f := cmd.Flags()
	storeGiven := f.Changed("store")
	serverGiven := f.Changed("server")
	if err := envDefaults(f, getenv); err != nil {
		return err
	}
	hasServer := f.Lookup("server") != nil
	t.hasServer, t.command = hasServer, cmd.CommandPath()
	switch {
	case storeGiven && serverGiven:
		return fmt.Errorf("%w: give --store or --server, not both", errUsage)
	case serverGiven:
		t.useServer = true
	case storeGiven:
		t.useServer = false
	case hasServer && t.server != "":
		t.useServer = true
	case t.store != "":
		t.useServer = false
	case hasServer:
		return fmt.Errorf("%w: say where the events are: --store URI or --server URL (or ANNALS_STORE, ANNALS_SERVER)", errUsage)
	default:
		return fmt.Errorf("%w: say where the events are: --store URI (or ANNALS_STORE)", errUsage)
	}
	return nil
}

// open opens the store named by --store and --db.
func (t *target) open(ctx context.Context) (*mongostore.Store, error) {
	var opts []mongostore.Option
	if t.db != "" {
		opts = append(opts, mongostore.WithDatabase(t.db))
	}
	store, err := mongostore.Open(ctx, t.store, opts...)
	if errors.Is(err, mongostore.ErrLocked) {
		return nil, &lockedError{err: err, advice: t.lockedAdvice()}
	}
	return store, err
}

// lockedError is a locked store with the advice that works for the command.
type lockedError struct {
	err    error
	advice string
}

func (e *lockedError) Error() string { return e.err.Error() + "\n" + e.advice }

func (e *lockedError) Unwrap() error { return e.err }

// lockedAdvice tells the user of a locked file: store what works for the
// command at hand: going through the server when the command can, else
// stopping the process that holds the store.
func (t *target) lockedAdvice() string {
	if t.hasServer {
		return fmt.Sprintf("If 'annals serve' runs on this store, go through it: %s --server http://127.0.0.1:8080 (its --addr; with --token if it has one) instead of --store.", t.command)
	}
	return fmt.Sprintf("%s needs the store itself: stop the process that holds it (a running 'annals serve'?) and try again.", t.command)
}

// client returns the API client for --server.
// client talks to the server. ANNALS_TOKEN may hold several tokens,
// comma-separated, for serve; a client sends the first.
func (t *target) client() *apiClient {
	token, _, _ := strings.Cut(t.token, ",")
	return newAPIClient(t.server, strings.TrimSpace(token))
}

// withStore opens the store, runs fn and closes the store, also when ctx
// has ended.
func (t *target) withStore(ctx context.Context, fn func(*mongostore.Store) error) error {
	store, err := t.open(ctx)
	if err != nil {
		return err
	}
	err = fn(store)
	closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if cerr := store.Close(closeCtx); cerr != nil && err == nil {
		err = fmt.Errorf("close store: %w", cerr)
	}
	return err
}

// isTerminal reports whether w is a terminal, where progress bars go.
// Tests replace it.
var isTerminal = func(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// usagef builds a usage error (exit code 2).
func usagef(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errUsage, fmt.Sprintf(format, args...))
}

// oneArg accepts exactly one positional argument, named what.
func oneArg(what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != 1 {
			return usagef("%s takes one argument, %s; got %d", cmd.CommandPath(), what, len(args))
		}
		return nil
	}
}

// noArgs refuses positional arguments as a usage error.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usagef("%s takes no arguments; got %q", cmd.CommandPath(), args)
	}
	return nil
}
