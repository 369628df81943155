package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
)

// openCachingDB is a pool of one caching connection on a fresh file.
func openCachingDB(t *testing.T) *sql.DB {
	t.Helper()
	db, err := openDB("file:" + filepath.Join(t.TempDir(), "cache.db"))
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	if _, err := db.Exec(`CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	return db
}

// cachedTexts is the statements the pool's one connection holds prepared.
func cachedTexts(t *testing.T, db *sql.DB) []string {
	t.Helper()
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var texts []string
	if err := conn.Raw(func(dc any) error {
		for q := range dc.(*cachingConn).stmts {
			texts = append(texts, q)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	slices.Sort(texts)
	return texts
}

// TestStatementCacheReusesStatements runs one insert and one query many
// times with different arguments: each is prepared once, and every run sees
// its own arguments.
func TestStatementCacheReusesStatements(t *testing.T) {
	db := openCachingDB(t)
	const insert, query = `INSERT INTO t (k, v) VALUES (?, ?)`, `SELECT v FROM t WHERE k = ?`
	for k := range 50 {
		if _, err := db.Exec(insert, k, fmt.Sprintf("value %d", k)); err != nil {
			t.Fatal(err)
		}
	}
	for k := range 50 {
		var v string
		if err := db.QueryRow(query, k).Scan(&v); err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("value %d", k); v != want {
			t.Errorf("k=%d: %q, want %q", k, v, want)
		}
	}
	var v string
	if err := db.QueryRow(query, 50).Scan(&v); err != sql.ErrNoRows {
		t.Errorf("k=50: %v, want sql.ErrNoRows", err)
	}
	want := []string{`CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT NOT NULL)`, insert, query}
	slices.Sort(want)
	if got := cachedTexts(t, db); !slices.Equal(got, want) {
		t.Errorf("cached %q, want %q", got, want)
	}
}

// TestStatementCacheNestedQuery runs a query again, on the same connection,
// while its own rows are still being read: the inner run must not reset the
// statement under the outer rows.
func TestStatementCacheNestedQuery(t *testing.T) {
	db := openCachingDB(t)
	for k := range 5 {
		if _, err := db.Exec(`INSERT INTO t (k, v) VALUES (?, ?)`, k, fmt.Sprint(k)); err != nil {
			t.Fatal(err)
		}
	}
	const query = `SELECT k FROM t WHERE k >= ? ORDER BY k`
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	read := func(rows *sql.Rows) []int {
		t.Helper()
		var ks []int
		for rows.Next() {
			var k int
			if err := rows.Scan(&k); err != nil {
				t.Fatal(err)
			}
			ks = append(ks, k)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return ks
	}
	outer, err := tx.Query(query, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer outer.Close()
	var got []int
	for outer.Next() {
		var k int
		if err := outer.Scan(&k); err != nil {
			t.Fatal(err)
		}
		got = append(got, k)
		inner, err := tx.Query(query, 3)
		if err != nil {
			t.Fatal(err)
		}
		if ks := read(inner); !slices.Equal(ks, []int{3, 4}) {
			t.Errorf("inner rows %v, want [3 4]", ks)
		}
		inner.Close()
	}
	if err := outer.Err(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []int{0, 1, 2, 3, 4}) {
		t.Errorf("outer rows %v, want [0 1 2 3 4]", got)
	}
	outer.Close()
	// Free again once closed: the next run uses the cached statement.
	rows, err := tx.Query(query, 4)
	if err != nil {
		t.Fatal(err)
	}
	if ks := read(rows); !slices.Equal(ks, []int{4}) {
		t.Errorf("rows %v, want [4]", ks)
	}
	rows.Close()
}

// TestStatementCacheLeavesOtherStatementsAlone: scripts run as scripts, a
// statement that does not compile fails as it would without the cache, and
// neither is kept; a cached statement survives a change of the schema.
func TestStatementCacheLeavesOtherStatementsAlone(t *testing.T) {
	db := openCachingDB(t)
	if _, err := db.Exec(`INSERT INTO t (k, v) VALUES (1, 'a'); INSERT INTO t (k, v) VALUES (2, 'b')`); err != nil {
		t.Fatal(err)
	}
	var n int
	const count = `SELECT count(*) FROM t`
	if err := db.QueryRow(count).Scan(&n); err != nil || n != 2 {
		t.Fatalf("count %d, %v; want 2 rows from the script", n, err)
	}
	_, cachedErr := db.Exec(`SELECT nope FROM t`)
	if cachedErr == nil {
		t.Fatal("a statement naming a missing column ran")
	}
	plain, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "plain.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	plain.Exec(`CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT NOT NULL)`)
	_, plainErr := plain.Exec(`SELECT nope FROM t`)
	if plainErr == nil || cachedErr.Error() != plainErr.Error() {
		t.Errorf("error %v, want the driver's own %v", cachedErr, plainErr)
	}
	// The schema changes under the cached count: SQLite prepares it again.
	if _, err := db.Exec(`ALTER TABLE t ADD COLUMN w TEXT`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO t (k, v, w) VALUES (3, 'c', 'x')`); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(count).Scan(&n); err != nil || n != 3 {
		t.Errorf("count after ALTER TABLE %d, %v; want 3", n, err)
	}
	for _, q := range cachedTexts(t, db) {
		if q == `SELECT nope FROM t` || q == `INSERT INTO t (k, v) VALUES (1, 'a'); INSERT INTO t (k, v) VALUES (2, 'b')` {
			t.Errorf("cached %q", q)
		}
	}
}
