package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/scimgate/scimgate/pkg/reconcile"
	"github.com/scimgate/scimgate/pkg/scim"
)

// The store's side of the reconciliation check (pkg/reconcile). Here the
// uniqueness guards are the name_key and external_id columns under partial
// unique indexes, a user's groups are the members rows themselves, and
// totals are counted on read: what can drift is a name_key that is not
// scim.NameKey(g.Type, name), and members rows left pointing at a soft-deleted user
// or group (the foreign keys only require the row to exist).

var _ reconcile.Inspector = (*Store)(nil)

// Inventory reads the connection's rows in one snapshot.
func (s *Store) Inventory(ctx context.Context, conn scim.Connection) (*reconcile.Inventory, error) {
	if err := conn.Validate(); err != nil {
		return nil, err
	}
	inv := &reconcile.Inventory{}
	err := s.read(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT type, id, name, name_key, external_id, deleted_at IS NOT NULL
			FROM resources WHERE tenant = ? AND sso = ? ORDER BY type, id`, conn.Tenant, conn.SSO)
		if err != nil {
			return fmt.Errorf("inventory: read resources: %w", err)
		}
		defer rows.Close()
		liveUser := map[string]int{}
		liveGroup := map[string]bool{}
		for rows.Next() {
			var r reconcile.Resource
			var nameKey string
			var deleted bool
			if err := rows.Scan(&r.Type, &r.ID, &r.Name, &nameKey, &r.ExternalID, &deleted); err != nil {
				return fmt.Errorf("inventory: read resources: %w", err)
			}
			if deleted {
				inv.Deleted = append(inv.Deleted, reconcile.Resource{Type: r.Type, ID: r.ID})
				continue
			}
			inv.Guards = append(inv.Guards, reconcile.Guard{Type: r.Type, Kind: reconcile.NameGuard, Key: nameKey, Owner: r.ID})
			if r.ExternalID != "" {
				inv.Guards = append(inv.Guards, reconcile.Guard{Type: r.Type, Kind: reconcile.ExternalGuard, Key: r.ExternalID, Owner: r.ID})
			}
			if r.Type == scim.UserResource {
				r.Groups = []string{}
				liveUser[r.ID] = len(inv.Live)
			} else {
				liveGroup[r.ID] = true
			}
			inv.Live = append(inv.Live, r)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("inventory: read resources: %w", err)
		}
		mrows, err := tx.QueryContext(ctx, `SELECT group_id, user_id FROM members WHERE tenant = ? AND sso = ? ORDER BY group_id, user_id`, conn.Tenant, conn.SSO)
		if err != nil {
			return fmt.Errorf("inventory: read members: %w", err)
		}
		defer mrows.Close()
		for mrows.Next() {
			var m reconcile.Membership
			if err := mrows.Scan(&m.GroupID, &m.UserID); err != nil {
				return fmt.Errorf("inventory: read members: %w", err)
			}
			inv.Members = append(inv.Members, m)
			// A user's groups are its members rows of live groups.
			if i, ok := liveUser[m.UserID]; ok && liveGroup[m.GroupID] {
				inv.Live[i].Groups = append(inv.Live[i].Groups, m.GroupID)
			}
		}
		return mrows.Err()
	})
	if err != nil {
		return nil, err
	}
	return inv, nil
}

// Connections lists the connections (those with a connection row or with
// resources) in tenant, sso order; the cursor is the last one's "tenant/sso".
func (s *Store) Connections(ctx context.Context, cursor string, limit int) ([]scim.Connection, string, error) {
	after := scim.Connection{}
	if cursor != "" {
		t, sso, ok := strings.Cut(cursor, "/")
		if !ok {
			return nil, "", scim.Errorf(scim.EInvalidCursor, "connection cursor %q is not one this store issued", cursor)
		}
		after = scim.Connection{Tenant: t, SSO: sso}
	}
	limit = max(limit, 1)
	var conns []scim.Connection
	err := s.read(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT tenant, sso FROM (
				SELECT tenant, sso FROM connections UNION SELECT tenant, sso FROM resources)
			WHERE tenant > ? OR (tenant = ? AND sso > ?) ORDER BY tenant, sso LIMIT ?`,
			after.Tenant, after.Tenant, after.SSO, limit+1)
		if err != nil {
			return fmt.Errorf("list connections: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var c scim.Connection
			if err := rows.Scan(&c.Tenant, &c.SSO); err != nil {
				return fmt.Errorf("list connections: %w", err)
			}
			conns = append(conns, c)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, "", err
	}
	if len(conns) <= limit {
		return conns, "", nil
	}
	conns = conns[:limit]
	return conns, conns[limit-1].String(), nil
}

// Apply makes one repair in one transaction, conditional on the rows being
// as the check saw them.
func (s *Store) Apply(ctx context.Context, conn scim.Connection, r reconcile.Repair) error {
	if err := conn.Validate(); err != nil {
		return err
	}
	op := "repair " + string(r.Action)
	switch r.Action {
	case reconcile.DeleteGuard, reconcile.PutGuard:
		if r.Guard == nil || r.Guard.Kind != reconcile.NameGuard {
			return fmt.Errorf("%s: only name keys can drift in this store", op)
		}
		g := *r.Guard
		return s.write(ctx, func(tx *sql.Tx) error {
			var name, nameKey string
			err := tx.QueryRowContext(ctx, `SELECT name, name_key FROM resources
				WHERE tenant = ? AND sso = ? AND type = ? AND id = ? AND deleted_at IS NULL`,
				conn.Tenant, conn.SSO, string(g.Type), g.Owner).Scan(&name, &nameKey)
			if err == sql.ErrNoRows {
				return scim.Errorf(scim.EConflict, "%s %s is no longer live; %s not applied, run the check again", g.Type, g.Owner, r.Action)
			}
			if err != nil {
				return fmt.Errorf("%s: %w", op, err)
			}
			// Either way the one fix is the column the index guards:
			// name_key = NameKey(name). Done already is done.
			if nameKey == scim.NameKey(g.Type, name) {
				return nil
			}
			_, err = tx.ExecContext(ctx, `UPDATE resources SET name_key = ?
				WHERE tenant = ? AND sso = ? AND type = ? AND id = ? AND deleted_at IS NULL`,
				scim.NameKey(g.Type, name), conn.Tenant, conn.SSO, string(g.Type), g.Owner)
			if isUniqueViolation(err) {
				return scim.Errorf(scim.EConflict, "another live %s holds the key %q", strings.ToLower(string(g.Type)), scim.NameKey(g.Type, name))
			}
			if err != nil {
				return fmt.Errorf("%s: %w", op, err)
			}
			return nil
		})
	case reconcile.DeleteMember:
		return s.write(ctx, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, `DELETE FROM members WHERE tenant = ? AND sso = ? AND group_id = ? AND user_id = ?`,
				conn.Tenant, conn.SSO, r.GroupID, r.UserID); err != nil {
				return fmt.Errorf("%s: %w", op, err)
			}
			return nil
		})
	}
	return fmt.Errorf("%s: not applicable to the embedded store", op)
}
