package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/scimgate/scimgate/pkg/auth"
	"github.com/scimgate/scimgate/pkg/changes"
	"github.com/scimgate/scimgate/pkg/scim"
)

var _ auth.ExtensionPolicyStore = (*Store)(nil)

// SetUnknownExtensions implements auth.ExtensionPolicyStore: one UPDATE of
// the connection row. No change record: the policy is configuration of the
// connection, not a change of its resources.
func (s *Store) SetUnknownExtensions(ctx context.Context, conn scim.Connection, policy scim.ExtensionPolicy) error {
	if !policy.Valid() {
		return scim.Errorf(scim.EInvalidValue, "unknown_extensions must be %q, %q or %q", scim.ExtensionsStore, scim.ExtensionsReject, scim.ExtensionsIgnore)
	}
	return s.updateLiveConnection(ctx, conn, `unknown_extensions = ?`, string(policy), func(*auth.Journal, *auth.ConnectionRecord, *auth.ConnectionRecord) ([]changes.Record, error) {
		return nil, nil
	})
}

var (
	_ auth.DeclaredSchemaStore = (*Store)(nil)
	_ auth.DefaultSchemaStore  = (*Store)(nil)
)

// declaredSchemasSchema is migration step 9. A connection's declaration is
// a column of its row, which FindToken reads with the token. The default
// declaration is one row of a key-value settings table rather than a table
// of its own: it is one value for the whole deployment.
const declaredSchemasSchema = `
ALTER TABLE connections ADD COLUMN declared_schemas TEXT NOT NULL DEFAULT '';

CREATE TABLE settings (
	name  TEXT NOT NULL PRIMARY KEY,
	value TEXT NOT NULL
) WITHOUT ROWID;
`

// settingDefaultSchemas names the settings row of the default declaration.
const settingDefaultSchemas = "default_schemas"

// SetDeclaredSchemas implements auth.DeclaredSchemaStore: one UPDATE of
// the connection row. As for the policy, no change record: the declaration
// configures the connection and changes none of its resources.
func (s *Store) SetDeclaredSchemas(ctx context.Context, conn scim.Connection, canonical string) error {
	if canonical == "[]" {
		canonical = ""
	}
	return s.updateLiveConnection(ctx, conn, `declared_schemas = ?`, canonical, func(*auth.Journal, *auth.ConnectionRecord, *auth.ConnectionRecord) ([]changes.Record, error) {
		return nil, nil
	})
}

// DefaultSchemas implements auth.DefaultSchemaStore: one read of the
// settings row; "" when it was never set.
func (s *Store) DefaultSchemas(ctx context.Context) (string, error) {
	var v string
	err := s.reader.QueryRowContext(ctx, `SELECT value FROM settings WHERE name = ?`, settingDefaultSchemas).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read default schemas: %w", err)
	}
	return v, nil
}

// SetDefaultSchemas implements auth.DefaultSchemaStore: one upsert (or,
// to clear it, one delete) of the settings row.
func (s *Store) SetDefaultSchemas(ctx context.Context, canonical string) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		var err error
		if canonical == "" || canonical == "[]" {
			_, err = tx.ExecContext(ctx, `DELETE FROM settings WHERE name = ?`, settingDefaultSchemas)
		} else {
			_, err = tx.ExecContext(ctx, `INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value`,
				settingDefaultSchemas, canonical)
		}
		if err != nil {
			return fmt.Errorf("set default schemas: %w", err)
		}
		return nil
	})
}
