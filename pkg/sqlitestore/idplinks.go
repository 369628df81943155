package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/scimgate/scimgate/pkg/idp"
	"github.com/scimgate/scimgate/pkg/scim"
)

const idpLinksSchema = `
CREATE TABLE idp_links (
	tenant TEXT NOT NULL,
	sso    TEXT NOT NULL,
	link   TEXT,          -- JSON idp.Link: secret references only
	report TEXT,          -- JSON of the last reconcile report
	PRIMARY KEY (tenant, sso)
) WITHOUT ROWID;
`

func linkNotFound(conn scim.Connection) error {
	return scim.Errorf(scim.ENotFound, "connection %s has no IdP link", conn)
}

// PutIdPLink stores conn's link, replacing any; ENotFound unless conn is live.
func (s *Store) PutIdPLink(ctx context.Context, conn scim.Connection, l idp.Link) error {
	if err := conn.Validate(); err != nil {
		return err
	}
	doc, err := json.Marshal(l)
	if err != nil {
		return fmt.Errorf("encode idp link of %s: %w", conn, err)
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		if _, err := liveConnection(ctx, tx, conn); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO idp_links (tenant, sso, link) VALUES (?, ?, ?)
	ON CONFLICT (tenant, sso) DO UPDATE SET link = excluded.link`, conn.Tenant, conn.SSO, string(doc))
		if err != nil {
			return fmt.Errorf("put idp link of %s: %w", conn, err)
		}
		return nil
	})
}

// GetIdPLink returns conn's link; ENotFound when it has none.
func (s *Store) GetIdPLink(ctx context.Context, conn scim.Connection) (*idp.Link, error) {
	if err := conn.Validate(); err != nil {
		return nil, err
	}
	var doc sql.NullString
	err := s.read(ctx, func(tx *sql.Tx) error {
		if _, err := liveConnection(ctx, tx, conn); err != nil {
			return err
		}
		err := tx.QueryRowContext(ctx, `SELECT link FROM idp_links WHERE tenant = ? AND sso = ?`, conn.Tenant, conn.SSO).Scan(&doc)
		if errors.Is(err, sql.ErrNoRows) {
			return linkNotFound(conn)
		}
		if err != nil {
			return fmt.Errorf("get idp link of %s: %w", conn, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if !doc.Valid {
		return nil, linkNotFound(conn)
	}
	var l idp.Link
	if err := json.Unmarshal([]byte(doc.String), &l); err != nil {
		return nil, fmt.Errorf("decode idp link of %s: %w", conn, err)
	}
	return &l, nil
}

// DeleteIdPLink removes conn's link and its last report; ENotFound when it has none.
func (s *Store) DeleteIdPLink(ctx context.Context, conn scim.Connection) error {
	if err := conn.Validate(); err != nil {
		return err
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM idp_links WHERE tenant = ? AND sso = ? AND link IS NOT NULL`, conn.Tenant, conn.SSO)
		if err != nil {
			return fmt.Errorf("delete idp link of %s: %w", conn, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("delete idp link of %s: %w", conn, err)
		} else if n == 0 {
			return linkNotFound(conn)
		}
		return nil
	})
}

// PutReconcileReport stores conn's last reconcile report (JSON), replacing
// the previous one; ENotFound unless conn is live and linked.
func (s *Store) PutReconcileReport(ctx context.Context, conn scim.Connection, report []byte) error {
	if err := conn.Validate(); err != nil {
		return err
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		if _, err := liveConnection(ctx, tx, conn); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE idp_links SET report = ? WHERE tenant = ? AND sso = ? AND link IS NOT NULL`,
			string(report), conn.Tenant, conn.SSO)
		if err != nil {
			return fmt.Errorf("put reconcile report of %s: %w", conn, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("put reconcile report of %s: %w", conn, err)
		} else if n == 0 {
			return linkNotFound(conn)
		}
		return nil
	})
}

// GetReconcileReport returns conn's last reconcile report; ENotFound when
// there is none.
func (s *Store) GetReconcileReport(ctx context.Context, conn scim.Connection) ([]byte, error) {
	if err := conn.Validate(); err != nil {
		return nil, err
	}
	var doc sql.NullString
	err := s.read(ctx, func(tx *sql.Tx) error {
		if _, err := liveConnection(ctx, tx, conn); err != nil {
			return err
		}
		err := tx.QueryRowContext(ctx, `SELECT report FROM idp_links WHERE tenant = ? AND sso = ?`, conn.Tenant, conn.SSO).Scan(&doc)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("get reconcile report of %s: %w", conn, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if !doc.Valid {
		return nil, scim.Errorf(scim.ENotFound, "connection %s has no reconcile report yet", conn)
	}
	return []byte(doc.String), nil
}
