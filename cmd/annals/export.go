package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/annalsdb/annals/mongostore"
	"github.com/google/uuid"
	"github.com/spf13/cobra"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/bsontype"
	"go.mongodb.org/mongo-driver/mongo/options"
)

// record is one line of an export: one event with every stored field.
// data and metadata are canonical Extended JSON, so BSON types survive
// (int32 stays int32, 1.0 stays a double, dates, binaries, decimals).
type record struct {
	ID            string          `json:"id"`
	AggregateUUID string          `json:"aggregate_uuid"`
	AggregateType string          `json:"aggregate_type"`
	Version       int64           `json:"version"`
	Name          string          `json:"name"`
	SchemaVersion int32           `json:"schema_version"`
	Data          json.RawMessage `json:"data"`
	Metadata      json.RawMessage `json:"metadata"`
	// MetadataEscaped says metadata's keys are stored escaped (see
	// mongostore.EscapeMetadataKey); absent when they are not.
	MetadataEscaped bool   `json:"metadata_escaped,omitempty"`
	RecordedAt      string `json:"recorded_at"`
}

// The fields of a stored event document, in the order the store writes
// them (mongostore's encodeEvent); import writes them in this order so
// that imported documents are byte for byte the exported ones.
const (
	fieldID            = "_id"
	fieldStream        = "aggregate_uuid"
	fieldStreamType    = "aggregate_type"
	fieldVersion       = "version"
	fieldName          = "name"
	fieldSchemaVersion = "schema_version"
	fieldData          = "data"
	fieldMetadata      = "metadata"
	// fieldMetadataEscaped is written (true) only by events whose
	// metadata has an escaped key.
	fieldMetadataEscaped = "metadata_escaped"
	fieldRecordedAt      = "recorded_at"
)

// scanOrder is mongostore.Scan's order: recorded_at, then stream, then
// version (see mongostore.Position); within a stream, version order.
var scanOrder = bson.D{{Key: fieldRecordedAt, Value: 1}, {Key: fieldStream, Value: 1}, {Key: fieldVersion, Value: 1}}

type exportFlags struct {
	target
	out string
}

func exportCommand(getenv func(string) string) *cobra.Command {
	var fl exportFlags
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Write every event as NDJSON, for backups and moving stores",
		Long: `Write every event of the store as NDJSON (one JSON object per line) to
stdout or --out FILE, in the order mongostore.Scan reads them (recorded_at,
then stream, then version), streaming in constant memory:

  {"id":"…","aggregate_uuid":"…","aggregate_type":"Order","version":1,
   "name":"OrderCreated","schema_version":1,"data":{…},"metadata":{…},
   "recorded_at":"2026-01-02T15:04:05.12Z"}

data and metadata are canonical Extended JSON, so every BSON type
survives: 'annals import' restores each event byte for byte, with its id,
version and recorded_at. Events appended while an export runs may or may
not be in it. With --out the file appears only when the export is
complete. On a terminal, stderr shows a progress bar.

` + helpStoreOnly,
		Example: `  annals export --store file:annals.db --out backup.ndjson
  annals export --store 'mongodb://localhost:27017/?replicaSet=rs0' | gzip > backup.ndjson.gz`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := fl.setup(cmd, getenv); err != nil {
				return err
			}
			return fl.withStore(cmd.Context(), func(s *mongostore.Store) error {
				return fl.run(cmd.Context(), s, cmd.OutOrStdout(), cmd.ErrOrStderr())
			})
		},
	}
	fl.storeFlags(cmd.Flags())
	cmd.Flags().StringVarP(&fl.out, "out", "o", "", "write to this file instead of stdout")
	return cmd
}

func (fl *exportFlags) run(ctx context.Context, s *mongostore.Store, stdout, stderr io.Writer) error {
	start := time.Now()
	w := stdout
	var tmp *os.File
	if fl.out != "" && fl.out != "-" {
		var err error
		tmp, err = os.CreateTemp(filepath.Dir(fl.out), "."+filepath.Base(fl.out)+".*")
		if err != nil {
			return fmt.Errorf("create %s: %w", fl.out, err)
		}
		defer os.Remove(tmp.Name()) // after a successful rename, a no-op
		defer tmp.Close()
		w = tmp
	}
	var total int64
	if isTerminal(stderr) {
		total, _ = s.EventsCollection().EstimatedDocumentCount(ctx)
	}
	p := newQuietProgress(stderr, "export", "events", total)
	n, err := exportEvents(ctx, s, w, p)
	if err != nil {
		return err
	}
	if tmp != nil {
		if err := tmp.Sync(); err != nil {
			return fmt.Errorf("write %s: %w", fl.out, err)
		}
		if err := tmp.Close(); err != nil {
			return fmt.Errorf("write %s: %w", fl.out, err)
		}
		if err := os.Rename(tmp.Name(), fl.out); err != nil {
			return fmt.Errorf("write %s: %w", fl.out, err)
		}
	}
	fmt.Fprintf(stderr, "exported %d events in %s\n", n, time.Since(start).Round(time.Millisecond))
	return nil
}

// exportEvents writes every event to w as NDJSON in scan order, through a
// cursor, and returns how many it wrote. p, when not nil, sees the count.
func exportEvents(ctx context.Context, s *mongostore.Store, w io.Writer, p progress) (int64, error) {
	cur, err := s.EventsCollection().Find(ctx, bson.D{}, options.Find().SetSort(scanOrder).SetBatchSize(500))
	if err != nil {
		return 0, fmt.Errorf("export: read events: %w", err)
	}
	defer cur.Close(context.WithoutCancel(ctx))
	bw := bufio.NewWriterSize(w, 1<<20)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	var n int64
	for cur.Next(ctx) {
		var doc bson.Raw
		if err := cur.Decode(&doc); err != nil {
			return n, fmt.Errorf("export: read events: %w", err)
		}
		rec, err := recordOf(doc)
		if err != nil {
			return n, fmt.Errorf("export: %w", err)
		}
		if err := enc.Encode(rec); err != nil {
			return n, fmt.Errorf("export: write: %w", err)
		}
		n++
		if p != nil && n%256 == 0 {
			p.set(n, 0)
		}
	}
	if err := cur.Err(); err != nil {
		return n, fmt.Errorf("export: read events: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return n, fmt.Errorf("export: write: %w", err)
	}
	if p != nil {
		p.set(n, n)
		p.finish()
	}
	return n, nil
}

// recordOf turns a stored event document into its export record. It
// refuses documents that the record could not carry whole: unknown fields,
// missing ones, or fields of unexpected BSON types.
func recordOf(doc bson.Raw) (record, error) {
	var rec record
	elems, err := doc.Elements()
	if err != nil {
		return rec, err
	}
	seen := map[string]bool{}
	var id string
	for _, el := range elems {
		key, v := el.Key(), el.Value()
		if seen[key] {
			return rec, fmt.Errorf("event %s: field %s appears twice", id, key)
		}
		seen[key] = true
		ok := true
		switch key {
		case fieldID:
			id, ok = uuidString(v)
			rec.ID = id
		case fieldStream:
			rec.AggregateUUID, ok = uuidString(v)
		case fieldStreamType:
			rec.AggregateType, ok = v.StringValueOK()
		case fieldVersion:
			rec.Version, ok = v.Int64OK()
		case fieldName:
			rec.Name, ok = v.StringValueOK()
		case fieldSchemaVersion:
			rec.SchemaVersion, ok = v.Int32OK()
		case fieldData, fieldMetadata:
			var d bson.Raw
			if d, ok = v.DocumentOK(); ok {
				var j []byte
				if j, err = bson.MarshalExtJSON(d, true, false); err != nil {
					return rec, fmt.Errorf("event %s: %s: %w", id, key, err)
				}
				if key == fieldData {
					rec.Data = j
				} else {
					rec.Metadata = j
				}
			}
		case fieldMetadataEscaped:
			rec.MetadataEscaped, ok = v.BooleanOK()
			if ok && !rec.MetadataEscaped {
				return rec, fmt.Errorf("event %s: field %s is false; annals writes it true or not at all", id, key)
			}
		case fieldRecordedAt:
			var ms int64
			if ms, ok = v.DateTimeOK(); ok {
				rec.RecordedAt = formatTime(time.UnixMilli(ms))
			}
		default:
			return rec, fmt.Errorf("event %s has a field %q that annals does not write; export refuses to drop it", id, key)
		}
		if !ok {
			return rec, fmt.Errorf("event %s: field %s is BSON %s, not what annals writes", id, key, v.Type)
		}
	}
	for _, f := range []string{fieldID, fieldStream, fieldStreamType, fieldVersion, fieldName, fieldSchemaVersion, fieldData, fieldMetadata, fieldRecordedAt} {
		if !seen[f] {
			return rec, fmt.Errorf("event %s lacks field %s", id, f)
		}
	}
	return rec, nil
}

// uuidString reads a BSON UUID (binary subtype 4).
func uuidString(v bson.RawValue) (string, bool) {
	sub, data, ok := v.BinaryOK()
	if !ok || sub != bsontype.BinaryUUID || len(data) != 16 {
		return "", false
	}
	return uuid.UUID(data).String(), true
}
