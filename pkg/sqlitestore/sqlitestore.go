// Package sqlitestore is the embedded store: scim.Store and auth.ConnectionStore
// in a single SQLite file, for running scimgate on one machine without AWS.
//
// Why SQLite: `scimgate token create` must be able to write a token while
// `scimgate serve` is running on the same file. SQLite in WAL journal mode
// lets several processes read and write one file safely (readers never block
// the writer; writers serialize on the file lock, and busy_timeout makes a
// second process wait for the lock instead of failing;
// https://www.sqlite.org/wal.html). modernc.org/sqlite is a pure Go
// translation of SQLite, so the binary builds with CGO_ENABLED=0 and
// cross-compiles like the rest of the project.
//
// What is stored: every resource (users and groups) with its own attributes
// as JSON, group memberships, connections, and the SHA-256 hashes of bearer
// tokens (never a token secret). The SCIM password attribute is writeOnly
// (RFC 7643 §4.1.1) and never reaches a store: scim.Resource.Attributes does
// not carry it, so no password is ever written to the file. Deleted resources
// keep their row with deleted_at set, retained for audit, and are invisible
// to every method. A deleted connection likewise keeps its rows, and its
// tokens stop authenticating, until PurgeConnection erases them.
package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// busyTimeout is how long a connection waits for another connection or
// process to release the write lock before giving up with SQLITE_BUSY. A
// write transaction here takes milliseconds; five seconds absorbs a burst of
// provisioning from an IdP plus a concurrent `token create`.
const busyTimeout = 5 * time.Second

// timeLayout is RFC 3339 in UTC with a fixed nine-digit fraction: it keeps
// nanoseconds, and fixed width makes stored times sort as text.
const timeLayout = "2006-01-02T15:04:05.000000000Z07:00"

// Store is the SQLite implementation of scim.Store and auth.ConnectionStore. It is
// safe for concurrent use by many goroutines, and several Stores (in one or
// several processes) may use the same file at once.
type Store struct {
	// writer has exactly one connection: SQLite admits one writer per file
	// anyway, so in-process writers queue in database/sql (fairly, without
	// a timeout) rather than spinning on the file lock; busy_timeout is then
	// only needed against other processes.
	writer *sql.DB
	// reader serves read-only transactions, which in WAL mode run in
	// parallel with each other and with the writer, each on a consistent
	// snapshot.
	reader *sql.DB
	// commits queues concurrent writes for writer (groupcommit.go).
	commits groupCommitter
	// schemaIssues: what Open found wrong with the indexes (schemacheck.go).
	schemaIssues []SchemaIssue
}

// Open opens the store at path, creating its directory (0700), the file
// (0600: it holds personal data and token hashes) and the schema as needed,
// and migrating an older schema to the current one.
func Open(ctx context.Context, path string) (*Store, error) {
	if path == "" {
		return nil, errors.New("open sqlite store: empty database path")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open sqlite store: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
		return nil, fmt.Errorf("open sqlite store: create directory: %w", err)
	}
	// Create the file ourselves so that it gets 0600; SQLite would create it
	// with 0644, and its -wal and -shm files inherit the database file's mode.
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open sqlite store: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("open sqlite store: %w", err)
	}

	writer, err := openDB(dsn(abs, true))
	if err != nil {
		return nil, fmt.Errorf("open sqlite store: %w", err)
	}
	writer.SetMaxOpenConns(1)
	// Keep the one connection open: reopening would rerun the pragmas.
	writer.SetConnMaxIdleTime(0)
	writer.SetConnMaxLifetime(0)
	reader, err := openDB(dsn(abs, false))
	if err != nil {
		writer.Close()
		return nil, fmt.Errorf("open sqlite store: %w", err)
	}
	readers := max(4, runtime.GOMAXPROCS(0))
	reader.SetMaxOpenConns(readers)
	reader.SetMaxIdleConns(readers)

	s := &Store{writer: writer, reader: reader}
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("open sqlite store %s: %w", abs, err)
	}
	if s.schemaIssues, err = s.verifyIndexes(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("open sqlite store %s: verify the schema: %w", abs, err)
	}
	return s, nil
}

// dsn builds the modernc.org/sqlite data source name for the file at abs.
// The pragmas are in the DSN so that every connection the pool opens gets
// them, not just the first one.
func dsn(abs string, write bool) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
	// WAL: readers and the writer do not block each other, and another
	// process can write while serve runs (https://www.sqlite.org/wal.html).
	q.Add("_pragma", "journal_mode(WAL)")
	// FULL syncs the WAL on every commit: a change acknowledged to the IdP
	// survives a power cut, not only a crash of the process.
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "foreign_keys(1)")
	// secure_delete overwrites deleted content with zeros: a purge (a
	// data-deletion request) leaves no user's data in free pages of the file
	// (https://www.sqlite.org/pragma.html#pragma_secure_delete). The cost is
	// writing the freed bytes, which the page write does anyway.
	q.Add("_pragma", "secure_delete(1)")
	if write {
		// Group commit runs each request in a SAVEPOINT, whose statement
		// journal (the pages to restore if that request fails) spills to a
		// temporary file beyond 64 KiB: an open, writes and an unlink per
		// batch, 3-4% of the server's CPU in the Okta replay. The journal
		// has nothing to do with durability (the WAL is), and a batch is
		// bounded (maxBatch), so it stays in memory
		// (https://www.sqlite.org/tempfiles.html#stmtjrnl). Only the writer:
		// readers' sorts may be large, and spill as before.
		q.Add("_pragma", "temp_store(MEMORY)")
		// BEGIN IMMEDIATE takes the write lock when the transaction starts,
		// so it waits under busy_timeout there. A deferred transaction that
		// reads first and then writes cannot wait: SQLite fails it with
		// SQLITE_BUSY at once to avoid a deadlock
		// (https://www.sqlite.org/lang_transaction.html).
		q.Set("_txlock", "immediate")
	} else {
		// Guard: nothing on the read pool may ever write.
		q.Add("_pragma", "query_only(1)")
	}
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(abs), RawQuery: q.Encode()}
	return u.String()
}

// Close releases both connection pools.
func (s *Store) Close() error {
	return errors.Join(s.reader.Close(), s.writer.Close())
}

// IsEmpty reports whether no connection exists yet, i.e. no token has ever
// been created: the server seeds a demo connection on its first start.
func (s *Store) IsEmpty(ctx context.Context) (bool, error) {
	var exists bool
	if err := s.reader.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM connections)`).Scan(&exists); err != nil {
		return false, fmt.Errorf("check for connections: %w", err)
	}
	return !exists, nil
}

// write runs fn in a write transaction (BEGIN IMMEDIATE) and applies it only
// if fn succeeds, so every method applies completely or not at all. Writes
// made at the same time share one commit (groupcommit.go).
func (s *Store) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return s.commits.write(ctx, s.writer, fn)
}

// read runs fn in one read-only transaction, so that a resource and its
// memberships (or a page and its total) come from the same snapshot.
func (s *Store) read(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.reader.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("begin read transaction: %w", err)
	}
	// Nothing was written: rolling back just ends the snapshot.
	defer tx.Rollback()
	return fn(tx)
}

func formatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("parse stored time %q: %w", s, err)
	}
	return t.UTC(), nil
}
