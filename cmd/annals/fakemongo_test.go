package main

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
)

// fakeMongo answers the MongoDB wire protocol with the few commands
// doctor and mongostore.New send, so that doctor's MongoDB checks run in
// tests without a MongoDB server. It is a stand-in for a deployment's
// answers, not a database.
type fakeMongo struct {
	t  *testing.T
	ln net.Listener
	wg sync.WaitGroup

	mu          sync.Mutex
	setName     string
	arbiters    []string
	collections map[string][]bson.D // "db.coll" → its indexes
	oplog       []primitive.Timestamp
	oplogFull   bool
	conns       []net.Conn
	// writeConcernFails makes writes answer with a write concern timeout,
	// as a replica set whose majority is down does after wtimeout.
	writeConcernFails bool
	// lastWriteConcern is the write concern of the last update, as JSON.
	lastWriteConcern string
	// changes scripts change streams: the i-th aggregate is answered with
	// changes[i] as its first batch and an open cursor, and every getMore
	// gets its connection closed, as a network failure or a primary going
	// away would, so that the driver must resume.
	changes [][]bson.D
	// aggregates are the aggregate commands received, in order.
	aggregates []bson.Raw
}

// startFakeMongo listens on loopback; setName "" is a standalone mongod.
func startFakeMongo(t *testing.T, setName string) *fakeMongo {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeMongo{t: t, ln: ln, setName: setName, collections: map[string][]bson.D{}}
	f.wg.Go(f.accept)
	t.Cleanup(func() {
		ln.Close()
		f.mu.Lock()
		for _, c := range f.conns {
			c.Close()
		}
		f.mu.Unlock()
		f.wg.Wait()
	})
	return f
}

func (f *fakeMongo) uri() string {
	return "mongodb://" + f.ln.Addr().String() + "/annals?directConnection=true&serverSelectionTimeoutMS=3000"
}

func (f *fakeMongo) accept() {
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		f.mu.Lock()
		f.conns = append(f.conns, c)
		f.mu.Unlock()
		f.wg.Go(func() { f.serve(c) })
	}
}

// Wire protocol opcodes.
const (
	opReply = 1
	opQuery = 2004
	opMsg   = 2013
)

func (f *fakeMongo) serve(c net.Conn) {
	defer c.Close()
	for {
		var hdr [16]byte
		if _, err := io.ReadFull(c, hdr[:]); err != nil {
			return
		}
		size := int(binary.LittleEndian.Uint32(hdr[0:]))
		reqID := binary.LittleEndian.Uint32(hdr[4:])
		op := binary.LittleEndian.Uint32(hdr[12:])
		body := make([]byte, size-16)
		if _, err := io.ReadFull(c, body); err != nil {
			return
		}
		var cmd bson.Raw
		switch op {
		case opQuery: // the legacy handshake: flags, collection, skip, return, query
			rest := body[4:]
			rest = rest[strings.IndexByte(string(rest), 0)+1+8:]
			cmd = bson.Raw(rest[:binary.LittleEndian.Uint32(rest)])
		case opMsg: // flags, then a kind 0 section first
			if body[4] != 0 {
				return
			}
			doc := body[5:]
			cmd = bson.Raw(doc[:binary.LittleEndian.Uint32(doc)])
		default:
			return
		}
		answer := f.answer(cmd)
		if answer == nil {
			return // drop the connection
		}
		reply, err := bson.Marshal(answer)
		if err != nil {
			f.t.Errorf("fake mongo: %v", err)
			return
		}
		var out []byte
		if op == opQuery {
			out = make([]byte, 16+20)
			binary.LittleEndian.PutUint32(out[32:], 1) // numberReturned
		} else {
			out = make([]byte, 16+5)
		}
		out = append(out, reply...)
		respOp := uint32(opMsg)
		if op == opQuery {
			respOp = opReply
		}
		binary.LittleEndian.PutUint32(out[0:], uint32(len(out)))
		binary.LittleEndian.PutUint32(out[8:], reqID)
		binary.LittleEndian.PutUint32(out[12:], respOp)
		if _, err := c.Write(out); err != nil {
			return
		}
	}
}

// answer replies to one command, or returns nil to drop the connection.
func (f *fakeMongo) answer(cmd bson.Raw) bson.D {
	f.mu.Lock()
	defer f.mu.Unlock()
	elems, _ := cmd.Elements()
	name := elems[0].Key()
	db, _ := cmd.Lookup("$db").StringValueOK()
	arg, _ := elems[0].Value().StringValueOK()
	ok := bson.D{{Key: "ok", Value: 1.0}}
	cursor := func(ns string, docs bson.A) bson.D {
		return bson.D{{Key: "cursor", Value: bson.D{{Key: "id", Value: int64(0)}, {Key: "ns", Value: ns}, {Key: "firstBatch", Value: docs}}}, {Key: "ok", Value: 1.0}}
	}
	switch strings.ToLower(name) {
	case "ismaster", "hello":
		h := bson.D{
			{Key: "helloOk", Value: true}, {Key: "ismaster", Value: true}, {Key: "isWritablePrimary", Value: true},
			{Key: "maxBsonObjectSize", Value: int32(16 << 20)}, {Key: "maxMessageSizeBytes", Value: int32(48_000_000)},
			{Key: "maxWriteBatchSize", Value: int32(100_000)}, {Key: "logicalSessionTimeoutMinutes", Value: int32(30)},
			{Key: "minWireVersion", Value: int32(0)}, {Key: "maxWireVersion", Value: int32(21)},
		}
		if f.setName != "" {
			me := f.ln.Addr().String()
			h = append(h, bson.E{Key: "setName", Value: f.setName}, bson.E{Key: "hosts", Value: bson.A{me}},
				bson.E{Key: "primary", Value: me}, bson.E{Key: "me", Value: me})
			if len(f.arbiters) > 0 {
				h = append(h, bson.E{Key: "arbiters", Value: f.arbiters})
			}
		}
		return append(h, ok...)
	case "ping", "endsessions":
		return ok
	case "listcollections":
		docs := bson.A{}
		for ns := range f.collections {
			if d, c, _ := strings.Cut(ns, "."); d == db {
				docs = append(docs, bson.D{{Key: "name", Value: c}, {Key: "type", Value: "collection"}})
			}
		}
		return cursor(db+".$cmd.listCollections", docs)
	case "create":
		if _, ok := f.collections[db+"."+arg]; !ok {
			f.collections[db+"."+arg] = []bson.D{{{Key: "v", Value: int32(2)}, {Key: "key", Value: bson.D{{Key: "_id", Value: int32(1)}}}, {Key: "name", Value: "_id_"}}}
		}
		return ok
	case "createindexes":
		ns := db + "." + arg
		if _, ok := f.collections[ns]; !ok {
			f.collections[ns] = []bson.D{{{Key: "v", Value: int32(2)}, {Key: "key", Value: bson.D{{Key: "_id", Value: int32(1)}}}, {Key: "name", Value: "_id_"}}}
		}
		vals, _ := cmd.Lookup("indexes").Array().Values()
	next:
		for _, v := range vals {
			var spec bson.D
			if err := bson.Unmarshal(v.Document(), &spec); err != nil {
				f.t.Errorf("fake mongo: createIndexes: %v", err)
			}
			n, _ := v.Document().Lookup("name").StringValueOK()
			for _, have := range f.collections[ns] {
				if conflict := indexConflict(have, spec); conflict != nil {
					return conflict
				}
				if have.Map()["name"] == n {
					continue next
				}
			}
			f.collections[ns] = append(f.collections[ns], append(bson.D{{Key: "v", Value: int32(2)}}, spec...))
		}
		return ok
	case "update":
		if wc, err := cmd.LookupErr("writeConcern"); err == nil {
			f.lastWriteConcern = wc.String()
		}
		if f.writeConcernFails {
			// What a replica set answers when the write is applied on the
			// primary but not acknowledged by a majority within wtimeout.
			return bson.D{{Key: "n", Value: int32(1)}, {Key: "nModified", Value: int32(0)},
				{Key: "writeConcernError", Value: bson.D{{Key: "code", Value: int32(64)}, {Key: "codeName", Value: "WriteConcernFailed"},
					{Key: "errmsg", Value: "waiting for replication timed out"}}}, {Key: "ok", Value: 1.0}}
		}
		return append(bson.D{{Key: "n", Value: int32(1)}, {Key: "nModified", Value: int32(0)}}, ok...)
	case "listindexes":
		idx, exists := f.collections[db+"."+arg]
		if !exists {
			return bson.D{{Key: "ok", Value: 0.0}, {Key: "errmsg", Value: "ns does not exist"}, {Key: "code", Value: int32(26)}, {Key: "codeName", Value: "NamespaceNotFound"}}
		}
		docs := bson.A{}
		for _, d := range idx {
			docs = append(docs, d)
		}
		return cursor(db+"."+arg, docs)
	case "find":
		if db != "local" || arg != "oplog.rs" || len(f.oplog) == 0 {
			return cursor(db+"."+arg, bson.A{})
		}
		dir, _ := cmd.Lookup("sort", "$natural").AsInt64OK()
		ts := f.oplog[0]
		if dir < 0 {
			ts = f.oplog[len(f.oplog)-1]
		}
		return cursor("local.oplog.rs", bson.A{bson.D{{Key: "ts", Value: ts}}})
	case "aggregate":
		f.aggregates = append(f.aggregates, slices.Clone(cmd))
		i := len(f.aggregates) - 1
		if i >= len(f.changes) {
			return bson.D{{Key: "ok", Value: 0.0}, {Key: "errmsg", Value: "no change stream scripted"}, {Key: "code", Value: int32(2)}, {Key: "codeName", Value: "BadValue"}}
		}
		batch := bson.A{}
		var token any
		for _, d := range f.changes[i] {
			batch = append(batch, d)
			token = d.Map()["_id"]
		}
		c := bson.D{{Key: "id", Value: int64(100 + i)}, {Key: "ns", Value: db + "." + arg}, {Key: "firstBatch", Value: batch}}
		if token != nil {
			c = append(c, bson.E{Key: "postBatchResumeToken", Value: token})
		}
		return bson.D{{Key: "cursor", Value: c}, {Key: "ok", Value: 1.0}}
	case "getmore":
		return nil
	case "killcursors":
		return ok
	case "collstats":
		size := 500.0
		if f.oplogFull {
			size = 1000
		}
		return bson.D{{Key: "size", Value: size}, {Key: "maxSize", Value: 1000.0}, {Key: "ok", Value: 1.0}}
	}
	return bson.D{{Key: "ok", Value: 0.0}, {Key: "errmsg", Value: fmt.Sprintf("no such command: '%s'", name)},
		{Key: "code", Value: int32(59)}, {Key: "codeName", Value: "CommandNotFound"}}
}

// indexNames lists the indexes of db.coll.
func (f *fakeMongo) indexNames(ns string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, d := range f.collections[ns] {
		out = append(out, fmt.Sprint(d.Map()["name"]))
	}
	return out
}

// indexConflict is the error MongoDB answers createIndexes with when an
// index exists under the requested name with other keys (86,
// IndexKeySpecsConflict) or with the same keys and other options (85,
// IndexOptionsConflict); nil when the request does not clash with have.
// This follows the server's documented behaviour; the fake compares only
// keys and uniqueness.
func indexConflict(have, want bson.D) bson.D {
	hm, wm := have.Map(), want.Map()
	if hm["name"] != wm["name"] {
		return nil
	}
	hk, _ := bson.Marshal(hm["key"])
	wk, _ := bson.Marshal(wm["key"])
	fail := func(code int32, name, msg string) bson.D {
		return bson.D{{Key: "ok", Value: 0.0}, {Key: "errmsg", Value: msg}, {Key: "code", Value: code}, {Key: "codeName", Value: name}}
	}
	if string(hk) != string(wk) {
		return fail(86, "IndexKeySpecsConflict", fmt.Sprintf("An existing index has the same name as the requested index but different key specs. Requested index: %v, existing index: %v", wm, hm))
	}
	if hm["unique"] != wm["unique"] {
		return fail(85, "IndexOptionsConflict", fmt.Sprintf("An equivalent index already exists with the same name but different options. Requested index: %v, existing index: %v", wm, hm))
	}
	return nil
}
