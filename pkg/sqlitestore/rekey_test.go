package sqlitestore

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scimgate/scimgate/pkg/scim"
)

// TestMigrationRekeysNames: a file written with version 1's keys
// (strings.ToLower, as version 1 computed them) is rekeyed by scim.NameKey
// on open. Names that now
// collide keep the first-created one on the key; the later one stays
// reachable and keeps its old key.
func TestMigrationRekeysNames(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "scimgate.db")
	db, err := sql.Open("sqlite", dsn(path, true))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(migrations()[0]); err != nil {
		t.Fatalf("schema version 1: %v", err)
	}
	rows := []struct{ typ, id, name, created string }{
		{"User", "u1", "ada@x.com", "2026-01-01T00:00:01Z"},
		{"User", "u2", "ＡＤＡ@x.com", "2026-01-01T00:00:02Z"}, // fullwidth: the same name as u1 now
		{"User", "u3", "Ünal@x.com", "2026-01-01T00:00:03Z"},
		{"User", "u4", "bob@x.com ", "2026-01-01T00:00:04Z"}, // refused by the profile today: keeps its old key
		{"Group", "g1", "Sales  Team ", "2026-01-01T00:00:05Z"},
		// The older of these two keys "bob@x.com" only after the rekey, the
		// newer already has it: the newer keeps it, the older its old key.
		{"User", "u5", "ＢＯＢ@x.com", "2026-01-01T00:00:06Z"},
		{"User", "u6", "bob@x.com", "2026-01-01T00:00:07Z"},
	}
	for _, r := range rows {
		if _, err := db.Exec(`INSERT INTO resources (tenant, sso, type, id, name, name_key, active, version, created, last_modified, attributes)
			VALUES ('acme', 'okta', ?, ?, ?, ?, 1, 1, ?, ?, '{}')`, r.typ, r.id, r.name, strings.ToLower(r.name), r.created, r.created); err != nil {
			t.Fatalf("insert %s: %v", r.id, err)
		}
	}
	if _, err := db.Exec(`PRAGMA user_version = 1`); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s := openStore(t, path)
	conn := scim.Connection{Tenant: "acme", SSO: "okta"}
	for _, tc := range []struct {
		typ     scim.ResourceType
		lookup  string
		wantID  string
		wantKey string
	}{
		{scim.UserResource, "ADA@X.COM", "u1", "ada@x.com"},
		{scim.UserResource, "ａｄａ@x.com", "u1", "ada@x.com"},
		{scim.UserResource, "ünal@X.com", "u3", "ünal@x.com"},
		{scim.UserResource, "BOB@x.com ", "u4", "bob@x.com "},
		{scim.GroupResource, "sales team", "g1", "sales team"},
		{scim.UserResource, "BOB@x.com", "u6", "bob@x.com"},
	} {
		r, err := s.FindByName(ctx, conn, tc.typ, tc.lookup, false)
		if err != nil || r.ID != tc.wantID {
			t.Errorf("FindByName(%q) = %v, %v; want %s", tc.lookup, r, err, tc.wantID)
		}
		var key string
		if err := s.reader.QueryRow(`SELECT name_key FROM resources WHERE id = ?`, tc.wantID).Scan(&key); err != nil || key != tc.wantKey {
			t.Errorf("name_key of %s = %q, %v; want %q", tc.wantID, key, err, tc.wantKey)
		}
	}
	var key string
	if err := s.reader.QueryRow(`SELECT name_key FROM resources WHERE id = 'u2'`).Scan(&key); err != nil || key != "ａｄａ@x.com" {
		t.Errorf("the later of two colliding users keeps its old key: %q, %v", key, err)
	}
	if _, err := s.Get(ctx, conn, scim.UserResource, "u2", false); err != nil {
		t.Errorf("the later of two colliding users is lost: %v", err)
	}
	if err := s.reader.QueryRow(`SELECT name_key FROM resources WHERE id = 'u5'`).Scan(&key); err != nil || key != "ｂｏｂ@x.com" {
		t.Errorf("the user whose new key another already held keeps its old key: %q, %v", key, err)
	}
}
