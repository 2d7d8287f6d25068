package engine

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/256dpi/lungo"
	"github.com/256dpi/lungo/bsonkit"
	"github.com/256dpi/lungo/mongokit"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/annalsdb/annals/internal/bsoncheck"
)

// Names of the paths ConvertLungo keeps beside a store.
const (
	// BackupSuffix names the original lungo file once converted:
	// path+BackupSuffix, kept untouched.
	BackupSuffix = ".lungo-backup"
	// ConvertingSuffix names the directory a conversion builds the new
	// store in before it takes the store's place.
	ConvertingSuffix = ".converting"
)

// ErrBackupExists is returned by ConvertLungo when path+BackupSuffix
// already exists and differs from the lungo file to convert: converting
// would replace it.
//
// It belongs with the other sentinels in errors.go.
var ErrBackupExists = errors.New("engine: a different lungo backup already exists")

// Limits of one InsertMany while converting.
const (
	convertChunkDocs  = 1000
	convertChunkBytes = 16 << 20
)

// Log keys of the conversion's log line.
const (
	convertLogPath        = "path"
	convertLogBackup      = "backup"
	convertLogCollections = "collections"
	convertLogDocuments   = "documents"
	convertLogIndexes     = "indexes"
	convertLogDuration    = "duration"
)

// NeedsConversion reports whether path holds a store ConvertLungo has to
// convert before Open can open it: path is a regular file (what lungo's
// file engine writes), or a conversion was interrupted after it moved the
// lungo file to path+BackupSuffix and before the new store took its place
// (path is missing, the backup is there).
//
// A missing path with no backup, or a directory, needs nothing. It fails
// when path+ConvertingSuffix exists but neither path nor its backup does:
// that directory may be the only copy of the data, and opening an empty
// store beside it would hide it.
func NeedsConversion(path string) (bool, error) {
	p, err := planConversion(path)
	if err != nil {
		return false, err
	}
	return p.source != "", nil
}

// ConvertLungo converts, in place, a store that lungo's file engine wrote
// at path (a single file) into the engine's format (a directory at path),
// keeping the original file untouched beside it as path+BackupSuffix. It
// logs one line (Info) to opts.Logger saying what it converted. opts.Path
// is ignored; the other options apply to the engine that writes the new
// store (opts.FS, if set, must reach the same files as the os package).
//
// It reads the whole lungo file into memory, as lungo does when it opens
// it, and copies every collection except lungo's own local.oplog, every
// index (name, keys, unique; clustered when opts.ConvertClustered names
// it) and every document, byte for byte, in _id order. A document whose _id is not its first field gets it moved first,
// as MongoDB and the engine store it. The inserts are in the new store's
// change log; change-stream resume tokens lungo issued mean nothing to it.
//
// The steps, each safe to interrupt:
//
//  1. build the new store in path+ConvertingSuffix (a leftover one is
//     removed first), close it (which syncs it), reopen it and check it
//     holds the collections, indexes and documents it was given;
//  2. rename path to path+BackupSuffix and sync the parent directory;
//  3. rename path+ConvertingSuffix to path and sync the parent directory.
//
// Run again after a crash, it resumes: when path is missing and the backup
// is there, it rebuilds the new store from the backup. Once path is a
// directory (or when there is nothing at path) it does nothing.
//
// Errors: a file lungo cannot read back (empty, truncated, not BSON, not a
// lungo store, or its documents violating its own unique indexes) wraps
// ErrCorrupt and names the file; then nothing is written. (A lungo file has
// no checksums: a damaged byte inside a value that leaves valid BSON cannot
// be told from data.) A partial or
// expiring (TTL) index wraps ErrUnsupported, also before anything is
// written. ErrBackupExists when a different backup is in the way. A new
// store that does not read back as built wraps ErrCorrupt; the lungo file
// is then left in place.
func ConvertLungo(ctx context.Context, path string, opts Options) error {
	start := time.Now()
	plan, err := planConversion(path)
	if err != nil || plan.source == "" {
		return err
	}
	backup, converting := path+BackupSuffix, path+ConvertingSuffix
	if plan.moveToBackup {
		if err := checkBackup(path, backup); err != nil {
			return err
		}
	}
	colls, err := readLungo(plan.source)
	if err != nil {
		return err
	}

	// 1. Build and verify.
	if err := os.RemoveAll(converting); err != nil {
		return fmt.Errorf("engine: convert %s: remove leftover %s: %w", path, converting, err)
	}
	opts.Path = converting
	built, err := buildConverted(ctx, opts, colls)
	if err == nil {
		err = verifyConverted(ctx, opts, colls, built)
	}
	if err != nil {
		_ = os.RemoveAll(converting)
		return fmt.Errorf("engine: convert %s: %w", plan.source, err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}

	// 2. Keep the lungo file as the backup.
	parent := filepath.Dir(path)
	if plan.moveToBackup {
		if err := checkBackup(path, backup); err != nil {
			return err
		}
		if err := os.Rename(path, backup); err != nil {
			return fmt.Errorf("engine: convert %s: keep the lungo file as %s: %w", path, backup, err)
		}
		if err := syncDir(parent); err != nil {
			return fmt.Errorf("engine: convert %s: %w", path, err)
		}
	}

	// 3. Put the new store in its place.
	if err := os.Rename(converting, path); err != nil {
		return fmt.Errorf("engine: convert %s: move the new store in place: %w", path, err)
	}
	if err := syncDir(parent); err != nil {
		return fmt.Errorf("engine: convert %s: %w", path, err)
	}

	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	indexes := 0
	for _, c := range colls {
		indexes += len(c.indexes)
	}
	log.Info("converted lungo file store to the embedded engine's format",
		convertLogPath, path, convertLogBackup, backup,
		convertLogCollections, len(colls), convertLogDocuments, built.documents(),
		convertLogIndexes, indexes, convertLogDuration, time.Since(start).Round(time.Millisecond))
	return nil
}

// conversionPlan says what ConvertLungo has to do.
type conversionPlan struct {
	// source is the lungo file to read; empty when there is nothing to
	// convert.
	source string
	// moveToBackup is set when source is the store path itself, which
	// step 2 still has to move aside.
	moveToBackup bool
}

// planConversion looks at path and the paths beside it. It only stats.
func planConversion(path string) (conversionPlan, error) {
	if path == "" {
		return conversionPlan{}, errors.New("engine: convert: no path (an in-memory engine has nothing to convert)")
	}
	backup, converting := path+BackupSuffix, path+ConvertingSuffix
	fi, err := os.Lstat(path)
	switch {
	case err == nil && fi.Mode().IsRegular():
		return conversionPlan{source: path, moveToBackup: true}, nil
	case err == nil && fi.IsDir():
		return conversionPlan{}, nil
	case err == nil:
		return conversionPlan{}, fmt.Errorf("%w: %s is a %s, neither a lungo file nor a store directory; pass the store's real path",
			ErrNotAStore, path, fi.Mode().Type())
	case !errors.Is(err, fs.ErrNotExist):
		return conversionPlan{}, fmt.Errorf("engine: %w", err)
	}
	bi, err := os.Lstat(backup)
	switch {
	case err == nil && bi.Mode().IsRegular():
		return conversionPlan{source: backup}, nil
	case err == nil:
		return conversionPlan{}, fmt.Errorf("%w: %s is missing and %s is not a regular file", ErrNotAStore, path, backup)
	case !errors.Is(err, fs.ErrNotExist):
		return conversionPlan{}, fmt.Errorf("engine: %w", err)
	}
	if _, err := os.Lstat(converting); err == nil {
		return conversionPlan{}, fmt.Errorf("engine: %s exists but neither %s nor its lungo backup %s does; "+
			"it may hold the only copy of the data: rename it to %s if it is the store, or move it aside",
			converting, path, backup, path)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return conversionPlan{}, fmt.Errorf("engine: %w", err)
	}
	return conversionPlan{}, nil
}

// checkBackup fails with ErrBackupExists when backup exists and is not a
// byte-identical copy of path.
func checkBackup(path, backup string) error {
	bi, err := os.Lstat(backup)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("engine: %w", err)
	}
	if bi.Mode().IsRegular() {
		same, err := sameFiles(path, backup)
		if err != nil {
			return fmt.Errorf("engine: convert %s: compare with %s: %w", path, backup, err)
		}
		if same {
			return nil
		}
	}
	return fmt.Errorf("%w: %s differs from %s; move one of them aside and convert again", ErrBackupExists, backup, path)
}

// sameFiles reports whether two files hold the same bytes.
func sameFiles(a, b string) (bool, error) {
	fa, err := os.Open(a)
	if err != nil {
		return false, err
	}
	defer fa.Close()
	fb, err := os.Open(b)
	if err != nil {
		return false, err
	}
	defer fb.Close()
	sa, err := fa.Stat()
	if err != nil {
		return false, err
	}
	sb, err := fb.Stat()
	if err != nil {
		return false, err
	}
	if sa.Size() != sb.Size() {
		return false, nil
	}
	ba, bb := make([]byte, 1<<20), make([]byte, 1<<20)
	for {
		na, ea := io.ReadFull(fa, ba)
		nb, eb := io.ReadFull(fb, bb)
		if !bytes.Equal(ba[:na], bb[:nb]) {
			return false, nil
		}
		aEnd := errors.Is(ea, io.EOF) || errors.Is(ea, io.ErrUnexpectedEOF)
		bEnd := errors.Is(eb, io.EOF) || errors.Is(eb, io.ErrUnexpectedEOF)
		switch {
		case ea != nil && !aEnd:
			return false, ea
		case eb != nil && !bEnd:
			return false, eb
		case aEnd || bEnd:
			return aEnd && bEnd, nil
		}
	}
}

// syncDir fsyncs a directory, so the renames in it are durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// lungoCollection is one collection read from a lungo file.
type lungoCollection struct {
	db, name string
	// indexes are the secondary indexes, by name; the _id index is
	// implicit in the engine.
	indexes []lungoIndex
	// docs are the documents in _id order.
	docs bsonkit.List
}

func (c *lungoCollection) ns() string { return c.db + "." + c.name }

type lungoIndex struct {
	name   string
	key    bson.D
	unique bool
}

// readLungo reads a lungo file the way lungo's FileStore.Load does (the
// same decoding and lungo.File.BuildCatalog, which rebuilds and checks
// every index), after checking that the file is one whole BSON document
// with lungo's namespaces field: lungo itself reads an empty file, or any
// BSON document, as an empty store.
func readLungo(path string) (colls []*lungoCollection, err error) {
	corrupt := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s is not a readable lungo file store: %s; the file is left as it is",
			ErrCorrupt, path, fmt.Sprintf(format, args...))
	}
	buf, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("engine: convert: read %s: %w", path, err)
	}
	switch {
	case len(buf) == 0:
		return nil, corrupt("the file is empty")
	case len(buf) < 5:
		return nil, corrupt("the file is %d bytes long, shorter than any BSON document", len(buf))
	}
	if n := binary.LittleEndian.Uint32(buf); int64(n) != int64(len(buf)) {
		return nil, corrupt("its BSON header says %d bytes, the file has %d (truncated or damaged)", n, len(buf))
	}
	raw := bson.Raw(buf)
	if err := bsoncheck.WellFormed(raw); err != nil {
		return nil, corrupt("%v", err)
	}
	if v, err := raw.LookupErr("namespaces"); err != nil || v.Type != bson.TypeEmbeddedDocument {
		return nil, corrupt("it has no namespaces document")
	}
	// lungo and bsonkit were written for their own files; a damaged one
	// must not take the process down.
	defer func() {
		if r := recover(); r != nil {
			colls, err = nil, corrupt("lungo cannot load it: %v", r)
		}
	}()
	var file lungo.File
	if err := bson.Unmarshal(buf, &file); err != nil {
		return nil, corrupt("%v", err)
	}
	cat, err := file.BuildCatalog()
	if err != nil {
		return nil, corrupt("lungo cannot load it: %v", err)
	}
	return lungoCollections(path, cat)
}

// lungoCollections lists a catalog's collections, sorted by namespace,
// with their indexes and documents in _id order.
func lungoCollections(path string, cat *lungo.Catalog) ([]*lungoCollection, error) {
	var out []*lungoCollection
	for h, c := range cat.Namespaces {
		if h == lungo.Oplog {
			continue
		}
		lc := &lungoCollection{db: h[0], name: h[1]}
		for name, ix := range c.Indexes {
			cfg := ix.Config()
			if cfg.Partial != nil && len(*cfg.Partial) > 0 || cfg.Expiry != 0 {
				return nil, fmt.Errorf("%w: convert %s: index %s of %s is partial or expiring (TTL); "+
					"the engine supports plain and unique indexes only", ErrUnsupported, path, name, lc.ns())
			}
			if name == "_id_" {
				continue
			}
			lc.indexes = append(lc.indexes, lungoIndex{name: name, key: *cfg.Key, unique: cfg.Unique})
		}
		slices.SortFunc(lc.indexes, func(a, b lungoIndex) int { return strings.Compare(a.name, b.name) })
		lc.docs = byID(c)
		for _, d := range lc.docs {
			if bsonkit.Get(d, "_id") == bsonkit.Missing {
				return nil, fmt.Errorf("%w: %s: a document of %s has no _id", ErrCorrupt, path, lc.ns())
			}
		}
		out = append(out, lc)
	}
	slices.SortFunc(out, func(a, b *lungoCollection) int { return strings.Compare(a.ns(), b.ns()) })
	return out, nil
}

// byID returns a collection's documents sorted by _id. (The _id index's
// list is not used: lungo's indexes list a document once per element of an
// array key.)
func byID(c *mongokit.Collection) bsonkit.List {
	l := slices.Clone(c.Documents.List)
	bsonkit.Sort(l, []bsonkit.Column{{Path: "_id"}})
	return l
}

// idFirst encodes a document with its _id as the first field, as the
// engine (and MongoDB) stores it.
func idFirst(d bsonkit.Doc) (bson.Raw, error) {
	doc := *d
	if len(doc) > 0 && doc[0].Key != "_id" {
		if i := slices.IndexFunc(doc, func(e bson.E) bool { return e.Key == "_id" }); i > 0 {
			moved := make(bson.D, 0, len(doc))
			moved = append(moved, doc[i])
			moved = append(moved, doc[:i]...)
			doc = append(moved, doc[i+1:]...)
		}
	}
	return bson.Marshal(doc)
}

// digest is an order-independent fingerprint of a set of documents: the
// XOR of their SHA-256 sums, with their count.
type digest struct {
	count int64
	sum   [sha256.Size]byte
}

func (d *digest) add(raw []byte) {
	s := sha256.Sum256(raw)
	for i := range d.sum {
		d.sum[i] ^= s[i]
	}
	d.count++
}

// convertedSet is what a conversion wrote, per namespace.
type convertedSet map[string]*digest

func (s convertedSet) documents() int64 {
	var n int64
	for _, d := range s {
		n += d.count
	}
	return n
}

// buildConverted writes the collections into a new engine at opts.Path
// and closes it.
func buildConverted(ctx context.Context, opts Options, colls []*lungoCollection) (_ convertedSet, err error) {
	e, err := Open(ctx, opts)
	if err != nil {
		return nil, err
	}
	defer func() {
		if cerr := e.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close the new store: %w", cerr)
		}
	}()
	client := e.Client()
	built := convertedSet{}
	for _, c := range colls {
		db := client.Database(c.db)
		if err := db.CreateCollection(ctx, c.name); err != nil {
			return nil, fmt.Errorf("create collection %s: %w", c.ns(), err)
		}
		coll := db.Collection(c.name)
		if len(c.indexes) > 0 {
			models := make([]mongo.IndexModel, len(c.indexes))
			for i, ix := range c.indexes {
				o := options.Index().SetName(ix.name)
				if ix.unique {
					o.SetUnique(true)
					if slices.Contains(opts.ConvertClustered, c.ns()+"."+ix.name) {
						o.SetStorageEngine(clusteredSpec())
					}
				}
				models[i] = mongo.IndexModel{Keys: ix.key, Options: o}
			}
			if _, err := coll.Indexes().CreateMany(ctx, models); err != nil {
				return nil, fmt.Errorf("create the indexes of %s: %w", c.ns(), err)
			}
		}
		d := &digest{}
		built[c.ns()] = d
		if err := insertConverted(ctx, coll, c, d); err != nil {
			return nil, err
		}
	}
	return built, nil
}

// insertConverted inserts a collection's documents in ordered batches. It
// lets go of each document once encoded, so memory shrinks as it goes.
func insertConverted(ctx context.Context, coll lungo.ICollection, c *lungoCollection, d *digest) error {
	batch := make([]any, 0, min(len(c.docs), convertChunkDocs))
	size := 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		_, err := coll.InsertMany(ctx, batch, options.InsertMany().SetOrdered(true))
		if mongo.IsDuplicateKeyError(err) {
			return fmt.Errorf("%w: %s: the lungo file holds documents its unique indexes refuse: %v", ErrCorrupt, c.ns(), err)
		}
		if err != nil {
			return fmt.Errorf("insert into %s: %w", c.ns(), err)
		}
		batch, size = batch[:0], 0
		return nil
	}
	for i, doc := range c.docs {
		raw, err := idFirst(doc)
		if err != nil {
			return fmt.Errorf("%w: %s: encode a document: %v", ErrCorrupt, c.ns(), err)
		}
		c.docs[i] = nil
		d.add(raw)
		batch = append(batch, raw)
		size += len(raw)
		if len(batch) >= convertChunkDocs || size >= convertChunkBytes {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

// verifyConverted reopens the new store and checks it holds exactly the
// collections, indexes and documents it was built with.
func verifyConverted(ctx context.Context, opts Options, colls []*lungoCollection, built convertedSet) (err error) {
	e, err := Open(ctx, opts)
	if err != nil {
		return fmt.Errorf("reopen the new store: %w", err)
	}
	defer func() {
		if cerr := e.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	mismatch := func(format string, args ...any) error {
		return fmt.Errorf("%w: the new store does not read back as written: %s", ErrCorrupt, fmt.Sprintf(format, args...))
	}
	client := e.Client()
	var want, got []string
	for _, c := range colls {
		want = append(want, c.ns())
	}
	dbs, err := client.ListDatabaseNames(ctx, bson.D{})
	if err != nil {
		return err
	}
	for _, name := range dbs {
		names, err := client.Database(name).ListCollectionNames(ctx, bson.D{})
		if err != nil {
			return err
		}
		for _, n := range names {
			got = append(got, name+"."+n)
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		return mismatch("collections %v, want %v", got, want)
	}
	for _, c := range colls {
		coll := client.Database(c.db).Collection(c.name)
		if err := verifyIndexes(ctx, coll, c); err != nil {
			return mismatch("%s: %v", c.ns(), err)
		}
		d, err := readDigest(ctx, coll)
		if err != nil {
			return fmt.Errorf("read back %s: %w", c.ns(), err)
		}
		w := built[c.ns()]
		switch {
		case d.count != w.count:
			return mismatch("%s has %d documents, want %d", c.ns(), d.count, w.count)
		case d.sum != w.sum:
			return mismatch("%s: the documents differ from the ones written", c.ns())
		}
	}
	return nil
}

// verifyIndexes compares a collection's indexes with the lungo ones.
func verifyIndexes(ctx context.Context, coll lungo.ICollection, c *lungoCollection) error {
	specs, err := coll.Indexes().ListSpecifications(ctx)
	if err != nil {
		return err
	}
	var got []lungoIndex
	for _, s := range specs {
		if s.Name == "_id_" {
			continue
		}
		var key bson.D
		if err := bson.Unmarshal(s.KeysDocument, &key); err != nil {
			return err
		}
		got = append(got, lungoIndex{name: s.Name, key: key, unique: s.Unique != nil && *s.Unique})
	}
	slices.SortFunc(got, func(a, b lungoIndex) int { return strings.Compare(a.name, b.name) })
	same := slices.EqualFunc(got, c.indexes, func(a, b lungoIndex) bool {
		return a.name == b.name && a.unique == b.unique && len(a.key) == len(b.key) && bsonkit.Compare(a.key, b.key) == 0
	})
	if !same {
		return fmt.Errorf("indexes %v, want %v", got, c.indexes)
	}
	return nil
}

// readDigest reads every document of a collection.
func readDigest(ctx context.Context, coll lungo.ICollection) (*digest, error) {
	cur, err := coll.Find(ctx, bson.D{})
	if err != nil {
		return nil, err
	}
	defer cur.Close(ctx)
	d := &digest{}
	for cur.Next(ctx) {
		var raw bson.Raw
		if err := cur.Decode(&raw); err != nil {
			return nil, err
		}
		d.add(raw)
	}
	return d, cur.Err()
}
