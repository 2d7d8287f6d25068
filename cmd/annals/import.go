package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/256dpi/lungo"
	"github.com/annalsdb/annals/mongostore"
	"github.com/google/uuid"
	"github.com/spf13/cobra"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
)

// Import batches: one transaction writes at most this many events or
// bytes, so memory stays bounded whatever the input's size.
const (
	defaultImportBatch = 500
	maxImportBatchSize = 8 << 20
)

type importFlags struct {
	target
	in    string
	batch int
}

func importCommand(getenv func(string) string) *cobra.Command {
	var fl importFlags
	cmd := &cobra.Command{
		Use:   "import",
		Short: "Load events from an export (NDJSON), idempotently",
		Long: `Load the events of an 'annals export' (NDJSON, from --in FILE or stdin)
into the store, keeping each event's id, stream, version and recorded_at:
the stored documents are byte for byte those exported, whatever the
engines (e.g. from file: to MongoDB).

Import is idempotent: an event already stored the same is skipped, so
importing a file twice, or again after an interruption, stores nothing
twice. It refuses, naming the event, an event whose id or stream version
holds a different event, and a gap in a stream's versions. Events are
written in transactions of up to --batch events, streaming in constant
memory. On a terminal, stderr shows a progress bar; the summary goes to
stderr too, as export's does.

Import writes the events collection directly and does not check event
names or payloads as an append does: import only what export wrote.
Running projections see imported events like appended ones.

` + helpStoreOnly,
		Example: `  annals import --store 'mongodb://localhost:27017/?replicaSet=rs0' --in backup.ndjson
  gunzip -c backup.ndjson.gz | annals import --store file:restored.db`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := fl.setup(cmd, getenv); err != nil {
				return err
			}
			if fl.batch < 1 {
				return usagef("--batch must be at least 1")
			}
			var in io.Reader = cmd.InOrStdin()
			var size int64
			if fl.in != "" && fl.in != "-" {
				f, err := os.Open(fl.in)
				if err != nil {
					return err
				}
				defer f.Close()
				if fi, err := f.Stat(); err == nil {
					size = fi.Size()
				}
				in = f
			}
			return fl.withStore(cmd.Context(), func(s *mongostore.Store) error {
				start := time.Now()
				p := newQuietProgress(cmd.ErrOrStderr(), "import", "bytes", size)
				st, err := importEvents(cmd.Context(), s, in, fl.batch, p)
				if err != nil {
					return fmt.Errorf("import: %w (%d events imported before, %d already present)", err, st.inserted, st.present)
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "imported %d events, %d already present, in %s\n",
					st.inserted, st.present, time.Since(start).Round(time.Millisecond))
				return nil
			})
		},
	}
	f := cmd.Flags()
	fl.storeFlags(f)
	f.StringVarP(&fl.in, "in", "i", "", "read this file instead of stdin")
	f.IntVar(&fl.batch, "batch", defaultImportBatch, "events per transaction")
	return cmd
}

// newQuietProgress is a bar on a terminal and nothing elsewhere: the
// summary line is enough in logs.
func newQuietProgress(w io.Writer, what, unit string, total int64) progress {
	if !isTerminal(w) {
		return nil
	}
	return newBar(w, what, unit, total)
}

type importStats struct {
	inserted, present int64
}

// imported is one event to import.
type imported struct {
	line       int
	id, stream uuid.UUID
	version    int64
	doc        bson.Raw
}

// importEvents reads NDJSON records from r and stores them in batches.
// p, when not nil, sees the bytes read.
func importEvents(ctx context.Context, s *mongostore.Store, r io.Reader, batchSize int, p progress) (importStats, error) {
	var st importStats
	cr := &countingReader{r: r}
	br := bufio.NewReaderSize(cr, 1<<20)
	var batch []imported
	bytesInBatch := 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		ins, pre, err := storeBatch(ctx, s, batch)
		if err != nil {
			return err
		}
		st.inserted += ins
		st.present += pre
		batch, bytesInBatch = batch[:0], 0
		if p != nil {
			p.set(cr.n, 0)
		}
		return nil
	}
	for line := 1; ; line++ {
		b, err := br.ReadBytes('\n')
		if len(bytes.TrimSpace(b)) > 0 {
			ev, perr := parseRecord(b)
			if perr != nil {
				return st, fmt.Errorf("line %d: %w", line, perr)
			}
			ev.line = line
			batch = append(batch, ev)
			bytesInBatch += len(ev.doc)
			if len(batch) >= batchSize || bytesInBatch >= maxImportBatchSize {
				if err := flush(); err != nil {
					return st, err
				}
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return st, fmt.Errorf("read line %d: %w", line, err)
		}
	}
	if err := flush(); err != nil {
		return st, err
	}
	if p != nil {
		p.set(cr.n, cr.n)
		p.finish()
	}
	return st, nil
}

// parseRecord turns one export line back into the stored document, with
// the fields in the store's order.
func parseRecord(line []byte) (imported, error) {
	var rec record
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rec); err != nil {
		return imported{}, fmt.Errorf("not an export record: %w", err)
	}
	var ev imported
	var err error
	if ev.id, err = uuidField("id", rec.ID); err != nil {
		return ev, err
	}
	if ev.stream, err = uuidField("aggregate_uuid", rec.AggregateUUID); err != nil {
		return ev, err
	}
	if rec.Version < 1 {
		return ev, fmt.Errorf("event %s: version %d must be at least 1", ev.id, rec.Version)
	}
	if rec.Name == "" {
		return ev, fmt.Errorf("event %s: name is empty", ev.id)
	}
	if rec.SchemaVersion < 1 {
		return ev, fmt.Errorf("event %s: schema_version %d must be at least 1", ev.id, rec.SchemaVersion)
	}
	data, err := extJSONDocument(rec.Data)
	if err != nil {
		return ev, fmt.Errorf("event %s: data: %w", ev.id, err)
	}
	meta, err := extJSONDocument(rec.Metadata)
	if err != nil {
		return ev, fmt.Errorf("event %s: metadata: %w", ev.id, err)
	}
	at, err := time.Parse(time.RFC3339Nano, rec.RecordedAt)
	if err != nil {
		return ev, fmt.Errorf("event %s: recorded_at %q is not an RFC 3339 time", ev.id, rec.RecordedAt)
	}
	if at.Truncate(time.Millisecond) != at {
		return ev, fmt.Errorf("event %s: recorded_at %q is finer than milliseconds, which BSON dates cannot hold", ev.id, rec.RecordedAt)
	}
	ev.version = rec.Version
	doc := bson.D{
		{Key: fieldID, Value: mongostore.UUIDValue(ev.id)},
		{Key: fieldStream, Value: mongostore.UUIDValue(ev.stream)},
		{Key: fieldStreamType, Value: rec.AggregateType},
		{Key: fieldVersion, Value: rec.Version},
		{Key: fieldName, Value: rec.Name},
		{Key: fieldSchemaVersion, Value: rec.SchemaVersion},
		{Key: fieldData, Value: data},
		{Key: fieldMetadata, Value: meta},
	}
	if rec.MetadataEscaped {
		doc = append(doc, bson.E{Key: fieldMetadataEscaped, Value: true})
	}
	ev.doc, err = bson.Marshal(append(doc, bson.E{Key: fieldRecordedAt, Value: primitive.DateTime(at.UnixMilli())}))
	if err != nil {
		return ev, fmt.Errorf("event %s: %w", ev.id, err)
	}
	return ev, nil
}

func uuidField(name, s string) (uuid.UUID, error) {
	id, err := uuid.Parse(s)
	if err != nil || len(s) != 36 || id == uuid.Nil {
		return uuid.Nil, fmt.Errorf("%s %q is not a UUID", name, s)
	}
	return id, nil
}

// extJSONDocument reads a canonical Extended JSON object into BSON,
// keeping its fields' order and types.
func extJSONDocument(raw json.RawMessage) (bson.Raw, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, errors.New("missing")
	}
	var doc bson.Raw
	if err := bson.UnmarshalExtJSON(raw, true, &doc); err != nil {
		return nil, fmt.Errorf("not an Extended JSON object: %w", err)
	}
	return doc, nil
}

// storeBatch stores a batch in one transaction: events already stored the
// same are skipped, the others must continue their streams without gaps.
// The unique indexes on _id and (aggregate_uuid, version) make a
// concurrent writer fail the transaction rather than duplicate an event.
func storeBatch(ctx context.Context, s *mongostore.Store, batch []imported) (inserted, present int64, err error) {
	events := s.EventsCollection()
	err = s.Transaction(ctx, func(sc context.Context) error {
		inserted, present = 0, 0
		heads := map[uuid.UUID]int64{}
		var known bson.A
		for _, ev := range batch {
			if _, ok := heads[ev.stream]; !ok {
				h, err := streamHead(sc, events, ev.stream)
				if err != nil {
					return err
				}
				heads[ev.stream] = h
			}
			if ev.version <= heads[ev.stream] {
				known = append(known, mongostore.UUIDValue(ev.id))
			}
		}
		stored, err := findByID(sc, events, known)
		if err != nil {
			return err
		}
		next := map[uuid.UUID]int64{}
		var docs []any
		for _, ev := range batch {
			h := heads[ev.stream]
			if ev.version <= h {
				got, ok := stored[ev.id]
				switch {
				case !ok:
					return fmt.Errorf("line %d: stream %s already holds version %d as another event than %s", ev.line, ev.stream, ev.version, ev.id)
				case !bytes.Equal(got, ev.doc):
					return fmt.Errorf("line %d: event %s is already stored, differently (%s)", ev.line, ev.id, firstDifference(got, ev.doc))
				}
				present++
				continue
			}
			want, ok := next[ev.stream]
			if !ok {
				want = h + 1
			}
			if ev.version != want {
				return fmt.Errorf("line %d: stream %s: event %s has version %d, but the stream is at version %d: versions %d to %d are missing from the input",
					ev.line, ev.stream, ev.id, ev.version, want-1, want, ev.version-1)
			}
			next[ev.stream] = want + 1
			docs = append(docs, ev.doc)
		}
		if len(docs) == 0 {
			return nil
		}
		if _, err := events.InsertMany(sc, docs, options.InsertMany().SetOrdered(true)); err != nil {
			if mongo.IsDuplicateKeyError(err) || lungo.IsUniquenessError(err) {
				return fmt.Errorf("lines %d to %d: an event id is already stored in another stream or version, or another writer appended meanwhile: %w",
					batch[0].line, batch[len(batch)-1].line, err)
			}
			return err
		}
		inserted = int64(len(docs))
		return nil
	})
	return inserted, present, err
}

// streamHead returns a stream's last version, 0 when it has no events.
func streamHead(ctx context.Context, events lungo.ICollection, stream uuid.UUID) (int64, error) {
	var d struct {
		Version int64 `bson:"version"`
	}
	err := events.FindOne(ctx, bson.D{{Key: fieldStream, Value: mongostore.UUIDValue(stream)}},
		options.FindOne().SetSort(bson.D{{Key: fieldVersion, Value: -1}}).SetProjection(bson.D{{Key: fieldVersion, Value: 1}})).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read stream %s: %w", stream, err)
	}
	return d.Version, nil
}

// findByID reads the stored documents with the given ids.
func findByID(ctx context.Context, events lungo.ICollection, ids bson.A) (map[uuid.UUID]bson.Raw, error) {
	out := map[uuid.UUID]bson.Raw{}
	if len(ids) == 0 {
		return out, nil
	}
	cur, err := events.Find(ctx, bson.D{{Key: fieldID, Value: bson.D{{Key: "$in", Value: ids}}}})
	if err != nil {
		return nil, fmt.Errorf("read stored events: %w", err)
	}
	defer cur.Close(ctx)
	for cur.Next(ctx) {
		var doc bson.Raw
		if err := cur.Decode(&doc); err != nil {
			return nil, fmt.Errorf("read stored events: %w", err)
		}
		if _, data, ok := doc.Lookup(fieldID).BinaryOK(); ok && len(data) == 16 {
			out[uuid.UUID(data)] = doc
		}
	}
	if err := cur.Err(); err != nil {
		return nil, fmt.Errorf("read stored events: %w", err)
	}
	return out, nil
}

// firstDifference names the first field in which two event documents
// differ.
func firstDifference(a, b bson.Raw) string {
	ea, _ := a.Elements()
	eb, _ := b.Elements()
	for i := 0; i < len(ea) || i < len(eb); i++ {
		switch {
		case i >= len(ea):
			return "the import has field " + eb[i].Key()
		case i >= len(eb):
			return "the store has field " + ea[i].Key()
		case !bytes.Equal(ea[i], eb[i]):
			return "field " + eb[i].Key()
		}
	}
	return "byte order"
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
