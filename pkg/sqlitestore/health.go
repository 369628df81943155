package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/scimgate/scimgate/pkg/health"
	"github.com/scimgate/scimgate/pkg/scim"
)

// healthSchema keeps pkg/health's buckets: one row per connection, hour and
// writing process, its content as health.EncodeBucket's JSON. hour is
// health.HourKey's fixed-width form, so it sorts and compares as text.
const healthSchema = `
CREATE TABLE health (
	tenant   TEXT NOT NULL,
	sso      TEXT NOT NULL,
	hour     TEXT NOT NULL,
	instance TEXT NOT NULL,
	bucket   TEXT NOT NULL,
	PRIMARY KEY (tenant, sso, hour, instance)
) WITHOUT ROWID;
CREATE INDEX health_hour ON health (hour);
`

var _ health.Store = (*Store)(nil)

// PutHealth implements health.Store: every bucket replaced in one
// transaction, and the buckets older than health.Retention before the
// newest one removed (the file has no Time to Live).
func (s *Store) PutHealth(ctx context.Context, buckets []health.Bucket) error {
	if len(buckets) == 0 {
		return nil
	}
	type row struct{ tenant, sso, hour, instance, data string }
	rows := make([]row, 0, len(buckets))
	var newest time.Time
	for _, b := range buckets {
		if err := b.Conn.Validate(); err != nil {
			return fmt.Errorf("put health: %w", err)
		}
		data, err := health.EncodeBucket(b)
		if err != nil {
			return fmt.Errorf("put health: %w", err)
		}
		rows = append(rows, row{b.Conn.Tenant, b.Conn.SSO, health.HourKey(b.Hour), b.Instance, string(data)})
		if b.Hour.After(newest) {
			newest = b.Hour
		}
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		for _, r := range rows {
			if _, err := tx.ExecContext(ctx, `INSERT INTO health (tenant, sso, hour, instance, bucket) VALUES (?, ?, ?, ?, ?)
				ON CONFLICT (tenant, sso, hour, instance) DO UPDATE SET bucket = excluded.bucket`,
				r.tenant, r.sso, r.hour, r.instance, r.data); err != nil {
				return fmt.Errorf("put health: %w", err)
			}
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM health WHERE hour < ?`, health.HourKey(newest.Add(-health.Retention))); err != nil {
			return fmt.Errorf("put health: expire old buckets: %w", err)
		}
		return nil
	})
}

// ListHealth implements health.Store.
func (s *Store) ListHealth(ctx context.Context, conn scim.Connection, since time.Time) ([]health.Bucket, error) {
	if err := conn.Validate(); err != nil {
		return nil, fmt.Errorf("list health: %w", err)
	}
	var out []health.Bucket
	err := s.read(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT hour, instance, bucket FROM health WHERE tenant = ? AND sso = ? AND hour >= ?`,
			conn.Tenant, conn.SSO, health.HourKey(since))
		if err != nil {
			return fmt.Errorf("list health: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var hour, instance, data string
			if err := rows.Scan(&hour, &instance, &data); err != nil {
				return fmt.Errorf("list health: %w", err)
			}
			h, err := time.Parse("2006-01-02T15Z", hour)
			if err != nil {
				return fmt.Errorf("list health: hour %q: %w", hour, err)
			}
			b := health.Bucket{Conn: conn, Hour: h.UTC(), Instance: instance}
			if err := health.DecodeBucket([]byte(data), &b); err != nil {
				return fmt.Errorf("list health: %w", err)
			}
			out = append(out, b)
		}
		return rows.Err()
	})
	return out, err
}
