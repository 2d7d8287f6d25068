package engine

// Clustered collections.
//
// A collection can be clustered on one unique index, chosen when the index
// is created on an empty collection with the index option
// storageEngine: {annals: {clustered: true}}. Its documents are then
// stored in that index's entries, in the index's order, instead of under
// their _id:
//
//	'x' collID indexID key(fields…)   the document's BSON (the clustered index)
//	'd' collID key(_id)               the document's clustered key: its reference
//	'x' collID otherID key(…)[key(_id)] the document's reference
//
// A walk of the clustered index reads the documents it visits in place: a
// stream load ({aggregate_uuid: X} sorted by version, over the events
// collection clustered on (aggregate_uuid, version)) reads one run of
// neighbouring entries, however its events were spread over time, and the
// append's head read finds the stream's last document where it finds its
// version. A read through _id or another index follows the reference, one
// point read, as a plain collection's does from index entry to document.
//
// MongoDB has no such option (its clustered collections cluster on _id
// only) and refuses storage options for engines it does not run, so
// annals asks for it on the embedded engine only. What it changes is where
// documents are kept, never what a query, update or change stream
// returns.

import (
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
	"go.mongodb.org/mongo-driver/bson"
)

// clusteredEngineName is the storageEngine key of the engine's index
// options.
const clusteredEngineName = "annals"

// ClusteredIndex is the storageEngine index option that clusters a new,
// empty collection on a unique index:
//
//	options.Index().SetUnique(true).SetStorageEngine(engine.ClusteredIndex())
func ClusteredIndex() bson.D { return clusteredSpec() }

// clusteredSpec is the storageEngine option of a clustered index, as
// created and as listed.
func clusteredSpec() bson.D {
	return bson.D{{Key: clusteredEngineName, Value: bson.D{{Key: "clustered", Value: true}}}}
}

// clusteredOption reads an index's storageEngine option: {annals:
// {clustered: <bool>}} is the only one supported.
func clusteredOption(v any) (bool, error) {
	d, err := toDoc(v)
	if err != nil {
		return false, fmt.Errorf("engine: index storageEngine option: %w", err)
	}
	clustered := false
	for _, e := range d {
		if e.Key != clusteredEngineName {
			return false, unsupported("index storageEngine option %q: only %q", e.Key, clusteredEngineName)
		}
		opts, err := toDoc(e.Value)
		if err != nil {
			return false, unsupported("index storageEngine option %s: %v: want a document", e.Key, e.Value)
		}
		for _, o := range opts {
			b, ok := o.Value.(bool)
			if o.Key != "clustered" || !ok {
				return false, unsupported("index storageEngine option %s.%s: only clustered: true or false", e.Key, o.Key)
			}
			clustered = b
		}
	}
	return clustered, nil
}

// canCluster returns an error unless a new clustered index named name can
// be built on m: no other clustered index, and no documents yet (they
// would all move).
func (t *txn) canCluster(m *collMeta, name string) error {
	if c := m.clustered(); c != nil {
		return commandError(codeBadValue, "BadValue",
			fmt.Sprintf("index %s: collection %s is already clustered on index %s", name, m.ns(), c.Name))
	}
	p := docPrefix(m.ID)
	it, err := t.b.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: prefixEnd(p)})
	if err != nil {
		return err
	}
	empty := !it.First()
	if err := errors.Join(it.Error(), it.Close()); err != nil {
		return err
	}
	if !empty {
		return unsupported("index %s: a clustered index can only be built on an empty collection (%s holds documents)", name, m.ns())
	}
	return nil
}

// clusterKey returns a document's key in the clustered index ix: its
// reference. A document whose clustered fields hold an array would have
// several (or none), so it is refused.
func clusterKey(m *collMeta, ix *indexMeta, s *stored, idKey []byte) ([]byte, error) {
	keys, multi, err := storedKeys(m, ix, s, idKey)
	if err != nil {
		return nil, err
	}
	if multi || len(keys) != 1 {
		return nil, unsupported("collection %s is clustered on index %s: its fields %v cannot hold arrays", m.ns(), ix.Name, ix.Fields)
	}
	return keys[0], nil
}
