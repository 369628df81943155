package adminapi_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scimgate/scimgate/pkg/adminapi"
	"github.com/scimgate/scimgate/pkg/sqlitestore"
)

const adminToken = "admin-token-0123456789abcdef0123456789abcdef"

func newHandler(t *testing.T, cfg adminapi.Config) *httptest.Server {
	t.Helper()
	st, err := sqlitestore.Open(context.Background(), filepath.Join(t.TempDir(), "scimgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cfg.Store = st
	if cfg.Authorize == nil {
		cfg.Authorize = adminapi.BearerToken(adminToken)
	}
	srv := httptest.NewServer(adminapi.New(cfg))
	t.Cleanup(srv.Close)
	return srv
}

func call(t *testing.T, method, url, authorization, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if len(b) > 0 {
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s %s: not JSON: %s", method, url, b)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s %s: Content-Type %q", method, url, ct)
		}
	}
	return resp.StatusCode, m
}

// TestBearerToken: only exactly the admin token, as a Bearer credential,
// is admitted; the scheme is case-insensitive (RFC 9110 §11.1).
func TestBearerToken(t *testing.T) {
	authorize := adminapi.BearerToken(adminToken)
	for header, ok := range map[string]bool{
		"Bearer " + adminToken: true, "bearer " + adminToken: true, " Bearer  " + adminToken + " ": true,
		"": false, "Bearer": false, "Bearer " + adminToken[:10]: false, "Bearer " + adminToken + "x": false,
		"Basic " + adminToken: false, adminToken: false, "Bearer scimgate_" + adminToken: false,
	} {
		r := httptest.NewRequest("GET", "/admin/v1/connections", nil)
		r.Header.Set("Authorization", header)
		if _, err := authorize(r); (err == nil) != ok {
			t.Errorf("Authorization %q: admitted %v, want %v", header, err == nil, ok)
		}
	}
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Authorization", "Bearer ")
	if _, err := adminapi.BearerToken("")(r); err == nil {
		t.Error("an empty admin token admits an empty credential")
	}
}

// TestUnauthenticatedCallersLearnNothing: without credentials, a known
// path, an unknown one and a wrong method all get the same 401.
func TestUnauthenticatedCallersLearnNothing(t *testing.T) {
	srv := newHandler(t, adminapi.Config{})
	for _, rt := range []struct{ method, path string }{
		{"GET", "/admin/v1/connections"}, {"GET", "/admin/v1/nothing/here"}, {"PUT", "/admin/v1/connections"},
	} {
		status, body := call(t, rt.method, srv.URL+rt.path, "", "")
		if status != http.StatusUnauthorized || body["code"] != adminapi.CodeUnauthorized {
			t.Errorf("%s %s without credentials: %d %v", rt.method, rt.path, status, body)
		}
	}
}

// TestDedicatedTenant: a per-tenant deployment's admin API sees only its
// tenant's connections.
func TestDedicatedTenant(t *testing.T) {
	srv := newHandler(t, adminapi.Config{DedicatedTenant: "acme"})
	auth := "Bearer " + adminToken
	api := srv.URL + adminapi.ViewsPrefix
	if status, body := call(t, "POST", api, auth, `{"tenant":"acme","sso":"okta"}`); status != http.StatusCreated {
		t.Fatalf("create acme/okta: %d %v", status, body)
	}
	if status, body := call(t, "POST", api, auth, `{"tenant":"globex","sso":"okta"}`); status != http.StatusBadRequest || body["field"] != "tenant" {
		t.Errorf("create globex/okta on acme's deployment: %d %v", status, body)
	}
	for _, path := range []string{"/globex/okta", "/globex/okta/tokens", "/globex/okta/Users"} {
		if status, body := call(t, "GET", api+path, auth, ""); status != http.StatusNotFound {
			t.Errorf("GET %s on acme's deployment: %d %v", path, status, body)
		}
	}
	status, body := call(t, "GET", api, auth, "")
	if list, _ := body["connections"].([]any); status != http.StatusOK || len(list) != 1 {
		t.Errorf("list: %d %v", status, body)
	}
	status, body = call(t, "GET", api+"?tenant=globex", auth, "")
	if list, _ := body["connections"].([]any); status != http.StatusOK || len(list) != 0 {
		t.Errorf("list ?tenant=globex: %d %v", status, body)
	}
}

// TestBodies: the media type, size and shape of request bodies.
func TestBodies(t *testing.T) {
	srv := newHandler(t, adminapi.Config{})
	auth := "Bearer " + adminToken
	api := srv.URL + adminapi.ViewsPrefix
	req, _ := http.NewRequest("POST", api, strings.NewReader(`{"tenant":"acme","sso":"okta"}`))
	req.Header.Set("Authorization", auth)
	req.Header.Set("Content-Type", "text/plain")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("text/plain body: %d, want 415", resp.StatusCode)
	}
	if status, body := call(t, "POST", api, auth, `{"tenant":"acme","sso":"okta"}{"tenant":"x"}`); status != http.StatusBadRequest {
		t.Errorf("two JSON objects: %d %v", status, body)
	}
	if status, body := call(t, "POST", api, auth, `{"tenant":7,"sso":"okta"}`); status != http.StatusBadRequest || body["field"] != "tenant" {
		t.Errorf("a number for tenant: %d %v", status, body)
	}
	if status, body := call(t, "POST", api, auth, `{"tenant":"acme","sso":"`+strings.Repeat("a", 70<<10)+`"}`); status != http.StatusRequestEntityTooLarge {
		t.Errorf("a 70 KiB body: %d %v", status, body)
	}
	if status, _ := call(t, "POST", api, auth, `{"tenant":"acme","sso":"okta"}`); status != http.StatusCreated {
		t.Fatalf("create: %d", status)
	}
	if status, body := call(t, "POST", api+"/acme/okta/tokens/x/rotate", auth, `{"overlap":"2030-01-01T00:00:00Z"}`); status != http.StatusBadRequest || body["field"] != "overlap" {
		t.Errorf("an absolute time as overlap: %d %v", status, body)
	}
}

func TestDisabled(t *testing.T) {
	srv := httptest.NewServer(adminapi.Disabled("set SCIMGATE_ADMIN_TOKEN"))
	defer srv.Close()
	status, body := call(t, "GET", srv.URL+"/admin/v1/connections", "Bearer "+adminToken, "")
	if status != http.StatusNotFound || body["code"] != adminapi.CodeNotFound || !strings.Contains(body["message"].(string), "SCIMGATE_ADMIN_TOKEN") {
		t.Errorf("disabled admin API: %d %v", status, body)
	}
}

// TestStrictInput: the admin API reads its input as SCIM does (pkg/scim's
// strict decoder): one meaning per request. Duplicate keys, keys that differ
// only in case, a key whose case differs from the field's, invalid UTF-8, and
// two Authorization headers are refused, and change nothing.
func TestStrictInput(t *testing.T) {
	srv := newHandler(t, adminapi.Config{})
	auth := "Bearer " + adminToken
	api := srv.URL + adminapi.ViewsPrefix
	for _, body := range []string{
		`{"tenant":"acme","sso":"okta","tenant":"evil"}`,
		`{"tenant":"acme","sso":"okta","TENANT":"evil"}`,
		`{"Tenant":"evil","sso":"okta"}`,
		`{"tenant":"evil","sso":"okta","name":"` + "\xff" + `"}`,
	} {
		if status, resp := call(t, "POST", api, auth, body); status != http.StatusBadRequest || resp["code"] != adminapi.CodeInvalidRequest {
			t.Errorf("POST %q: %d %v, want 400 %s", body, status, resp, adminapi.CodeInvalidRequest)
		}
	}
	for _, path := range []string{"/acme/okta", "/evil/okta"} {
		if status, _ := call(t, "GET", api+path, auth, ""); status != http.StatusNotFound {
			t.Errorf("GET %s after refused creates: %d, want 404", path, status)
		}
	}

	req, _ := http.NewRequest("GET", api, nil)
	req.Header.Add("Authorization", auth)
	req.Header.Add("Authorization", auth)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("two Authorization headers: %d, want 401", resp.StatusCode)
	}
}

// TestInvalidIdsAreNotEchoedOrLogged: an invalid tenant or sso id (an
// email pasted where the id belongs) is refused with a 400 that names the
// field and the rule, not the value, and the access log does not hold it.
func TestInvalidIdsAreNotEchoedOrLogged(t *testing.T) {
	var logs strings.Builder
	srv := newHandler(t, adminapi.Config{Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	auth := "Bearer " + adminToken
	api := srv.URL + adminapi.ViewsPrefix
	const secret = "secret.person@corp.example"
	for _, rq := range []struct{ method, path, body, field string }{
		{"GET", "/" + secret + "/okta", "", "tenant"},
		{"GET", "/acme/" + secret + "/tokens", "", "sso"},
		{"POST", "", `{"tenant":"` + secret + `","sso":"okta"}`, "tenant"},
	} {
		status, body := call(t, rq.method, api+rq.path, auth, rq.body)
		if status != http.StatusBadRequest || body["field"] != rq.field {
			t.Errorf("%s %s: %d %v, want 400 on %s", rq.method, rq.path, status, body, rq.field)
		}
		if msg, _ := body["message"].(string); strings.Contains(msg, "secret.person") || msg == "" {
			t.Errorf("%s %s: the message echoes the invalid id or is empty: %q", rq.method, rq.path, msg)
		}
	}
	call(t, "DELETE", api+"/acme/okta/tokens/"+secret, auth, "")
	call(t, "GET", srv.URL+"/admin/v1/"+secret, auth, "")
	if strings.Contains(logs.String(), "secret.person") {
		t.Fatalf("the admin access log holds an invalid id:\n%s", logs.String())
	}
}
