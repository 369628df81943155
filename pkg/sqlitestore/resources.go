package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/scimgate/scimgate/pkg/scim"
)

var _ scim.Store = (*Store)(nil)

// resourceColumns are the columns scanResource reads, in its order.
const resourceColumns = `id, name, external_id, active, version, created, last_modified, attributes`

// liveResource restricts a statement to one connection's live resources of one type.
const liveResource = `tenant = ? AND sso = ? AND type = ? AND deleted_at IS NULL`

// Create implements scim.Store.
func (s *Store) Create(ctx context.Context, r *scim.Resource) error {
	attrs, err := json.Marshal(r.Attributes)
	if err != nil {
		return fmt.Errorf("create %s: encode attributes: %w", r, err)
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `
INSERT INTO resources (tenant, sso, type, id, name, name_key, external_id, active, version, created, last_modified, attributes)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			r.Conn.Tenant, r.Conn.SSO, string(r.Type), r.ID, r.Name, scim.NameKey(r.Type, r.Name), r.ExternalID,
			r.Active, r.Version, formatTime(r.Created), formatTime(r.LastModified), string(attrs))
		if isUniqueViolation(err) {
			return uniquenessError(ctx, tx, r, err)
		}
		if err != nil {
			return fmt.Errorf("create %s: %w", r, err)
		}
		if r.Type != scim.GroupResource || len(r.Members) == 0 {
			return recordCreate(ctx, tx, r)
		}
		if err := checkMembers(ctx, tx, r.Conn, r.Members); err != nil {
			return err
		}
		if err := addMembers(ctx, tx, r.Conn, r.ID, r.Members); err != nil {
			return err
		}
		return recordCreate(ctx, tx, r)
	})
}

// Get implements scim.Store.
func (s *Store) Get(ctx context.Context, conn scim.Connection, typ scim.ResourceType, id string, withMembers bool) (*scim.Resource, error) {
	return s.getBy(ctx, conn, typ, "id", id, id, withMembers)
}

// FindByName implements scim.Store.
func (s *Store) FindByName(ctx context.Context, conn scim.Connection, typ scim.ResourceType, name string, withMembers bool) (*scim.Resource, error) {
	return s.getBy(ctx, conn, typ, "name_key", scim.NameKey(typ, name), name, withMembers)
}

// FindByExternalID implements scim.Store. externalId is caseExact (RFC 7643
// §3.1), so the lookup is exact.
func (s *Store) FindByExternalID(ctx context.Context, conn scim.Connection, typ scim.ResourceType, externalID string, withMembers bool) (*scim.Resource, error) {
	if externalID == "" {
		// Resources without an externalId are stored with ''; none of them
		// "has" the empty externalId.
		return nil, scim.NotFoundError(typ, externalID)
	}
	return s.getBy(ctx, conn, typ, "external_id", externalID, externalID, withMembers)
}

// getBy reads the live resource whose column equals key; shown names the
// lookup value in the not-found message. column is one of our constant
// column names, never client input.
func (s *Store) getBy(ctx context.Context, conn scim.Connection, typ scim.ResourceType, column, key, shown string, withMembers bool) (*scim.Resource, error) {
	var r *scim.Resource
	err := s.read(ctx, func(tx *sql.Tx) error {
		var err error
		r, err = getIn(ctx, tx, conn, typ, column, key, shown, withMembers)
		return err
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

// getIn reads a live resource within tx (see getBy).
func getIn(ctx context.Context, tx *sql.Tx, conn scim.Connection, typ scim.ResourceType, column, key, shown string, withMembers bool) (*scim.Resource, error) {
	row := tx.QueryRowContext(ctx, `SELECT `+resourceColumns+` FROM resources WHERE `+liveResource+` AND `+column+` = ?`,
		conn.Tenant, conn.SSO, string(typ), key)
	r, err := scanResource(row, conn, typ)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, scim.NotFoundError(typ, shown)
	}
	if err != nil {
		return nil, fmt.Errorf("get %s %s/%s: %w", typ, conn, shown, err)
	}
	if err := fillRelations(ctx, tx, conn, typ, []*scim.Resource{r}, withMembers); err != nil {
		return nil, err
	}
	return r, nil
}

// Update implements scim.Store: read, modify and write happen in one write
// transaction (BEGIN IMMEDIATE holds the file's write lock from the read
// on), so no other writer can come in between and no race is ever lost:
// modify runs exactly once.
func (s *Store) Update(ctx context.Context, conn scim.Connection, typ scim.ResourceType, id string, withMembers bool, modify func(cur *scim.Resource) (*scim.Change, error)) (*scim.Resource, error) {
	var out *scim.Resource
	err := s.write(ctx, func(tx *sql.Tx) error {
		cur, err := getIn(ctx, tx, conn, typ, "id", id, id, withMembers)
		if err != nil {
			return err
		}
		// A user's groups are derived from the memberships, which an update
		// of the user never changes: the written user has the groups just
		// read, in the same transaction, without reading them again.
		groups := slices.Clone(cur.Groups)
		read := &scim.Resource{ID: cur.ID, Name: cur.Name, ExternalID: cur.ExternalID, Version: cur.Version}
		ch, err := modify(cur)
		if err != nil {
			return err
		}
		out = cur
		if ch == nil || ch.Next == nil {
			return nil
		}
		next := ch.Next
		var add []scim.Member
		var remove []string
		if ch.Members && typ == scim.GroupResource {
			if add, remove, err = effectiveMemberChange(ctx, tx, conn, id, ch.Add, ch.Remove); err != nil {
				return err
			}
		}
		same, attrs := sameOwnAttributes(cur, next)
		if len(add) == 0 && len(remove) == 0 && same {
			return nil // nothing changes: the version stays
		}
		if err := checkMembers(ctx, tx, conn, add); err != nil {
			return err
		}
		if err := replaceOwn(ctx, tx, next, read, attrs); err != nil {
			return err
		}
		if err := addMembers(ctx, tx, conn, id, add); err != nil {
			return err
		}
		if err := removeMembers(ctx, tx, conn, id, remove); err != nil {
			return err
		}
		if err := recordUpdate(ctx, tx, cur, next, add, remove); err != nil {
			return err
		}
		written := *next
		written.Members = nil
		if typ == scim.UserResource {
			written.Groups = groups
		} else if err := fillRelations(ctx, tx, conn, typ, []*scim.Resource{&written}, withMembers); err != nil {
			return err
		}
		out = &written
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// PatchMembers implements scim.Store: one write transaction, no version
// precondition; the version moves only when the membership does.
func (s *Store) PatchMembers(ctx context.Context, conn scim.Connection, groupID string, add []scim.Member, remove []string, at time.Time) (version int64, err error) {
	err = s.write(ctx, func(tx *sql.Tx) error {
		var externalID string
		err := tx.QueryRowContext(ctx, `SELECT version, external_id FROM resources WHERE `+liveResource+` AND id = ?`,
			conn.Tenant, conn.SSO, string(scim.GroupResource), groupID).Scan(&version, &externalID)
		if errors.Is(err, sql.ErrNoRows) {
			return scim.NotFoundError(scim.GroupResource, groupID)
		}
		if err != nil {
			return fmt.Errorf("patch members of group %s/%s: %w", conn, groupID, err)
		}
		add, remove, err := effectiveMemberChange(ctx, tx, conn, groupID, add, remove)
		if err != nil {
			return err
		}
		if len(add) == 0 && len(remove) == 0 {
			return nil
		}
		if err := checkMembers(ctx, tx, conn, add); err != nil {
			return err
		}
		if err := addMembers(ctx, tx, conn, groupID, add); err != nil {
			return err
		}
		if err := removeMembers(ctx, tx, conn, groupID, remove); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE resources SET version = version + 1, last_modified = ? WHERE `+liveResource+` AND id = ?`,
			formatTime(at), conn.Tenant, conn.SSO, string(scim.GroupResource), groupID); err != nil {
			return fmt.Errorf("patch members of group %s/%s: %w", conn, groupID, err)
		}
		version++
		// Its records, at the version the change produced, in the same transaction.
		group := &scim.Resource{Conn: conn, Type: scim.GroupResource, ID: groupID, ExternalID: externalID, Version: version, LastModified: at}
		return recordMembers(ctx, tx, group, add, remove)
	})
	if err != nil {
		return 0, err
	}
	return version, nil
}

// effectiveMemberChange reduces add and remove to what changes the group:
// an id in both is only removed (removals come after additions), a member
// already present is not added again unless a new display is sent, and a
// non-member is not removed.
func effectiveMemberChange(ctx context.Context, tx *sql.Tx, conn scim.Connection, groupID string, add []scim.Member, remove []string) ([]scim.Member, []string, error) {
	removing := map[string]bool{}
	for _, id := range remove {
		removing[id] = true
	}
	ids := slices.Clone(remove)
	for _, m := range add {
		ids = append(ids, m.Value)
	}
	if len(ids) == 0 {
		return nil, nil, nil
	}
	idList, err := json.Marshal(ids)
	if err != nil {
		return nil, nil, fmt.Errorf("encode member ids: %w", err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT user_id, display FROM members
WHERE tenant = ? AND sso = ? AND group_id = ? AND user_id IN (SELECT value FROM json_each(?))`,
		conn.Tenant, conn.SSO, groupID, string(idList))
	if err != nil {
		return nil, nil, fmt.Errorf("read members of group %s/%s: %w", conn, groupID, err)
	}
	defer rows.Close()
	present := map[string]string{}
	for rows.Next() {
		var id, display string
		if err := rows.Scan(&id, &display); err != nil {
			return nil, nil, fmt.Errorf("read members of group %s/%s: %w", conn, groupID, err)
		}
		present[id] = display
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("read members of group %s/%s: %w", conn, groupID, err)
	}
	var effAdd []scim.Member
	last := map[string]int{}
	for _, m := range add {
		if removing[m.Value] {
			continue
		}
		if display, ok := present[m.Value]; ok && (m.Display == "" || m.Display == display) {
			continue
		}
		if i, ok := last[m.Value]; ok {
			effAdd[i] = m
			continue
		}
		last[m.Value] = len(effAdd)
		effAdd = append(effAdd, m)
	}
	var effRemove []string
	seen := map[string]bool{}
	for _, id := range remove {
		if _, ok := present[id]; ok && !seen[id] {
			seen[id] = true
			effRemove = append(effRemove, id)
		}
	}
	return effAdd, effRemove, nil
}

// sameOwnAttributes reports whether next stores exactly what cur does. It
// also returns next's attributes as they are written (nil if they do not
// encode), so that the write does not encode them a second time.
func sameOwnAttributes(cur, next *scim.Resource) (bool, []byte) {
	b, err := json.Marshal(next.Attributes)
	if err != nil {
		return false, nil
	}
	if cur.Name != next.Name || cur.ExternalID != next.ExternalID || cur.Active != next.Active {
		return false, b
	}
	a, err := json.Marshal(cur.Attributes)
	return err == nil && string(a) == string(b), b
}

// Replace implements scim.Store. Memberships are left as they are: members
// change only through ModifyMembers, and a user's groups are derived.
func (s *Store) Replace(ctx context.Context, r *scim.Resource, prevVersion int64) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		if err := replaceOwn(ctx, tx, r, &scim.Resource{Version: prevVersion}, nil); err != nil {
			return err
		}
		return recordReplace(ctx, tx, r)
	})
}

// replaceOwn overwrites the resource's own attributes if it is live at
// prev.Version. prev is what the caller read of it: when its name and
// externalId are those of r, they are left out of the UPDATE, so that SQLite
// leaves the two unique indexes on them alone (an index is rewritten for
// every row whose UPDATE assigns one of its columns, changed or not;
// https://www.sqlite.org/lang_update.html). A prev carrying only the
// version always writes them. attrs is r.Attributes encoded, when the caller
// has them already; nil encodes them here.
func replaceOwn(ctx context.Context, tx *sql.Tx, r *scim.Resource, prev *scim.Resource, attrs []byte) error {
	var err error
	if attrs == nil {
		if attrs, err = json.Marshal(r.Attributes); err != nil {
			return fmt.Errorf("replace %s: encode attributes: %w", r, err)
		}
	}
	var res sql.Result
	if prev.ID == r.ID && prev.Name == r.Name && prev.ExternalID == r.ExternalID {
		res, err = tx.ExecContext(ctx, `
UPDATE resources
SET active = ?, version = ?, last_modified = ?, attributes = ?
WHERE `+liveResource+` AND id = ? AND version = ?`,
			r.Active, r.Version, formatTime(r.LastModified), string(attrs),
			r.Conn.Tenant, r.Conn.SSO, string(r.Type), r.ID, prev.Version)
	} else {
		res, err = tx.ExecContext(ctx, `
UPDATE resources
SET name = ?, name_key = ?, external_id = ?, active = ?, version = ?, last_modified = ?, attributes = ?
WHERE `+liveResource+` AND id = ? AND version = ?`,
			r.Name, scim.NameKey(r.Type, r.Name), r.ExternalID, r.Active, r.Version, formatTime(r.LastModified), string(attrs),
			r.Conn.Tenant, r.Conn.SSO, string(r.Type), r.ID, prev.Version)
	}
	if isUniqueViolation(err) {
		return uniquenessError(ctx, tx, r, err)
	}
	if err != nil {
		return fmt.Errorf("replace %s: %w", r, err)
	}
	return requireOneRow(ctx, tx, res, r.Conn, r.Type, r.ID)
}

// Delete implements scim.Store.
func (s *Store) Delete(ctx context.Context, conn scim.Connection, typ scim.ResourceType, id string, prevVersion int64, at time.Time) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		var last *scim.Resource
		if scim.JournalFrom(ctx) != nil {
			var err error
			if last, err = liveIn(ctx, tx, conn, typ, id); err != nil {
				return err
			}
		}
		res, err := tx.ExecContext(ctx, `UPDATE resources SET deleted_at = ? WHERE `+liveResource+` AND id = ? AND version = ?`,
			formatTime(at), conn.Tenant, conn.SSO, string(typ), id, prevVersion)
		if err != nil {
			return fmt.Errorf("delete %s %s/%s: %w", typ, conn, id, err)
		}
		if err := requireOneRow(ctx, tx, res, conn, typ, id); err != nil {
			return err
		}
		// Memberships exist only between live resources.
		side := "user_id"
		if typ == scim.GroupResource {
			side = "group_id"
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM members WHERE tenant = ? AND sso = ? AND `+side+` = ?`,
			conn.Tenant, conn.SSO, id); err != nil {
			return fmt.Errorf("delete memberships of %s %s/%s: %w", typ, conn, id, err)
		}
		if last == nil {
			return nil
		}
		return recordDelete(ctx, tx, last, at)
	})
}

// ModifyMembers implements scim.Store.
func (s *Store) ModifyMembers(ctx context.Context, group *scim.Resource, prevVersion int64, add []scim.Member, remove []string) error {
	if group.Type != scim.GroupResource {
		return fmt.Errorf("modify members of %s: not a group", group)
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		// Version first: a client working from a stale group must learn
		// that before anything about the members it sent.
		var version int64
		err := tx.QueryRowContext(ctx, `SELECT version FROM resources WHERE `+liveResource+` AND id = ?`,
			group.Conn.Tenant, group.Conn.SSO, string(group.Type), group.ID).Scan(&version)
		if errors.Is(err, sql.ErrNoRows) {
			return scim.NotFoundError(group.Type, group.ID)
		}
		if err != nil {
			return fmt.Errorf("modify members of %s: %w", group, err)
		}
		if version != prevVersion {
			return scim.VersionConflictError(group.Type, group.ID)
		}
		if err := checkMembers(ctx, tx, group.Conn, add); err != nil {
			return err
		}
		added, removed, err := effectiveMemberChange(ctx, tx, group.Conn, group.ID, add, remove)
		if err != nil {
			return err
		}
		if err := replaceOwn(ctx, tx, group, &scim.Resource{Version: prevVersion}, nil); err != nil {
			return err
		}
		if err := addMembers(ctx, tx, group.Conn, group.ID, add); err != nil {
			return err
		}
		if err := removeMembers(ctx, tx, group.Conn, group.ID, remove); err != nil {
			return err
		}
		if err := recordReplace(ctx, tx, group); err != nil {
			return err
		}
		return recordMembers(ctx, tx, group, added, removed)
	})
}

// List implements scim.Store.
func (s *Store) List(ctx context.Context, conn scim.Connection, typ scim.ResourceType, opts scim.ListOptions) (*scim.ListResult, error) {
	limit, offset := max(opts.Limit, 0), max(opts.Offset, 0)
	result := &scim.ListResult{Resources: []*scim.Resource{}}
	err := s.read(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM resources WHERE `+liveResource,
			conn.Tenant, conn.SSO, string(typ)).Scan(&result.Total); err != nil {
			return fmt.Errorf("count %s in %s: %w", typ, conn, err)
		}
		// One row beyond the page tells whether more follow. Ids are never
		// empty, so "id > ''" starts at the beginning.
		rows, err := tx.QueryContext(ctx, `SELECT `+resourceColumns+` FROM resources WHERE `+liveResource+` AND id > ?
ORDER BY id LIMIT ? OFFSET ?`,
			conn.Tenant, conn.SSO, string(typ), opts.After, limit+1, offset)
		if err != nil {
			return fmt.Errorf("list %s in %s: %w", typ, conn, err)
		}
		defer rows.Close()
		for rows.Next() {
			r, err := scanResource(rows, conn, typ)
			if err != nil {
				return fmt.Errorf("list %s in %s: %w", typ, conn, err)
			}
			if len(result.Resources) == limit {
				result.More = true
				break
			}
			result.Resources = append(result.Resources, r)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("list %s in %s: %w", typ, conn, err)
		}
		rows.Close()
		return fillRelations(ctx, tx, conn, typ, result.Resources, opts.WithMembers)
	})
	if err != nil {
		return nil, err
	}
	return result, nil
}

// scanner is what *sql.Row and *sql.Rows have in common.
type scanner interface{ Scan(dest ...any) error }

func scanResource(row scanner, conn scim.Connection, typ scim.ResourceType) (*scim.Resource, error) {
	r := &scim.Resource{Conn: conn, Type: typ}
	var created, lastModified, attrs string
	if err := row.Scan(&r.ID, &r.Name, &r.ExternalID, &r.Active, &r.Version, &created, &lastModified, &attrs); err != nil {
		return nil, err
	}
	var err error
	if r.Created, err = parseTime(created); err != nil {
		return nil, err
	}
	if r.LastModified, err = parseTime(lastModified); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(attrs), &r.Attributes); err != nil {
		return nil, fmt.Errorf("decode attributes of %s: %w", r, err)
	}
	return r, nil
}

// fillRelations sets Groups on users (always) and Members on groups (when
// asked), with one query for all of rs however many there are.
func fillRelations(ctx context.Context, tx *sql.Tx, conn scim.Connection, typ scim.ResourceType, rs []*scim.Resource, withMembers bool) error {
	if len(rs) == 0 || (typ == scim.GroupResource && !withMembers) {
		return nil
	}
	byID := make(map[string]*scim.Resource, len(rs))
	ids := make([]string, 0, len(rs))
	for _, r := range rs {
		byID[r.ID] = r
		ids = append(ids, r.ID)
		if typ == scim.UserResource {
			r.Groups = []string{}
		} else {
			r.Members = []scim.Member{}
		}
	}
	// A single user's id (GET, and every write's read of the current state)
	// is compared directly. The ids of a page travel as one JSON array
	// parameter, so the query is the same for a page of two and a page of a
	// thousand, and never hits SQLite's bound-parameter limit.
	var query string
	args := []any{conn.Tenant, conn.SSO, nil}
	if typ == scim.UserResource && len(ids) == 1 {
		// INDEXED BY: without statistics the planner would rather walk the
		// connection's whole primary key in group order than sort the
		// user's few rows (EXPLAIN QUERY PLAN); the index gives both.
		query = `SELECT user_id, group_id, display FROM members INDEXED BY members_by_user
WHERE tenant = ? AND sso = ? AND user_id = ? ORDER BY group_id`
		args[2] = ids[0]
	} else {
		idList, err := json.Marshal(ids)
		if err != nil {
			return fmt.Errorf("encode ids: %w", err)
		}
		args[2] = string(idList)
		query = `SELECT user_id, group_id, display FROM members
WHERE tenant = ? AND sso = ? AND user_id IN (SELECT value FROM json_each(?)) ORDER BY user_id, group_id`
		if typ == scim.GroupResource {
			// At most scim.MaxGroupMembers+1 members of each group, so that
			// a group read stays bounded whatever the group's size.
			query = `SELECT user_id, group_id, display FROM (
  SELECT user_id, group_id, display, ROW_NUMBER() OVER (PARTITION BY group_id ORDER BY user_id) AS n FROM members
  WHERE tenant = ? AND sso = ? AND group_id IN (SELECT value FROM json_each(?)))
WHERE n <= ? ORDER BY group_id, user_id`
			args = append(args, scim.MaxGroupMembers+1)
		}
	}
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("read memberships in %s: %w", conn, err)
	}
	defer rows.Close()
	for rows.Next() {
		var userID, groupID, display string
		if err := rows.Scan(&userID, &groupID, &display); err != nil {
			return fmt.Errorf("read memberships in %s: %w", conn, err)
		}
		if typ == scim.UserResource {
			byID[userID].Groups = append(byID[userID].Groups, groupID)
		} else {
			byID[groupID].Members = append(byID[groupID].Members, scim.Member{Value: userID, Display: display})
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read memberships in %s: %w", conn, err)
	}
	return nil
}

// checkMembers fails with scim.UnknownMemberError naming the first of
// members that is not a live user of conn (a deleted user, a group, a user of
// another connection or a made-up id).
func checkMembers(ctx context.Context, tx *sql.Tx, conn scim.Connection, members []scim.Member) error {
	if len(members) == 0 {
		return nil
	}
	ids := make([]string, 0, len(members))
	for _, m := range members {
		ids = append(ids, m.Value)
	}
	idList, err := json.Marshal(ids)
	if err != nil {
		return fmt.Errorf("encode member ids: %w", err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT id FROM resources WHERE `+liveResource+`
AND id IN (SELECT value FROM json_each(?))`, conn.Tenant, conn.SSO, string(scim.UserResource), string(idList))
	if err != nil {
		return fmt.Errorf("check members in %s: %w", conn, err)
	}
	defer rows.Close()
	live := make(map[string]bool, len(ids))
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return fmt.Errorf("check members in %s: %w", conn, err)
		}
		live[id] = true
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("check members in %s: %w", conn, err)
	}
	if i := slices.IndexFunc(ids, func(id string) bool { return !live[id] }); i >= 0 {
		return scim.UnknownMemberError(ids[i])
	}
	return nil
}

// addMembers adds members to the group; a member already there keeps its
// membership and takes the new display if one was sent.
func addMembers(ctx context.Context, tx *sql.Tx, conn scim.Connection, groupID string, members []scim.Member) error {
	if len(members) == 0 {
		return nil
	}
	stmt, err := tx.PrepareContext(ctx, `
INSERT INTO members (tenant, sso, group_id, user_id, display) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (tenant, sso, group_id, user_id) DO UPDATE SET display = excluded.display WHERE excluded.display <> ''`)
	if err != nil {
		return fmt.Errorf("add members to group %s/%s: %w", conn, groupID, err)
	}
	defer stmt.Close()
	for _, m := range members {
		if _, err := stmt.ExecContext(ctx, conn.Tenant, conn.SSO, groupID, m.Value, m.Display); err != nil {
			return fmt.Errorf("add member %s to group %s/%s: %w", m.Value, conn, groupID, err)
		}
	}
	return nil
}

// removeMembers removes the users from the group; ids that are not members are ignored.
func removeMembers(ctx context.Context, tx *sql.Tx, conn scim.Connection, groupID string, userIDs []string) error {
	if len(userIDs) == 0 {
		return nil
	}
	idList, err := json.Marshal(userIDs)
	if err != nil {
		return fmt.Errorf("encode member ids: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM members
WHERE tenant = ? AND sso = ? AND group_id = ? AND user_id IN (SELECT value FROM json_each(?))`,
		conn.Tenant, conn.SSO, groupID, string(idList)); err != nil {
		return fmt.Errorf("remove members from group %s/%s: %w", conn, groupID, err)
	}
	return nil
}

// requireOneRow turns a conditional update that matched nothing into the
// client's error: the resource is gone (ENotFound) or was changed since the
// client read it (EConflict).
func requireOneRow(ctx context.Context, tx *sql.Tx, res sql.Result, conn scim.Connection, typ scim.ResourceType, id string) error {
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("update %s %s/%s: %w", typ, conn, id, err)
	}
	if n == 1 {
		return nil
	}
	var live bool
	if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM resources WHERE `+liveResource+` AND id = ?)`,
		conn.Tenant, conn.SSO, string(typ), id).Scan(&live); err != nil {
		return fmt.Errorf("check %s %s/%s: %w", typ, conn, id, err)
	}
	if live {
		return scim.VersionConflictError(typ, id)
	}
	return scim.NotFoundError(typ, id)
}

func isUniqueViolation(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE
}

// uniquenessError names the attribute whose unique index refused r. The index
// is the guard; this lookup, in the same transaction, only tells the client
// which of its values is taken.
func uniquenessError(ctx context.Context, tx *sql.Tx, r *scim.Resource, cause error) error {
	taken := func(column, key string) (bool, error) {
		var exists bool
		err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM resources WHERE `+liveResource+` AND `+column+` = ? AND id <> ?)`,
			r.Conn.Tenant, r.Conn.SSO, string(r.Type), key, r.ID).Scan(&exists)
		return exists, err
	}
	nameTaken, err := taken("name_key", scim.NameKey(r.Type, r.Name))
	if err != nil {
		return fmt.Errorf("store %s: %w (while naming the conflict of: %v)", r, err, cause)
	}
	if nameTaken {
		return scim.UniquenessError(r.Type, scim.UniqueAttrName(r.Type), r.Name)
	}
	if r.ExternalID != "" {
		extTaken, err := taken("external_id", r.ExternalID)
		if err != nil {
			return fmt.Errorf("store %s: %w (while naming the conflict of: %v)", r, err, cause)
		}
		if extTaken {
			return scim.UniquenessError(r.Type, "externalId", r.ExternalID)
		}
	}
	return fmt.Errorf("store %s: %w", r, cause)
}
