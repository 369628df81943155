package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runCLI runs the CLI in-process and returns its exit code and output.
func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb strings.Builder
	err := run(context.Background(), args, &out, &errb)
	code = report(err, &errb)
	return code, out.String(), errb.String()
}

// TestHelpExitsZeroEverywhere: --help (and -h, help) on the CLI, on every
// group and on every command prints the usage on stdout and exits 0.
func TestHelpExitsZeroEverywhere(t *testing.T) {
	top, groups := commands()
	cases := [][]string{{"--help"}, {"-h"}, {"help"}}
	for _, c := range top {
		cases = append(cases, []string{c.name, "--help"}, []string{c.name, "-h"})
	}
	for _, g := range groups {
		cases = append(cases, []string{g.name, "--help"}, []string{g.name, "help"})
		for _, c := range g.subs {
			args := strings.Fields(c.name)
			cases = append(cases, append(args, "--help"), append(append([]string{}, args...), "-h"))
		}
	}
	for _, args := range cases {
		code, stdout, stderr := runCLI(t, args...)
		if code != 0 || !strings.Contains(stdout, "Usage") || stderr != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want 0 and the usage on stdout", args, code, firstLine(stdout), stderr)
		}
	}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// TestUsageErrorsExitTwo: a mistake in the command line says what is wrong,
// prints the usage, and exits 2, with nothing on stdout.
func TestUsageErrorsExitTwo(t *testing.T) {
	t.Setenv("SCIMGATE_DATA", "")
	t.Setenv("SCIMGATE_DYNAMODB_TABLE", "")
	data := filepath.Join(t.TempDir(), "scimgate.db")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "missing command"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"token"}, `"token" needs a subcommand`},
		{[]string{"token", "frob"}, `unknown command "token frob"`},
		{[]string{"token", "create", "--sso", "okta", "--data", data}, "--tenant is required"},
		{[]string{"token", "create", "--tenant", "acme", "--data", data}, "--sso is required"},
		{[]string{"token", "create", "--tenant", "Acme_Corp", "--sso", "okta", "--data", data}, "--tenant: tenant id \"Acme_Corp\" is invalid"},
		{[]string{"token", "create", "--tenant", "acme", "--sso", "okta", "--data", data, "--dynamodb-table", "t"}, "--data and --dynamodb-table are both set"},
		{[]string{"token", "create", "--tenant", "acme", "--sso", "okta", "--expires-in", "soon", "--data", data}, "--expires-in"},
		{[]string{"token", "create", "--tenant", "acme", "--sso", "okta", "--nope"}, "flag provided but not defined: -nope"},
		{[]string{"token", "rotate", "--tenant", "acme", "--sso", "okta", "--data", data}, "--token-id is required"},
		{[]string{"token", "revoke", "--tenant", "acme", "--sso", "okta", "--data", data}, "--token-id is required"},
		{[]string{"connection", "purge", "--tenant", "acme", "--sso", "okta", "--data", data}, "--yes is required"},
		{[]string{"connection", "list", "--public-url", "scim.example.com", "--data", data}, "--public-url"},
		{[]string{"serve", "stray"}, `unexpected argument "stray"`},
		{[]string{"serve", "--request-timeout", "0s"}, "--request-timeout"},
		{[]string{"table", "create"}, "--dynamodb-table is required"},
	} {
		code, stdout, stderr := runCLI(t, tc.args...)
		if code != 2 || stdout != "" || !strings.Contains(stderr, tc.want) || !strings.Contains(stderr, "Usage") {
			t.Errorf("%v: exit %d, stdout %q, stderr:\n%s\nwant exit 2, %q and the usage on stderr", tc.args, code, stdout, stderr, tc.want)
		}
	}
	if _, err := os.Stat(data); err == nil {
		t.Errorf("a usage error created the store %s", data)
	}
}

// TestStoreChoiceFromEnvironment: both stores named through the
// environment is the same usage error as through flags.
func TestStoreChoiceFromEnvironment(t *testing.T) {
	t.Setenv("SCIMGATE_DATA", filepath.Join(t.TempDir(), "x.db"))
	t.Setenv("SCIMGATE_DYNAMODB_TABLE", "scimgate")
	code, _, stderr := runCLI(t, "token", "list", "--tenant", "acme", "--sso", "okta")
	if code != 2 || !strings.Contains(stderr, "SCIMGATE_DATA and SCIMGATE_DYNAMODB_TABLE are both set") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}

// TestRuntimeFailureExitsOne: a failure that is not a usage mistake is one
// line and exit 1.
func TestRuntimeFailureExitsOne(t *testing.T) {
	t.Setenv("SCIMGATE_DYNAMODB_TABLE", "")
	notADir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notADir, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCLI(t, "token", "list", "--tenant", "acme", "--sso", "okta", "--data", filepath.Join(notADir, "scimgate.db"))
	if code != 1 || stdout != "" || strings.Count(strings.TrimSpace(stderr), "\n") != 0 || !strings.HasPrefix(stderr, "scimgate: ") {
		t.Errorf("exit %d, stdout %q, stderr %q; want exit 1 and one line", code, stdout, stderr)
	}
}

func TestVersion(t *testing.T) {
	code, stdout, _ := runCLI(t, "version")
	if code != 0 || !strings.HasPrefix(stdout, "scimgate ") || !strings.Contains(stdout, "go1.") {
		t.Errorf("version: exit %d, %q", code, stdout)
	}
}

func TestCheckPublicURL(t *testing.T) {
	for raw, want := range map[string]string{
		"": "", "https://scim.example.com": "https://scim.example.com", "https://scim.example.com/": "https://scim.example.com",
		"http://127.0.0.1:8080": "http://127.0.0.1:8080",
	} {
		if got, err := checkPublicURL(raw); err != nil || got != want {
			t.Errorf("checkPublicURL(%q) = %q, %v; want %q", raw, got, err, want)
		}
	}
	for _, bad := range []string{"scim.example.com", "ftp://x", "https://x/scim/v2", "https://x?a=b", "https://"} {
		if _, err := checkPublicURL(bad); err == nil {
			t.Errorf("checkPublicURL(%q) accepted", bad)
		}
	}
}

// TestTokenHintsWorkAsPrinted: the never-expires note names the revoke
// command with the flags it needs, and a bad --expires-in says what is
// wrong without an internal error code.
func TestTokenHintsWorkAsPrinted(t *testing.T) {
	t.Setenv("SCIMGATE_DATA", "")
	t.Setenv("SCIMGATE_DYNAMODB_TABLE", "")
	data := filepath.Join(t.TempDir(), "scimgate.db")
	code, stdout, stderr := runCLI(t, "token", "create", "--tenant", "acme", "--sso", "okta", "--json", "--data", data)
	var tok struct {
		ID string `json:"id"`
	}
	if code != 0 || json.Unmarshal([]byte(stdout), &tok) != nil || tok.ID == "" {
		t.Fatalf("token create: exit %d, %q, %s", code, stdout, stderr)
	}
	if want := "scimgate token revoke --tenant acme --sso okta --token-id " + tok.ID; !strings.Contains(stderr, want) {
		t.Errorf("the never-expires note does not say %q:\n%s", want, stderr)
	}
	for _, bad := range []string{"soon", "-5d", "2001-01-01T00:00:00Z"} {
		code, _, stderr := runCLI(t, "token", "create", "--tenant", "acme", "--sso", "okta", "--expires-in", bad, "--data", data)
		if code != 2 || strings.Contains(stderr, "invalid_value") || !strings.Contains(stderr, "--expires-in") {
			t.Errorf("--expires-in %s: exit %d, stderr %q; want exit 2 without the internal code", bad, code, firstLine(stderr))
		}
	}
}

// TestConnectionListSaysWhichHostItAssumed: the base URL is built from the
// public URL of the command that prints it (a deployment setting, not stored
// per connection). Without one, list and show say that they assumed the local
// server, instead of silently showing http://127.0.0.1:8080 for a connection
// created with --public-url.
func TestConnectionListSaysWhichHostItAssumed(t *testing.T) {
	t.Setenv("SCIMGATE_DATA", "")
	t.Setenv("SCIMGATE_DYNAMODB_TABLE", "")
	t.Setenv("SCIMGATE_PUBLIC_URL", "")
	data := filepath.Join(t.TempDir(), "scimgate.db")
	if code, _, stderr := runCLI(t, "connection", "create", "--tenant", "acme", "--sso", "okta", "--public-url", "https://scim.example.com", "--data", data); code != 0 {
		t.Fatalf("create: %s", stderr)
	}
	for _, args := range [][]string{{"connection", "list"}, {"connection", "show", "--tenant", "acme", "--sso", "okta"}} {
		code, stdout, stderr := runCLI(t, append(args, "--data", data)...)
		if code != 0 || !strings.Contains(stdout, "http://127.0.0.1:8080") || !strings.Contains(stderr, "SCIMGATE_PUBLIC_URL") {
			t.Errorf("%v without a public URL: exit %d, stdout %q, stderr %q; want a note naming SCIMGATE_PUBLIC_URL", args, code, stdout, stderr)
		}
		t.Setenv("SCIMGATE_PUBLIC_URL", "https://scim.example.com")
		code, stdout, stderr = runCLI(t, append(args, "--data", data)...)
		if code != 0 || !strings.Contains(stdout, "https://scim.example.com/scim/v2/acme/okta") || strings.Contains(stderr, "assumes") {
			t.Errorf("%v with SCIMGATE_PUBLIC_URL: exit %d, stdout %q, stderr %q", args, code, stdout, stderr)
		}
		t.Setenv("SCIMGATE_PUBLIC_URL", "")
	}
}
