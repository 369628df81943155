package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scimgate/scimgate/pkg/dynamotest"
	"github.com/scimgate/scimgate/pkg/scim"
	"github.com/scimgate/scimgate/pkg/sqlitestore"
)

// runCmd runs the binary and returns stdout and the exit code.
func runCmd(t *testing.T, bin string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &exit):
		return string(out), exit.ExitCode()
	}
	t.Fatalf("%v: %v\n%s", args, err, stderr.String())
	return "", 0
}

// TestCheckCommand: exit 0 when clean, 1 with the violations listed (ids
// included), 2 on usage errors; --repair fixes and says so, --json is a
// document, --all covers every connection.
func TestCheckCommand(t *testing.T) {
	bin := buildBinary(t)
	data := filepath.Join(t.TempDir(), "scimgate.db")
	if _, code := runCmd(t, bin, "token", "create", "--tenant", "acme", "--sso", "okta", "--data", data); code != 0 {
		t.Fatalf("token create: exit %d", code)
	}
	if out, code := runCmd(t, bin, "check", "--tenant", "acme", "--sso", "okta", "--data", data); code != 0 || out != "" {
		t.Fatalf("clean store: exit %d, %q", code, out)
	}

	// A member row left pointing at a deleted user, written past the store.
	ctx := context.Background()
	st, err := sqlitestore.Open(ctx, data)
	if err != nil {
		t.Fatal(err)
	}
	conn := scim.Connection{Tenant: "acme", SSO: "okta"}
	at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	userID, groupID := "00000001-0000-4000-8000-000000000000", "00000002-0000-4000-8000-000000000000"
	for _, r := range []*scim.Resource{
		{Conn: conn, Type: scim.UserResource, ID: userID, Version: 1, Created: at, LastModified: at, Name: "ada@example.com", Active: true, Attributes: map[string]any{"userName": "ada@example.com"}},
		{Conn: conn, Type: scim.GroupResource, ID: groupID, Version: 1, Created: at, LastModified: at, Name: "Team", Attributes: map[string]any{"displayName": "Team"}},
	} {
		if err := st.Create(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Delete(ctx, conn, scim.UserResource, userID, 1, at); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", data)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO members (tenant, sso, group_id, user_id) VALUES ('acme', 'okta', ?, ?)`, groupID, userID); err != nil {
		t.Fatal(err)
	}
	db.Close()

	out, code := runCmd(t, bin, "check", "--tenant", "acme", "--sso", "okta", "--data", data)
	if code != 1 || !strings.Contains(out, "member-of-deleted-user") || !strings.Contains(out, groupID+","+userID) {
		t.Fatalf("corrupt store: exit %d\n%s", code, out)
	}
	out, code = runCmd(t, bin, "check", "--all", "--json", "--data", data)
	var doc checkOutput
	if err := json.Unmarshal([]byte(out), &doc); err != nil || code != 1 || doc.Violations != 1 || len(doc.Connections) != 1 {
		t.Fatalf("--all --json: exit %d, %v\n%s", code, err, out)
	}
	out, code = runCmd(t, bin, "check", "--tenant", "acme", "--sso", "okta", "--repair", "--data", data)
	if code != 1 || !strings.Contains(out, "[repaired: delete-member]") {
		t.Fatalf("--repair: exit %d\n%s", code, out)
	}
	for _, args := range [][]string{{"--tenant", "acme", "--sso", "okta"}, {"--all"}, {"--all", "--repair"}} {
		if out, code := runCmd(t, bin, append(append([]string{"check"}, args...), "--data", data)...); code != 0 {
			t.Fatalf("after repair, check %v: exit %d\n%s", args, code, out)
		}
	}

	for _, bad := range [][]string{
		{"check", "--data", data},
		{"check", "--all", "--tenant", "acme", "--data", data},
		{"check", "--tenant", "Acme_Corp", "--sso", "okta", "--data", data},
		{"check", "--tenant", "acme", "--sso", "okta", "--frobnicate", "--data", data},
		{"check", "--all", "extra", "--data", data},
	} {
		if out, code := runCmd(t, bin, bad...); code != 2 || out != "" {
			t.Errorf("%v: exit %d, stdout %q; want 2 and nothing", bad, code, out)
		}
	}
}

// TestCheckOnDynamoDB: the same store selection as the other commands.
func TestCheckOnDynamoDB(t *testing.T) {
	srv := dynamotest.Start(t)
	bin := buildBinary(t)
	env := append(os.Environ(),
		"AWS_ENDPOINT_URL_DYNAMODB="+srv.Endpoint(), "AWS_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=testing", "AWS_SECRET_ACCESS_KEY=testing")
	run := func(args ...string) (string, int) {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return string(out), exit.ExitCode()
		} else if err != nil {
			t.Fatalf("%v: %v\n%s", args, err, stderr.String())
		}
		return string(out), 0
	}
	if _, code := run("table", "create", "--dynamodb-table", "scimgate-check"); code != 0 {
		t.Fatalf("table create: exit %d", code)
	}
	if _, code := run("token", "create", "--tenant", "acme", "--sso", "okta", "--dynamodb-table", "scimgate-check"); code != 0 {
		t.Fatalf("token create: exit %d", code)
	}
	// table migrate visits every connection and is idempotent.
	for range 2 {
		cmd := exec.Command(bin, "table", "migrate", "--dynamodb-table", "scimgate-check")
		cmd.Env = env
		msg, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(msg), "1 connection(s), 0 name guard(s) moved") {
			t.Fatalf("table migrate: %v\n%s", err, msg)
		}
	}
	if _, code := run("table", "migrate"); code != 2 {
		t.Fatalf("table migrate without a table: exit %d, want 2", code)
	}
	out, code := run("check", "--all", "--json", "--dynamodb-table", "scimgate-check")
	var doc checkOutput
	if err := json.Unmarshal([]byte(out), &doc); err != nil || code != 0 || len(doc.Connections) != 1 || doc.Connections[0].Tenant != "acme" {
		t.Fatalf("check --all on DynamoDB: exit %d, %v\n%s", code, err, out)
	}
}

// TestCheckReportsADroppedUniqueIndex: a unique index dropped behind the
// store's back is recreated when the file is opened and reported by check
// (exit 1, repaired); an index that cannot be recreated because duplicates
// are already in keeps serve from starting.
func TestCheckReportsADroppedUniqueIndex(t *testing.T) {
	bin := buildBinary(t)
	data := filepath.Join(t.TempDir(), "scimgate.db")
	if _, code := runCmd(t, bin, "token", "create", "--tenant", "acme", "--sso", "okta", "--data", data); code != 0 {
		t.Fatalf("token create: exit %d", code)
	}
	tamper := func(stmts ...string) {
		t.Helper()
		db, err := sql.Open("sqlite", data)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		for _, stmt := range stmts {
			if _, err := db.Exec(stmt); err != nil {
				t.Fatalf("%s: %v", stmt, err)
			}
		}
	}
	tamper(`DROP INDEX resources_live_name`)
	out, code := runCmd(t, bin, "check", "--all", "--data", data)
	if code != 1 || !strings.Contains(out, "missing-index") || !strings.Contains(out, "resources_live_name") || !strings.Contains(out, "[repaired: recreate-index]") {
		t.Fatalf("check after the index was dropped: exit %d\n%s", code, out)
	}
	if out, code := runCmd(t, bin, "check", "--all", "--data", data); code != 0 {
		t.Fatalf("check after the repair: exit %d\n%s", code, out)
	}

	// Two live users with one name key got in while the index was gone.
	tamper(`DROP INDEX resources_live_name`,
		`INSERT INTO resources (tenant, sso, type, id, name, name_key, active, version, created, last_modified, attributes)
		 VALUES ('acme', 'okta', 'User', '00000001-0000-4000-8000-000000000000', 'ada', 'ada', 1, 1, '2026-12-01T09:00:00Z', '2026-12-01T09:00:00Z', '{"userName":"ada"}'),
		        ('acme', 'okta', 'User', '00000002-0000-4000-8000-000000000000', 'ada', 'ada', 1, 1, '2026-12-01T09:00:00Z', '2026-12-01T09:00:00Z', '{"userName":"ada"}')`)
	out, code = runCmd(t, bin, "check", "--all", "--data", data)
	if code != 1 || !strings.Contains(out, "missing-index") || !strings.Contains(out, "duplicate-key") || strings.Contains(out, "[repaired: recreate-index]") {
		t.Fatalf("check with duplicates and no index: exit %d\n%s", code, out)
	}
	cmd := exec.Command(bin, "serve", "--addr", "127.0.0.1:0", "--data", data)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Run(); err == nil || !strings.Contains(stderr.String(), "resources_live_name") || !strings.Contains(stderr.String(), "scimgate check") {
		t.Fatalf("serve on a store whose unique index cannot be recreated: %v\n%s", err, stderr.String())
	}
}
