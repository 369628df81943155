package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// decodeJSON decodes one JSON document and fails on anything after it.
func decodeJSON(t *testing.T, what, s string, v any) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: not JSON: %v\n%s", what, err, s)
	}
	if dec.More() {
		t.Fatalf("%s: more than one JSON document:\n%s", what, s)
	}
}

func hasKeys(t *testing.T, what string, obj map[string]any, keys ...string) {
	t.Helper()
	for _, k := range keys {
		if _, ok := obj[k]; !ok {
			t.Errorf("%s: no %q in %v", what, k, obj)
		}
	}
}

// TestJSONOutputShapes: the documents of the fixed interface, and the
// text outputs scripts rely on.
func TestJSONOutputShapes(t *testing.T) {
	t.Setenv("SCIMGATE_DYNAMODB_TABLE", "")
	t.Setenv("SCIMGATE_PUBLIC_URL", "")
	data := filepath.Join(t.TempDir(), "scimgate.db")
	cli := func(args ...string) (string, string) {
		t.Helper()
		code, stdout, stderr := runCLI(t, append(args, "--data", data)...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, stderr)
		}
		return stdout, stderr
	}

	out, stderr := cli("connection", "create", "--tenant", "acme", "--sso", "okta", "--name", "Acme Okta", "--json", "--public-url", "https://scim.example.com")
	var created map[string]any
	decodeJSON(t, "connection create --json", out, &created)
	hasKeys(t, "connection create --json", created, "tenant", "sso", "state", "base_url", "token_id", "token")
	if created["base_url"] != "https://scim.example.com/scim/v2/acme/okta" || created["state"] != "active" || !strings.HasPrefix(stringOf(created["token"]), "scimgate_") {
		t.Errorf("connection create --json: %s", out)
	}
	if !strings.Contains(stderr, "never expires") {
		t.Errorf("connection create without --expires-in does not say the token never expires: %s", stderr)
	}

	out, stderr = cli("connection", "create", "--tenant", "acme", "--sso", "entra")
	if !strings.Contains(out, "SCIM base URL: http://127.0.0.1:8080/scim/v2/acme/entra") || !strings.Contains(out, "Bearer token:  scimgate_") {
		t.Errorf("connection create for a person:\n%s", out)
	}
	if !strings.Contains(stderr, "--public-url") {
		t.Errorf("connection create without a public URL does not say which it assumed: %s", stderr)
	}

	out, _ = cli("connection", "list", "--json")
	var list []map[string]any
	decodeJSON(t, "connection list --json", out, &list)
	if len(list) != 2 {
		t.Fatalf("connection list --json: %s", out)
	}
	for _, c := range list {
		hasKeys(t, "connection list --json", c, "tenant", "sso", "state", "created")
		if c["state"] != "active" {
			t.Errorf("state %v", c["state"])
		}
	}
	out, _ = cli("connection", "list")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 3 || !strings.HasPrefix(lines[0], "TENANT") {
		t.Errorf("connection list table:\n%s", out)
	}

	out, stderr = cli("token", "create", "--tenant", "acme", "--sso", "okta")
	if secret := strings.TrimSpace(out); !strings.HasPrefix(secret, "scimgate_") || strings.ContainsAny(secret, " \n") {
		t.Errorf("token create must print the secret alone, got %q", out)
	}
	if !strings.Contains(stderr, "never expires") {
		t.Errorf("token create without --expires-in: %s", stderr)
	}

	out, _ = cli("token", "create", "--tenant", "acme", "--sso", "okta", "--json")
	var tok map[string]any
	decodeJSON(t, "token create --json", out, &tok)
	hasKeys(t, "token create --json", tok, "id", "secret", "created", "expires")
	if tok["expires"] != nil {
		t.Errorf("token create --json without --expires-in: expires %v, want null", tok["expires"])
	}
	out, _ = cli("token", "create", "--tenant", "acme", "--sso", "okta", "--json", "--expires-in", "90d")
	decodeJSON(t, "token create --json --expires-in 90d", out, &tok)
	if exp, err := time.Parse(time.RFC3339, stringOf(tok["expires"])); err != nil || time.Until(exp) < 89*24*time.Hour || time.Until(exp) > 91*24*time.Hour {
		t.Errorf("--expires-in 90d: expires %v", tok["expires"])
	}

	out, _ = cli("token", "list", "--tenant", "acme", "--sso", "okta", "--json")
	if strings.Contains(out, "scimgate_") || strings.Contains(out, `"secret"`) || strings.Contains(out, `"hash"`) {
		t.Errorf("token list shows a secret: %s", out)
	}
	var tokens []map[string]any
	decodeJSON(t, "token list --json", out, &tokens)
	if len(tokens) != 4 {
		t.Fatalf("token list --json: %s", out)
	}
	for _, tk := range tokens {
		hasKeys(t, "token list --json", tk, "id", "created", "expires", "last_used", "revoked")
	}
	first := stringOf(tokens[0]["id"])

	out, _ = cli("token", "rotate", "--tenant", "acme", "--sso", "okta", "--token-id", first, "--overlap", "2h", "--json")
	var rot map[string]any
	decodeJSON(t, "token rotate --json", out, &rot)
	hasKeys(t, "token rotate --json", rot, "id", "secret", "created", "expires", "new", "old_id", "old_expires")
	if exp, err := time.Parse(time.RFC3339, stringOf(rot["old_expires"])); err != nil || time.Until(exp) < time.Hour+50*time.Minute || rot["old_id"] != first {
		t.Errorf("token rotate --json: %s", out)
	}

	out, _ = cli("token", "revoke", "--tenant", "acme", "--sso", "okta", "--token-id", first, "--json")
	var revoked map[string]any
	decodeJSON(t, "token revoke --json", out, &revoked)
	if revoked["revoked"] == nil {
		t.Errorf("token revoke --json: %s", out)
	}
	out, _ = cli("token", "list", "--tenant", "acme", "--sso", "okta")
	if !strings.Contains(out, "revoked") || !strings.HasPrefix(out, "ID") {
		t.Errorf("token list table:\n%s", out)
	}

	out, _ = cli("connection", "show", "--tenant", "acme", "--sso", "okta", "--json")
	var show map[string]any
	decodeJSON(t, "connection show --json", out, &show)
	hasKeys(t, "connection show --json", show, "tenant", "sso", "state", "users", "groups", "tokens")

	out, _ = cli("connection", "disable", "--tenant", "acme", "--sso", "okta", "--json")
	var state map[string]any
	decodeJSON(t, "connection disable --json", out, &state)
	if state["state"] != "disabled" {
		t.Errorf("disable: %s", out)
	}
	out, _ = cli("connection", "list", "--json", "--tenant", "acme")
	decodeJSON(t, "connection list --json", out, &list)
	if list[0]["state"] != "disabled" && list[1]["state"] != "disabled" {
		t.Errorf("list after disable: %s", out)
	}
	cli("connection", "enable", "--tenant", "acme", "--sso", "okta")
	cli("connection", "delete", "--tenant", "acme", "--sso", "entra")
	out, _ = cli("connection", "purge", "--tenant", "acme", "--sso", "entra", "--yes", "--json")
	var purged map[string]any
	decodeJSON(t, "connection purge --json", out, &purged)
	if n, _ := purged["erased"].(float64); n < 2 {
		t.Errorf("purge of a connection with a token erased %v items", purged["erased"])
	}
	out, _ = cli("connection", "list", "--json")
	decodeJSON(t, "connection list --json", out, &list)
	if len(list) != 1 {
		t.Errorf("after delete and purge: %s", out)
	}
}

// TestMissingTableIsOneActionableLine: the common DynamoDB failure of a
// new user, a table not created yet, says what to run.
func TestMissingTableIsOneActionableLine(t *testing.T) {
	srv := moto.Server(t)
	t.Setenv("SCIMGATE_DATA", "")
	t.Setenv("SCIMGATE_DYNAMODB_TABLE", "")
	t.Setenv("AWS_ENDPOINT_URL_DYNAMODB", srv.Endpoint())
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "testing")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "testing")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	for _, args := range [][]string{
		{"token", "create", "--tenant", "acme", "--sso", "okta"},
		{"connection", "list"},
		{"connection", "create", "--tenant", "acme", "--sso", "okta"},
		{"serve", "--addr", "127.0.0.1:0"},
	} {
		code, stdout, stderr := runCLI(t, append(args, "--dynamodb-table", "no-such-table")...)
		want := "scimgate: table no-such-table not found: run `scimgate table create --dynamodb-table no-such-table`"
		if code != 1 || stdout != "" || !strings.HasPrefix(stderr, want) || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
			t.Errorf("%v: exit %d, stderr %q; want exit 1 and one line starting %q", args, code, stderr, want)
		}
	}

	// No region: said before any request is made.
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	code, _, stderr := runCLI(t, "connection", "list", "--dynamodb-table", "scimgate")
	if code != 1 || !strings.Contains(stderr, "no AWS region is configured: set AWS_REGION") {
		t.Errorf("no region: exit %d, %q", code, stderr)
	}

	// No credentials anywhere (and no instance metadata to ask).
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	code, _, stderr = runCLI(t, "connection", "list", "--dynamodb-table", "scimgate")
	if code != 1 || !strings.Contains(stderr, "no AWS credentials found") {
		t.Errorf("no credentials: exit %d, %q", code, stderr)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", "testing")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "testing")

	// An endpoint nothing listens on.
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:1")
	t.Setenv("AWS_MAX_ATTEMPTS", "1")
	code, _, stderr = runCLI(t, "connection", "list", "--dynamodb-table", "scimgate")
	if code != 1 || !strings.Contains(stderr, "cannot reach DynamoDB at http://127.0.0.1:1") {
		t.Errorf("unreachable endpoint: exit %d, %q", code, stderr)
	}
}
