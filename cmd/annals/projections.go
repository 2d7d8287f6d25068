package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/annalsdb/annals/mongostore"
	"github.com/annalsdb/annals/projections"
	"github.com/annalsdb/annals/server"
	"github.com/spf13/cobra"
)

// projectionView is a projection's status: the HTTP API's shape, so that
// --json output is the same from a store or a server.
type projectionView = server.ProjectionView

// statusView renders a runner's status as the API does.
func statusView(st projections.Status, collections []string) projectionView {
	return server.RenderProjection(st, collections)
}

// projectionsAPI is what the projections commands need, from a server or
// from a runner over the store.
type projectionsAPI interface {
	list(ctx context.Context) ([]projectionView, error)
	status(ctx context.Context, name string) (projectionView, error)
	// rebuild starts a rebuild: mode is "blue_green" or "drop".
	rebuild(ctx context.Context, name, mode string) error
	// working reports an error once nothing will carry the rebuild out.
	working() error
}

// serverProjections calls the HTTP API.
type serverProjections struct{ c *apiClient }

func (s serverProjections) list(ctx context.Context) ([]projectionView, error) {
	var out struct {
		Projections []projectionView `json:"projections"`
	}
	err := s.c.do(ctx, http.MethodGet, "/v1/projections", nil, nil, &out)
	return out.Projections, err
}

func (s serverProjections) status(ctx context.Context, name string) (projectionView, error) {
	var out projectionView
	err := s.c.do(ctx, http.MethodGet, "/v1/projections/"+url.PathEscape(name), nil, nil, &out)
	return out, err
}

func (s serverProjections) rebuild(ctx context.Context, name, mode string) error {
	return s.c.do(ctx, http.MethodPost, "/v1/projections/"+url.PathEscape(name)+"/rebuild", url.Values{"mode": {mode}}, nil, nil)
}

func (s serverProjections) working() error { return nil }

// storeProjections runs the built-in projections' runner over the store.
// When run is set, a rebuild starts the runner in this process, once the
// rebuild is recorded, to carry it out (on MongoDB a server's runner may
// do it instead: leases decide); stop ends it.
type storeProjections struct {
	runner  *projections.Runner
	run     bool
	cancel  context.CancelFunc
	done    chan error
	stopped error
}

func newStoreProjections(s *mongostore.Store) *storeProjections {
	return &storeProjections{runner: projections.NewRunner(s, projections.Streams(), projections.EventCounts())}
}

func (s *storeProjections) collections(name string) []string {
	p, ok := s.runner.Projection(name)
	if !ok {
		return nil
	}
	if len(p.Collections) == 0 {
		return []string{p.Name}
	}
	return p.Collections
}

func (s *storeProjections) list(ctx context.Context) ([]projectionView, error) {
	sts, err := s.runner.Statuses(ctx)
	out := make([]projectionView, 0, len(sts))
	for _, st := range sts {
		out = append(out, statusView(st, s.collections(st.Name)))
	}
	return out, err
}

func (s *storeProjections) status(ctx context.Context, name string) (projectionView, error) {
	st, err := s.runner.Status(ctx, name)
	if err != nil {
		return projectionView{}, unknownProjection(err)
	}
	return statusView(st, s.collections(name)), nil
}

func (s *storeProjections) rebuild(ctx context.Context, name, mode string) error {
	m := projections.BlueGreen
	if mode == "drop" {
		m = projections.DropAndReplay
	}
	if err := s.runner.Rebuild(ctx, name, m); err != nil {
		return unknownProjection(err)
	}
	if s.run && s.cancel == nil {
		s.start(ctx)
	}
	return nil
}

// start runs the runner in the background until stop.
func (s *storeProjections) start(ctx context.Context) {
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel, s.done = cancel, make(chan error, 1)
	go func() { s.done <- s.runner.Run(runCtx) }()
}

func (s *storeProjections) working() error {
	if s.done == nil || s.stopped != nil {
		return s.stopped
	}
	select {
	case err := <-s.done:
		if err == nil {
			err = errors.New("it stopped")
		}
		s.stopped = fmt.Errorf("the projection runner: %w", err)
		s.done = nil
		return s.stopped
	default:
		return nil
	}
}

// stop ends the runner and waits for it.
func (s *storeProjections) stop() {
	if s.cancel == nil {
		return
	}
	s.cancel()
	if s.done != nil {
		<-s.done
	}
}

func unknownProjection(err error) error {
	if errors.Is(err, projections.ErrUnknownProjection) {
		return fmt.Errorf("%w (the built-in projections are %s and %s)", err, projections.StreamsProjection, projections.EventCountsProjection)
	}
	return err
}

type projectionsFlags struct {
	target
	json     bool
	mode     string
	wait     bool
	interval time.Duration
}

func projectionsCommand(getenv func(string) string) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "projections",
		Short: "List, inspect, rebuild and reset projections",
		Long: `List, inspect, rebuild and reset the projections (read models).

With --server it manages the server's projections through the HTTP API.
With --store it manages the built-in projections (streams, event_counts)
through a projection runner over the store; rebuild and reset then run
that runner in this process until the work is done (on MongoDB a running
server may carry it out instead).

` + helpStoreOrServer,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("unknown projections command %q: use list, status, rebuild or reset", args[0])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			return usagef("say what to do: annals projections list|status|rebuild|reset")
		},
	}
	// Flags belong to the subcommands: let an unknown subcommand be
	// reported as such even when flags follow it.
	cmd.FParseErrWhitelist.UnknownFlags = true
	cmd.AddCommand(
		projectionsSub(getenv, "list", "List the projections and where they stand", noArgs, false,
			func(ctx context.Context, api projectionsAPI, fl *projectionsFlags, _ []string, out, _ io.Writer) error {
				views, err := api.list(ctx)
				if err != nil {
					return err
				}
				if fl.json {
					return writeJSONIndent(out, struct {
						Projections []projectionView `json:"projections"`
					}{views})
				}
				return printProjections(out, views)
			}),
		projectionsSub(getenv, "status <name>", "Show one projection's status", oneArg("the projection name"), false,
			func(ctx context.Context, api projectionsAPI, fl *projectionsFlags, args []string, out, _ io.Writer) error {
				v, err := api.status(ctx, args[0])
				if err != nil {
					return err
				}
				if fl.json {
					return writeJSONIndent(out, v)
				}
				printStatus(out, v)
				return nil
			}),
		projectionsSub(getenv, "rebuild <name>", "Replay a projection from the first event, and wait", oneArg("the projection name"), true,
			func(ctx context.Context, api projectionsAPI, fl *projectionsFlags, args []string, out, stderr io.Writer) error {
				return rebuildProjection(ctx, api, fl, "rebuild", args[0], fl.mode, out, stderr)
			}),
		projectionsSub(getenv, "reset <name>", "Drop a projection's read models and replay every event, and wait", oneArg("the projection name"), true,
			func(ctx context.Context, api projectionsAPI, fl *projectionsFlags, args []string, out, stderr io.Writer) error {
				return rebuildProjection(ctx, api, fl, "reset", args[0], "drop", out, stderr)
			}),
	)
	return cmd
}

type projectionsAction func(ctx context.Context, api projectionsAPI, fl *projectionsFlags, args []string, stdout, stderr io.Writer) error

// projectionsSub builds one projections subcommand; rebuilds runs the
// store's runner while the action waits.
func projectionsSub(getenv func(string) string, use, short string, args cobra.PositionalArgs, rebuilds bool, action projectionsAction) *cobra.Command {
	var fl projectionsFlags
	long := short + ".\n\n"
	switch {
	case strings.HasPrefix(use, "rebuild"):
		long += `--mode blue_green (the default) builds the new read models beside the
current ones, which keep serving, and switches when the build has caught
up; --mode drop drops them at once and replays into empty ones.
`
	case strings.HasPrefix(use, "reset"):
		long += "Readers see the read models empty, then filling up (what 'rebuild --mode drop' does).\n"
	}
	if rebuilds {
		verb, _, _ := strings.Cut(use, " ")
		long += `
It waits until the projection is live again, polling its status: on a
terminal with a progress bar (rate and ETA), elsewhere with plain progress
lines. --wait=false returns once the ` + verb + ` is recorded.
`
	}
	long += "\n" + helpStoreOrServer
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Long:  long,
		Args:  args,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := fl.setup(cmd, getenv); err != nil {
				return err
			}
			if strings.HasPrefix(use, "rebuild") && fl.mode != "blue_green" && fl.mode != "drop" {
				return usagef("--mode %q must be blue_green or drop", fl.mode)
			}
			if rebuilds {
				if fl.interval <= 0 {
					return usagef("--interval must be positive")
				}
			}
			ctx, out, stderr := cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr()
			if fl.useServer {
				return action(ctx, serverProjections{fl.client()}, &fl, args, out, stderr)
			}
			return fl.withStore(ctx, func(s *mongostore.Store) error {
				api := newStoreProjections(s)
				api.run = rebuilds && fl.wait
				defer api.stop()
				return action(ctx, api, &fl, args, out, stderr)
			})
		},
	}
	f := cmd.Flags()
	fl.storeFlags(f)
	fl.serverFlags(f)
	f.BoolVar(&fl.json, "json", false, "print JSON")
	if strings.HasPrefix(use, "rebuild") {
		f.StringVar(&fl.mode, "mode", "blue_green", "blue_green (build beside the current read models) or drop (drop them and replay)")
	}
	if rebuilds {
		f.BoolVar(&fl.wait, "wait", true, "wait until the projection is live again")
		f.DurationVar(&fl.interval, "interval", 250*time.Millisecond, "how often to poll the status while waiting")
	}
	return cmd
}

// printProjections prints a table of projections.
func printProjections(w io.Writer, views []projectionView) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSTATE\tGENERATION\tAPPLIED\tBEHIND\tLAG\tREBUILD")
	for _, v := range views {
		rebuild := "-"
		if b := v.Rebuild; b != nil {
			rebuild = fmt.Sprintf("generation %d %s: %d applied, %d behind", b.Generation, b.State, b.Applied, b.Behind)
		}
		state := v.State
		if v.WaitingForLease != nil {
			state += " (waiting for another owner's lease)"
		}
		if s := v.Stalled; s != nil {
			state += " (stalled: " + strings.ReplaceAll(s.Reason, "_", " ") + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%s\t%s\n", v.Name, state, v.Generation, v.Applied, v.Behind, lag(v.LagSeconds), rebuild)
	}
	return tw.Flush()
}

func lag(seconds float64) string {
	if seconds <= 0 {
		return "0s"
	}
	return time.Duration(seconds * float64(time.Second)).Round(time.Millisecond).String()
}

// printStatus prints one projection's status as a list of fields.
func printStatus(w io.Writer, v projectionView) {
	tw := tabwriter.NewWriter(w, 0, 4, 1, ' ', 0)
	fmt.Fprintf(tw, "name:\t%s\n", v.Name)
	fmt.Fprintf(tw, "state:\t%s\n", v.State)
	fmt.Fprintf(tw, "generation:\t%d (logic version %d)\n", v.Generation, v.Version)
	fmt.Fprintf(tw, "applied:\t%d\n", v.Applied)
	fmt.Fprintf(tw, "behind:\t%d\n", v.Behind)
	fmt.Fprintf(tw, "lag:\t%s\n", lag(v.LagSeconds))
	if v.Owner != "" {
		fmt.Fprintf(tw, "owner:\t%s\n", v.Owner)
	}
	if w := v.WaitingForLease; w != nil {
		fmt.Fprintf(tw, "waiting:\tfor the lease of %s (since %s; it expires at %s unless renewed)\n",
			w.Owner, formatTime(w.Since), formatTime(w.Until))
	}
	if s := v.Stalled; s != nil {
		fmt.Fprintf(tw, "stalled:\t%s since %s, %d attempts: %s\n", s.Reason, formatTime(s.Since), s.Attempts, s.Detail)
	}
	if l := v.LastEvent; l != nil {
		fmt.Fprintf(tw, "last event:\t%s v%d %s at %s\n", l.AggregateUUID, l.Version, l.Name, formatTime(l.RecordedAt))
	}
	if v.HistoryLost > 0 {
		fmt.Fprintf(tw, "history lost:\t%d times\n", v.HistoryLost)
	}
	if len(v.Collections) > 0 {
		fmt.Fprintf(tw, "collections:\t%s\n", strings.Join(v.Collections, ", "))
	}
	if f := v.Failure; f != nil {
		fmt.Fprintf(tw, "failure:\t%s on event %s (%s v%d): %s\n", formatTime(f.At), f.EventID, f.EventName, f.Version, f.Error)
	}
	if b := v.Rebuild; b != nil {
		fmt.Fprintf(tw, "rebuild:\tgeneration %d %s: %d applied, %d behind\n", b.Generation, b.State, b.Applied, b.Behind)
	}
	tw.Flush()
}
