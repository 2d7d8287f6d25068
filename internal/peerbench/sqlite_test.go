package peerbench

// The SQLite peer: modernc.org/sqlite (SQLite compiled to Go, no cgo), one
// events table with a unique (stream, version) index and a unique event
// id, the rowid giving the order of the log. Durable like annals-file:
// journal_mode=WAL with synchronous=FULL syncs the WAL at every commit.
//
// SQLite has one writer at a time. The store holds one connection, so
// concurrent appends queue in database/sql rather than spin on
// SQLITE_BUSY; statements are prepared once on it, and each append is one
// BEGIN IMMEDIATE transaction: read the head, check it, insert.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

const (
	sqliteFile = "events.sqlite"
	// sqliteOptions: wait rather than fail on a lock; WAL, synced at
	// every commit; writers take the lock when they begin.
	sqliteOptions = "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_txlock=immediate"

	sqliteSchema = `CREATE TABLE IF NOT EXISTS events (
	seq            INTEGER PRIMARY KEY,
	id             BLOB    NOT NULL UNIQUE,
	stream         BLOB    NOT NULL,
	stream_type    TEXT    NOT NULL,
	version        INTEGER NOT NULL,
	name           TEXT    NOT NULL,
	schema_version INTEGER NOT NULL,
	data           BLOB    NOT NULL,
	metadata       BLOB    NOT NULL,
	recorded_at    INTEGER NOT NULL,
	UNIQUE (stream, version)
)`
	sqliteColumns = `id, stream, stream_type, version, name, schema_version, data, metadata, recorded_at`
	sqliteHead    = `SELECT version FROM events WHERE stream = ? ORDER BY version DESC LIMIT 1`
	sqliteInsert  = `INSERT INTO events (` + sqliteColumns + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`
	sqliteLoad    = `SELECT ` + sqliteColumns + ` FROM events WHERE stream = ? ORDER BY version`
	sqliteScan    = `SELECT ` + sqliteColumns + ` FROM events ORDER BY seq`
)

// sqliteLog is the SQLite peer.
type sqliteLog struct {
	db                             *sql.DB
	head, insert, loadAll, scanAll *sql.Stmt
}

var _ eventLog = (*sqliteLog)(nil)

func openSQLite(ctx context.Context, dir string) (eventLog, error) {
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, sqliteFile)+sqliteOptions)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	s := &sqliteLog{db: db}
	if err := s.prepare(ctx); err != nil {
		_ = db.Close()
		return nil, err
	}
	return s, nil
}

func (s *sqliteLog) prepare(ctx context.Context) error {
	if _, err := s.db.ExecContext(ctx, sqliteSchema); err != nil {
		return fmt.Errorf("create events: %w", err)
	}
	for _, p := range []struct {
		stmt  **sql.Stmt
		query string
	}{{&s.head, sqliteHead}, {&s.insert, sqliteInsert}, {&s.loadAll, sqliteLoad}, {&s.scanAll, sqliteScan}} {
		st, err := s.db.PrepareContext(ctx, p.query)
		if err != nil {
			return fmt.Errorf("prepare %q: %w", p.query, err)
		}
		*p.stmt = st
	}
	return nil
}

func (s *sqliteLog) appendStreams(ctx context.Context, batch []streamAppend) error {
	return s.write(ctx, batch, true)
}

func (s *sqliteLog) insertUnchecked(ctx context.Context, stream uuid.UUID, from int64, n int) error {
	return s.write(ctx, []streamAppend{{stream: stream, expected: from - 1, n: n}}, false)
}

// write appends batch in one transaction, checking each stream's head
// first when check is set.
func (s *sqliteLog) write(ctx context.Context, batch []streamAppend, check bool) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	head, insert := tx.StmtContext(ctx, s.head), tx.StmtContext(ctx, s.insert)
	at := now().UnixMilli()
	for _, a := range batch {
		if check {
			var v int64
			err := head.QueryRowContext(ctx, a.stream[:]).Scan(&v)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("read head: %w", err)
			}
			if v != a.expected {
				return fmt.Errorf("%w: stream %s at %d, expected %d", errConflict, a.stream, v, a.expected)
			}
		}
		for i := range a.n {
			id, err := uuid.NewV7()
			if err != nil {
				return err
			}
			_, err = insert.ExecContext(ctx, id[:], a.stream[:], streamType, a.expected+1+int64(i),
				eventName, schemaVersion, []byte(payload), []byte(metadataRaw), at)
			if isSQLiteUnique(err) {
				return fmt.Errorf("%w: %w", errDuplicate, err)
			}
			if err != nil {
				return fmt.Errorf("insert: %w", err)
			}
		}
	}
	return tx.Commit()
}

func isSQLiteUnique(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && (se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY)
}

// sqliteRow scans an events row into an event.
func sqliteRow(rows *sql.Rows, ev *event) error {
	var id, stream []byte
	var at int64
	if err := rows.Scan(&id, &stream, &ev.StreamType, &ev.Version, &ev.Name, &ev.SchemaVersion, &ev.Data, &ev.Metadata, &at); err != nil {
		return err
	}
	var err error
	if ev.ID, err = uuid.FromBytes(id); err != nil {
		return fmt.Errorf("event id: %w", err)
	}
	if ev.Stream, err = uuid.FromBytes(stream); err != nil {
		return fmt.Errorf("stream id: %w", err)
	}
	ev.CorrelationID = correlationOf(ev.Metadata)
	ev.RecordedAt = time.UnixMilli(at).UTC()
	return nil
}

func (s *sqliteLog) load(ctx context.Context, stream uuid.UUID) (int, int64, error) {
	rows, err := s.loadAll.QueryContext(ctx, stream[:])
	if err != nil {
		return 0, 0, err
	}
	defer rows.Close()
	var evs []event
	for rows.Next() {
		var ev event
		if err := sqliteRow(rows, &ev); err != nil {
			return 0, 0, err
		}
		evs = append(evs, ev)
	}
	if err := rows.Err(); err != nil {
		return 0, 0, err
	}
	if len(evs) == 0 {
		return 0, 0, nil
	}
	return len(evs), evs[len(evs)-1].Version, nil
}

func (s *sqliteLog) scan(ctx context.Context, fn func(uuid.UUID, int64) error) error {
	return s.each(ctx, func(ev *event) error { return fn(ev.Stream, ev.Version) })
}

// each decodes every event in log order.
func (s *sqliteLog) each(ctx context.Context, fn func(*event) error) error {
	rows, err := s.scanAll.QueryContext(ctx)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var ev event
		if err := sqliteRow(rows, &ev); err != nil {
			return err
		}
		if err := fn(&ev); err != nil {
			return err
		}
	}
	return rows.Err()
}

func (s *sqliteLog) catchUp(ctx context.Context, t timer) (int64, error) {
	return scanCatchUp(ctx, s, t)
}

func (s *sqliteLog) bsonBytes(ctx context.Context) (int64, int64, error) {
	var n, size int64
	err := s.each(ctx, func(ev *event) error {
		raw, err := bson.Marshal(storedEvent{
			ID: uuidValue(ev.ID), Stream: uuidValue(ev.Stream), StreamType: ev.StreamType, Version: ev.Version,
			Name: ev.Name, SchemaVersion: ev.SchemaVersion, Data: ev.Data, Metadata: ev.Metadata,
			RecordedAt: primitive.NewDateTimeFromTime(ev.RecordedAt),
		})
		n++
		size += int64(len(raw))
		return err
	})
	return n, size, err
}

// settle has nothing to wait for: SQLite checkpoints its WAL in the
// commit that fills it, not in the background.
func (s *sqliteLog) settle(context.Context) error { return nil }

func (s *sqliteLog) close(context.Context) error {
	return errors.Join(s.head.Close(), s.insert.Close(), s.loadAll.Close(), s.scanAll.Close(), s.db.Close())
}

// scanCatchUp is the peers' catch-up: a cursor over every event in log
// order and a handler that only counts, as the annals projection's does.
func scanCatchUp(ctx context.Context, l eventLog, t timer) (int64, error) {
	var applied int64
	t.StartTimer()
	err := l.scan(ctx, func(uuid.UUID, int64) error {
		applied++
		return nil
	})
	t.StopTimer()
	return applied, err
}
