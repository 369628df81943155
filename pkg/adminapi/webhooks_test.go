package adminapi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scimgate/scimgate/pkg/adminapi"
	"github.com/scimgate/scimgate/pkg/sqlitestore"
)

// TestWebhookRoutes: the endpoint lifecycle over HTTP with the CLI's keys;
// the secret appears in the create and rotate answers only; bad input is a
// 400 naming the field and changes nothing.
func TestWebhookRoutes(t *testing.T) {
	st, err := sqlitestore.Open(context.Background(), filepath.Join(t.TempDir(), "scimgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	srv := httptest.NewServer(adminapi.New(adminapi.Config{Store: st, Webhooks: st, Authorize: adminapi.BearerToken(adminToken)}))
	t.Cleanup(srv.Close)
	auth := "Bearer " + adminToken
	base := srv.URL + adminapi.WebhooksPattern

	status, created := call(t, "POST", base, auth, `{"url":"https://hooks.example.com/in","types":["group.*"],"tenant":"acme","sso":"okta"}`)
	id, _ := created["id"].(string)
	secret, _ := created["secret"].(string)
	if status != http.StatusCreated || id == "" || !strings.HasPrefix(secret, "whsec_") || created["enabled"] != true {
		t.Fatalf("create: %d %v", status, created)
	}
	if conns, _ := created["connections"].([]any); len(conns) != 1 {
		t.Fatalf("create: connections %v", created["connections"])
	}
	for _, tc := range []struct {
		method, path, body string
		status             int
		field              string
	}{
		{"POST", "", `{"url":"ftp://x"}`, 400, ""},
		{"POST", "", `{"types":["group.*"]}`, 400, ""},
		{"POST", "", `{"url":"https://x","tenant":"acme"}`, 400, "sso"},
		{"POST", "", `{"url":"https://x","colour":"red"}`, 400, "colour"},
		{"PATCH", "/" + id, `{"types":["nope.*"]}`, 400, ""},
		{"GET", "/wh_missing", "", 404, ""},
		{"POST", "/" + id + "/replay", `{"after":"bad"}`, 400, ""},
		{"POST", "/" + id + "/replay", `{"after":"01KB0000000000000000000000","dead_letters":true}`, 400, "dead_letters"},
	} {
		status, body := call(t, tc.method, base+tc.path, auth, tc.body)
		if status != tc.status || (tc.field != "" && body["field"] != tc.field) {
			t.Errorf("%s %s %s: %d %v, want %d field %q", tc.method, tc.path, tc.body, status, body, tc.status, tc.field)
		}
	}
	status, list := call(t, "GET", base, auth, "")
	if hooks, _ := list["webhooks"].([]any); status != 200 || len(hooks) != 1 {
		t.Fatalf("list: %d %v", status, list)
	}
	status, got := call(t, "PATCH", base+"/"+id, auth, `{"enabled":false}`)
	if status != 200 || got["enabled"] != false || got["url"] != "https://hooks.example.com/in" {
		t.Fatalf("patch: %d %v", status, got)
	}
	if _, ok := got["secret"]; ok {
		t.Fatal("PATCH answers the secret")
	}
	status, rot := call(t, "POST", base+"/"+id+"/rotate-secret", auth, "")
	if status != 201 || rot["secret"] == secret || rot["previous_secret_expires"] == nil {
		t.Fatalf("rotate: %d %v", status, rot)
	}
	if status, got := call(t, "POST", base+"/"+id+"/replay", auth, `{"after":"01KB0000000000000000000000"}`); status != 202 || got["replay_seq"] != float64(1) {
		t.Fatalf("replay: %d %v", status, got)
	}
	if status, got := call(t, "POST", base+"/"+id+"/replay", auth, `{"dead_letters":true}`); status != 202 || got["dead_letter_replay_seq"] != float64(1) {
		t.Fatalf("replay dead letters: %d %v", status, got)
	}
	if status, got := call(t, "GET", base+"/"+id+"/deliveries", auth, ""); status != 200 || got["deliveries"] == nil {
		t.Fatalf("deliveries: %d %v", status, got)
	}
	if status, got := call(t, "GET", base+"/"+id+"/dead-letters", auth, ""); status != 200 || got["dead_letters"] == nil {
		t.Fatalf("dead letters: %d %v", status, got)
	}
	if status, _ := call(t, "DELETE", base+"/"+id, auth, ""); status != 204 {
		t.Fatalf("delete: %d", status)
	}
	if status, _ := call(t, "GET", base+"/"+id, auth, ""); status != 404 {
		t.Fatalf("get after delete: %d", status)
	}
	if status, _ := call(t, "GET", base, "", ""); status != 401 {
		t.Fatalf("without credentials: %d", status)
	}
}
