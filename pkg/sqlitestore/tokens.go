package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/scimgate/scimgate/pkg/auth"
	"github.com/scimgate/scimgate/pkg/scim"
)

var _ auth.TokenStore = (*Store)(nil)

// CreateToken implements auth.TokenStore: it stores the token's hash and
// creates its connection on first use, in one transaction.
func (s *Store) CreateToken(ctx context.Context, t auth.Token) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO connections (tenant, sso, created) VALUES (?, ?, ?)
ON CONFLICT (tenant, sso) DO NOTHING`, t.Conn.Tenant, t.Conn.SSO, formatTime(t.Created)); err != nil {
			return fmt.Errorf("create connection %s: %w", t.Conn, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO tokens (hash, tenant, sso, created) VALUES (?, ?, ?, ?)`,
			t.Hash, t.Conn.Tenant, t.Conn.SSO, formatTime(t.Created)); err != nil {
			return fmt.Errorf("create token for %s: %w", t.Conn, err)
		}
		return nil
	})
}

// FindToken implements auth.TokenStore.
func (s *Store) FindToken(ctx context.Context, hash string) (*auth.Token, error) {
	t := &auth.Token{Hash: hash}
	var created string
	err := s.reader.QueryRowContext(ctx, `SELECT tenant, sso, created FROM tokens WHERE hash = ?`, hash).
		Scan(&t.Conn.Tenant, &t.Conn.SSO, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, scim.Errorf(scim.ENotFound, "token not found")
	}
	if err != nil {
		return nil, fmt.Errorf("find token: %w", err)
	}
	if t.Created, err = parseTime(created); err != nil {
		return nil, fmt.Errorf("find token: %w", err)
	}
	return t, nil
}
