package sqlitestore

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/scimgate/scimgate/pkg/scim"
)

// TestOpenRecreatesDroppedUniqueIndexes: uniqueness of userName and
// externalId lives in partial unique indexes. One dropped, or replaced by a
// same-named index that is not unique, must be put back when the file is
// opened, and reported, never left to stop uniqueness silently.
func TestOpenRecreatesDroppedUniqueIndexes(t *testing.T) {
	for _, tc := range []struct{ name, tamper, index, problem string }{
		{"dropped", `DROP INDEX resources_live_name`, "resources_live_name", "missing"},
		{"not unique", `DROP INDEX resources_live_name; CREATE INDEX resources_live_name ON resources (tenant, sso, type, name_key)`, "resources_live_name", "altered"},
		{"dropped externalId", `DROP INDEX resources_live_external_id`, "resources_live_external_id", "missing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			path := filepath.Join(t.TempDir(), "scimgate.db")
			s, err := Open(ctx, path)
			if err != nil {
				t.Fatal(err)
			}
			if issues := s.SchemaIssues(); len(issues) != 0 {
				t.Fatalf("a new file has schema issues: %+v", issues)
			}
			if _, err := s.writer.Exec(tc.tamper); err != nil {
				t.Fatal(err)
			}
			s.Close()

			s, err = Open(ctx, path)
			if err != nil {
				t.Fatal(err)
			}
			issues := s.SchemaIssues()
			if len(issues) != 1 || issues[0].Index != tc.index || issues[0].Problem != tc.problem || !issues[0].Repaired {
				t.Fatalf("schema issues after reopening: %+v, want %s %s repaired", issues, tc.index, tc.problem)
			}
			at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
			a, b := testUser(1, at), testUser(2, at)
			a.ExternalID, b.ExternalID = "ext-1", "ext-1"
			if tc.index == "resources_live_name" {
				b.ExternalID = ""
				b.Name, b.Attributes = a.Name, a.Attributes
			}
			if err := s.Create(ctx, a); err != nil {
				t.Fatal(err)
			}
			err = s.Create(ctx, b)
			var se *scim.Error
			if !errors.As(err, &se) || se.Code != scim.EUniqueness {
				t.Fatalf("a second user with the same key: %v, want a 409 uniqueness error", err)
			}
			s.Close()
			if again := openStore(t, path).SchemaIssues(); len(again) != 0 {
				t.Fatalf("after the repair, reopening finds %+v", again)
			}
		})
	}
}
