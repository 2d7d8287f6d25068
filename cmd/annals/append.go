package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/annalsdb/annals/mongostore"
	"github.com/annalsdb/annals/server"
	"github.com/google/uuid"
	"github.com/spf13/cobra"
)

// appendBody is the body of POST /v1/streams/{id}/events, which append
// also reads from --file; appendView is what an append stored.
type (
	appendBody = server.AppendRequest
	eventBody  = server.EventRequest
	appendView = server.AppendResponse
)

type appendFlags struct {
	target
	name, data, metadata, id string
	schemaVersion            int32
	expected, aggregateType  string
	file                     string
	json                     bool
}

func appendCommand(getenv func(string) string) *cobra.Command {
	var fl appendFlags
	cmd := &cobra.Command{
		Use:   "append <aggregate_uuid>",
		Short: "Append events to a stream",
		Long: `Append events to one stream (aggregate), all or nothing.

One event comes from flags (--name, --data, --metadata, --id,
--schema-version); several from --file, a JSON file ('-' for stdin) with the
body of the HTTP API's POST /v1/streams/{id}/events:

  {"expected_version": 2, "aggregate_type": "Order",
   "events": [{"id": "…", "name": "OrderConfirmed", "schema_version": 1,
               "data": {"by": "ana"}, "metadata": {"actor": "ana"}}]}

--expected-version and --type apply to both and win over the file's.
Give events ids (--id, or "id" in the file) to make the append safe to
retry: the same ids are never stored twice. It prints the versions the
events got, as a table or with --json as JSON.

` + helpStoreOrServer,
		Example: `  annals append 0198c0de-5b6a-7c3e-9d2a-4f1e2d3c4b5a --name OrderCreated --data '{"total":42}' --type Order --expected-version no_stream
  annals append 0198c0de-5b6a-7c3e-9d2a-4f1e2d3c4b5a --file events.json --server http://127.0.0.1:8080 --token s3cret
  cat events.json | annals append 0198c0de-5b6a-7c3e-9d2a-4f1e2d3c4b5a --file -`,
		Args: oneArg("the aggregate UUID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := fl.setup(cmd, getenv); err != nil {
				return err
			}
			stream, err := parseStream(args[0])
			if err != nil {
				return err
			}
			body, err := fl.body(cmd)
			if err != nil {
				return err
			}
			var res appendView
			if fl.useServer {
				err = fl.client().do(cmd.Context(), http.MethodPost, "/v1/streams/"+stream.String()+"/events", nil, body, &res)
			} else {
				err = fl.withStore(cmd.Context(), func(s *mongostore.Store) error {
					res, err = appendToStore(cmd.Context(), s, stream, body)
					return err
				})
			}
			if err != nil {
				return err
			}
			return printAppend(cmd.OutOrStdout(), cmd.ErrOrStderr(), res, body, fl.json)
		},
	}
	f := cmd.Flags()
	fl.storeFlags(f)
	fl.serverFlags(f)
	f.StringVar(&fl.name, "name", "", "event name, e.g. OrderCreated")
	f.StringVar(&fl.data, "data", "", "event payload, a JSON object (Extended JSON allowed, e.g. {\"at\":{\"$date\":\"2026-01-02T15:04:05Z\"}})")
	f.StringVar(&fl.metadata, "metadata", "", "event metadata, a JSON object: correlation_id, causation_id, actor and free fields")
	f.StringVar(&fl.id, "id", "", "event id, a UUID, to make the append idempotent (default: assigned)")
	f.Int32Var(&fl.schemaVersion, "schema-version", 0, "schema version of the payload (default 1)")
	f.StringVar(&fl.expected, "expected-version", "", "what the stream must be at: any, no_stream, exists or a version number (default any)")
	f.StringVar(&fl.aggregateType, "type", "", "aggregate type recorded on the events, e.g. Order")
	f.StringVar(&fl.file, "file", "", "read the request body from this JSON file ('-' for stdin) instead of the event flags")
	f.BoolVar(&fl.json, "json", false, "print the result as JSON")
	return cmd
}

// parseStream reads an aggregate UUID argument.
func parseStream(s string) (uuid.UUID, error) {
	id, err := uuid.Parse(s)
	if err != nil || len(s) != 36 || id == uuid.Nil {
		return uuid.Nil, usagef("aggregate UUID %q is not a UUID like 123e4567-e89b-12d3-a456-426614174000", s)
	}
	return id, nil
}

// body builds the request from --file or from the event flags.
func (fl *appendFlags) body(cmd *cobra.Command) (appendBody, error) {
	var b appendBody
	f := cmd.Flags()
	eventFlags := []string{"name", "data", "metadata", "id", "schema-version"}
	if fl.file != "" {
		for _, n := range eventFlags {
			if f.Changed(n) {
				return b, usagef("--%s and --file exclude each other: put the event in the file", n)
			}
		}
		var err error
		if b, err = readAppendBody(cmd.InOrStdin(), fl.file); err != nil {
			return b, err
		}
	} else {
		if fl.name == "" {
			return b, usagef("say what to append: --name (with --data, --metadata) or --file")
		}
		e := eventBody{Name: fl.name}
		if fl.id != "" {
			if _, err := uuid.Parse(fl.id); err != nil || len(fl.id) != 36 {
				return b, usagef("--id %q is not a UUID", fl.id)
			}
			e.ID = &fl.id
		}
		if f.Changed("schema-version") {
			if fl.schemaVersion < 1 {
				return b, usagef("--schema-version must be at least 1")
			}
			e.SchemaVersion = &fl.schemaVersion
		}
		var err error
		if e.Data, err = objectFlag("data", fl.data); err != nil {
			return b, err
		}
		if e.Metadata, err = objectFlag("metadata", fl.metadata); err != nil {
			return b, err
		}
		b.Events = []eventBody{e}
	}
	if fl.expected != "" {
		raw, err := expectedFlag(fl.expected)
		if err != nil {
			return b, err
		}
		b.ExpectedVersion = raw
	}
	if fl.aggregateType != "" {
		b.AggregateType = fl.aggregateType
	}
	if len(b.Events) == 0 {
		return b, errors.New("the body holds no events: \"events\" must list at least one")
	}
	return b, nil
}

// readAppendBody reads a request body from a file, or stdin for "-",
// refusing unknown fields.
func readAppendBody(stdin io.Reader, path string) (appendBody, error) {
	var b appendBody
	r := stdin
	name := "stdin"
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return b, err
		}
		defer f.Close()
		r, name = f, path
	}
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		return b, fmt.Errorf("read %s: %w", name, err)
	}
	if dec.More() {
		return b, fmt.Errorf("read %s: unexpected data after the JSON body", name)
	}
	return b, nil
}

// objectFlag checks that a flag holds a JSON object; empty is absent.
func objectFlag(name, v string) (json.RawMessage, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return nil, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(v), &m); err != nil || m == nil {
		return nil, usagef("--%s must be a JSON object like {\"key\":\"value\"}", name)
	}
	return json.RawMessage(v), nil
}

// expectedFlag turns --expected-version into its JSON form.
func expectedFlag(v string) (json.RawMessage, error) {
	switch v {
	case "any", "no_stream", "exists":
		return json.Marshal(v)
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return nil, usagef("--expected-version %q must be any, no_stream, exists or a version number from 0", v)
	}
	return json.RawMessage(strconv.FormatInt(n, 10)), nil
}

// appendToStore appends a request body to a store, as the HTTP API does.
func appendToStore(ctx context.Context, s *mongostore.Store, stream uuid.UUID, b appendBody) (appendView, error) {
	sa, err := b.StreamAppend(stream)
	if err != nil {
		return appendView{}, err
	}
	res, err := s.AppendStreams(ctx, sa)
	if err != nil {
		return appendView{}, err
	}
	return server.NewAppendResponse(stream, res[0]), nil
}

// printAppend prints the stored versions: a table, or JSON.
func printAppend(stdout, stderr io.Writer, res appendView, b appendBody, asJSON bool) error {
	if asJSON {
		return writeJSON(stdout, res)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VERSION\tID\tNAME")
	for i, e := range res.Events {
		name := ""
		if i < len(b.Events) {
			name = b.Events[i].Name
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\n", e.Version, e.ID, name)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if res.Replayed {
		fmt.Fprintln(stderr, "already stored by an earlier append with the same ids: nothing new was written")
	}
	return nil
}
