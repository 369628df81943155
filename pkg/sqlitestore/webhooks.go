package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/scimgate/scimgate/pkg/scim"
	"github.com/scimgate/scimgate/pkg/webhooks"
)

// webhooksSchema keeps webhooks.Item rows: one table, keyed by partition
// and key, so that a prefix range is one index range.
const webhooksSchema = `
CREATE TABLE webhook_items (
	partition TEXT NOT NULL,
	key       TEXT NOT NULL,
	body      BLOB NOT NULL,
	expires   TEXT NOT NULL DEFAULT '', -- formatTime, '' for never
	PRIMARY KEY (partition, key)
) WITHOUT ROWID;
`

var _ webhooks.Store = (*Store)(nil)

// PutWebhookItem implements webhooks.Store.
func (s *Store) PutWebhookItem(ctx context.Context, partition string, item webhooks.Item) error {
	expires := ""
	if !item.Expires.IsZero() {
		expires = formatTime(item.Expires)
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `
INSERT INTO webhook_items (partition, key, body, expires) VALUES (?, ?, ?, ?)
ON CONFLICT (partition, key) DO UPDATE SET body = excluded.body, expires = excluded.expires`, partition, item.Key, item.Body, expires)
		return err
	})
	if err != nil {
		return fmt.Errorf("put webhook item %s %s: %w", partition, item.Key, err)
	}
	return nil
}

// GetWebhookItem implements webhooks.Store.
func (s *Store) GetWebhookItem(ctx context.Context, partition, key string) (webhooks.Item, error) {
	it := webhooks.Item{Key: key}
	var expires string
	err := s.read(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, `SELECT body, expires FROM webhook_items WHERE partition = ? AND key = ?`, partition, key).Scan(&it.Body, &expires)
	})
	if errors.Is(err, sql.ErrNoRows) {
		return it, scim.Errorf(scim.ENotFound, "webhook item %s not found", key)
	}
	if err != nil {
		return it, fmt.Errorf("get webhook item %s %s: %w", partition, key, err)
	}
	it.Expires, err = parseExpires(expires)
	return it, err
}

func parseExpires(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := parseTime(s)
	if err != nil {
		return t, fmt.Errorf("webhook item expiry %q: %w", s, err)
	}
	return t, nil
}

// ListWebhookItems implements webhooks.Store.
func (s *Store) ListWebhookItems(ctx context.Context, partition, prefix, after string, limit int) ([]webhooks.Item, error) {
	var out []webhooks.Item
	lo := max(after, prefix)
	err := s.read(ctx, func(tx *sql.Tx) error {
		// key > lo, or key = prefix itself when nothing was passed yet.
		rows, err := tx.QueryContext(ctx, `
SELECT key, body, expires FROM webhook_items
WHERE partition = ? AND (key > ? OR (key = ? AND ? = '')) ORDER BY key LIMIT ?`, partition, lo, prefix, after, limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var it webhooks.Item
			var expires string
			if err := rows.Scan(&it.Key, &it.Body, &expires); err != nil {
				return err
			}
			if !strings.HasPrefix(it.Key, prefix) {
				break
			}
			if it.Expires, err = parseExpires(expires); err != nil {
				return err
			}
			out = append(out, it)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("list webhook items %s %s: %w", partition, prefix, err)
	}
	return out, nil
}

// DeleteWebhookItem implements webhooks.Store.
func (s *Store) DeleteWebhookItem(ctx context.Context, partition, key string) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM webhook_items WHERE partition = ? AND key = ?`, partition, key)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete webhook item %s %s: %w", partition, key, err)
	}
	return nil
}
