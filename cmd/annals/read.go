package main

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/annalsdb/annals/mongostore"
	"github.com/spf13/cobra"
)

// streamView is a stream as read: the API's GET /v1/streams/{id}/events.
type streamView struct {
	AggregateUUID string      `json:"aggregate_uuid"`
	AggregateType string      `json:"aggregate_type"`
	Version       int64       `json:"version"`
	Events        []eventView `json:"events"`
}

type readFlags struct {
	target
	asOf     string
	from, to int64
	limit    int64
	json     bool
}

func readCommand(getenv func(string) string) *cobra.Command {
	var fl readFlags
	cmd := &cobra.Command{
		Use:   "read <aggregate_uuid>",
		Short: "Read one stream's events",
		Long: `Read one stream's events in version order, as a table (version, name,
recorded_at, data) or with --json as JSON. --from and --to bound the
versions (inclusive); --as-of reads the stream as it was at a time;
--limit caps the events. A stream with no events is an error (exit 1).

` + helpStoreOrServer,
		Example: `  annals read 0198c0de-5b6a-7c3e-9d2a-4f1e2d3c4b5a --store file:annals.db
  annals read 0198c0de-5b6a-7c3e-9d2a-4f1e2d3c4b5a --as-of 2026-01-02T15:04:05Z --json --server http://127.0.0.1:8080`,
		Args: oneArg("the aggregate UUID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := fl.setup(cmd, getenv); err != nil {
				return err
			}
			stream, err := parseStream(args[0])
			if err != nil {
				return err
			}
			q, err := fl.query()
			if err != nil {
				return err
			}
			var st streamView
			if fl.useServer {
				err = fl.client().do(cmd.Context(), http.MethodGet, "/v1/streams/"+stream.String()+"/events", queryValues(q), nil, &st)
			} else {
				err = fl.withStore(cmd.Context(), func(s *mongostore.Store) error {
					got, err := s.Read(cmd.Context(), stream, q)
					if err != nil {
						return err
					}
					st = streamView{AggregateUUID: stream.String(), AggregateType: got.Type, Version: got.Version, Events: []eventView{}}
					for _, e := range got.Events {
						v, err := viewOf(e)
						if err != nil {
							return err
						}
						st.Events = append(st.Events, v)
					}
					return nil
				})
			}
			if err != nil {
				if isStatus(err, http.StatusNotFound) {
					return fmt.Errorf("stream %s not found: %w", stream, err)
				}
				return err
			}
			if fl.json {
				return writeJSONIndent(cmd.OutOrStdout(), st)
			}
			return printEvents(cmd.OutOrStdout(), st.Events)
		},
	}
	f := cmd.Flags()
	fl.storeFlags(f)
	fl.serverFlags(f)
	f.StringVar(&fl.asOf, "as-of", "", "read the stream as it was at this RFC 3339 time, e.g. 2026-01-02T15:04:05Z")
	f.Int64Var(&fl.from, "from", 0, "first version to read (inclusive)")
	f.Int64Var(&fl.to, "to", 0, "last version to read (inclusive; default the end)")
	f.Int64Var(&fl.limit, "limit", 0, "read at most this many events (default all)")
	f.BoolVar(&fl.json, "json", false, "print the stream as JSON")
	return cmd
}

func (fl *readFlags) query() (mongostore.ReadQuery, error) {
	q := mongostore.ReadQuery{FromVersion: fl.from, ToVersion: fl.to, Limit: fl.limit}
	switch {
	case fl.from < 0:
		return q, usagef("--from must not be negative")
	case fl.to < 0:
		return q, usagef("--to must not be negative")
	case fl.limit < 0:
		return q, usagef("--limit must not be negative")
	case fl.to > 0 && fl.from > fl.to:
		return q, usagef("--from %d is after --to %d", fl.from, fl.to)
	}
	if fl.asOf != "" {
		t, err := time.Parse(time.RFC3339Nano, fl.asOf)
		if err != nil {
			return q, usagef("--as-of %q is not an RFC 3339 time like 2026-01-02T15:04:05Z", fl.asOf)
		}
		q.AsOf = t
	}
	return q, nil
}

// queryValues renders a read query as the API's query parameters.
func queryValues(q mongostore.ReadQuery) url.Values {
	v := url.Values{}
	if q.FromVersion > 0 {
		v.Set("from_version", strconv.FormatInt(q.FromVersion, 10))
	}
	if q.ToVersion > 0 {
		v.Set("to_version", strconv.FormatInt(q.ToVersion, 10))
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.FormatInt(q.Limit, 10))
	}
	if !q.AsOf.IsZero() {
		v.Set("as_of", q.AsOf.Format(time.RFC3339Nano))
	}
	return v
}

// printEvents prints events as a table.
func printEvents(w io.Writer, events []eventView) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VERSION\tNAME\tRECORDED_AT\tDATA")
	for _, e := range events {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", e.Version, e.Name, formatTime(e.RecordedAt), compactJSON(e.Data))
	}
	return tw.Flush()
}
