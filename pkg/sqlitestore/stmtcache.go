package sqlitestore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"reflect"
	"strings"

	"modernc.org/sqlite"
)

// Statement cache. database/sql hands a query with arguments straight to the
// driver connection (QueryContext, ExecContext), and the driver parses and
// plans it again every time: under the Okta replay, compiling SQL was a fifth
// of the server's CPU. Every statement of this package is one of a few dozen
// constant strings, so each connection keeps the statements it has run
// prepared, keyed by their text, and runs them again with new arguments
// (https://www.sqlite.org/c3ref/prepare.html: a prepared statement is
// re-prepared by SQLite itself if the schema changes under it).
//
// The cache sits between database/sql and the driver (modernc.org/sqlite's
// NewConnector documents this way of wrapping its connections), so every
// query of the package goes through it without being written differently.

// maxCachedStatements bounds each connection's cache; statements beyond it
// run unprepared, as before. The package has far fewer distinct statements.
const maxCachedStatements = 256

// openDB opens a pool on dsn whose connections cache their statements.
func openDB(dsn string) (*sql.DB, error) {
	base, err := sqlite.NewConnector(dsn)
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(cachingConnector{base}), nil
}

type cachingConnector struct{ driver.Connector }

func (c cachingConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return newCachingConn(conn)
}

// driverConn is what every connection of modernc.org/sqlite implements, and
// what database/sql needs to see to use it fully (NewConnector's
// documentation lists these interfaces).
type driverConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
}

// preparedStmt is what the driver's statements implement.
type preparedStmt interface {
	driver.Stmt
	driver.StmtExecContext
	driver.StmtQueryContext
}

// cachingConn is one driver connection with its prepared statements.
// database/sql never uses a driver.Conn from two goroutines at once, so the
// cache needs no lock.
type cachingConn struct {
	driverConn
	stmts map[string]*cachedStmt
}

// cachedStmt is a prepared statement; inUse while rows read from it are
// open, when a second run of the same text (a query nested in the iteration
// of its own rows) must not reset it under them.
type cachedStmt struct {
	stmt  preparedStmt
	inUse bool
}

var (
	_ driverConn  = (*cachingConn)(nil)
	_ driver.Rows = (*cachedRows)(nil)
	_ columnTyper = (*cachedRows)(nil)
)

func newCachingConn(conn driver.Conn) (driver.Conn, error) {
	dc, ok := conn.(driverConn)
	if !ok {
		conn.Close()
		return nil, errors.New("open sqlite connection: the driver's connection lacks an interface database/sql uses")
	}
	return &cachingConn{driverConn: dc, stmts: map[string]*cachedStmt{}}, nil
}

// Unwrap returns the driver's connection (sqlite.Limit looks through
// wrappers with it).
func (c *cachingConn) Unwrap() driver.Conn { return c.driverConn }

// statement returns the idle prepared statement for query, preparing it on
// first use; nil when query is not to be cached or its statement is busy, and
// then the caller runs query unprepared. A query that fails to prepare is
// run unprepared too, so that it fails exactly as it always did.
func (c *cachingConn) statement(ctx context.Context, query string) *cachedStmt {
	if cs, ok := c.stmts[query]; ok {
		if cs.inUse {
			return nil
		}
		return cs
	}
	// A script (statements separated by ';') is parsed statement by
	// statement on every run whatever is cached; keep to single statements.
	if len(c.stmts) >= maxCachedStatements || strings.Contains(query, ";") {
		return nil
	}
	ds, err := c.driverConn.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	ps, ok := ds.(preparedStmt)
	if !ok {
		ds.Close()
		return nil
	}
	cs := &cachedStmt{stmt: ps}
	c.stmts[query] = cs
	return cs
}

func (c *cachingConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	cs := c.statement(ctx, query)
	if cs == nil {
		return c.driverConn.ExecContext(ctx, query, args)
	}
	return cs.stmt.ExecContext(ctx, args)
}

func (c *cachingConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	cs := c.statement(ctx, query)
	if cs == nil {
		return c.driverConn.QueryContext(ctx, query, args)
	}
	rows, err := cs.stmt.QueryContext(ctx, args)
	if err != nil {
		return nil, err
	}
	cs.inUse = true
	return &cachedRows{Rows: rows, stmt: cs}, nil
}

// Close finalizes the cached statements, then closes the connection.
func (c *cachingConn) Close() error {
	var errs []error
	for query, cs := range c.stmts {
		errs = append(errs, cs.stmt.Close())
		delete(c.stmts, query)
	}
	return errors.Join(append(errs, c.driverConn.Close())...)
}

// columnTyper is the column metadata the driver's rows report
// (sql.Rows.ColumnTypes).
type columnTyper interface {
	driver.RowsColumnTypeDatabaseTypeName
	driver.RowsColumnTypeLength
	driver.RowsColumnTypeNullable
	driver.RowsColumnTypePrecisionScale
	driver.RowsColumnTypeScanType
}

// cachedRows are rows read from a cached statement, which is free again once
// they are closed (the driver then resets it for its next run).
type cachedRows struct {
	driver.Rows
	stmt *cachedStmt
}

func (r *cachedRows) Close() error {
	err := r.Rows.Close()
	r.stmt.inUse = false
	return err
}

func (r *cachedRows) ColumnTypeDatabaseTypeName(i int) string {
	if t, ok := r.Rows.(columnTyper); ok {
		return t.ColumnTypeDatabaseTypeName(i)
	}
	return ""
}

func (r *cachedRows) ColumnTypeLength(i int) (int64, bool) {
	if t, ok := r.Rows.(columnTyper); ok {
		return t.ColumnTypeLength(i)
	}
	return 0, false
}

func (r *cachedRows) ColumnTypeNullable(i int) (nullable, ok bool) {
	if t, ok := r.Rows.(columnTyper); ok {
		return t.ColumnTypeNullable(i)
	}
	return false, false
}

func (r *cachedRows) ColumnTypePrecisionScale(i int) (precision, scale int64, ok bool) {
	if t, ok := r.Rows.(columnTyper); ok {
		return t.ColumnTypePrecisionScale(i)
	}
	return 0, 0, false
}

func (r *cachedRows) ColumnTypeScanType(i int) reflect.Type {
	if t, ok := r.Rows.(columnTyper); ok {
		return t.ColumnTypeScanType(i)
	}
	return reflect.TypeFor[any]()
}
