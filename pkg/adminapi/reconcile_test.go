package adminapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scimgate/scimgate/pkg/adminapi"
	"github.com/scimgate/scimgate/pkg/drift"
	"github.com/scimgate/scimgate/pkg/idp/okta/oktatest"
	"github.com/scimgate/scimgate/pkg/idp/readers"
	"github.com/scimgate/scimgate/pkg/idp/secrets"
	"github.com/scimgate/scimgate/pkg/scim"
	"github.com/scimgate/scimgate/pkg/sqlitestore"
)

const reconcileOktaToken = "00admin-api-okta-secret"

// TestReconcileRoutes: PUT/GET/DELETE .../idp and POST/GET .../reconcile,
// with the Okta double; the token is in no answer and no log line.
func TestReconcileRoutes(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlitestore.Open(ctx, filepath.Join(dir, "scimgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	tokenFile := filepath.Join(dir, "okta-token")
	if err := os.WriteFile(tokenFile, []byte(reconcileOktaToken), 0o600); err != nil {
		t.Fatal(err)
	}
	svc := scim.NewService(st)
	factory := readers.Factory{Secrets: secrets.Files{}, Options: readers.Options{Sleep: func(context.Context, time.Duration) error { return nil }}}
	runner := drift.New(drift.Config{Store: st, Service: svc, Links: st, Feed: st, Readers: factory.New})
	var logs bytes.Buffer
	srv := httptest.NewServer(adminapi.New(adminapi.Config{Store: st, Authorize: adminapi.BearerToken(adminToken),
		Reconcile: runner, Logger: slog.New(slog.NewJSONHandler(&logs, nil))}))
	t.Cleanup(srv.Close)
	auth := "Bearer " + adminToken
	base := srv.URL + "/admin/v1/connections/acme/okta"
	var answers strings.Builder
	do := func(method, url, body string) (int, map[string]any) {
		t.Helper()
		code, m := call(t, method, url, auth, body)
		b, _ := json.Marshal(m)
		answers.Write(b)
		return code, m
	}

	if code, _ := do("PUT", base+"/idp", `{"kind":"okta","okta":{"org_url":"https://x.okta.com","app_id":"a","api_token_ref":"/t"}}`); code != 404 {
		t.Fatalf("link of an unknown connection: %d", code)
	}
	if code, _ := do("POST", srv.URL+"/admin/v1/connections", `{"tenant":"acme","sso":"okta"}`); code != 201 {
		t.Fatalf("create connection: %d", code)
	}
	res, err := svc.Create(ctx, scim.Connection{Tenant: "acme", SSO: "okta"}, scim.UserResource,
		[]byte(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"gone@example.com","externalId":"00uGONE"}`))
	if err != nil {
		t.Fatal(err)
	}
	double := oktatest.New(t, "0oaApp")
	double.APIToken = reconcileOktaToken
	double.AddUser(oktatest.AppUser{ID: "00uGONE", ExternalID: res.Resource.ID, Status: "SUSPENDED", UserName: "gone@example.com"})

	// A pasted secret instead of a reference is refused.
	if code, m := do("PUT", base+"/idp", `{"kind":"okta","okta":{"org_url":"`+double.URL+`","app_id":"0oaApp","api_token_ref":"`+reconcileOktaToken+`"}}`); code != 400 {
		t.Fatalf("a secret as reference: %d %v", code, m)
	}
	code, m := do("PUT", base+"/idp", `{"kind":"okta","okta":{"org_url":"`+double.URL+`","app_id":"0oaApp","api_token_ref":"`+tokenFile+`"}}`)
	if code != 200 || m["policy"] != "report" {
		t.Fatalf("put link: %d %v", code, m)
	}
	if code, m := do("GET", base+"/idp", ""); code != 200 || m["okta"].(map[string]any)["api_token_ref"] != tokenFile {
		t.Fatalf("get link: %d %v", code, m)
	}
	if code, _ := do("GET", base+"/reconcile", ""); code != 404 {
		t.Fatalf("last report before any run: %d", code)
	}
	if code, m := do("POST", base+"/reconcile", `{"max_deactivate":-1}`); code != 400 {
		t.Fatalf("negative max_deactivate: %d %v", code, m)
	}
	code, m = do("POST", base+"/reconcile", `{"repair":true}`)
	if code != 200 || m["counts"].(map[string]any)["active_not_assigned"] != 1.0 || m["repaired"].(map[string]any)["active_not_assigned"] != 1.0 {
		t.Fatalf("reconcile: %d %v", code, m)
	}
	if code, m := do("GET", base+"/reconcile", ""); code != 200 || m["repaired"].(map[string]any)["active_not_assigned"] != 1.0 {
		t.Fatalf("last report: %d %v", code, m)
	}
	double.APIToken = "rotated"
	if code, m := do("POST", base+"/reconcile", ""); code != 502 || m["code"] != "idp_failed" || !strings.Contains(m["message"].(string), "nothing was changed") {
		t.Fatalf("broken link: %d %v", code, m)
	}
	if code, _ := do("DELETE", base+"/idp", ""); code != 204 {
		t.Fatalf("delete link: %d", code)
	}
	if code, _ := do("GET", base+"/idp", ""); code != 404 {
		t.Fatalf("link after delete: %d", code)
	}
	if strings.Contains(answers.String(), reconcileOktaToken) {
		t.Fatal("an answer holds the token")
	}
	if strings.Contains(logs.String(), reconcileOktaToken) {
		t.Fatalf("a log line holds the token:\n%s", logs.String())
	}
}
