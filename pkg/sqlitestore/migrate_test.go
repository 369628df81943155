package sqlitestore

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/scimgate/scimgate/pkg/auth"
	"github.com/scimgate/scimgate/pkg/scim"
)

// TestUpgradeKeepsTokensWorking opens a file written by the first schema
// (connections and token hashes only): its tokens keep authenticating,
// get their public id from their hash, and its connections are active.
func TestUpgradeKeepsTokensWorking(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "scimgate.db")
	old, err := sql.Open("sqlite", dsn(path, true))
	if err != nil {
		t.Fatal(err)
	}
	secret, err := auth.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	hash := auth.HashSecret(secret)
	created := "2026-03-01T08:00:00.000000000Z"
	for _, stmt := range []string{migrations()[0], `PRAGMA user_version = 1`} {
		if _, err := old.Exec(stmt); err != nil {
			t.Fatalf("write a version 1 file: %v", err)
		}
	}
	if _, err := old.Exec(`INSERT INTO connections (tenant, sso, created) VALUES ('acme', 'okta', ?)`, created); err != nil {
		t.Fatal(err)
	}
	if _, err := old.Exec(`INSERT INTO tokens (hash, tenant, sso, created) VALUES (?, 'acme', 'okta', ?)`, hash, created); err != nil {
		t.Fatal(err)
	}
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}

	s := openStore(t, path)
	conn := scim.Connection{Tenant: "acme", SSO: "okta"}
	tok, err := auth.Authenticate(ctx, s, "Bearer "+secret, conn, time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC))
	if err != nil || tok.ID != auth.TokenID(hash) {
		t.Fatalf("a token of the old schema after the upgrade: %+v, %v", tok, err)
	}
	c, err := s.GetConnection(ctx, conn)
	if err != nil || c.State != auth.StateActive || c.Name != "" || !c.Live() || c.Created.Format(timeLayout) != created {
		t.Fatalf("connection of the old schema = %+v, %v", c, err)
	}
	if _, err := s.RevokeToken(ctx, conn, auth.TokenID(hash), time.Now()); err != nil {
		t.Fatalf("revoke a token of the old schema by its id: %v", err)
	}
}
