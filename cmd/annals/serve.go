package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/annalsdb/annals/mongostore"
	"github.com/annalsdb/annals/projections"
	"github.com/annalsdb/annals/server"
	"github.com/annalsdb/annals/subscriptions"
	"github.com/spf13/cobra"
)

// serveConfig is what `annals serve` runs with.
type serveConfig struct {
	store           string
	addr            string
	db              string
	tokens          []string
	readTokens      []string
	insecure        bool
	logLevel        string
	logFormat       string
	shutdownTimeout time.Duration
	drainDelay      time.Duration
	leaseTTL        time.Duration
	privateWebhooks bool
	ui              bool
	// tracing is what the OTEL_* variables ask for; traceOut receives
	// the console exporter's spans.
	tracing  tracingConfig
	traceOut io.Writer
}

func serveCommand(getenv func(string) string) *cobra.Command {
	var cfg serveConfig
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the HTTP API and the built-in projections",
		Long: `Run the HTTP API over an event store, with the built-in projections
(streams, event_counts) kept current. It talks to the store directly.

Without tokens the API binds to loopback only; binding elsewhere without a
token needs --insecure.

The web console is served at /ui/ (turn it off with --ui=false or
ANNALS_UI=false). It uses the same API: with tokens configured it asks
for one and keeps it in the browser tab's session storage; a read-only
token can look but not retry or rebuild.

SIGINT or SIGTERM drains. First a lame-duck phase of --drain-delay:
/readyz answers 503 at once so a load balancer takes the server out of
rotation, live feeds end, and requests are still served, each response
closing its connection; another signal (Ctrl-C again) ends it early.
Then the server stops accepting connections, lets every request it has
received finish (up to --shutdown-timeout, then cancels them; a signal
after the delay cancels them at once), stops the projections and exits.

Tracing (OpenTelemetry) is off unless the standard variables ask for it:
OTEL_TRACES_EXPORTER=otlp or console (or OTEL_EXPORTER_OTLP_ENDPOINT /
OTEL_EXPORTER_OTLP_TRACES_ENDPOINT set), OTEL_EXPORTER_OTLP_PROTOCOL=
http/protobuf (default) or grpc, OTEL_SERVICE_NAME (default annals),
OTEL_TRACES_SAMPLER; OTEL_SDK_DISABLED=true turns it off.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := envDefaults(cmd.Flags(), getenv); err != nil {
				return err
			}
			tc, err := tracingFromEnv(getenv)
			if err != nil {
				return err
			}
			cfg.tracing, cfg.traceOut = tc, cmd.OutOrStdout()
			return serve(cmd.Context(), cfg, cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.store, "store", "file:annals.db", "store URI: mongodb://…, mongodb+srv://…, memory: or file:PATH")
	f.StringVar(&cfg.addr, "addr", "127.0.0.1:8080", "address to listen on")
	f.StringVar(&cfg.db, "db", "", "database name (default: the URI's, else annals)")
	f.StringSliceVar(&cfg.tokens, "token", nil, "bearer token allowed to read and write (repeat, or comma-separate)")
	f.StringSliceVar(&cfg.readTokens, "read-token", nil, "bearer token allowed to read only (repeat, or comma-separate)")
	f.BoolVar(&cfg.insecure, "insecure", false, "allow binding beyond loopback without a token")
	f.StringVar(&cfg.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	f.StringVar(&cfg.logFormat, "log-format", "text", "log format: text or json")
	f.DurationVar(&cfg.shutdownTimeout, "shutdown-timeout", 15*time.Second, "how long in-flight requests may take to finish on shutdown before they are cancelled")
	f.DurationVar(&cfg.drainDelay, "drain-delay", 5*time.Second, "on shutdown, how long to keep serving with /readyz at 503 before refusing connections (time for a load balancer to notice; 0 for none)")
	f.DurationVar(&cfg.leaseTTL, "lease-ttl", projections.DefaultLeaseTTL, "how long a server owns a projection without renewing; another server takes over a crashed one's projections after it (on file: and memory: stores at once)")
	f.BoolVar(&cfg.ui, "ui", true, "serve the web console at /ui/ (--ui=false turns it off)")
	f.BoolVar(&cfg.privateWebhooks, "allow-private-webhooks", false, "let webhook subscriptions reach loopback, link-local and private addresses (refused by default: SSRF)")
	return cmd
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("%w: --log-level %q must be debug, info, warn or error", errUsage, level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("%w: --log-format %q must be text or json", errUsage, format)
}

// checkBind refuses to serve beyond loopback without a token.
func checkBind(addr string, tokens int, insecure bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%w: --addr %q: %v", errUsage, addr, err)
	}
	if tokens > 0 || insecure {
		return nil
	}
	ip := net.ParseIP(host)
	if host == "localhost" || (ip != nil && ip.IsLoopback()) {
		return nil
	}
	return fmt.Errorf("%w: refusing to listen on %q without a token: set --token (or ANNALS_TOKEN), bind to 127.0.0.1, or pass --insecure", errUsage, addr)
}

func serve(ctx context.Context, cfg serveConfig, stderr io.Writer) error {
	log, err := newLogger(stderr, cfg.logLevel, cfg.logFormat)
	if err != nil {
		return err
	}
	var tokens []server.Token
	for _, t := range cfg.tokens {
		if t = strings.TrimSpace(t); t != "" {
			tokens = append(tokens, server.Token{Secret: t, Access: server.ReadWrite})
		}
	}
	for _, t := range cfg.readTokens {
		if t = strings.TrimSpace(t); t != "" {
			tokens = append(tokens, server.Token{Secret: t, Access: server.ReadOnly})
		}
	}
	if err := checkBind(cfg.addr, len(tokens), cfg.insecure); err != nil {
		return err
	}
	if cfg.leaseTTL < 100*time.Millisecond {
		return fmt.Errorf("%w: --lease-ttl %s must be at least 100ms", errUsage, cfg.leaseTTL)
	}
	stopTracing, err := installTracing(ctx, cfg.tracing, cfg.traceOut, log)
	if err != nil {
		return err
	}
	defer stopTracing() // last: after the server, the runners and the store
	// Bind before opening the store: an address in use must not leave a
	// new store file behind.
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.addr, err)
	}
	defer ln.Close() // if serve returns before shutting down
	opts := []mongostore.Option{mongostore.WithLogger(log)}
	if cfg.db != "" {
		opts = append(opts, mongostore.WithDatabase(cfg.db))
	}
	// Say what it waits for at once: an unreachable MongoDB takes the
	// driver's server selection timeout (30 s by default) to fail.
	if strings.HasPrefix(cfg.store, "mongodb") {
		log.Info("connecting to MongoDB; waiting until a member answers (30s unless the URI sets serverSelectionTimeoutMS)",
			"store", server.MaskURI(cfg.store))
	} else {
		log.Info("opening the store", "store", cfg.store)
	}
	store, err := mongostore.Open(ctx, cfg.store, opts...)
	if errors.Is(err, mongostore.ErrLocked) {
		return fmt.Errorf("%w\nAnother process (another 'annals serve'?) holds this store: stop it, or give this server a store of its own with --store.", err)
	}
	if err != nil {
		return err
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := store.Close(closeCtx); err != nil {
			log.Error("close store", "error", err)
		}
	}()
	runner := projections.NewRunner(store, servedProjections()...)
	runner.Logger = log
	runner.LeaseTTL = cfg.leaseTTL
	subs := subscriptions.New(store)
	subs.Logger = log
	subs.AllowPrivateWebhooks = cfg.privateWebhooks
	api, err := server.New(store, runner, server.Options{Tokens: tokens, Logger: log, Subscriptions: subs,
		Console: cfg.ui, Version: buildVersion(), StoreURI: cfg.store})
	if err != nil {
		return err
	}

	// Requests run under base. Shutdown ends the live feeds (which never
	// go idle) at once and lets every other request finish; base ends only
	// if they have not when the shutdown timeout passes.
	base, endRequests := context.WithCancel(context.WithoutCancel(ctx))
	defer endRequests()
	var conns connTracker
	srv := &http.Server{
		Handler:           api,
		ConnState:         conns.Track,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return base },
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	runCtx, stopRunner := context.WithCancel(context.WithoutCancel(ctx))
	// runnerDone and subsDone are closed after Run's error: each can be
	// received twice (once if it stops on its own, once at shutdown).
	runnerDone := make(chan error, 1)
	go func() { runnerDone <- runner.Run(runCtx); close(runnerDone) }()
	subsDone := make(chan error, 1)
	go func() { subsDone <- subs.Run(runCtx); close(subsDone) }()
	serveDone := make(chan error, 1)
	go func() { serveDone <- srv.Serve(ln) }()
	log.Info("annals listening", "addr", "http://"+ln.Addr().String(), "engine", string(store.Engine()), "auth", len(tokens) > 0)
	if cfg.ui {
		log.Info("web console", "url", "http://"+ln.Addr().String()+"/ui/")
	}

	sigs := signalsFrom(ctx)
	// hurry is the signal that stops waiting for the requests in flight:
	// the next one not yet used (the first when the server stops on its
	// own, the second unless it ended the drain delay).
	hurry := ctx.Done()
	var serveErr error
	select {
	case <-ctx.Done():
		api.Drain()
		hurry = sigs.second
		if cfg.drainDelay > 0 {
			log.Info("shutting down: draining; another SIGINT or SIGTERM ends the drain delay, and one after the delay stops waiting for requests", "drain_delay", cfg.drainDelay, "timeout", cfg.shutdownTimeout)
			if lameDuck(cfg.drainDelay, sigs.second, log) { // still serving
				hurry = sigs.third
			}
		} else {
			log.Info("shutting down: draining; a second SIGINT or SIGTERM stops waiting for requests", "timeout", cfg.shutdownTimeout)
		}
	case serveErr = <-serveDone:
	case serveErr = <-runnerDone:
		if serveErr == nil {
			serveErr = errors.New("the projection runner stopped")
		}
	case serveErr = <-subsDone:
		if serveErr == nil {
			serveErr = errors.New("the subscriptions service stopped")
		}
	}
	// Stopping on its own (no signal): responses close their connections
	// too, so that no keep-alive connection holds the shutdown up.
	api.Drain()
	_ = ln.Close() // stop accepting: Serve returns
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.shutdownTimeout)
	defer cancel()
	hurried := make(chan struct{})
	var hurryWG sync.WaitGroup
	hurryWG.Go(func() {
		select {
		case <-hurry:
			log.Warn("another signal: no longer waiting for the requests in flight")
			cancel()
		case <-hurried:
		}
	})
	defer func() { close(hurried); hurryWG.Wait() }()
	api.CloseLiveFeeds() // they never end by themselves
	// Every request received is answered before Shutdown, which would
	// cut those it has not read yet (see connTracker).
	err = conns.Quiesce(shutdownCtx)
	if err == nil {
		err = srv.Shutdown(shutdownCtx)
	}
	if err != nil {
		log.Warn("requests did not finish; cancelling them", "error", err, "timeout", cfg.shutdownTimeout)
		endRequests()
		_ = srv.Close()
	}
	stopRunner()
	if err := <-runnerDone; err != nil && serveErr == nil {
		serveErr = err
	}
	if err := <-subsDone; err != nil && serveErr == nil {
		serveErr = err
	}
	if errors.Is(serveErr, http.ErrServerClosed) {
		serveErr = nil
	}
	log.Info("stopped")
	return serveErr
}
