package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/scimgate/scimgate/pkg/scim"
)

// migrations returns the schema steps: step i takes the schema from version
// i to version i+1, the version being SQLite's user_version header field
// (https://www.sqlite.org/pragma.html#pragma_user_version). Only ever append:
// a released step must never change, because files already migrated by it
// will not run it again.
func migrations() []string {
	return []string{
		// 1: the initial schema.
		`
CREATE TABLE resources (
	tenant        TEXT    NOT NULL,
	sso           TEXT    NOT NULL,
	type          TEXT    NOT NULL CHECK (type IN ('User', 'Group')),
	id            TEXT    NOT NULL,
	name          TEXT    NOT NULL,
	name_key      TEXT    NOT NULL, -- scim.NameKey(name): userName/displayName are caseExact=false (RFC 7643 §4.1.1)
	external_id   TEXT    NOT NULL DEFAULT '',
	active        INTEGER NOT NULL,
	version       INTEGER NOT NULL,
	created       TEXT    NOT NULL,
	last_modified TEXT    NOT NULL,
	attributes    TEXT    NOT NULL, -- JSON object
	deleted_at    TEXT,             -- set by a soft delete; the row is kept for audit
	PRIMARY KEY (tenant, sso, type, id)
) WITHOUT ROWID;

-- Uniqueness holds among live resources only, so a deleted resource frees its
-- name and externalId for a new one.
CREATE UNIQUE INDEX resources_live_name
	ON resources (tenant, sso, type, name_key) WHERE deleted_at IS NULL;
CREATE UNIQUE INDEX resources_live_external_id
	ON resources (tenant, sso, type, external_id) WHERE deleted_at IS NULL AND external_id <> '';

-- Memberships reference live resources only: deleting either side removes the
-- row. The constant type columns let the foreign keys name the user and the
-- group by the resources primary key, so a membership can never point at a
-- resource of another connection or of the wrong type.
CREATE TABLE members (
	tenant     TEXT NOT NULL,
	sso        TEXT NOT NULL,
	group_id   TEXT NOT NULL,
	user_id    TEXT NOT NULL,
	display    TEXT NOT NULL DEFAULT '',
	group_type TEXT NOT NULL DEFAULT 'Group' CHECK (group_type = 'Group'),
	user_type  TEXT NOT NULL DEFAULT 'User' CHECK (user_type = 'User'),
	PRIMARY KEY (tenant, sso, group_id, user_id),
	FOREIGN KEY (tenant, sso, group_type, group_id) REFERENCES resources (tenant, sso, type, id),
	FOREIGN KEY (tenant, sso, user_type, user_id) REFERENCES resources (tenant, sso, type, id)
) WITHOUT ROWID;

-- A user's groups attribute is read on every user Get and List.
CREATE INDEX members_by_user ON members (tenant, sso, user_id, group_id);

CREATE TABLE connections (
	tenant  TEXT NOT NULL,
	sso     TEXT NOT NULL,
	created TEXT NOT NULL,
	PRIMARY KEY (tenant, sso)
) WITHOUT ROWID;

CREATE TABLE tokens (
	hash    TEXT NOT NULL PRIMARY KEY, -- hex SHA-256 of the secret; the secret is never stored
	tenant  TEXT NOT NULL,
	sso     TEXT NOT NULL,
	created TEXT NOT NULL,
	FOREIGN KEY (tenant, sso) REFERENCES connections (tenant, sso)
) WITHOUT ROWID;
`,
		// 2: the connection and token lifecycle. Tokens stored before get
		// their public id from their hash, as new ones do (auth.TokenID).
		`
ALTER TABLE connections ADD COLUMN name TEXT NOT NULL DEFAULT '';
ALTER TABLE connections ADD COLUMN state TEXT NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'disabled'));
ALTER TABLE connections ADD COLUMN deleted_at TEXT; -- set by a delete; the data is kept until a purge

ALTER TABLE tokens ADD COLUMN id TEXT NOT NULL DEFAULT '';
UPDATE tokens SET id = substr(hash, 1, 12);
ALTER TABLE tokens ADD COLUMN expires TEXT;
ALTER TABLE tokens ADD COLUMN description TEXT NOT NULL DEFAULT '';
ALTER TABLE tokens ADD COLUMN last_used TEXT;
ALTER TABLE tokens ADD COLUMN revoked TEXT;

-- A connection's tokens are listed and addressed by public id.
CREATE UNIQUE INDEX tokens_by_connection ON tokens (tenant, sso, id);
`,
		// 3: name_key becomes scim.NameKey's PRECIS key (RFC 8265 for
		// userName, RFC 8266 for a group's displayName) instead of
		// strings.ToLower; rekeyNames (Go, after this step) recomputes it.
		`-- name_key recomputed by rekeyNames`,
		// 4: the change feed (changes.go).
		changesSchema,
		// 5: sync health buckets (health.go).
		healthSchema,
		// 6: the IdP link of a connection and its last reconcile report
		// (idplinks.go). The link names secrets by reference, never holds one.
		idpLinksSchema,
		// 7: webhook endpoints, positions, dead letters and log (webhooks.go).
		webhooksSchema,
		// 8: a connection's policy for undeclared schema extensions
		// (scim.ExtensionPolicy); '' reads as the default, store.
		`ALTER TABLE connections ADD COLUMN unknown_extensions TEXT NOT NULL DEFAULT '';`,
		// 9: a connection's declared extension schemas (canonical JSON of
		// scim.Declaration; '' declares none) and the deployment's settings,
		// of which the platform's default declaration is one row.
		declaredSchemasSchema,
		// 10: the observed schema of each connection (observed.go).
		observedSchema,
	}
}

// afterSteps holds the steps that need Go: afterSteps()[v] runs right
// after the SQL of the step that brings the schema to version v, in the
// same transaction.
func afterSteps() map[int]func(context.Context, *sql.Tx) error {
	return map[int]func(context.Context, *sql.Tx) error{3: rekeyNames}
}

// rekeyNames recomputes every resource's name_key with scim.NameKey. Where
// two live resources of a connection and type now share a key (they differed
// only in width, normalisation or case mapping, e.g. "ａｄａ@x.com" and
// "ada@x.com"), the one whose stored key already is the new one keeps it, or
// else the first created; the others keep their stored key (or, should that
// be taken too, one made of NUL and their id, which no name produces): nothing
// is lost, all stay reachable by id and externalId, and a lookup by the name
// finds the one that kept it. The DynamoDB store's RekeyNames decides alike.
func rekeyNames(ctx context.Context, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, `SELECT tenant, sso, type, id, name, name_key, deleted_at IS NULL FROM resources ORDER BY created, id`)
	if err != nil {
		return fmt.Errorf("read names: %w", err)
	}
	type row struct {
		tenant, sso, typ, id, name, old, key string
		live                                 bool
	}
	var all []*row
	for rows.Next() {
		r := &row{}
		if err := rows.Scan(&r.tenant, &r.sso, &r.typ, &r.id, &r.name, &r.old, &r.live); err != nil {
			rows.Close()
			return fmt.Errorf("read names: %w", err)
		}
		r.key = scim.NameKey(scim.ResourceType(r.typ), r.name)
		all = append(all, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read names: %w", err)
	}
	taken := map[[4]string]bool{}
	claim := func(r *row, key string) bool {
		k := [4]string{r.tenant, r.sso, r.typ, key}
		if taken[k] {
			return false
		}
		taken[k] = true
		r.key = key
		return true
	}
	var changed, losers []*row
	for _, r := range all { // live keys that do not change claim first
		if r.live && r.key == r.old {
			claim(r, r.key)
		}
	}
	for _, r := range all {
		if r.live && r.key != r.old {
			if claim(r, r.key) {
				changed = append(changed, r)
			} else {
				losers = append(losers, r)
			}
		}
	}
	for _, r := range losers {
		if !claim(r, r.old) {
			claim(r, "\x00"+r.id)
		}
		if r.key != r.old {
			changed = append(changed, r)
		}
	}
	for _, r := range all {
		if !r.live && r.key != r.old {
			changed = append(changed, r) // not in the unique index: any key will do
		}
	}
	// Free the live keys that move first, so that the partial unique index
	// never sees two live rows with one key while they are rewritten one by one.
	for _, r := range changed {
		if _, err := tx.ExecContext(ctx, `UPDATE resources SET name_key = char(0) || 'm' || id WHERE tenant = ? AND sso = ? AND type = ? AND id = ?`, r.tenant, r.sso, r.typ, r.id); err != nil {
			return fmt.Errorf("rekey %s %s: %w", r.typ, r.id, err)
		}
	}
	for _, r := range changed {
		if _, err := tx.ExecContext(ctx, `UPDATE resources SET name_key = ? WHERE tenant = ? AND sso = ? AND type = ? AND id = ?`, r.key, r.tenant, r.sso, r.typ, r.id); err != nil {
			return fmt.Errorf("rekey %s %s: %w", r.typ, r.id, err)
		}
	}
	return nil
}

// migrate brings the schema up to date. It runs in one write transaction, so
// two processes opening a new file at the same time migrate it once: the
// second waits for the lock and then finds the schema current.
func (s *Store) migrate(ctx context.Context) error {
	steps := migrations()
	return s.write(ctx, func(tx *sql.Tx) error {
		var version int
		if err := tx.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&version); err != nil {
			return fmt.Errorf("read schema version: %w", err)
		}
		if version > len(steps) {
			return fmt.Errorf("schema version %d is newer than this scimgate supports (%d): upgrade scimgate", version, len(steps))
		}
		for v := version; v < len(steps); v++ {
			if _, err := tx.ExecContext(ctx, steps[v]); err != nil {
				return fmt.Errorf("migrate schema to version %d: %w", v+1, err)
			}
			if after := afterSteps()[v+1]; after != nil {
				if err := after(ctx, tx); err != nil {
					return fmt.Errorf("migrate schema to version %d: %w", v+1, err)
				}
			}
		}
		if version == len(steps) {
			return nil
		}
		// PRAGMA takes no bound parameters; the value is our own integer.
		if _, err := tx.ExecContext(ctx, fmt.Sprintf(`PRAGMA user_version = %d`, len(steps))); err != nil {
			return fmt.Errorf("set schema version: %w", err)
		}
		return nil
	})
}
