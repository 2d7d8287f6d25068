package engine

import (
	"bytes"
	"context"
	"fmt"

	"github.com/256dpi/lungo"
	"github.com/cockroachdb/pebble/v2"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/annalsdb/annals/internal/bsoncheck"
)

// IndexView is the engine's lungo.IIndexView. Supported index options:
// name, unique, and storageEngine {annals: {clustered: true}} (clustered.go);
// others fail with ErrUnsupported.
type IndexView struct {
	c *Collection
}

var _ lungo.IIndexView = (*IndexView)(nil)

// CreateOne implements lungo.IIndexView.
func (v *IndexView) CreateOne(ctx context.Context, model mongo.IndexModel, opts ...*options.CreateIndexesOptions) (string, error) {
	names, err := v.CreateMany(ctx, []mongo.IndexModel{model}, opts...)
	if err != nil {
		return "", err
	}
	return names[0], nil
}

// CreateMany implements lungo.IIndexView. Creating an index that exists
// with the same keys and options does nothing; the same name with other
// keys or options is MongoDB's error 86 or 85. Existing documents are
// indexed in the same transaction, so a unique index that they violate is
// not created.
func (v *IndexView) CreateMany(ctx context.Context, models []mongo.IndexModel, opts ...*options.CreateIndexesOptions) ([]string, error) {
	type spec struct {
		name      string
		keys      bson.D
		fields    []string
		unique    bool
		clustered bool
	}
	specs := make([]spec, 0, len(models))
	for _, m := range models {
		keys, err := toDoc(m.Keys)
		if err != nil {
			return nil, err
		}
		fields, err := indexSpec(keys)
		if err != nil {
			return nil, err
		}
		s := spec{keys: keys, fields: fields, name: defaultIndexName(keys)}
		if o := m.Options; o != nil {
			if o.Sparse != nil || o.PartialFilterExpression != nil || o.ExpireAfterSeconds != nil ||
				o.Collation != nil || o.Hidden != nil || o.Weights != nil || o.WildcardProjection != nil ||
				o.DefaultLanguage != nil || o.LanguageOverride != nil || o.TextVersion != nil || o.SphereVersion != nil ||
				o.Bits != nil || o.Max != nil || o.Min != nil || o.BucketSize != nil {
				return nil, unsupported("index options other than name, unique and storageEngine.annals.clustered")
			}
			if o.Name != nil {
				s.name = *o.Name
			}
			s.unique = o.Unique != nil && *o.Unique
			if o.StorageEngine != nil {
				if s.clustered, err = clusteredOption(o.StorageEngine); err != nil {
					return nil, err
				}
				if s.clustered && !s.unique {
					return nil, commandError(codeBadValue, "BadValue", fmt.Sprintf("index %s: a clustered index must be unique", s.name))
				}
			}
		}
		if len(fields) == 1 && fields[0] == "_id" {
			s.name = "_id_"
		}
		specs = append(specs, s)
	}
	names := make([]string, len(specs))
	err := v.c.e().write(ctx, func(t *txn) error {
		m, err := t.collection(v.c.db.name, v.c.name, true)
		if err != nil {
			return err
		}
		for i, s := range specs {
			names[i] = s.name
			if s.name == "_id_" {
				continue
			}
			if old := m.index(s.name); old != nil {
				switch {
				case !sameKeys(old.Key, s.keys):
					return commandError(codeIndexKeySpecsDiffer, "IndexKeySpecsConflict",
						fmt.Sprintf("an index named %s exists with other keys %v", s.name, old.Key))
				case old.Unique != s.unique:
					return commandError(codeIndexOptsConflict, "IndexOptionsConflict",
						fmt.Sprintf("an index named %s exists with other options (unique: %v)", s.name, old.Unique))
				}
				// Whether it is clustered was settled when it was built:
				// asking again either way keeps the layout it has.
				continue
			}
			for _, old := range m.Indexes {
				if sameKeys(old.Key, s.keys) {
					return commandError(codeIndexOptsConflict, "IndexOptionsConflict",
						fmt.Sprintf("index %s has the same keys as the existing index %s", s.name, old.Name))
				}
			}
			if s.clustered {
				if err := t.canCluster(m, s.name); err != nil {
					return err
				}
			}
			n := m.clone()
			ix := &indexMeta{ID: n.NextIndex, Name: s.name, Key: s.keys, Fields: s.fields, Unique: s.unique}
			if s.clustered {
				n.ClusteredIndex = ix.ID
			}
			n.NextIndex++
			n.Indexes = append(n.Indexes, ix)
			if err := t.putColl(n); err != nil {
				return err
			}
			if err := t.backfill(n, ix); err != nil {
				return err
			}
			m = t.cat.get(v.c.db.name, v.c.name)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return names, nil
}

// backfill indexes a collection's existing documents in a new index.
func (t *txn) backfill(m *collMeta, ix *indexMeta) error {
	p := docPrefix(m.ID)
	it, err := t.b.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: prefixEnd(p)})
	if err != nil {
		return err
	}
	defer it.Close()
	only := *m
	only.Indexes = []*indexMeta{ix}
	fetch := docFetcher{r: t.b, m: m}
	defer fetch.close()
	for it.First(); it.Valid(); it.Next() {
		idKey := append([]byte(nil), it.Key()[len(p):]...)
		v, err := it.ValueAndErr()
		if err != nil {
			return err
		}
		// In a clustered collection the _id entry holds the document's
		// reference, its key in the clustered index, where its bytes are.
		ref, raw := idKey, bytes.Clone(v)
		if m.ClusteredIndex != 0 {
			ref = raw
			if raw, err = fetch.get(ref); err != nil {
				return err
			}
		}
		if err := bsoncheck.WellFormed(raw); err != nil {
			return fmt.Errorf("%w: document %x: %v", ErrCorrupt, it.Key(), err)
		}
		if err := t.addEntries(&only, &stored{raw: raw}, idKey, nil, ref, nil); err != nil {
			return err
		}
		if cur := t.cat.get(m.DB, m.Name); cur != nil {
			if x := cur.index(ix.Name); x != nil && x.Multikey {
				ix.Multikey = true
			}
		}
	}
	return it.Error()
}

// DropOne implements lungo.IIndexView.
func (v *IndexView) DropOne(ctx context.Context, name string, opts ...*options.DropIndexesOptions) (bson.Raw, error) {
	if name == "*" {
		return v.DropAll(ctx, opts...)
	}
	if name == "_id_" {
		return nil, commandError(72, "InvalidOptions", "cannot drop _id index")
	}
	err := v.c.e().write(ctx, func(t *txn) error {
		m := v.c.meta(t.cat)
		if m == nil || m.index(name) == nil {
			return commandError(27, "IndexNotFound", fmt.Sprintf("index not found with name [%s]", name))
		}
		if m.isClustered(m.index(name)) {
			return commandError(72, "InvalidOptions", fmt.Sprintf("cannot drop the clustered index %s: the collection's documents live in it", name))
		}
		return t.dropIndexes(m, func(ix *indexMeta) bool { return ix.Name == name })
	})
	if err != nil {
		return nil, err
	}
	return mustMarshal(bson.D{{Key: "ok", Value: 1.0}}), nil
}

// DropOneWithKey implements lungo.IIndexView.
func (v *IndexView) DropOneWithKey(ctx context.Context, keys any, opts ...*options.DropIndexesOptions) (bson.Raw, error) {
	d, err := toDoc(keys)
	if err != nil {
		return nil, err
	}
	var name string
	err = v.c.e().read(ctx, func(cat *catalog) error {
		if m := v.c.meta(cat); m != nil {
			for _, ix := range m.Indexes {
				if sameKeys(ix.Key, d) {
					name = ix.Name
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if name == "" {
		return nil, commandError(27, "IndexNotFound", fmt.Sprintf("can't find index with key: %v", d))
	}
	return v.DropOne(ctx, name, opts...)
}

// DropAll implements lungo.IIndexView: every index but _id's.
func (v *IndexView) DropAll(ctx context.Context, opts ...*options.DropIndexesOptions) (bson.Raw, error) {
	err := v.c.e().write(ctx, func(t *txn) error {
		m := v.c.meta(t.cat)
		if m == nil {
			return commandError(codeNamespaceNotFound, "NamespaceNotFound", "ns not found")
		}
		// The clustered index holds the documents: it stays.
		return t.dropIndexes(m, func(ix *indexMeta) bool { return !m.isClustered(ix) })
	})
	if err != nil {
		return nil, err
	}
	return mustMarshal(bson.D{{Key: "ok", Value: 1.0}}), nil
}

// dropIndexes removes the indexes drop selects, with their entries.
func (t *txn) dropIndexes(m *collMeta, drop func(*indexMeta) bool) error {
	n := m.clone()
	n.Indexes = n.Indexes[:0]
	for _, ix := range m.Indexes {
		if !drop(ix) {
			cp := *ix
			n.Indexes = append(n.Indexes, &cp)
			continue
		}
		p := indexPrefix(m.ID, ix.ID)
		if err := t.b.DeleteRange(p, prefixEnd(p), nil); err != nil {
			return err
		}
	}
	return t.putColl(n)
}

// specs lists a collection's indexes as listIndexes documents.
func (v *IndexView) specs(ctx context.Context) ([]bson.D, error) {
	var out []bson.D
	err := v.c.e().read(ctx, func(cat *catalog) error {
		m := v.c.meta(cat)
		if m == nil {
			return nil
		}
		out = append(out, bson.D{{Key: "v", Value: int32(2)}, {Key: "key", Value: bson.D{{Key: "_id", Value: int32(1)}}}, {Key: "name", Value: "_id_"}})
		for _, ix := range m.Indexes {
			d := bson.D{{Key: "v", Value: int32(2)}, {Key: "key", Value: ix.Key}, {Key: "name", Value: ix.Name}}
			if ix.Unique {
				d = append(d, bson.E{Key: "unique", Value: true})
			}
			if m.isClustered(ix) {
				d = append(d, bson.E{Key: "clustered", Value: true}, bson.E{Key: "storageEngine", Value: clusteredSpec()})
			}
			out = append(out, d)
		}
		return nil
	})
	return out, err
}

// List implements lungo.IIndexView.
func (v *IndexView) List(ctx context.Context, opts ...*options.ListIndexesOptions) (lungo.ICursor, error) {
	specs, err := v.specs(ctx)
	if err != nil {
		return nil, err
	}
	raws := make([]bson.Raw, len(specs))
	for i, s := range specs {
		raws[i] = mustMarshal(s)
	}
	return listCursor(raws), nil
}

// ListSpecifications implements lungo.IIndexView.
func (v *IndexView) ListSpecifications(ctx context.Context, opts ...*options.ListIndexesOptions) ([]*mongo.IndexSpecification, error) {
	specs, err := v.specs(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]*mongo.IndexSpecification, len(specs))
	for i, s := range specs {
		spec := &mongo.IndexSpecification{}
		if err := bson.Unmarshal(mustMarshal(s), spec); err != nil {
			return nil, err
		}
		spec.Namespace = v.c.db.name + "." + v.c.name
		out[i] = spec
	}
	return out, nil
}
