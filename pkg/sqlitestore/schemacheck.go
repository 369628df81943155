package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// SchemaIssue is an index of the schema found missing or altered when the
// file was opened, and what was done about it. The unique indexes are what
// enforces userName, displayName and externalId uniqueness on this store: a
// dropped one would let duplicates in without an error.
type SchemaIssue struct {
	Index   string `json:"index"`
	Problem string `json:"problem"` // "missing" or "altered" (its definition differs from the schema's)
	// Repaired: the index was recreated from the schema.
	Repaired bool `json:"repaired"`
	// Error says why it could not be recreated (live rows that already
	// violate the unique index): `scimgate check` lists them as duplicate-key.
	Error string `json:"error,omitempty"`
}

// createIndex finds the CREATE INDEX statements of the migrations: the
// schema's own definitions are what an index is compared with and recreated from.
var createIndex = regexp.MustCompile(`(?s)CREATE (?:UNIQUE )?INDEX (\w+)\s.*?;`)

// schemaIndexes returns each index of the current schema with its
// definition as SQLite keeps it in sqlite_master.sql (without the semicolon).
func schemaIndexes() (names []string, defs map[string]string) {
	defs = map[string]string{}
	for _, step := range migrations() {
		for _, m := range createIndex.FindAllStringSubmatch(step, -1) {
			if _, seen := defs[m[1]]; !seen {
				names = append(names, m[1])
			}
			defs[m[1]] = strings.TrimSuffix(m[0], ";")
		}
	}
	return names, defs
}

func normaliseSQL(s string) string { return strings.Join(strings.Fields(s), " ") }

// SchemaIssues is what Open found wrong with the schema's indexes and did.
func (s *Store) SchemaIssues() []SchemaIssue { return s.schemaIssues }

// verifyIndexes compares every index with the schema's definition and
// recreates those that are missing or differ. Each is its own transaction,
// so that one that cannot be recreated (duplicates already present) does not
// keep the others from being repaired.
func (s *Store) verifyIndexes(ctx context.Context) ([]SchemaIssue, error) {
	names, defs := schemaIndexes()
	var issues []SchemaIssue
	for _, name := range names {
		var stored sql.NullString
		err := s.writer.QueryRowContext(ctx, `SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?`, name).Scan(&stored)
		issue := SchemaIssue{Index: name}
		switch {
		case errors.Is(err, sql.ErrNoRows):
			issue.Problem = "missing"
		case err != nil:
			return nil, fmt.Errorf("read index %s: %w", name, err)
		case normaliseSQL(stored.String) != normaliseSQL(defs[name]):
			issue.Problem = "altered"
		default:
			continue
		}
		err = s.write(ctx, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, `DROP INDEX IF EXISTS `+name); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, defs[name])
			return err
		})
		if err != nil {
			issue.Error = err.Error()
		} else {
			issue.Repaired = true
		}
		issues = append(issues, issue)
	}
	return issues, nil
}
