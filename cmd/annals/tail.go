package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/annalsdb/annals/mongostore"
	"github.com/spf13/cobra"
	"go.mongodb.org/mongo-driver/bson"
)

type tailFlags struct {
	target
	json  bool
	count int
}

func tailCommand(getenv func(string) string) *cobra.Command {
	var fl tailFlags
	cmd := &cobra.Command{
		Use:   "tail",
		Short: "Print events as they are appended, like tail -f",
		Long: `Print every event appended from now on, one line per event (recorded_at,
aggregate UUID, version, name, data) or with --json one JSON object per
line, until interrupted (Ctrl-C) or --count events have been printed.

With --server (and --token) it follows the server's live feed
(GET /v1/events/live) and reconnects where it left off when the connection
drops. This is the way to use it.

With --store it watches the events collection's change stream itself.
On MongoDB that sees every append. On the embedded engine (memory:,
file:) a change stream only sees appends made in the same process, and a
file: store belongs to one process at a time, so 'tail --store file:…'
shows nothing useful: run 'annals serve' on the file and use --server.

` + helpStoreOrServer,
		Example: `  annals tail --server http://127.0.0.1:8080 --token s3cret
  annals tail --store 'mongodb://localhost:27017/?replicaSet=rs0' --json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := fl.setup(cmd, getenv); err != nil {
				return err
			}
			if fl.count < 0 {
				return usagef("--count must not be negative")
			}
			p := &eventPrinter{w: cmd.OutOrStdout(), json: fl.json, limit: fl.count}
			if fl.useServer {
				return tailServer(cmd.Context(), fl.client(), p, cmd.ErrOrStderr())
			}
			return fl.withStore(cmd.Context(), func(s *mongostore.Store) error {
				return tailStore(cmd.Context(), s, p, cmd.ErrOrStderr())
			})
		},
	}
	f := cmd.Flags()
	fl.storeFlags(f)
	fl.serverFlags(f)
	f.BoolVar(&fl.json, "json", false, "print each event as one line of JSON")
	f.IntVar(&fl.count, "count", 0, "stop after this many events (default: until interrupted)")
	return cmd
}

// errTailDone ends a tail that printed its --count events.
var errTailDone = errors.New("tail: enough events")

// eventPrinter prints one line per event and counts them.
type eventPrinter struct {
	w     io.Writer
	json  bool
	limit int
	n     int
}

// print writes one event; it returns errTailDone after the last wanted.
func (p *eventPrinter) print(e eventView) error {
	var err error
	if p.json {
		err = writeJSON(p.w, e)
	} else {
		_, err = fmt.Fprintf(p.w, "%s  %s  v%d  %s  %s\n", formatTime(e.RecordedAt), e.AggregateUUID, e.Version, e.Name, compactJSON(e.Data))
	}
	if err != nil {
		return err
	}
	p.n++
	if p.limit > 0 && p.n >= p.limit {
		return errTailDone
	}
	return nil
}

// tailServer follows the server's live feed until ctx ends, reconnecting
// after the last event seen when the connection drops.
func tailServer(ctx context.Context, c *apiClient, p *eventPrinter, stderr io.Writer) error {
	last := ""
	connected := false
	backoff := 100 * time.Millisecond
	for {
		err := followFeed(ctx, c, &last, func() {
			if connected {
				fmt.Fprintln(stderr, "reconnected")
			} else {
				fmt.Fprintf(stderr, "following %s (Ctrl-C to stop)\n", c.base)
			}
			connected, backoff = true, 100*time.Millisecond
		}, p.print)
		switch {
		case errors.Is(err, errTailDone), ctx.Err() != nil:
			return nil
		case isStatus(err, http.StatusGone):
			return fmt.Errorf("%w; the feed lost its place while disconnected: read the streams you follow, then tail again", err)
		case !connected:
			return err
		}
		var ae *apiError
		if errors.As(err, &ae) {
			return err
		}
		fmt.Fprintf(stderr, "connection lost (%v); reconnecting in %s\n", err, backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// followFeed reads the live feed once, from after *last, calling opened
// when the server accepted the request and handle for each event, and
// keeping *last current. It returns when the connection or handle ends.
func followFeed(ctx context.Context, c *apiClient, last *string, opened func(), handle func(eventView) error) error {
	req, err := c.request(ctx, http.MethodGet, "/v1/events/live", nil, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "text/event-stream")
	if *last != "" {
		req.Header.Set("Last-Event-ID", *last)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("reach the server: %w", err)
	}
	defer resp.Body.Close()
	if err := checkResponse(resp); err != nil {
		return err
	}
	opened()
	r := bufio.NewReader(resp.Body)
	var id string
	var data strings.Builder
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF // the feed never ends by itself
			}
			return err
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" { // dispatch
			if data.Len() > 0 {
				var e eventView
				if err := json.Unmarshal([]byte(data.String()), &e); err != nil {
					return fmt.Errorf("read the live feed: %w", err)
				}
				if err := handle(e); err != nil {
					return err
				}
				if id != "" {
					*last = id
				}
			}
			id = ""
			data.Reset()
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "id":
			id = value
		case "data":
			if data.Len() > 0 {
				data.WriteByte('\n')
			}
			data.WriteString(value)
		}
	}
}

// tailStore watches the events collection's change stream until ctx ends.
func tailStore(ctx context.Context, s *mongostore.Store, p *eventPrinter, stderr io.Writer) error {
	pipeline := []any{}
	if s.Engine() == mongostore.EngineMongoDB {
		pipeline = append(pipeline, bson.D{{Key: "$match", Value: bson.D{{Key: "operationType", Value: "insert"}}}})
	}
	cs, err := s.EventsCollection().Watch(ctx, pipeline)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("watch the events: %w", err)
	}
	defer cs.Close(context.WithoutCancel(ctx))
	if s.Engine().Embedded() {
		fmt.Fprintln(stderr, "following the embedded engine: only appends made in this process show up; prefer --server")
	} else {
		fmt.Fprintln(stderr, "following the store (Ctrl-C to stop)")
	}
	for cs.Next(ctx) {
		var ch struct {
			OperationType string   `bson:"operationType"`
			FullDocument  bson.Raw `bson:"fullDocument"`
		}
		if err := cs.Decode(&ch); err != nil {
			return fmt.Errorf("watch the events: %w", err)
		}
		if ch.OperationType != "insert" {
			continue
		}
		ev, err := mongostore.DecodeEvent(ch.FullDocument)
		if err != nil {
			return err
		}
		v, err := viewOf(ev)
		if err != nil {
			return err
		}
		if err := p.print(v); err != nil {
			if errors.Is(err, errTailDone) {
				return nil
			}
			return err
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	if err := cs.Err(); err != nil {
		return fmt.Errorf("watch the events: %w", err)
	}
	return nil
}
