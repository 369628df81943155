package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/scimgate/scimgate/pkg/auth"
	"github.com/scimgate/scimgate/pkg/changes"
	"github.com/scimgate/scimgate/pkg/scim"
)

var _ auth.ConnectionStore = (*Store)(nil)

// tokenColumns are the columns scanTokens reads, in its order.
const tokenColumns = `hash, id, tenant, sso, created, expires, description, last_used, revoked`

// findTokenQuery reads a token and its connection in one statement:
// tokenColumns then connectionColumns. A token always has its connection
// row: the tokens table's foreign key (schema.go) holds it there.
var findTokenQuery = `SELECT ` + qualified("t", tokenColumns) + `, ` + qualified("c", connectionColumns) + `
FROM tokens t JOIN connections c ON c.tenant = t.tenant AND c.sso = t.sso
WHERE t.hash = ? AND t.tenant = ? AND t.sso = ?`

// qualified prefixes each of a comma-separated list of columns with alias.
func qualified(alias, columns string) string {
	cols := strings.Split(columns, ",")
	for i, c := range cols {
		cols[i] = alias + "." + strings.TrimSpace(c)
	}
	return strings.Join(cols, ", ")
}

// AddToken implements auth.TokenStore: it creates the connection on first
// use and stores the token's hash, in one transaction.
func (s *Store) AddToken(ctx context.Context, t auth.TokenInfo) error {
	if err := t.Conn.Validate(); err != nil {
		return err
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO connections (tenant, sso, created, state) VALUES (?, ?, ?, ?)
ON CONFLICT (tenant, sso) DO NOTHING`, t.Conn.Tenant, t.Conn.SSO, formatTime(t.Created), string(auth.StateActive)); err != nil {
			return fmt.Errorf("create connection %s: %w", t.Conn, err)
		}
		var deleted sql.NullString
		if err := tx.QueryRowContext(ctx, `SELECT deleted_at FROM connections WHERE tenant = ? AND sso = ?`,
			t.Conn.Tenant, t.Conn.SSO).Scan(&deleted); err != nil {
			return fmt.Errorf("read connection %s: %w", t.Conn, err)
		}
		if deleted.Valid {
			return deletedConnectionError(t.Conn)
		}
		if err := insertToken(ctx, tx, t); err != nil {
			return err
		}
		// token.created only: DynamoDB's AddToken cannot tell, without a
		// read, whether it created the connection, so neither store records that.
		return recordAdmin(ctx, tx, func(j *auth.Journal) ([]changes.Record, error) {
			return j.Token(changes.TokenCreated, t, t.Created)
		})
	})
}

func deletedConnectionError(conn scim.Connection) error {
	return scim.Errorf(scim.EUniqueness, "connection %s was deleted; purge it before using its name again", conn)
}

func insertToken(ctx context.Context, tx *sql.Tx, t auth.TokenInfo) error {
	if t.Hash == "" || t.ID != auth.TokenID(t.Hash) {
		return fmt.Errorf("store token for %s: id %q does not belong to the hash", t.Conn, t.ID)
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO tokens (`+tokenColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		t.Hash, t.ID, t.Conn.Tenant, t.Conn.SSO, formatTime(t.Created), nullTime(t.Expires), t.Description,
		nullTime(t.LastUsed), nullTime(t.Revoked))
	if isConstraint(err, sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY) {
		return scim.Errorf(scim.EUniqueness, "this token is already stored")
	}
	if err != nil {
		return fmt.Errorf("store token for %s: %w", t.Conn, err)
	}
	return nil
}

func isConstraint(err error, codes ...int) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && slices.Contains(codes, se.Code())
}

// FindToken implements auth.TokenStore: the token and its connection from one
// snapshot. Every SCIM request runs it, so it is one statement (a join)
// rather than a read transaction of two queries: a single SELECT reads one
// consistent snapshot on its own, and BEGIN and ROLLBACK were a third of its
// cost in the replay's profile.
func (s *Store) FindToken(ctx context.Context, conn scim.Connection, hash string) (*auth.Credential, error) {
	if err := conn.Validate(); err != nil {
		return nil, err
	}
	var t tokenRow
	var c connectionRow
	err := s.reader.QueryRowContext(ctx, findTokenQuery, hash, conn.Tenant, conn.SSO).Scan(append(t.dest(), c.dest()...)...)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, scim.Errorf(scim.ENotFound, "token not found")
	}
	if err != nil {
		return nil, fmt.Errorf("find token: %w", err)
	}
	tok, err := t.info()
	if err != nil {
		return nil, fmt.Errorf("find token: %w", err)
	}
	connection, err := c.record()
	if err != nil {
		return nil, fmt.Errorf("find token: connection %s: %w", conn, err)
	}
	return &auth.Credential{Token: tok, Connection: connection}, nil
}

// TouchToken implements auth.TokenStore. Times are stored at fixed width,
// so comparing them as text compares them as times.
func (s *Store) TouchToken(ctx context.Context, conn scim.Connection, hash string, at time.Time, granularity time.Duration) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE tokens SET last_used = ?
WHERE hash = ? AND tenant = ? AND sso = ? AND (last_used IS NULL OR last_used < ?)`,
			formatTime(at), hash, conn.Tenant, conn.SSO, formatTime(at.Add(-granularity))); err != nil {
			return fmt.Errorf("touch token: %w", err)
		}
		return nil
	})
}

// ListTokens implements auth.ConnectionStore.
func (s *Store) ListTokens(ctx context.Context, conn scim.Connection) ([]auth.TokenInfo, error) {
	if err := conn.Validate(); err != nil {
		return nil, err
	}
	toks, err := scanTokens(s.reader.QueryContext(ctx, `SELECT `+tokenColumns+` FROM tokens
WHERE tenant = ? AND sso = ? ORDER BY created, id`, conn.Tenant, conn.SSO))
	if err != nil {
		return nil, fmt.Errorf("list tokens of %s: %w", conn, err)
	}
	return toks, nil
}

// GetTokenByID implements auth.ConnectionStore.
func (s *Store) GetTokenByID(ctx context.Context, conn scim.Connection, id string) (*auth.TokenInfo, error) {
	if err := conn.Validate(); err != nil {
		return nil, err
	}
	var tok *auth.TokenInfo
	err := s.read(ctx, func(tx *sql.Tx) error {
		var err error
		tok, err = tokenByID(ctx, tx, conn, id)
		return err
	})
	return tok, err
}

func tokenNotFound(conn scim.Connection, id string) error {
	return scim.Errorf(scim.ENotFound, "connection %s has no token %q", conn, id)
}

func tokenByID(ctx context.Context, tx *sql.Tx, conn scim.Connection, id string) (*auth.TokenInfo, error) {
	toks, err := scanTokens(tx.QueryContext(ctx, `SELECT `+tokenColumns+` FROM tokens WHERE tenant = ? AND sso = ? AND id = ?`,
		conn.Tenant, conn.SSO, id))
	if err != nil {
		return nil, fmt.Errorf("get token %s of %s: %w", id, conn, err)
	}
	if len(toks) == 0 {
		return nil, tokenNotFound(conn, id)
	}
	return &toks[0], nil
}

// RotateToken implements auth.ConnectionStore in one transaction.
func (s *Store) RotateToken(ctx context.Context, conn scim.Connection, oldID string, expires time.Time, next auth.TokenInfo) (time.Time, error) {
	if err := conn.Validate(); err != nil {
		return time.Time{}, err
	}
	if next.Conn != conn {
		return time.Time{}, fmt.Errorf("rotate token of %s: the new token is for %s", conn, next.Conn)
	}
	oldExpires := expires
	err := s.write(ctx, func(tx *sql.Tx) error {
		if _, err := liveConnection(ctx, tx, conn); err != nil {
			return err
		}
		old, err := tokenByID(ctx, tx, conn, oldID)
		if err != nil {
			return err
		}
		if !old.Revoked.IsZero() {
			return revokedRotationError(oldID)
		}
		if !old.Expires.IsZero() && !old.Expires.After(expires) {
			oldExpires = old.Expires
		} else if _, err := tx.ExecContext(ctx, `UPDATE tokens SET expires = ? WHERE hash = ?`, formatTime(expires), old.Hash); err != nil {
			return fmt.Errorf("rotate token %s of %s: %w", oldID, conn, err)
		}
		if err := insertToken(ctx, tx, next); err != nil {
			return err
		}
		return recordAdmin(ctx, tx, func(j *auth.Journal) ([]changes.Record, error) {
			rotated := *old
			rotated.Expires = oldExpires
			recs, err := j.Token(changes.TokenRotated, rotated, next.Created, "expires")
			if err != nil {
				return nil, err
			}
			more, err := j.Token(changes.TokenCreated, next, next.Created)
			return append(recs, more...), err
		})
	})
	if err != nil {
		return time.Time{}, err
	}
	return oldExpires, nil
}

func revokedRotationError(id string) error {
	return scim.Errorf(scim.EInvalidValue, "token %s is revoked and cannot be rotated; create a new token instead", id)
}

// RevokeToken implements auth.ConnectionStore; the first revocation time stays.
func (s *Store) RevokeToken(ctx context.Context, conn scim.Connection, id string, at time.Time) (*auth.TokenInfo, error) {
	if err := conn.Validate(); err != nil {
		return nil, err
	}
	var tok *auth.TokenInfo
	err := s.write(ctx, func(tx *sql.Tx) error {
		// Only a token not revoked yet changes, and only that writes a record.
		res, err := tx.ExecContext(ctx, `UPDATE tokens SET revoked = ? WHERE tenant = ? AND sso = ? AND id = ? AND revoked IS NULL`,
			formatTime(at), conn.Tenant, conn.SSO, id)
		if err != nil {
			return fmt.Errorf("revoke token %s of %s: %w", id, conn, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("revoke token %s of %s: %w", id, conn, err)
		}
		if tok, err = tokenByID(ctx, tx, conn, id); err != nil || n == 0 {
			return err
		}
		return recordAdmin(ctx, tx, func(j *auth.Journal) ([]changes.Record, error) {
			return j.Token(changes.TokenRevoked, *tok, at, "revoked")
		})
	})
	return tok, err
}

func scanTokens(rows *sql.Rows, err error) ([]auth.TokenInfo, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []auth.TokenInfo
	for rows.Next() {
		var r tokenRow
		if err := rows.Scan(r.dest()...); err != nil {
			return nil, err
		}
		t, err := r.info()
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// tokenRow is one row of tokenColumns as scanned.
type tokenRow struct {
	t                          auth.TokenInfo
	created                    string
	expires, lastUsed, revoked sql.NullString
}

func (r *tokenRow) dest() []any {
	return []any{&r.t.Hash, &r.t.ID, &r.t.Conn.Tenant, &r.t.Conn.SSO, &r.created, &r.expires, &r.t.Description, &r.lastUsed, &r.revoked}
}

func (r *tokenRow) info() (auth.TokenInfo, error) {
	t := r.t
	var err error
	if t.Created, err = parseTime(r.created); err != nil {
		return t, err
	}
	for _, f := range []struct {
		src sql.NullString
		dst *time.Time
	}{{r.expires, &t.Expires}, {r.lastUsed, &t.LastUsed}, {r.revoked, &t.Revoked}} {
		if *f.dst, err = parseNullTime(f.src); err != nil {
			return t, err
		}
	}
	return t, nil
}

// nullTime is NULL for the zero time.
func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return formatTime(t)
}

func parseNullTime(s sql.NullString) (time.Time, error) {
	if !s.Valid {
		return time.Time{}, nil
	}
	return parseTime(s.String)
}
