package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// TestWebhookCommands drives the fixed interface on the embedded store:
// create prints the secret once, list and show never do, replay takes a
// cursor or the dead letters, deliveries prints JSON Lines.
func TestWebhookCommands(t *testing.T) {
	data := filepath.Join(t.TempDir(), "hooks.db")
	code, stdout, stderr := runCLI(t, "webhook", "create", "--url", "https://hooks.example.com/in", "--types", "group.*,user.deleted",
		"--tenant", "acme", "--sso", "okta", "--json", "--data", data)
	if code != 0 {
		t.Fatalf("create: exit %d: %s", code, stderr)
	}
	var created struct {
		ID          string              `json:"id"`
		Secret      string              `json:"secret"`
		Types       []string            `json:"types"`
		Connections []map[string]string `json:"connections"`
		Enabled     bool                `json:"enabled"`
	}
	if err := json.Unmarshal([]byte(stdout), &created); err != nil || !strings.HasPrefix(created.Secret, "whsec_") || !created.Enabled ||
		len(created.Types) != 2 || len(created.Connections) != 1 || created.Connections[0]["tenant"] != "acme" {
		t.Fatalf("create printed %s (%v)", stdout, err)
	}
	for _, args := range [][]string{
		{"webhook", "list", "--data", data},
		{"webhook", "list", "--json", "--data", data},
		{"webhook", "show", "--id", created.ID, "--data", data},
	} {
		code, stdout, stderr := runCLI(t, args...)
		if code != 0 || !strings.Contains(stdout, created.ID) || strings.Contains(stdout, created.Secret) {
			t.Errorf("%v: exit %d, %q %q", args, code, stdout, stderr)
		}
	}
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"webhook", "replay", "--id", created.ID, "--after", "01KB0000000000000000000000", "--data", data}, 0},
		{[]string{"webhook", "replay", "--id", created.ID, "--dead-letters", "--data", data}, 0},
		{[]string{"webhook", "replay", "--id", created.ID, "--after", "x", "--dead-letters", "--data", data}, 2},
		{[]string{"webhook", "replay", "--id", created.ID, "--after", "not-an-id", "--data", data}, 1},
		{[]string{"webhook", "create", "--url", "ftp://x", "--data", data}, 1},
		{[]string{"webhook", "create", "--url", "https://x", "--tenant", "acme", "--data", data}, 2},
		{[]string{"webhook", "create", "--url", "https://x", "--types", "nope.*", "--data", data}, 2},
		{[]string{"webhook", "show", "--data", data}, 2},
		{[]string{"webhook", "show", "--id", "wh_missing", "--data", data}, 1},
		{[]string{"webhook", "update", "--id", created.ID, "--disable", "--data", data}, 0},
		{[]string{"webhook", "deliveries", "--id", created.ID, "--json", "--data", data}, 0},
	} {
		if code, _, stderr := runCLI(t, tc.args...); code != tc.code {
			t.Errorf("%v: exit %d, want %d (%s)", tc.args, code, tc.code, stderr)
		}
	}
	code, stdout, _ = runCLI(t, "webhook", "rotate-secret", "--id", created.ID, "--json", "--data", data)
	var rotated struct {
		Secret   string  `json:"secret"`
		Previous *string `json:"previous_secret_expires"`
	}
	if code != 0 || json.Unmarshal([]byte(stdout), &rotated) != nil || rotated.Secret == created.Secret || rotated.Previous == nil {
		t.Fatalf("rotate-secret: exit %d, %s", code, stdout)
	}
	if code, _, stderr := runCLI(t, "webhook", "delete", "--id", created.ID, "--data", data); code != 0 {
		t.Fatalf("delete: %s", stderr)
	}
	if code, stdout, _ := runCLI(t, "webhook", "list", "--json", "--data", data); code != 0 || stdout != "" {
		t.Fatalf("list after delete: %q", stdout)
	}
}
