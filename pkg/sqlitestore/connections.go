package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	sqlite3 "modernc.org/sqlite/lib"

	"github.com/scimgate/scimgate/pkg/auth"
	"github.com/scimgate/scimgate/pkg/changes"
	"github.com/scimgate/scimgate/pkg/scim"
)

const connectionColumns = `tenant, sso, name, state, created, deleted_at, unknown_extensions, declared_schemas`

func connectionNotFound(conn scim.Connection) error {
	return scim.Errorf(scim.ENotFound, "connection %s not found", conn)
}

func scanConnection(row interface{ Scan(...any) error }) (*auth.ConnectionRecord, error) {
	var r connectionRow
	if err := row.Scan(r.dest()...); err != nil {
		return nil, err
	}
	return r.record()
}

// connectionRow is one row of connectionColumns as scanned.
type connectionRow struct {
	c                      auth.ConnectionRecord
	state, created, policy string
	deleted                sql.NullString
}

func (r *connectionRow) dest() []any {
	return []any{&r.c.Conn.Tenant, &r.c.Conn.SSO, &r.c.Name, &r.state, &r.created, &r.deleted, &r.policy, &r.c.DeclaredSchemas}
}

func (r *connectionRow) record() (*auth.ConnectionRecord, error) {
	c := r.c
	c.UnknownExtensions = scim.ExtensionPolicy(r.policy)
	c.State = auth.ConnectionState(r.state)
	var err error
	if c.Created, err = parseTime(r.created); err != nil {
		return nil, err
	}
	if c.Deleted, err = parseNullTime(r.deleted); err != nil {
		return nil, err
	}
	return &c, nil
}

// lookupConnection reads conn live or deleted.
func lookupConnection(ctx context.Context, tx *sql.Tx, conn scim.Connection) (*auth.ConnectionRecord, error) {
	c, err := scanConnection(tx.QueryRowContext(ctx, `SELECT `+connectionColumns+` FROM connections WHERE tenant = ? AND sso = ?`,
		conn.Tenant, conn.SSO))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, connectionNotFound(conn)
	}
	if err != nil {
		return nil, fmt.Errorf("read connection %s: %w", conn, err)
	}
	return c, nil
}

// liveConnection reads conn, which must not be deleted.
func liveConnection(ctx context.Context, tx *sql.Tx, conn scim.Connection) (*auth.ConnectionRecord, error) {
	c, err := lookupConnection(ctx, tx, conn)
	if err != nil {
		return nil, err
	}
	if !c.Live() {
		return nil, connectionNotFound(conn)
	}
	return c, nil
}

// CreateConnection implements auth.ConnectionStore in one transaction.
func (s *Store) CreateConnection(ctx context.Context, c auth.ConnectionRecord, first auth.TokenInfo) error {
	if err := c.Conn.Validate(); err != nil {
		return err
	}
	if first.Conn != c.Conn {
		return fmt.Errorf("create connection %s: its first token is for %s", c.Conn, first.Conn)
	}
	if c.State == "" {
		c.State = auth.StateActive
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO connections (tenant, sso, name, state, created) VALUES (?, ?, ?, ?, ?)`,
			c.Conn.Tenant, c.Conn.SSO, c.Name, string(c.State), formatTime(c.Created))
		if isConstraint(err, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY, sqlite3.SQLITE_CONSTRAINT_UNIQUE) {
			return scim.Errorf(scim.EUniqueness, "connection %s already exists", c.Conn)
		}
		if err != nil {
			return fmt.Errorf("create connection %s: %w", c.Conn, err)
		}
		if err := insertToken(ctx, tx, first); err != nil {
			return err
		}
		return recordAdmin(ctx, tx, func(j *auth.Journal) ([]changes.Record, error) {
			recs, err := j.Connection(changes.ConnectionCreated, c, c.Created)
			if err != nil {
				return nil, err
			}
			more, err := j.Token(changes.TokenCreated, first, first.Created)
			return append(recs, more...), err
		})
	})
}

// GetConnection implements auth.ConnectionStore.
func (s *Store) GetConnection(ctx context.Context, conn scim.Connection) (*auth.ConnectionRecord, error) {
	return s.readConnection(ctx, conn, liveConnection)
}

// LookupConnection implements auth.ConnectionStore.
func (s *Store) LookupConnection(ctx context.Context, conn scim.Connection) (*auth.ConnectionRecord, error) {
	return s.readConnection(ctx, conn, lookupConnection)
}

func (s *Store) readConnection(ctx context.Context, conn scim.Connection,
	get func(context.Context, *sql.Tx, scim.Connection) (*auth.ConnectionRecord, error)) (*auth.ConnectionRecord, error) {
	if err := conn.Validate(); err != nil {
		return nil, err
	}
	var c *auth.ConnectionRecord
	err := s.read(ctx, func(tx *sql.Tx) error {
		var err error
		c, err = get(ctx, tx, conn)
		return err
	})
	return c, err
}

// ListConnections implements auth.ConnectionStore.
func (s *Store) ListConnections(ctx context.Context, tenant string) ([]auth.ConnectionRecord, error) {
	q := `SELECT ` + connectionColumns + ` FROM connections WHERE deleted_at IS NULL`
	var args []any
	if tenant != "" {
		if err := (scim.Connection{Tenant: tenant, SSO: "x"}).Validate(); err != nil {
			return nil, err
		}
		q += ` AND tenant = ?`
		args = append(args, tenant)
	}
	rows, err := s.reader.QueryContext(ctx, q+` ORDER BY tenant, sso`, args...)
	if err != nil {
		return nil, fmt.Errorf("list connections: %w", err)
	}
	defer rows.Close()
	out := []auth.ConnectionRecord{}
	for rows.Next() {
		c, err := scanConnection(rows)
		if err != nil {
			return nil, fmt.Errorf("list connections: %w", err)
		}
		out = append(out, *c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list connections: %w", err)
	}
	return out, nil
}

// SetConnectionState implements auth.ConnectionStore.
func (s *Store) SetConnectionState(ctx context.Context, conn scim.Connection, state auth.ConnectionState) error {
	if !state.Valid() {
		return scim.Errorf(scim.EInvalidValue, "state must be %q or %q", auth.StateActive, auth.StateDisabled)
	}
	return s.updateLiveConnection(ctx, conn, `state = ?`, string(state), func(j *auth.Journal, before, after *auth.ConnectionRecord) ([]changes.Record, error) {
		if before.State == after.State {
			return nil, nil // already in that state: a no-op writes no record
		}
		typ := changes.ConnectionEnabled
		if state == auth.StateDisabled {
			typ = changes.ConnectionDisabled
		}
		return j.Connection(typ, *after, j.At, "state")
	})
}

// DeleteConnection implements auth.ConnectionStore.
func (s *Store) DeleteConnection(ctx context.Context, conn scim.Connection, at time.Time) error {
	return s.updateLiveConnection(ctx, conn, `deleted_at = ?`, formatTime(at), func(j *auth.Journal, _, after *auth.ConnectionRecord) ([]changes.Record, error) {
		return j.Connection(changes.ConnectionDeleted, *after, at)
	})
}

// updateLiveConnection sets one column of a live connection and writes the
// record record returns for the connection before and after, in the same
// transaction.
func (s *Store) updateLiveConnection(ctx context.Context, conn scim.Connection, set string, value any,
	record func(j *auth.Journal, before, after *auth.ConnectionRecord) ([]changes.Record, error)) error {
	if err := conn.Validate(); err != nil {
		return err
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		before, err := liveConnection(ctx, tx, conn)
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE connections SET `+set+` WHERE tenant = ? AND sso = ? AND deleted_at IS NULL`,
			value, conn.Tenant, conn.SSO)
		if err != nil {
			return fmt.Errorf("update connection %s: %w", conn, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("update connection %s: %w", conn, err)
		} else if n == 0 {
			return connectionNotFound(conn)
		}
		after, err := lookupConnection(ctx, tx, conn)
		if err != nil {
			return err
		}
		return recordAdmin(ctx, tx, func(j *auth.Journal) ([]changes.Record, error) { return record(j, before, after) })
	})
}

// recordAdmin writes, inside tx, the records build returns from the
// journal of an admin operation; without a journal on ctx, none.
func recordAdmin(ctx context.Context, tx *sql.Tx, build func(*auth.Journal) ([]changes.Record, error)) error {
	j := auth.JournalFrom(ctx)
	if j == nil {
		return nil
	}
	recs, err := build(j)
	if err != nil {
		return err
	}
	return appendChanges(ctx, tx, recs)
}

// CountResources implements auth.ConnectionStore.
func (s *Store) CountResources(ctx context.Context, conn scim.Connection) (users, groups int, err error) {
	if err := conn.Validate(); err != nil {
		return 0, 0, err
	}
	err = s.reader.QueryRowContext(ctx, `SELECT
	count(*) FILTER (WHERE type = 'User'),
	count(*) FILTER (WHERE type = 'Group')
FROM resources WHERE tenant = ? AND sso = ? AND deleted_at IS NULL`, conn.Tenant, conn.SSO).Scan(&users, &groups)
	if err != nil {
		return 0, 0, fmt.Errorf("count resources of %s: %w", conn, err)
	}
	return users, groups, nil
}

// purgeTables are erased in this order: memberships reference resources,
// tokens reference the connection, which goes last so that an interrupted
// purge can always be found and resumed. kind names what a deleted row is.
var purgeTables = []struct{ table, key, kind string }{
	{"members", "group_id, user_id", "'members'"},
	{"resources", "type, id", "type"},
	{"tokens", "hash", "'tokens'"},
	// The change feed's records and delivery cursors of the connection:
	// a purge erases its history too (docs/events.md).
	{"changes", "seq", "'other'"},
	{"change_cursors", "consumer", "'other'"},
	{"idp_links", "tenant", "'other'"},
	// The observed schema (observed.go).
	{"observed_attributes", "resource_type, urn_key, attribute_key, json_type", "'other'"},
	{"connections", "tenant", "'other'"},
}

// PurgeConnection implements auth.ConnectionStore: each call is one
// transaction erasing at most batch rows, so a crash leaves either all of a
// step or none of it.
func (s *Store) PurgeConnection(ctx context.Context, conn scim.Connection, batch int) (auth.PurgeProgress, error) {
	if err := conn.Validate(); err != nil {
		return auth.PurgeProgress{}, err
	}
	if batch < 1 {
		return auth.PurgeProgress{}, fmt.Errorf("purge %s: batch must be positive, not %d", conn, batch)
	}
	var p auth.PurgeProgress
	err := s.write(ctx, func(tx *sql.Tx) error {
		p = auth.PurgeProgress{}
		for _, pt := range purgeTables {
			left := batch - p.Erased.Total()
			if left == 0 {
				break
			}
			rows, err := tx.QueryContext(ctx, `DELETE FROM `+pt.table+` WHERE tenant = ? AND sso = ? AND (`+pt.key+`) IN (
	SELECT `+pt.key+` FROM `+pt.table+` WHERE tenant = ? AND sso = ? LIMIT ?) RETURNING `+pt.kind,
				conn.Tenant, conn.SSO, conn.Tenant, conn.SSO, left)
			if err != nil {
				return fmt.Errorf("purge %s of %s: %w", pt.table, conn, err)
			}
			if err := countKinds(rows, &p.Erased); err != nil {
				return fmt.Errorf("purge %s of %s: %w", pt.table, conn, err)
			}
		}
		p.Deleted = p.Erased.Total()
		p.Done = p.Deleted < batch
		return nil
	})
	if err != nil {
		return auth.PurgeProgress{}, err
	}
	if p.Done {
		if err := s.compact(ctx); err != nil {
			return auth.PurgeProgress{}, fmt.Errorf("purge %s: %w", conn, err)
		}
	}
	return p, nil
}

// compact rewrites the file once a purge is done, so that no byte of the
// purged data survives: secure_delete zeroes freed cells and pages, but
// SQLite's page rebalancing can leave copies of cells in a live page's unused
// space. VACUUM rebuilds every page from the live rows
// (https://www.sqlite.org/lang_vacuum.html); the checkpoint moves the rebuilt
// pages from the WAL into the file and empties the WAL, which held the old
// pages too.
func (s *Store) compact(ctx context.Context) error {
	if _, err := s.writer.ExecContext(ctx, `VACUUM`); err != nil {
		return fmt.Errorf("vacuum: %w", err)
	}
	if _, err := s.writer.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	return nil
}

func countKinds(rows *sql.Rows, c *auth.PurgeCounts) error {
	defer rows.Close()
	for rows.Next() {
		var kind string
		if err := rows.Scan(&kind); err != nil {
			return err
		}
		switch kind {
		case string(scim.UserResource):
			c.Users++
		case string(scim.GroupResource):
			c.Groups++
		case "members":
			c.Members++
		case "tokens":
			c.Tokens++
		default:
			c.Other++
		}
	}
	return rows.Err()
}
