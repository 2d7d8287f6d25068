package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/annalsdb/annals/server"
	"github.com/spf13/cobra"
)

// helpServerOnly says where the subscriptions commands go.
const helpServerOnly = `It talks to a running server (--server URL with --token, or ANNALS_SERVER
and ANNALS_TOKEN): the server's subscriptions service feeds the queues,
so there is no --store mode.`

type subscriptionsFlags struct {
	server, token string
	json          bool

	// create
	events, aggregateTypes       []string
	start                        string
	batchSize, maxAttempts       int
	ackTimeout, minBack, maxBack time.Duration
	webhookURL, webhookSecret    string
	webhookTimeout               time.Duration
	// fetch, ack, nack
	consumer string
	max      int
	wait     time.Duration
	action   string
	reason   string
	// parked, webhook-log
	limit int
}

// client returns the API client, refusing a missing --server.
func (fl *subscriptionsFlags) client() (*apiClient, error) {
	if fl.server == "" {
		return nil, usagef("say which server: --server URL (or ANNALS_SERVER)")
	}
	token, _, _ := strings.Cut(fl.token, ",")
	return newAPIClient(fl.server, strings.TrimSpace(token)), nil
}

func subscriptionsCommand(getenv func(string) string) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "subscriptions",
		Short: "Manage persistent subscriptions and consume them",
		Long: `Manage persistent subscriptions (consumer groups) and consume them: create,
list, get and delete subscriptions; fetch batches of events, ack or nack
them; list and replay parked events; see a webhook's delivery attempts.
A subscription with a webhook is pushed to its URL instead. Consumers of one subscription
compete: each event goes to one consumer at a time, and one not
acknowledged before its deadline is delivered again.

` + helpServerOnly,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("unknown subscriptions command %q: use create, list, get, delete, fetch, ack, nack, parked, replay, webhook-log or status", args[0])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			return usagef("say what to do: annals subscriptions create|list|get|delete|fetch|ack|nack|parked|replay|webhook-log|status")
		},
	}
	cmd.FParseErrWhitelist.UnknownFlags = true
	cmd.AddCommand(
		subscriptionsSub(getenv, "create <name>", "Create a subscription", oneArg("the subscription name"), createFlags, runCreate),
		subscriptionsSub(getenv, "list", "List the subscriptions", noArgs, nil, runList),
		subscriptionsSub(getenv, "get <name>", "Show a subscription", oneArg("the subscription name"), nil, runGet),
		subscriptionsSub(getenv, "delete <name>", "Delete a subscription and its queue (parked events included)", oneArg("the subscription name"), nil, runDelete),
		subscriptionsSub(getenv, "fetch <name>", "Fetch a batch of events for a consumer, waiting up to --wait for the first", oneArg("the subscription name"), fetchFlags, runFetch),
		subscriptionsSub(getenv, "ack <name> <event-id>...", "Acknowledge events the consumer holds", minArgs(2, "the subscription name and event ids"), consumerFlag, runAck),
		subscriptionsSub(getenv, "nack <name> <event-id>...", "Refuse events the consumer holds: retry them later, or park them", minArgs(2, "the subscription name and event ids"), nackFlags, runNack),
		subscriptionsSub(getenv, "parked <name>", "List a subscription's parked events", oneArg("the subscription name"), limitFlag("parked events", 1000), runParked),
		subscriptionsSub(getenv, "replay <name> [event-id...]", "Put parked events back in the queue (all of them when none is named)", minArgs(1, "the subscription name"), nil, runReplay),
		subscriptionsSub(getenv, "webhook-log <name>", "List a webhook subscription's latest delivery attempts, newest first", oneArg("the subscription name"), limitFlag("attempts", 100), runWebhookLog),
		subscriptionsSub(getenv, "status <name>", "Show where a subscription stands: its feed and its queue", oneArg("the subscription name"), nil, runStatus),
	)
	return cmd
}

type subscriptionsAction func(ctx context.Context, c *apiClient, fl *subscriptionsFlags, args []string, out io.Writer) error

// subscriptionsSub builds one subscriptions subcommand; flags adds its
// own flags.
func subscriptionsSub(getenv func(string) string, use, short string, args cobra.PositionalArgs, flags func(*cobra.Command, *subscriptionsFlags), action subscriptionsAction) *cobra.Command {
	var fl subscriptionsFlags
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Long:  short + ".\n\n" + helpServerOnly,
		Args:  args,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := envDefaults(cmd.Flags(), getenv); err != nil {
				return err
			}
			c, err := fl.client()
			if err != nil {
				return err
			}
			return action(cmd.Context(), c, &fl, args, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVar(&fl.server, "server", "", "URL of a running annals server, e.g. http://127.0.0.1:8080")
	f.StringVar(&fl.token, "token", "", "bearer token for --server")
	f.BoolVar(&fl.json, "json", false, "print JSON (the API's shape)")
	if flags != nil {
		flags(cmd, &fl)
	}
	return cmd
}

func minArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < n {
			return usagef("%s takes %s; got %d arguments", cmd.CommandPath(), what, len(args))
		}
		return nil
	}
}

func createFlags(cmd *cobra.Command, fl *subscriptionsFlags) {
	f := cmd.Flags()
	f.StringSliceVar(&fl.events, "events", nil, "only events with these names (repeat, or comma-separate); none keeps all")
	f.StringSliceVar(&fl.aggregateTypes, "aggregate-types", nil, "only events of streams of these aggregate types")
	f.StringVar(&fl.start, "start", "beginning", "where delivery begins: beginning (every stored event) or now (only events stored from now on)")
	f.IntVar(&fl.batchSize, "batch-size", 0, "the most events one fetch returns (0: the server's default, 100)")
	f.DurationVar(&fl.ackTimeout, "ack-timeout", 0, "how long a consumer holds an event before it is delivered again (0: 30s); with a webhook, longer than --webhook-timeout")
	f.IntVar(&fl.maxAttempts, "max-attempts", 0, "deliveries before an event is parked (0: 10)")
	f.DurationVar(&fl.minBack, "min-backoff", 0, "wait before a nacked event comes back, doubled per attempt (0: 1s)")
	f.DurationVar(&fl.maxBack, "max-backoff", 0, "cap of that wait (0: 1m)")
	f.StringVar(&fl.webhookURL, "webhook-url", "", "push the events to this http(s) URL, signed (Standard Webhooks), instead of waiting for consumers")
	f.StringVar(&fl.webhookSecret, "webhook-secret", "", "the webhook's signing secret, whsec_ and base64 of 24 to 64 bytes (none: the server generates one, shown only now)")
	f.DurationVar(&fl.webhookTimeout, "webhook-timeout", 0, "how long one webhook request may take, 100ms to 5m (0: 10s)")
}

func consumerFlag(cmd *cobra.Command, fl *subscriptionsFlags) {
	cmd.Flags().StringVar(&fl.consumer, "consumer", "", "the consumer's name (required); consumers of a subscription compete for its events")
}

func fetchFlags(cmd *cobra.Command, fl *subscriptionsFlags) {
	consumerFlag(cmd, fl)
	cmd.Flags().IntVar(&fl.max, "max", 0, "the most events to take (0: the subscription's batch size)")
	cmd.Flags().DurationVar(&fl.wait, "wait", 0, "how long to wait for the first event (at most 30s)")
}

func nackFlags(cmd *cobra.Command, fl *subscriptionsFlags) {
	consumerFlag(cmd, fl)
	cmd.Flags().StringVar(&fl.action, "action", "retry", "retry (deliver again after a backoff) or park (set aside until replayed)")
	cmd.Flags().StringVar(&fl.reason, "reason", "", "why, kept for operators")
}

// limitFlag adds --limit, the most of what to list (0: dflt).
func limitFlag(what string, dflt int) func(*cobra.Command, *subscriptionsFlags) {
	return func(cmd *cobra.Command, fl *subscriptionsFlags) {
		cmd.Flags().IntVar(&fl.limit, "limit", 0, fmt.Sprintf("the most %s to list (0: %d)", what, dflt))
	}
}

// limitQuery is --limit as a query, refusing a negative one.
func limitQuery(fl *subscriptionsFlags) (url.Values, error) {
	if fl.limit < 0 {
		return nil, usagef("--limit must not be negative")
	}
	if fl.limit == 0 {
		return nil, nil
	}
	return url.Values{"limit": {fmt.Sprint(fl.limit)}}, nil
}

func subPath(name string, rest string) string {
	return "/v1/subscriptions/" + url.PathEscape(name) + rest
}

// durationMS is d in whole milliseconds, refusing what would round.
func durationMS(flag string, d time.Duration) (int64, error) {
	if d < 0 || d%time.Millisecond != 0 {
		return 0, usagef("--%s %s must be whole milliseconds, not negative", flag, d)
	}
	return d.Milliseconds(), nil
}

func runCreate(ctx context.Context, c *apiClient, fl *subscriptionsFlags, args []string, out io.Writer) error {
	req := server.SubscriptionRequest{Name: args[0], Events: fl.events, AggregateTypes: fl.aggregateTypes,
		Settings: &server.SettingsView{BatchSize: fl.batchSize, MaxAttempts: fl.maxAttempts}}
	switch fl.start {
	case "beginning":
	case "now":
		req.Start = &server.StartView{Now: true}
	default:
		return usagef("--start %q must be beginning or now", fl.start)
	}
	var err error
	for _, d := range []struct {
		flag string
		v    time.Duration
		ms   *int64
	}{{"ack-timeout", fl.ackTimeout, &req.Settings.AckTimeoutMS}, {"min-backoff", fl.minBack, &req.Settings.MinBackoffMS}, {"max-backoff", fl.maxBack, &req.Settings.MaxBackoffMS}} {
		if *d.ms, err = durationMS(d.flag, d.v); err != nil {
			return err
		}
	}
	if fl.webhookURL != "" {
		req.Webhook = &server.WebhookView{URL: fl.webhookURL, Secret: fl.webhookSecret}
		if req.Webhook.TimeoutMS, err = durationMS("webhook-timeout", fl.webhookTimeout); err != nil {
			return err
		}
	} else if fl.webhookSecret != "" || fl.webhookTimeout != 0 {
		return usagef("--webhook-secret and --webhook-timeout need --webhook-url")
	}
	var v server.SubscriptionView
	if err := c.do(ctx, http.MethodPost, "/v1/subscriptions", nil, req, &v); err != nil {
		return err
	}
	if fl.json {
		return writeJSONIndent(out, v)
	}
	fmt.Fprintf(out, "created subscription %s\n", v.Name)
	printSubscription(out, v)
	if v.Webhook != nil && fl.webhookSecret == "" {
		fmt.Fprintln(out, "keep the webhook secret: the server shows it only now")
	}
	return nil
}

func runList(ctx context.Context, c *apiClient, fl *subscriptionsFlags, _ []string, out io.Writer) error {
	var list struct {
		Subscriptions []server.SubscriptionView `json:"subscriptions"`
	}
	if err := c.do(ctx, http.MethodGet, "/v1/subscriptions", nil, nil, &list); err != nil {
		return err
	}
	if fl.json {
		return writeJSONIndent(out, list)
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tEVENTS\tAGGREGATE TYPES\tSTART\tCREATED")
	for _, v := range list.Subscriptions {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", v.Name, orAll(v.Events), orAll(v.AggregateTypes), startText(v.Start), formatTime(v.CreatedAt))
	}
	return tw.Flush()
}

func runGet(ctx context.Context, c *apiClient, fl *subscriptionsFlags, args []string, out io.Writer) error {
	var v server.SubscriptionView
	if err := c.do(ctx, http.MethodGet, subPath(args[0], ""), nil, nil, &v); err != nil {
		return err
	}
	if fl.json {
		return writeJSONIndent(out, v)
	}
	printSubscription(out, v)
	return nil
}

func runDelete(ctx context.Context, c *apiClient, fl *subscriptionsFlags, args []string, out io.Writer) error {
	if err := c.do(ctx, http.MethodDelete, subPath(args[0], ""), nil, nil, nil); err != nil {
		return err
	}
	if fl.json {
		return writeJSONIndent(out, map[string]string{"deleted": args[0]})
	}
	fmt.Fprintf(out, "deleted subscription %s\n", args[0])
	return nil
}

func needConsumer(fl *subscriptionsFlags) error {
	if fl.consumer == "" {
		return usagef("--consumer is required: the name of the consumer that holds the events")
	}
	return nil
}

func runFetch(ctx context.Context, c *apiClient, fl *subscriptionsFlags, args []string, out io.Writer) error {
	if err := needConsumer(fl); err != nil {
		return err
	}
	wait, err := durationMS("wait", fl.wait)
	if err != nil {
		return err
	}
	var res server.FetchResponse
	if err := c.do(ctx, http.MethodPost, subPath(args[0], "/fetch"), nil,
		server.FetchRequest{Consumer: fl.consumer, Max: fl.max, WaitMS: wait}, &res); err != nil {
		return err
	}
	if fl.json {
		return writeJSONIndent(out, res)
	}
	if len(res.Deliveries) == 0 {
		fmt.Fprintln(out, "no events")
		return nil
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "EVENT ID\tAGGREGATE UUID\tVERSION\tNAME\tATTEMPT\tDEADLINE\tDATA")
	for _, d := range res.Deliveries {
		e := d.Event
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d\t%s\t%s\n", e.ID, e.AggregateUUID, e.Version, e.Name, d.Attempt, formatTime(d.Deadline), compactJSON(e.Data))
	}
	return tw.Flush()
}

func runAck(ctx context.Context, c *apiClient, fl *subscriptionsFlags, args []string, out io.Writer) error {
	return settle(ctx, c, fl, args, out, "ack", server.SettleRequest{})
}

func runNack(ctx context.Context, c *apiClient, fl *subscriptionsFlags, args []string, out io.Writer) error {
	if fl.action != "retry" && fl.action != "park" {
		return usagef("--action %q must be retry or park", fl.action)
	}
	return settle(ctx, c, fl, args, out, "nack", server.SettleRequest{Action: fl.action, Reason: fl.reason})
}

func settle(ctx context.Context, c *apiClient, fl *subscriptionsFlags, args []string, out io.Writer, verb string, req server.SettleRequest) error {
	if err := needConsumer(fl); err != nil {
		return err
	}
	req.Consumer, req.EventIDs = fl.consumer, args[1:]
	if err := c.do(ctx, http.MethodPost, subPath(args[0], "/"+verb), nil, req, nil); err != nil {
		return err
	}
	if fl.json {
		return writeJSONIndent(out, map[string]any{verb: req.EventIDs})
	}
	switch {
	case verb == "ack":
		fmt.Fprintf(out, "acknowledged %d events\n", len(req.EventIDs))
	case req.Action == "park":
		fmt.Fprintf(out, "parked %d events\n", len(req.EventIDs))
	default:
		fmt.Fprintf(out, "refused %d events; they come back after a backoff\n", len(req.EventIDs))
	}
	return nil
}

func runParked(ctx context.Context, c *apiClient, fl *subscriptionsFlags, args []string, out io.Writer) error {
	q, err := limitQuery(fl)
	if err != nil {
		return err
	}
	var res struct {
		Parked []server.ParkedView `json:"parked"`
	}
	if err := c.do(ctx, http.MethodGet, subPath(args[0], "/parked"), q, nil, &res); err != nil {
		return err
	}
	if fl.json {
		return writeJSONIndent(out, res)
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "EVENT ID\tAGGREGATE UUID\tVERSION\tNAME\tATTEMPTS\tREASON")
	for _, p := range res.Parked {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d\t%s\n", p.EventID, p.AggregateUUID, p.Version, p.Name, p.Attempts, p.Reason)
	}
	return tw.Flush()
}

func runWebhookLog(ctx context.Context, c *apiClient, fl *subscriptionsFlags, args []string, out io.Writer) error {
	q, err := limitQuery(fl)
	if err != nil {
		return err
	}
	var res server.WebhookLogResponse
	if err := c.do(ctx, http.MethodGet, subPath(args[0], "/webhook-log"), q, nil, &res); err != nil {
		return err
	}
	if fl.json {
		return writeJSONIndent(out, res)
	}
	if len(res.Attempts) == 0 {
		fmt.Fprintln(out, "no webhook attempts")
		return nil
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "AT\tEVENT ID\tATTEMPT\tSTATUS\tLATENCY\tERROR")
	for _, a := range res.Attempts {
		status := "-"
		if a.Status != 0 {
			status = fmt.Sprint(a.Status)
		}
		latency := time.Duration(a.LatencyMS * float64(time.Millisecond)).Round(time.Microsecond)
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", formatTime(a.At), a.EventID, a.Attempt, status, latency, a.Error)
	}
	return tw.Flush()
}

func runStatus(ctx context.Context, c *apiClient, fl *subscriptionsFlags, args []string, out io.Writer) error {
	var st server.SubscriptionStatusView
	if err := c.do(ctx, http.MethodGet, subPath(args[0], "/status"), nil, nil, &st); err != nil {
		return err
	}
	if fl.json {
		return writeJSONIndent(out, st)
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "feed:\t%s, %d behind, lag %s\n", st.FeedState, st.Behind, time.Duration(st.LagMS*float64(time.Millisecond)).Round(time.Millisecond))
	if st.FeedFailure != "" {
		fmt.Fprintf(tw, "failure:\t%s\n", st.FeedFailure)
	}
	capped := ""
	if st.Capped {
		capped = " (counts stop at 10000)"
	}
	fmt.Fprintf(tw, "queue:\t%d ready, %d in flight, %d parked%s\n", st.Ready, st.InFlight, st.Parked, capped)
	return tw.Flush()
}

func runReplay(ctx context.Context, c *apiClient, fl *subscriptionsFlags, args []string, out io.Writer) error {
	var res struct {
		Replayed int64 `json:"replayed"`
	}
	if err := c.do(ctx, http.MethodPost, subPath(args[0], "/parked/replay"), nil, server.ReplayRequest{EventIDs: args[1:]}, &res); err != nil {
		return err
	}
	if fl.json {
		return writeJSONIndent(out, res)
	}
	fmt.Fprintf(out, "replayed %d parked events\n", res.Replayed)
	return nil
}

func orAll(names []string) string {
	if len(names) == 0 {
		return "(all)"
	}
	return strings.Join(names, ",")
}

func startText(s server.StartView) string {
	switch {
	case s.Now && s.After != nil:
		return "now (" + formatTime(s.After.RecordedAt) + ")"
	case s.After != nil:
		return fmt.Sprintf("after %s v%d at %s", s.After.AggregateUUID, s.After.Version, formatTime(s.After.RecordedAt))
	}
	return "beginning"
}

// printSubscription prints a subscription as a list of fields.
func printSubscription(w io.Writer, v server.SubscriptionView) {
	tw := tabwriter.NewWriter(w, 0, 4, 1, ' ', 0)
	st := v.Settings
	fmt.Fprintf(tw, "name:\t%s\n", v.Name)
	fmt.Fprintf(tw, "events:\t%s\n", orAll(v.Events))
	fmt.Fprintf(tw, "aggregate types:\t%s\n", orAll(v.AggregateTypes))
	fmt.Fprintf(tw, "start:\t%s\n", startText(v.Start))
	fmt.Fprintf(tw, "batch size:\t%d\n", st.BatchSize)
	fmt.Fprintf(tw, "ack timeout:\t%s\n", time.Duration(st.AckTimeoutMS)*time.Millisecond)
	fmt.Fprintf(tw, "max attempts:\t%d\n", st.MaxAttempts)
	fmt.Fprintf(tw, "backoff:\t%s to %s\n", time.Duration(st.MinBackoffMS)*time.Millisecond, time.Duration(st.MaxBackoffMS)*time.Millisecond)
	if w := v.Webhook; w != nil {
		fmt.Fprintf(tw, "webhook:\t%s\n", w.URL)
		fmt.Fprintf(tw, "webhook secret:\t%s\n", w.Secret)
		fmt.Fprintf(tw, "webhook timeout:\t%s\n", time.Duration(w.TimeoutMS)*time.Millisecond)
	}
	fmt.Fprintf(tw, "created:\t%s\n", formatTime(v.CreatedAt))
	tw.Flush()
}
