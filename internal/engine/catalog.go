package engine

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/x/bsonx/bsoncore"
)

// indexMeta describes one secondary index. The _id index is implicit: the
// document keyspace is ordered by _id.
type indexMeta struct {
	ID     uint32   `bson:"id"`
	Name   string   `bson:"name"`
	Key    bson.D   `bson:"key"`
	Fields []string `bson:"fields"`
	Unique bool     `bson:"unique"`
	// Multikey is set once a document had an array in one of the fields;
	// the planner does not use multikey indexes (their bounds and order
	// differ from scalar ones), it scans instead.
	Multikey bool `bson:"multikey"`
}

// collMeta is a collection's catalog entry.
type collMeta struct {
	ID        uint32       `bson:"id"`
	DB        string       `bson:"db"`
	Name      string       `bson:"name"`
	Indexes   []*indexMeta `bson:"indexes"`
	NextIndex uint32       `bson:"next_index"`
	// ClusteredIndex is the id of the unique index the collection is
	// clustered on, whose entries hold its documents (clustered.go); 0
	// for none. It is the collection's, not an index's, so that a copy of
	// the entry with some of its indexes (a hinted plan's, a backfill's)
	// still says where the documents are.
	ClusteredIndex uint32 `bson:"clustered_index,omitempty"`
}

func (c *collMeta) ns() string { return c.DB + "." + c.Name }

func (c *collMeta) clone() *collMeta {
	n := *c
	n.Indexes = make([]*indexMeta, len(c.Indexes))
	for i, ix := range c.Indexes {
		cp := *ix
		n.Indexes[i] = &cp
	}
	return &n
}

// clustered returns the index the collection is clustered on, or nil.
func (c *collMeta) clustered() *indexMeta {
	for _, ix := range c.Indexes {
		if c.isClustered(ix) {
			return ix
		}
	}
	return nil
}

// isClustered reports whether ix is the index the collection is
// clustered on.
func (c *collMeta) isClustered(ix *indexMeta) bool {
	return c.ClusteredIndex != 0 && ix.ID == c.ClusteredIndex
}

func (c *collMeta) index(name string) *indexMeta {
	for _, ix := range c.Indexes {
		if ix.Name == name {
			return ix
		}
	}
	return nil
}

// catalog is the set of collections. A published catalog is immutable:
// transactions change a copy and publish it when they commit.
type catalog struct {
	colls map[string]*collMeta
}

func catName(db, coll string) string { return db + "\x00" + coll }

func (c *catalog) get(db, coll string) *collMeta { return c.colls[catName(db, coll)] }

func (c *catalog) clone() *catalog {
	return &catalog{colls: maps.Clone(c.colls)}
}

// databases lists the names of databases that have collections, sorted.
func (c *catalog) databases() []string {
	set := map[string]bool{}
	for _, m := range c.colls {
		set[m.DB] = true
	}
	return slices.Sorted(maps.Keys(set))
}

// collections lists a database's collections, sorted by name.
func (c *catalog) collections(db string) []*collMeta {
	var out []*collMeta
	for _, m := range c.colls {
		if m.DB == db {
			out = append(out, m)
		}
	}
	slices.SortFunc(out, func(a, b *collMeta) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// engineState is the engine's counters, stored under metaState in every
// commit.
type engineState struct {
	NextColl uint32 `bson:"next_coll"`
	// LastTS is the cluster time of the last commit.
	LastTS uint64 `bson:"last_ts"`
	// OplogCount is the number of change-log entries kept.
	OplogCount int64 `bson:"oplog_count"`
	// TrimmedTS/TrimmedOp is the position of the last change-log entry
	// trimmed: a change stream that resumes before it has lost history.
	TrimmedTS uint64 `bson:"trimmed_ts"`
	TrimmedOp uint32 `bson:"trimmed_op"`
}

// marshal encodes the state as bson.Marshal does (every field an int64),
// without reflection: every commit writes it.
func (s *engineState) marshal() ([]byte, error) {
	if s.LastTS > math.MaxInt64 || s.TrimmedTS > math.MaxInt64 {
		return nil, fmt.Errorf("engine: state out of range: last_ts %d, trimmed_ts %d", s.LastTS, s.TrimmedTS)
	}
	start, dst := bsoncore.AppendDocumentStart(make([]byte, 0, 96))
	dst = bsoncore.AppendInt64Element(dst, "next_coll", int64(s.NextColl))
	dst = bsoncore.AppendInt64Element(dst, "last_ts", int64(s.LastTS))
	dst = bsoncore.AppendInt64Element(dst, "oplog_count", s.OplogCount)
	dst = bsoncore.AppendInt64Element(dst, "trimmed_ts", int64(s.TrimmedTS))
	dst = bsoncore.AppendInt64Element(dst, "trimmed_op", int64(s.TrimmedOp))
	return bsoncore.AppendDocumentEnd(dst, start)
}

func validateNames(db, coll string) error {
	if db == "" || strings.ContainsAny(db, "/\\. \"$\x00") {
		return commandError(73, "InvalidNamespace", fmt.Sprintf("invalid database name %q", db))
	}
	if coll == "" || strings.Contains(coll, "\x00") || strings.HasPrefix(coll, "$") {
		return commandError(73, "InvalidNamespace", fmt.Sprintf("invalid collection name %q", coll))
	}
	return nil
}
