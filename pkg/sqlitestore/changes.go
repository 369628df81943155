package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/scimgate/scimgate/pkg/changes"
	"github.com/scimgate/scimgate/pkg/scim"
)

// changesSchema is the migration that adds the change feed
// (docs/events.md). seq is the commit order: SQLite serialises writers, so
// a reader paging by seq never skips a record that committed after a
// record with a later id. The cursor clients see is still the record id.
const changesSchema = `
CREATE TABLE changes (
	seq         INTEGER PRIMARY KEY AUTOINCREMENT,
	id          TEXT    NOT NULL UNIQUE, -- ULID
	tenant      TEXT    NOT NULL,
	sso         TEXT    NOT NULL,
	type        TEXT    NOT NULL,
	resource_id TEXT    NOT NULL,
	time        TEXT    NOT NULL,        -- formatTime, sorts as text
	record      TEXT    NOT NULL         -- the record's JSON
);
CREATE INDEX changes_by_connection ON changes (tenant, sso, seq);
CREATE INDEX changes_by_resource ON changes (tenant, sso, resource_id, seq);
CREATE INDEX changes_by_time ON changes (time);

CREATE TABLE change_cursors (
	consumer TEXT NOT NULL,
	tenant   TEXT NOT NULL,
	sso      TEXT NOT NULL,
	after    TEXT NOT NULL, -- id of the last record the consumer processed
	PRIMARY KEY (consumer, tenant, sso)
) WITHOUT ROWID;
`

var (
	_ changes.Feed    = (*Store)(nil)
	_ changes.Cursors = (*Store)(nil)
	_ changes.Pruner  = (*Store)(nil)
)

// appendChanges writes records inside the caller's transaction, so that
// they commit or roll back with the change they describe.
func appendChanges(ctx context.Context, tx *sql.Tx, recs []changes.Record) error {
	for i := range recs {
		rec := &recs[i]
		if err := rec.Validate(); err != nil {
			return err
		}
		body, err := json.Marshal(rec)
		if err != nil {
			return fmt.Errorf("encode change record %s: %w", rec.ID, err)
		}
		if _, err := tx.ExecContext(ctx, `
INSERT INTO changes (id, tenant, sso, type, resource_id, time, record) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			rec.ID, rec.Tenant, rec.SSO, string(rec.Type), rec.ResourceID, formatTime(rec.Time), string(body)); err != nil {
			return fmt.Errorf("write change record %s: %w", rec.ID, err)
		}
	}
	return nil
}

// AppendChanges writes records in a transaction of their own: for changes
// made outside this store's transactions, and for tests of feed readers.
func (s *Store) AppendChanges(ctx context.Context, recs ...changes.Record) error {
	return s.write(ctx, func(tx *sql.Tx) error { return appendChanges(ctx, tx, recs) })
}

// ListChanges implements changes.Feed, in commit order.
func (s *Store) ListChanges(ctx context.Context, q changes.Query) (*changes.Page, error) {
	rq := recordQuery{op: "list changes", scope: []string{"tenant = ?", "sso = ?"}, scopeArgs: []any{q.Tenant, q.SSO},
		after: q.After, types: q.Types, limit: q.Limit}
	if q.ResourceID != "" {
		rq.where = append(rq.where, "resource_id = ?")
		rq.whereArgs = append(rq.whereArgs, q.ResourceID)
	}
	if !q.Since.IsZero() {
		rq.where = append(rq.where, "time >= ?")
		rq.whereArgs = append(rq.whereArgs, formatTime(q.Since))
	}
	return s.listRecords(ctx, rq)
}

var _ changes.GlobalFeed = (*Store)(nil)

// ListAllChanges implements changes.GlobalFeed: every connection's records
// in commit order (seq, the primary key), so that, as ListChanges, a
// reader never skips a record that committed after one with a later id.
func (s *Store) ListAllChanges(ctx context.Context, q changes.GlobalQuery) (*changes.Page, error) {
	return s.listRecords(ctx, recordQuery{op: "list all changes", after: q.After, types: q.Types, limit: q.Limit})
}

// recordQuery is one page of the feed: the records within scope (one
// connection's conditions, or none for every connection) that committed
// after the cursor record, of the given types and further conditions.
type recordQuery struct {
	op           string // names the operation in errors
	scope, where []string
	scopeArgs    []any
	whereArgs    []any
	after        string
	types        []changes.Type
	limit        int
}

// listRecords reads a page in commit order. The cursor is a record id,
// resolved to its commit position (seq), so that a record whose id was
// drawn before a slower commit is never skipped.
func (s *Store) listRecords(ctx context.Context, q recordQuery) (*changes.Page, error) {
	limit := q.limit
	if limit <= 0 || limit > changes.MaxPage {
		limit = changes.MaxPage
	}
	scope := ""
	for _, c := range q.scope {
		scope += " AND " + c
	}
	page := &changes.Page{Next: q.after}
	err := s.read(ctx, func(tx *sql.Tx) error {
		var after int64
		if q.after != "" {
			cursorArgs := append([]any{q.after}, q.scopeArgs...)
			err := tx.QueryRowContext(ctx, `SELECT seq FROM changes WHERE id = ?`+scope, cursorArgs...).Scan(&after)
			if errors.Is(err, sql.ErrNoRows) {
				// A pruned id: resume after the last record whose id is not
				// later, which is where it was.
				err = tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM changes WHERE id <= ?`+scope, cursorArgs...).Scan(&after)
			}
			if err != nil {
				return fmt.Errorf("%s: resolve cursor: %w", q.op, err)
			}
		}
		where := append(append([]string{}, q.scope...), "seq > ?")
		args := append(append([]any{}, q.scopeArgs...), after)
		if len(q.types) > 0 {
			where = append(where, "type IN (?"+strings.Repeat(", ?", len(q.types)-1)+")")
			for _, t := range q.types {
				args = append(args, string(t))
			}
		}
		where = append(where, q.where...)
		args = append(append(args, q.whereArgs...), limit)
		rows, err := tx.QueryContext(ctx, `SELECT record FROM changes WHERE `+strings.Join(where, " AND ")+` ORDER BY seq LIMIT ?`, args...)
		if err != nil {
			return fmt.Errorf("%s: %w", q.op, err)
		}
		defer rows.Close()
		for rows.Next() {
			var body string
			if err := rows.Scan(&body); err != nil {
				return fmt.Errorf("%s: %w", q.op, err)
			}
			var rec changes.Record
			if err := json.Unmarshal([]byte(body), &rec); err != nil {
				return fmt.Errorf("%s: decode record: %w", q.op, err)
			}
			page.Records = append(page.Records, rec)
			page.Next = rec.ID
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	return page, nil
}

// FeedConnections lists the connections that have records (a changes.ConnectionLister).
func (s *Store) FeedConnections(ctx context.Context) ([]changes.Conn, error) {
	var out []changes.Conn
	err := s.read(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT DISTINCT tenant, sso FROM changes ORDER BY tenant, sso`)
		if err != nil {
			return fmt.Errorf("list feed connections: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var c changes.Conn
			if err := rows.Scan(&c.Tenant, &c.SSO); err != nil {
				return fmt.Errorf("list feed connections: %w", err)
			}
			out = append(out, c)
		}
		return rows.Err()
	})
	return out, err
}

// LoadCursor implements changes.Cursors.
func (s *Store) LoadCursor(ctx context.Context, consumer string, c changes.Conn) (string, error) {
	var after string
	err := s.read(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `SELECT after FROM change_cursors WHERE consumer = ? AND tenant = ? AND sso = ?`, consumer, c.Tenant, c.SSO).Scan(&after)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		return err
	})
	if err != nil {
		return "", fmt.Errorf("load cursor %s of %s: %w", consumer, c, err)
	}
	return after, nil
}

// SaveCursor implements changes.Cursors.
func (s *Store) SaveCursor(ctx context.Context, consumer string, c changes.Conn, id string) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `
INSERT INTO change_cursors (consumer, tenant, sso, after) VALUES (?, ?, ?, ?)
ON CONFLICT (consumer, tenant, sso) DO UPDATE SET after = excluded.after`, consumer, c.Tenant, c.SSO, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("save cursor %s of %s: %w", consumer, c, err)
	}
	return nil
}

// PruneChanges implements changes.Pruner: the embedded store's retention.
func (s *Store) PruneChanges(ctx context.Context, before time.Time) (int, error) {
	var n int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM changes WHERE time < ?`, formatTime(before))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("prune changes: %w", err)
	}
	return int(n), nil
}

// The records of each kind of write, added inside the write's transaction
// (scim.Journal). Without a journal on ctx they write nothing.

// recordCreate: a resource and, for a group, its initial members.
func recordCreate(ctx context.Context, tx *sql.Tx, r *scim.Resource) error {
	j := scim.JournalFrom(ctx)
	if j == nil {
		return nil
	}
	recs, err := j.Own(nil, r, false)
	if err != nil {
		return err
	}
	var ids []string
	seen := map[string]bool{}
	for _, m := range r.Members {
		if !seen[m.Value] {
			seen[m.Value] = true
			ids = append(ids, m.Value)
		}
	}
	added, err := memberSummaries(ctx, tx, r.Conn, ids)
	if err != nil {
		return err
	}
	more, err := j.Members(r, added, nil)
	if err != nil {
		return err
	}
	return appendChanges(ctx, tx, append(recs, more...))
}

// recordUpdate: a change from cur to next and the members it actually
// added and removed.
func recordUpdate(ctx context.Context, tx *sql.Tx, cur, next *scim.Resource, added []scim.Member, removed []string) error {
	j := scim.JournalFrom(ctx)
	if j == nil {
		return nil
	}
	recs, err := j.Own(cur, next, false)
	if err != nil {
		return err
	}
	more, err := membershipRecords(ctx, tx, j, next, added, removed)
	if err != nil {
		return err
	}
	return appendChanges(ctx, tx, append(recs, more...))
}

// recordReplace: a Replace whose previous state the service named.
func recordReplace(ctx context.Context, tx *sql.Tx, next *scim.Resource) error {
	recs, err := scim.JournalFrom(ctx).Replaced(next)
	if err != nil {
		return err
	}
	return appendChanges(ctx, tx, recs)
}

// recordMembers: a membership-only change of a group, at the version it produced.
func recordMembers(ctx context.Context, tx *sql.Tx, group *scim.Resource, added []scim.Member, removed []string) error {
	j := scim.JournalFrom(ctx)
	if j == nil {
		return nil
	}
	if group.Name == "" {
		// PatchMembers does not read the group; its summary needs the name.
		if err := tx.QueryRowContext(ctx, `SELECT name FROM resources WHERE `+liveResource+` AND id = ?`,
			group.Conn.Tenant, group.Conn.SSO, string(scim.GroupResource), group.ID).Scan(&group.Name); err != nil {
			return fmt.Errorf("read group %s/%s for its change record: %w", group.Conn, group.ID, err)
		}
	}
	recs, err := membershipRecords(ctx, tx, j, group, added, removed)
	if err != nil {
		return err
	}
	return appendChanges(ctx, tx, recs)
}

// membershipRecords are the records of members added to and removed from
// group, with the summaries of the users read in tx.
func membershipRecords(ctx context.Context, tx *sql.Tx, j *scim.Journal, group *scim.Resource, added []scim.Member, removed []string) ([]changes.Record, error) {
	if len(added) == 0 && len(removed) == 0 {
		return nil, nil
	}
	add, err := memberSummaries(ctx, tx, group.Conn, memberValues(added))
	if err != nil {
		return nil, err
	}
	rm, err := memberSummaries(ctx, tx, group.Conn, removed)
	if err != nil {
		return nil, err
	}
	return j.Members(group, add, rm)
}

// memberSummaries reads the summaries of users ids in tx, in ids' order; a
// user that is not live has only its id.
func memberSummaries(ctx context.Context, tx *sql.Tx, conn scim.Connection, ids []string) ([]changes.Member, error) {
	found := make(map[string]changes.Member, len(ids))
	const batch = 500 // under SQLite's default limit of bound parameters
	for start := 0; start < len(ids); start += batch {
		part := ids[start:min(start+batch, len(ids))]
		args := []any{conn.Tenant, conn.SSO, string(scim.UserResource)}
		for _, id := range part {
			args = append(args, id)
		}
		rows, err := tx.QueryContext(ctx, `SELECT `+resourceColumns+` FROM resources WHERE `+liveResource+
			` AND id IN (?`+strings.Repeat(", ?", len(part)-1)+`)`, args...)
		if err != nil {
			return nil, fmt.Errorf("read members of %s for change records: %w", conn, err)
		}
		for rows.Next() {
			u, err := scanResource(rows, conn, scim.UserResource)
			if err != nil {
				rows.Close()
				return nil, fmt.Errorf("read members of %s for change records: %w", conn, err)
			}
			found[u.ID] = scim.MemberSummary(u)
		}
		if err := rows.Close(); err != nil {
			return nil, err
		}
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	out := make([]changes.Member, len(ids))
	for i, id := range ids {
		m, ok := found[id]
		if !ok {
			m = changes.Member{ID: id}
		}
		out[i] = m
	}
	return out, nil
}

// recordDelete: the deletion of last at at.
func recordDelete(ctx context.Context, tx *sql.Tx, last *scim.Resource, at time.Time) error {
	recs, err := scim.JournalFrom(ctx).Deleted(last, at)
	if err != nil {
		return err
	}
	return appendChanges(ctx, tx, recs)
}

func memberValues(ms []scim.Member) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Value
	}
	return out
}

// liveIn reads a live resource's own attributes inside tx (for the record
// of its deletion), without its relations.
func liveIn(ctx context.Context, tx *sql.Tx, conn scim.Connection, typ scim.ResourceType, id string) (*scim.Resource, error) {
	row := tx.QueryRowContext(ctx, `SELECT `+resourceColumns+` FROM resources WHERE `+liveResource+` AND id = ?`,
		conn.Tenant, conn.SSO, string(typ), id)
	r, err := scanResource(row, conn, typ)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, scim.NotFoundError(typ, id)
	}
	if err != nil {
		return nil, fmt.Errorf("read %s %s/%s: %w", typ, conn, id, err)
	}
	return r, nil
}
