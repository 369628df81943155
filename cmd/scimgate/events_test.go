package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scimgate/scimgate/pkg/auth"
	"github.com/scimgate/scimgate/pkg/changes"
	"github.com/scimgate/scimgate/pkg/changes/changestest"
	"github.com/scimgate/scimgate/pkg/scim"
	"github.com/scimgate/scimgate/pkg/sqlitestore"
)

// seedFeed writes records into a fresh embedded store file and returns its path.
func seedFeed(t *testing.T, recs []changes.Record) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "scimgate.db")
	st, err := sqlitestore.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	acme := scim.Connection{Tenant: "acme", SSO: "okta"}
	at := time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC)
	if err := st.CreateConnection(context.Background(), auth.ConnectionRecord{Conn: acme, State: auth.StateActive, Created: at},
		auth.NewTokenInfo(acme, "scimgate_seed-feed-token-0123456789abcdef", at)); err != nil {
		t.Fatal(err)
	}
	u1 := &scim.Resource{Conn: acme, Type: scim.UserResource, ID: "u1", Version: 1, Created: at, LastModified: at,
		Name: "ada@example.com", Active: true, Attributes: map[string]any{"userName": "ada@example.com"}}
	if err := st.Create(context.Background(), u1); err != nil {
		t.Fatal(err)
	}
	if err := st.AppendChanges(context.Background(), recs...); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestFeedCommandsOnAnUnknownConnection: events list and audit on a
// connection that does not exist say so and exit 1, instead of an empty
// table and exit 0 that reads as "nothing happened".
func TestFeedCommandsOnAnUnknownConnection(t *testing.T) {
	t.Setenv("SCIMGATE_DATA", "")
	t.Setenv("SCIMGATE_DYNAMODB_TABLE", "")
	data := seedFeed(t, sampleRecords())
	for _, args := range [][]string{{"events", "list"}, {"audit"}, {"events", "tail"}} {
		code, stdout, stderr := runCLI(t, append(args, "--tenant", "acme", "--sso", "nobody", "--data", data)...)
		if code != 1 || stdout != "" || !strings.Contains(stderr, "acme/nobody") || !strings.Contains(stderr, "connection list") {
			t.Errorf("%v on an unknown connection: exit %d, stdout %q, stderr %q; want exit 1 naming it", args, code, stdout, stderr)
		}
	}
}

// TestAuditByUserName: audit --user takes the userName a person knows, and
// the table names each resource, not only its id.
func TestAuditByUserName(t *testing.T) {
	t.Setenv("SCIMGATE_DATA", "")
	t.Setenv("SCIMGATE_DYNAMODB_TABLE", "")
	recs := sampleRecords()
	recs[0].Data = json.RawMessage(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"id":"u1","userName":"ada@example.com","meta":{"resourceType":"User","version":"W/\"1\""}}`)
	data := seedFeed(t, recs)
	code, stdout, stderr := runCLI(t, "audit", "--tenant", "acme", "--sso", "okta", "--user", "ADA@example.com", "--json", "--data", data)
	if got := jsonLines(t, stdout); code != 0 || len(got) != 2 || got[0].ID != recs[0].ID || got[1].ID != recs[1].ID {
		t.Fatalf("audit --user: exit %d, %d records, %s", code, len(got), stderr)
	}
	code, stdout, _ = runCLI(t, "audit", "--tenant", "acme", "--sso", "okta", "--data", data)
	if code != 0 || !strings.Contains(stdout, "NAME") || !strings.Contains(stdout, "ada@example.com") {
		t.Errorf("audit table without names (exit %d):\n%s", code, stdout)
	}
	if code, _, stderr := runCLI(t, "audit", "--tenant", "acme", "--sso", "okta", "--user", "nobody@example.com", "--data", data); code != 1 || !strings.Contains(stderr, "--resource") {
		t.Errorf("audit --user of nobody: exit %d, %q", code, stderr)
	}
	if code, _, _ := runCLI(t, "audit", "--tenant", "acme", "--sso", "okta", "--user", "a", "--resource", "u1", "--data", data); code != 2 {
		t.Errorf("audit --user with --resource: exit %d, want 2", code)
	}
}

func sampleRecords() []changes.Record {
	gen := changes.NewIDGenerator(nil)
	at := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	var out []changes.Record
	for i, typ := range []changes.Type{changes.UserCreated, changes.UserDeactivated, changes.GroupMembersAdded} {
		at = at.Add(time.Second)
		r := changes.Record{ID: gen(at), Type: typ, Tenant: "acme", SSO: "okta", ResourceType: "User", ResourceID: "u1",
			Version: int64(i + 1), Time: at, RequestID: fmt.Sprintf("req-%d", i), Actor: changes.TokenActor("3b1d9a0c0f11"),
			Changed: []string{"active"},
			Data:    json.RawMessage(fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"id":"u1","meta":{"resourceType":"User","version":"W/\"%d\""}}`, i+1))}
		if typ == changes.GroupMembersAdded {
			r.ResourceType, r.ResourceID, r.Changed = "Group", "g1", []string{"members"}
			r.Data = json.RawMessage(`{"group":{"id":"g1","displayName":"Eng","externalId":""},"members":[{"id":"u1","externalId":"","userName":"ada","displayName":"","active":false}],"member_ids":["u1"]}`)
		}
		if typ == changes.UserDeactivated {
			r.Previous, r.Current = map[string]any{"active": true}, map[string]any{"active": false}
		}
		out = append(out, r)
	}
	return out
}

func jsonLines(t *testing.T, out string) []changes.Record {
	t.Helper()
	var recs []changes.Record
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		if err := changestest.ValidateJSON([]byte(line)); err != nil {
			t.Errorf("line %s: %v", line, err)
		}
		var r changes.Record
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("not a JSON line: %q", line)
		}
		recs = append(recs, r)
	}
	return recs
}

func TestEventsListAndAudit(t *testing.T) {
	t.Setenv("SCIMGATE_DATA", "")
	t.Setenv("SCIMGATE_DYNAMODB_TABLE", "")
	recs := sampleRecords()
	data := seedFeed(t, recs)
	ids := func(rs []changes.Record) string {
		var out []string
		for _, r := range rs {
			out = append(out, r.ID)
		}
		return strings.Join(out, " ")
	}
	for _, tc := range []struct {
		args []string
		want []changes.Record
	}{
		{[]string{"events", "list", "--json"}, recs},
		{[]string{"events", "list", "--json", "--after", recs[0].ID}, recs[1:]},
		{[]string{"events", "list", "--json", "--type", "user.deactivated,group.members_*"}, recs[1:]},
		{[]string{"events", "list", "--json", "--resource", "g1"}, recs[2:]},
		{[]string{"audit", "--json", "--since", recs[1].Time.Format(time.RFC3339)}, recs[1:]},
	} {
		args := append(tc.args, "--tenant", "acme", "--sso", "okta", "--data", data)
		code, stdout, stderr := runCLI(t, args...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", tc.args, code, stderr)
		}
		if got := jsonLines(t, stdout); ids(got) != ids(tc.want) {
			t.Errorf("%v: %s, want %s", tc.args, ids(got), ids(tc.want))
		}
	}
	code, stdout, _ := runCLI(t, "audit", "--tenant", "acme", "--sso", "okta", "--data", data)
	if code != 0 || !strings.Contains(stdout, "ACTOR") || !strings.Contains(stdout, "token:3b1d9a0c0f11") || !strings.Contains(stdout, "req-1") || strings.Contains(stdout, "scimgate_") {
		t.Errorf("audit table (exit %d):\n%s", code, stdout)
	}
	code, stdout, _ = runCLI(t, "events", "list", "--tenant", "acme", "--sso", "okta", "--data", data)
	if code != 0 || !strings.Contains(stdout, recs[2].ID) || !strings.Contains(stdout, "members (1)") {
		t.Errorf("events table (exit %d):\n%s", code, stdout)
	}
	for _, bad := range [][]string{
		{"events", "list", "--sso", "okta"},
		{"events", "list", "--tenant", "acme", "--sso", "okta", "--after", "nope"},
		{"events", "list", "--tenant", "acme", "--sso", "okta", "--type", "user.exploded"},
		{"audit", "--tenant", "acme", "--sso", "okta", "--since", "yesterday"},
	} {
		if code, stdout, _ := runCLI(t, append(bad, "--data", data)...); code != 2 || stdout != "" {
			t.Errorf("%v: exit %d, stdout %q; want a usage error", bad, code, stdout)
		}
	}
}

func TestEventsTailFollowsNewRecords(t *testing.T) {
	recs := sampleRecords()
	data := seedFeed(t, recs[:1])
	st, err := sqlitestore.Open(context.Background(), data)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuilder{}
	done := make(chan error)
	go func() {
		done <- eventsTail(ctx, st, changes.Query{Tenant: "acme", SSO: "okta"}, true, out, 10*time.Millisecond)
	}()
	time.Sleep(50 * time.Millisecond)
	if err := st.AppendChanges(context.Background(), recs[1:]...); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(jsonLines(t, out.String())) < 3 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := jsonLines(t, out.String()); len(got) != 3 || got[2].ID != recs[2].ID {
		t.Errorf("tail printed %d records", len(got))
	}
}

func TestServeWebhookFlags(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	bad := filepath.Join(dir, "bad")
	_ = os.WriteFile(good, []byte("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n"), 0o600)
	_ = os.WriteFile(bad, []byte("not a secret"), 0o600)
	for _, tc := range []struct {
		flags feedServeFlags
		code  int // 0 ok, 2 usage error, 1 other error
	}{
		{feedServeFlags{retention: "400d"}, 0},
		{feedServeFlags{retention: "400d", webhookURL: "http://127.0.0.1:9/hook", secretFile: good}, 0},
		{feedServeFlags{retention: "400d", webhookURL: "http://127.0.0.1:9/hook"}, 2},
		{feedServeFlags{retention: "400d", secretFile: good}, 2},
		{feedServeFlags{retention: "400d", webhookURL: "ftp://x", secretFile: good}, 2},
		{feedServeFlags{retention: "soon"}, 2},
		{feedServeFlags{retention: "400d", webhookURL: "http://127.0.0.1:9/hook", secretFile: bad}, 1},
	} {
		_, err := tc.flags.options()
		_, usage := asUsageError(err)
		code := map[bool]int{true: 2, false: 1}[usage]
		if err == nil {
			code = 0
		}
		if code != tc.code {
			t.Errorf("%+v: %v (code %d), want code %d", tc.flags, err, code, tc.code)
		}
	}
}

// syncBuilder is a strings.Builder safe for a writer and a reader goroutine.
type syncBuilder struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuilder) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuilder) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestEventsListAll: --all lists the records of every connection as one
// feed, resumable with --after, and refuses a connection beside it.
func TestEventsListAll(t *testing.T) {
	t.Setenv("SCIMGATE_DATA", "")
	t.Setenv("SCIMGATE_DYNAMODB_TABLE", "")
	recs := sampleRecords()
	other := sampleRecords()
	for i := range other {
		other[i].Tenant, other[i].SSO = "beta", "entra"
	}
	all := []changes.Record{recs[0], other[0], recs[1], other[1], recs[2], other[2]}
	data := seedFeed(t, all)
	ids := func(rs []changes.Record) string {
		var out []string
		for _, r := range rs {
			out = append(out, r.ID)
		}
		return strings.Join(out, " ")
	}
	for _, tc := range []struct {
		args []string
		want []changes.Record
	}{
		{[]string{"events", "list", "--all", "--json"}, all},
		{[]string{"events", "list", "--all", "--json", "--after", all[2].ID}, all[3:]},
		{[]string{"events", "list", "--all", "--json", "--type", "user.deactivated"}, []changes.Record{recs[1], other[1]}},
	} {
		code, stdout, stderr := runCLI(t, append(tc.args, "--data", data)...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", tc.args, code, stderr)
		}
		if got := jsonLines(t, stdout); ids(got) != ids(tc.want) {
			t.Errorf("%v: %s, want %s", tc.args, ids(got), ids(tc.want))
		}
	}
	if code, _, stderr := runCLI(t, "events", "list", "--all", "--tenant", "acme", "--data", data); code != 2 || !strings.Contains(stderr, "--all") {
		t.Errorf("--all with --tenant: exit %d, %s; want a usage error", code, stderr)
	}
}
