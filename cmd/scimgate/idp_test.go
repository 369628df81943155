package main

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scimgate/scimgate/pkg/idp/okta/oktatest"
	"github.com/scimgate/scimgate/pkg/scim"
	"github.com/scimgate/scimgate/pkg/sqlitestore"
)

const cliOktaToken = "00cli-okta-api-token-secret"

// TestReconcileCLI drives `connection idp` and `reconcile` on the embedded
// store against the Okta double: exit codes, the fixed JSON, the repairs,
// and that no output ever holds the API token.
func TestReconcileCLI(t *testing.T) {
	t.Setenv("SCIMGATE_DATA", "")
	t.Setenv("SCIMGATE_DYNAMODB_TABLE", "")
	dir := t.TempDir()
	data := filepath.Join(dir, "scimgate.db")
	tokenFile := filepath.Join(dir, "okta-token")
	if err := os.WriteFile(tokenFile, []byte(cliOktaToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var all strings.Builder // every output, scanned for the secret at the end
	cli := func(args ...string) (int, string, string) {
		t.Helper()
		code, stdout, stderr := runCLI(t, append(args, "--data", data)...)
		all.WriteString(stdout + stderr)
		return code, stdout, stderr
	}
	if code, _, stderr := cli("connection", "create", "--tenant", "acme", "--sso", "okta"); code != 0 {
		t.Fatalf("connection create: %d %s", code, stderr)
	}

	// Records: alice in sync, bob still active though Okta deprovisioned him.
	ctx := context.Background()
	st, err := sqlitestore.Open(ctx, data)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	svc := scim.NewService(st)
	conn := scim.Connection{Tenant: "acme", SSO: "okta"}
	ids := map[string]string{}
	for _, u := range []struct{ name, ext string }{{"alice@example.com", "00uA"}, {"bob@example.com", "00uB"}} {
		res, err := svc.Create(ctx, conn, scim.UserResource, []byte(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"`+u.name+`","externalId":"`+u.ext+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		ids[u.name] = res.Resource.ID
	}
	double := oktatest.New(t, "0oaApp")
	double.APIToken, double.PageSize = cliOktaToken, 1
	double.AddUser(oktatest.AppUser{ID: "00uA", ExternalID: ids["alice@example.com"], UserName: "alice@example.com"})
	double.AddUser(oktatest.AppUser{ID: "00uB", ExternalID: ids["bob@example.com"], Status: "DEPROVISIONED", UserName: "bob@example.com"})

	// Usage mistakes exit 2.
	for _, args := range [][]string{
		{"reconcile", "--sso", "okta"},
		{"reconcile", "--tenant", "acme", "--sso", "okta", "--max-deactivate", "-1"},
		{"connection", "idp", "set", "--tenant", "acme", "--sso", "okta"},
		{"connection", "idp", "set", "--tenant", "acme", "--sso", "okta", "--kind", "okta", "--okta-org-url", double.URL, "--okta-app-id", "0oaApp",
			"--okta-api-token-file", tokenFile, "--entra-tenant-id", "t"},
		{"connection", "idp", "set", "--tenant", "acme", "--sso", "okta", "--kind", "okta", "--okta-org-url", double.URL, "--okta-app-id", "0oaApp"},
		{"connection", "idp", "set", "--tenant", "acme", "--sso", "okta", "--kind", "okta", "--okta-org-url", double.URL, "--okta-app-id", "0oaApp",
			"--okta-api-token-file", filepath.Join(dir, "missing")},
	} {
		if code, _, stderr := cli(args...); code != 2 {
			t.Errorf("%v: exit %d (%s), want 2", args, code, firstLine(stderr))
		}
	}
	if code, _, _ := cli("reconcile", "--tenant", "acme", "--sso", "okta"); code != 1 {
		t.Fatalf("reconcile without a link: exit %d, want 1", code)
	}

	code, stdout, stderr := cli("connection", "idp", "set", "--tenant", "acme", "--sso", "okta", "--kind", "okta",
		"--okta-org-url", double.URL, "--okta-app-id", "0oaApp", "--okta-api-token-file", tokenFile, "--json")
	if code != 0 || !strings.Contains(stdout, `"api_token_ref": "`+tokenFile+`"`) {
		t.Fatalf("idp set: %d %s %s", code, stdout, stderr)
	}
	if code, stdout, _ := cli("connection", "idp", "show", "--tenant", "acme", "--sso", "okta"); code != 0 || !strings.Contains(stdout, tokenFile) {
		t.Fatalf("idp show: %d %s", code, stdout)
	}

	// Report only: drift found, exit 3, the fixed JSON.
	code, stdout, stderr = cli("reconcile", "--tenant", "acme", "--sso", "okta", "--json")
	if code != 3 {
		t.Fatalf("reconcile: exit %d, want 3: %s", code, stderr)
	}
	var rep map[string]any
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("report is not JSON: %v\n%s", err, stdout)
	}
	for _, k := range []string{"tenant", "sso", "idp", "started", "finished", "counts", "examples", "repaired", "guard_tripped"} {
		if _, ok := rep[k]; !ok {
			t.Errorf("report lacks %q", k)
		}
	}
	counts := rep["counts"].(map[string]any)
	for _, k := range []string{"active_not_assigned", "assigned_missing", "member_extra", "member_missing", "group_not_pushed"} {
		if _, ok := counts[k]; !ok {
			t.Errorf("counts lack %q", k)
		}
	}
	if counts["active_not_assigned"] != 1.0 || rep["idp"] != "okta" || rep["guard_tripped"] != false {
		t.Fatalf("report = %s", stdout)
	}
	ex := rep["examples"].(map[string]any)["active_not_assigned"].([]any)[0].(map[string]any)
	for _, k := range []string{"resource_type", "id", "external_id", "group_id"} {
		if _, ok := ex[k]; !ok {
			t.Errorf("example lacks %q: %v", k, ex)
		}
	}
	if ex["id"] != ids["bob@example.com"] {
		t.Fatalf("example = %v", ex)
	}

	// Repair: bob is deactivated, nothing remains: exit 0; and again 0.
	if code, stdout, stderr := cli("reconcile", "--tenant", "acme", "--sso", "okta", "--repair"); code != 0 {
		t.Fatalf("reconcile --repair: exit %d\n%s%s", code, stdout, stderr)
	}
	bob, err := st.Get(ctx, conn, scim.UserResource, ids["bob@example.com"], false)
	if err != nil || bob.Active {
		t.Fatalf("bob after repair: %+v %v", bob, err)
	}
	if code, _, stderr := cli("reconcile", "--tenant", "acme", "--sso", "okta"); code != 0 {
		t.Fatalf("reconcile after repair: exit %d %s", code, stderr)
	}

	// A broken link: exit 1, one line saying what to fix, nothing changed.
	double.APIToken = "rotated-in-okta"
	code, stdout, stderr = cli("reconcile", "--tenant", "acme", "--sso", "okta", "--repair", "--json")
	if code != 1 || stdout != "" || strings.Count(strings.TrimSpace(stderr), "\n") != 0 ||
		!strings.Contains(stderr, "HTTP 401") || !strings.Contains(stderr, "nothing was changed") {
		t.Fatalf("broken link: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}

	if code, _, _ := cli("connection", "idp", "clear", "--tenant", "acme", "--sso", "okta"); code != 0 {
		t.Fatal("idp clear failed")
	}
	if code, _, _ := cli("connection", "idp", "show", "--tenant", "acme", "--sso", "okta"); code != 1 {
		t.Fatalf("idp show after clear: exit %d, want 1", code)
	}
	for _, line := range double.Log() {
		all.WriteString(line + "\n")
	}
	if strings.Contains(all.String(), cliOktaToken) {
		t.Fatalf("an output or request line holds the Okta API token")
	}

	// A service app: the private key never appears in any output either.
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	keyFile := filepath.Join(dir, "okta-key.pem")
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	double.ClientID, double.PublicKey = "0oaService", &key.PublicKey
	if code, _, stderr := cli("connection", "idp", "set", "--tenant", "acme", "--sso", "okta", "--kind", "okta", "--okta-org-url", double.URL,
		"--okta-app-id", "0oaApp", "--okta-client-id", "0oaService", "--okta-private-key-file", keyFile, "--policy", "repair"); code != 0 {
		t.Fatalf("idp set with a service app: %s", stderr)
	}
	if code, stdout, stderr := cli("reconcile", "--tenant", "acme", "--sso", "okta", "--json"); code != 0 {
		t.Fatalf("reconcile with a service app: exit %d\n%s%s", code, stdout, stderr)
	}
	if _, tokens := double.Requests(); tokens != 1 {
		t.Fatalf("%d token requests, want 1", tokens)
	}
	for _, line := range double.Log() {
		all.WriteString(line + "\n")
	}
	body := strings.Join(strings.Split(strings.TrimSpace(string(keyPEM)), "\n")[1:3], "")
	if strings.Contains(all.String(), body[:40]) || strings.Contains(all.String(), "PRIVATE KEY") {
		t.Fatal("an output or request line holds the private key")
	}
}

// TestIdPSetOnDynamoDBWantsARNs: on a DynamoDB table a secret is named by
// its ARN; a file flag is a usage error (the functions read no files).
func TestIdPSetOnDynamoDBWantsARNs(t *testing.T) {
	t.Setenv("SCIMGATE_DATA", "")
	t.Setenv("SCIMGATE_DYNAMODB_TABLE", "scimgate-test")
	tokenFile := filepath.Join(t.TempDir(), "okta-token")
	os.WriteFile(tokenFile, []byte(cliOktaToken), 0o600)
	base := []string{"connection", "idp", "set", "--tenant", "acme", "--sso", "okta", "--kind", "okta",
		"--okta-org-url", "https://acme.okta.com", "--okta-app-id", "0oaApp"}
	code, _, stderr := runCLI(t, append(base, "--okta-api-token-file", tokenFile)...)
	if code != 2 || !strings.Contains(stderr, "--okta-api-token-secret-arn") {
		t.Fatalf("file flag on DynamoDB: exit %d %s", code, firstLine(stderr))
	}
	code, _, stderr = runCLI(t, append(base, "--okta-api-token-secret-arn", "not-an-arn")...)
	if code != 2 {
		t.Fatalf("a bad ARN: exit %d %s", code, firstLine(stderr))
	}
}

// TestReconcileCLIGuard: a run that would deactivate too many exits 3 and
// changes nothing; --max-deactivate lets it through.
func TestReconcileCLIGuard(t *testing.T) {
	t.Setenv("SCIMGATE_DATA", "")
	t.Setenv("SCIMGATE_DYNAMODB_TABLE", "")
	dir := t.TempDir()
	data := filepath.Join(dir, "scimgate.db")
	tokenFile := filepath.Join(dir, "okta-token")
	os.WriteFile(tokenFile, []byte(cliOktaToken), 0o600)
	if code, _, stderr := runCLI(t, "connection", "create", "--tenant", "acme", "--sso", "okta", "--data", data); code != 0 {
		t.Fatal(stderr)
	}
	ctx := context.Background()
	st, err := sqlitestore.Open(ctx, data)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	svc := scim.NewService(st)
	conn := scim.Connection{Tenant: "acme", SSO: "okta"}
	for _, name := range []string{"a", "b", "c", "d", "e", "f"} {
		if _, err := svc.Create(ctx, conn, scim.UserResource, []byte(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"`+name+`"}`)); err != nil {
			t.Fatal(err)
		}
	}
	double := oktatest.New(t, "0oaEmpty") // a wrong app: it assigns nobody
	double.APIToken = cliOktaToken
	if code, _, stderr := runCLI(t, "connection", "idp", "set", "--tenant", "acme", "--sso", "okta", "--kind", "okta", "--okta-org-url", double.URL,
		"--okta-app-id", "0oaEmpty", "--okta-api-token-file", tokenFile, "--data", data); code != 0 {
		t.Fatal(stderr)
	}
	code, stdout, stderr := runCLI(t, "reconcile", "--tenant", "acme", "--sso", "okta", "--repair", "--json", "--data", data)
	if code != 3 || !strings.Contains(stdout, `"guard_tripped": true`) || !strings.Contains(stderr, "guard tripped") {
		t.Fatalf("guard: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if page, err := st.List(ctx, conn, scim.UserResource, scim.ListOptions{Limit: 10}); err != nil || !page.Resources[0].Active {
		t.Fatalf("the guard tripped but users changed: %v", err)
	}
	if code, _, stderr := runCLI(t, "reconcile", "--tenant", "acme", "--sso", "okta", "--repair", "--max-deactivate", "6", "--data", data); code != 0 {
		t.Fatalf("--max-deactivate 6: exit %d %s", code, stderr)
	}
}
