package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/scimgate/scimgate/pkg/observed"
	"github.com/scimgate/scimgate/pkg/scim"
)

// observedSchema keeps pkg/observed's entries: one row per connection,
// resource type, URN, attribute and JSON type. The *_key columns are the
// case-folded names (observed.Key) the row is found by; urn and attribute
// keep the spelling first sent, which a declaration copies.
const observedSchema = `
CREATE TABLE observed_attributes (
	tenant        TEXT    NOT NULL,
	sso           TEXT    NOT NULL,
	resource_type TEXT    NOT NULL CHECK (resource_type IN ('User', 'Group')),
	urn_key       TEXT    NOT NULL,
	attribute_key TEXT    NOT NULL,
	json_type     TEXT    NOT NULL CHECK (json_type IN ('string', 'number', 'boolean', 'array', 'object')),
	urn           TEXT    NOT NULL,
	attribute     TEXT    NOT NULL,
	first_seen    TEXT    NOT NULL,
	last_seen     TEXT    NOT NULL,
	count         INTEGER NOT NULL,
	PRIMARY KEY (tenant, sso, resource_type, urn_key, attribute_key, json_type)
) WITHOUT ROWID;
`

var _ observed.Store = (*Store)(nil)

// AddObserved implements observed.Store: every delta upserted in one
// transaction. A connection that is deleted (or gone) records nothing, so a
// request racing a purge cannot leave rows behind it.
func (s *Store) AddObserved(ctx context.Context, conn scim.Connection, deltas []observed.Entry) error {
	if err := conn.Validate(); err != nil {
		return fmt.Errorf("add observed: %w", err)
	}
	if len(deltas) == 0 {
		return nil
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		for _, d := range deltas {
			k := d.Key()
			if _, err := tx.ExecContext(ctx, `INSERT INTO observed_attributes
	(tenant, sso, resource_type, urn_key, attribute_key, json_type, urn, attribute, first_seen, last_seen, count)
SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?
WHERE EXISTS (SELECT 1 FROM connections WHERE tenant = ? AND sso = ? AND deleted_at IS NULL)
ON CONFLICT (tenant, sso, resource_type, urn_key, attribute_key, json_type) DO UPDATE SET
	count = count + excluded.count,
	first_seen = min(first_seen, excluded.first_seen),
	last_seen = max(last_seen, excluded.last_seen)`,
				conn.Tenant, conn.SSO, string(k.ResourceType), k.URN, k.Attribute, k.JSONType, d.URN, d.Attribute,
				formatTime(d.FirstSeen), formatTime(d.LastSeen), d.Count, conn.Tenant, conn.SSO); err != nil {
				return fmt.Errorf("add observed %s %s: %w", d.URN, d.Attribute, err)
			}
		}
		return nil
	})
}

// ListObserved implements observed.Store.
func (s *Store) ListObserved(ctx context.Context, conn scim.Connection) ([]observed.Entry, error) {
	if err := conn.Validate(); err != nil {
		return nil, fmt.Errorf("list observed: %w", err)
	}
	var out []observed.Entry
	err := s.read(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT resource_type, urn, attribute, json_type, first_seen, last_seen, count
FROM observed_attributes WHERE tenant = ? AND sso = ?`, conn.Tenant, conn.SSO)
		if err != nil {
			return fmt.Errorf("list observed: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			e := observed.Entry{Conn: conn}
			var typ, first, last string
			if err := rows.Scan(&typ, &e.URN, &e.Attribute, &e.JSONType, &first, &last, &e.Count); err != nil {
				return fmt.Errorf("list observed: %w", err)
			}
			e.ResourceType = scim.ResourceType(typ)
			if e.FirstSeen, err = parseTime(first); err != nil {
				return fmt.Errorf("list observed: %w", err)
			}
			if e.LastSeen, err = parseTime(last); err != nil {
				return fmt.Errorf("list observed: %w", err)
			}
			out = append(out, e)
		}
		return rows.Err()
	})
	return out, err
}
