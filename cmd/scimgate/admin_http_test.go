package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scimgate/scimgate/pkg/admin"
	"github.com/scimgate/scimgate/pkg/adminapi"
	"github.com/scimgate/scimgate/pkg/dynamostore"
	"github.com/scimgate/scimgate/pkg/dynamotest"
	"github.com/scimgate/scimgate/pkg/httpapi"
	"github.com/scimgate/scimgate/pkg/ratelimit"
	"github.com/scimgate/scimgate/pkg/scim"
	"github.com/scimgate/scimgate/pkg/sqlitestore"
)

const testAdminToken = "admin-token-for-tests-0123456789abcdef"

// moto is started by the first DynamoDB test of this binary that needs it.
var moto dynamotest.Shared

func TestMain(m *testing.M) {
	code := moto.Run(m)
	removeBinary()
	os.Exit(code)
}

// openStores opens a fresh store of the kind named.
func openStores(t *testing.T, kind string) *stores {
	t.Helper()
	if kind == "dynamodb" {
		srv := moto.Server(t)
		client := srv.Client(t)
		table := srv.NewTable(t, client)
		st := dynamostore.New(client, table)
		return &stores{resources: st, tokens: st, conns: st, table: table, describe: "DynamoDB table " + table, close: func() error { return nil }}
	}
	st, err := sqlitestore.Open(context.Background(), filepath.Join(t.TempDir(), "scimgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &stores{resources: st, tokens: st, conns: st, embedded: st, describe: "embedded store", close: func() error { return nil }}
}

var storeKinds = []string{"sqlite", "dynamodb"}

// localServer serves the local wiring (SCIM, admin API, views) on st.
func localServer(t *testing.T, st *stores, adminToken string) *httptest.Server {
	t.Helper()
	// This test sends wrong tokens to every route on purpose: a limit far
	// above that (pkg/adminapi tests the real one).
	failures := ratelimit.NewKeyed(1000, 1_000_000, time.Now)
	handler, err := localHandler(st, serveOptions{adminToken: adminToken, requestTimeout: time.Minute, adminFailures: failures},
		slog.New(slog.NewJSONHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	return srv
}

type reply struct {
	status int
	header http.Header
	body   []byte
}

func (r reply) object(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("not a JSON object (%v): %s", err, r.body)
	}
	return m
}

func do(t *testing.T, method, url, token, body string) reply {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{status: resp.StatusCode, header: resp.Header, body: b}
}

func want(t *testing.T, r reply, status int, what string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("%s: status %d, want %d: %s", what, r.status, status, r.body)
	}
}

// adminRoutePaths is one concrete request per admin route.
func adminRoutePaths(userID, groupID, tokenID string) []struct{ method, path, body string } {
	var out []struct{ method, path, body string }
	for _, rt := range adminapi.Routes() {
		id := tokenID
		switch {
		case strings.Contains(rt.Pattern, "/Users/"):
			id = userID
		case strings.Contains(rt.Pattern, "/Groups/"):
			id = groupID
		}
		path := strings.NewReplacer("{tenant}", "acme", "{sso}", "okta", "{id}", id).Replace(rt.Pattern)
		body := ""
		switch {
		case rt.Method == "POST" && rt.Pattern == adminapi.ViewsPrefix:
			body = `{"tenant":"acme","sso":"other"}`
		case rt.Method == "PATCH":
			body = `{"state":"disabled"}`
		case rt.Method == "PUT":
			body = `{"unknown_extensions":"store"}`
		}
		out = append(out, struct{ method, path, body string }{rt.Method, path, body})
	}
	return out
}

// TestAdminAPI runs every admin route through the local wiring on both
// stores: what each answers, and that only the admin token opens it.
func TestAdminAPI(t *testing.T) {
	for _, kind := range storeKinds {
		t.Run(kind, func(t *testing.T) { testAdminAPI(t, openStores(t, kind)) })
	}
}

func testAdminAPI(t *testing.T, st *stores) {
	srv := localServer(t, st, testAdminToken)
	api := srv.URL + adminapi.ViewsPrefix

	// Create a connection: 201, the fixed fields, the base URL on the host the request arrived on.
	r := do(t, "POST", api, testAdminToken, `{"tenant":"acme","sso":"okta","name":"Acme Okta"}`)
	want(t, r, http.StatusCreated, "POST /admin/v1/connections")
	created := r.object(t)
	for _, k := range []string{"tenant", "sso", "state", "base_url", "token_id", "token", "created"} {
		if _, ok := created[k]; !ok {
			t.Errorf("create answer has no %q: %s", k, r.body)
		}
	}
	if created["base_url"] != srv.URL+"/scim/v2/acme/okta" || created["state"] != "active" {
		t.Errorf("create answer: base_url %v, state %v", created["base_url"], created["state"])
	}
	secret, _ := created["token"].(string)
	firstID, _ := created["token_id"].(string)
	scimBase := srv.URL + "/scim/v2/acme/okta"
	want(t, do(t, "GET", scimBase+"/Users", secret, ""), http.StatusOK, "the first token on the SCIM API")

	// Errors: 409 exists, 400 naming the field, 404 unknown.
	for _, tc := range []struct {
		method, path, body string
		status             int
		code, field        string
	}{
		{"POST", "", `{"tenant":"acme","sso":"okta"}`, 409, adminapi.CodeAlreadyExists, ""},
		{"POST", "", `{"tenant":"Acme","sso":"okta"}`, 400, adminapi.CodeInvalidRequest, "tenant"},
		{"POST", "", `{"tenant":"acme"}`, 400, adminapi.CodeInvalidRequest, "sso"},
		{"POST", "", `{"tenant":"acme","sso":"x","colour":"red"}`, 400, adminapi.CodeInvalidRequest, "colour"},
		{"POST", "", `{"tenant":"acme","sso":"x","expires_in":"soon"}`, 400, adminapi.CodeInvalidRequest, "expires_in"},
		{"POST", "", `not json`, 400, adminapi.CodeInvalidRequest, ""},
		{"GET", "/acme/nope", "", 404, adminapi.CodeNotFound, ""},
		{"GET", "/acme/nope/Users", "", 404, adminapi.CodeNotFound, ""},
		{"PATCH", "/acme/okta", `{"state":"paused"}`, 400, adminapi.CodeInvalidRequest, "state"},
		{"PATCH", "/acme/okta", `{}`, 400, adminapi.CodeInvalidRequest, "state"},
		{"PATCH", "/acme/nope", `{"state":"disabled"}`, 404, adminapi.CodeNotFound, ""},
		{"POST", "/acme/okta/tokens/nope/rotate", "", 404, adminapi.CodeNotFound, ""},
		{"DELETE", "/acme/okta/tokens/nope", "", 404, adminapi.CodeNotFound, ""},
		{"POST", "/acme/okta/tokens", `{"expires_in":"-"}`, 400, adminapi.CodeInvalidRequest, "expires_in"},
		{"PUT", "/acme/okta", `{}`, 405, adminapi.CodeMethodNotAllowed, ""},
		{"GET", "/acme/okta/widgets", "", 404, adminapi.CodeNotFound, ""},
		{"POST", "/acme/okta/Users", `{"userName":"x"}`, 405, adminapi.CodeMethodNotAllowed, ""},
	} {
		r := do(t, tc.method, api+tc.path, testAdminToken, tc.body)
		if r.status != tc.status {
			t.Errorf("%s %s %s: %d, want %d: %s", tc.method, tc.path, tc.body, r.status, tc.status, r.body)
			continue
		}
		e := r.object(t)
		if e["code"] != tc.code || e["message"] == "" || (tc.field != "" && e["field"] != tc.field) {
			t.Errorf("%s %s %s: error %s, want code %s field %q", tc.method, tc.path, tc.body, r.body, tc.code, tc.field)
		}
	}

	// List and get.
	r = do(t, "GET", api, testAdminToken, "")
	want(t, r, http.StatusOK, "GET /admin/v1/connections")
	var list struct {
		Connections []map[string]any `json:"connections"`
	}
	if err := json.Unmarshal(r.body, &list); err != nil || len(list.Connections) != 1 || list.Connections[0]["tenant"] != "acme" ||
		list.Connections[0]["sso"] != "okta" || list.Connections[0]["state"] != "active" || list.Connections[0]["created"] == nil {
		t.Errorf("list: %s", r.body)
	}
	r = do(t, "GET", api+"?tenant=globex", testAdminToken, "")
	want(t, r, http.StatusOK, "GET ?tenant=globex")
	if !strings.Contains(string(r.body), `"connections":[]`) {
		t.Errorf("another tenant's list: %s", r.body)
	}

	// SCIM data pushed by the IdP, read through the views.
	userResp := doSCIM(t, "POST", scimBase+"/Users", secret, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"ada@example.com","active":true}`)
	want(t, userResp, http.StatusCreated, "POST /Users")
	userID, _ := userResp.object(t)["id"].(string)
	groupResp := doSCIM(t, "POST", scimBase+"/Groups", secret, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Engineering","members":[{"value":"`+userID+`"}]}`)
	want(t, groupResp, http.StatusCreated, "POST /Groups")
	groupID, _ := groupResp.object(t)["id"].(string)

	r = do(t, "GET", api+"/acme/okta/Users?filter=userName%20eq%20%22ada@example.com%22", testAdminToken, "")
	want(t, r, http.StatusOK, "view: filtered Users")
	if v := r.object(t); v["totalResults"] != float64(1) || !strings.HasPrefix(r.header.Get("Content-Type"), httpapi.ContentType) {
		t.Errorf("view Users: %s (%s)", r.body, r.header.Get("Content-Type"))
	}
	r = do(t, "GET", api+"/acme/okta/Users/"+userID, testAdminToken, "")
	want(t, r, http.StatusOK, "view: a user")
	if v := r.object(t); v["active"] != true {
		t.Errorf("view user: %s", r.body)
	}
	r = do(t, "GET", api+"/acme/okta/Groups?filter=members%20eq%20%22"+userID+"%22", testAdminToken, "")
	want(t, r, http.StatusOK, "view: the user's groups")
	if v := r.object(t); v["totalResults"] != float64(1) {
		t.Errorf("view groups of the user: %s", r.body)
	}
	r = do(t, "GET", api+"/acme/okta/Groups/"+groupID, testAdminToken, "")
	want(t, r, http.StatusOK, "view: a group")
	if members, _ := r.object(t)["members"].([]any); len(members) != 1 {
		t.Errorf("view group members: %s", r.body)
	}
	r = do(t, "GET", api+"/acme/okta/Users?count=1&cursor=", testAdminToken, "")
	want(t, r, http.StatusOK, "view: cursor paging")

	r = do(t, "GET", api+"/acme/okta", testAdminToken, "")
	want(t, r, http.StatusOK, "GET connection")
	detail := r.object(t)
	if detail["users"] != float64(1) || detail["groups"] != float64(1) || detail["state"] != "active" {
		t.Errorf("connection detail: %s", r.body)
	}

	// Tokens: create, list (never a secret), rotate, revoke.
	r = do(t, "POST", api+"/acme/okta/tokens", testAdminToken, `{"expires_in":"90d","description":"Okta production"}`)
	want(t, r, http.StatusCreated, "POST tokens")
	tok := r.object(t)
	for _, k := range []string{"id", "secret", "created", "expires"} {
		if tok[k] == nil {
			t.Errorf("new token has no %q: %s", k, r.body)
		}
	}
	r = do(t, "POST", api+"/acme/okta/tokens", testAdminToken, "")
	want(t, r, http.StatusCreated, "POST tokens without a body")
	if e := r.object(t)["expires"]; e != nil {
		t.Errorf("a token without expires_in expires at %v", e)
	}
	r = do(t, "GET", api+"/acme/okta/tokens", testAdminToken, "")
	want(t, r, http.StatusOK, "GET tokens")
	if strings.Contains(string(r.body), "scimgate_") || strings.Contains(string(r.body), `"secret"`) || strings.Contains(string(r.body), `"hash"`) {
		t.Errorf("the token list shows a secret: %s", r.body)
	}
	var tokens struct {
		Tokens []map[string]any `json:"tokens"`
	}
	if err := json.Unmarshal(r.body, &tokens); err != nil || len(tokens.Tokens) != 3 {
		t.Fatalf("token list: %s", r.body)
	}
	for _, k := range []string{"id", "created", "expires", "last_used", "revoked"} {
		if _, ok := tokens.Tokens[0][k]; !ok {
			t.Errorf("token list entries have no %q: %s", k, r.body)
		}
	}

	r = do(t, "POST", api+"/acme/okta/tokens/"+firstID+"/rotate", testAdminToken, `{"overlap":"1h"}`)
	want(t, r, http.StatusCreated, "rotate")
	rot := r.object(t)
	newSecret, _ := rot["secret"].(string)
	oldExpires, _ := time.Parse(time.RFC3339, stringOf(rot["old_expires"]))
	if !strings.HasPrefix(newSecret, "scimgate_") || rot["old_id"] != firstID || time.Until(oldExpires) < 50*time.Minute || time.Until(oldExpires) > 70*time.Minute {
		t.Errorf("rotation: %s", r.body)
	}
	want(t, do(t, "GET", scimBase+"/Users", secret, ""), http.StatusOK, "the rotated token during the overlap")
	want(t, do(t, "GET", scimBase+"/Users", newSecret, ""), http.StatusOK, "the new token")

	r = do(t, "DELETE", api+"/acme/okta/tokens/"+firstID, testAdminToken, "")
	want(t, r, http.StatusOK, "revoke")
	if r.object(t)["revoked"] == nil {
		t.Errorf("revoke answer: %s", r.body)
	}
	want(t, do(t, "GET", scimBase+"/Users", secret, ""), http.StatusUnauthorized, "the revoked token's next request")
	want(t, do(t, "GET", scimBase+"/Users", newSecret, ""), http.StatusOK, "the other token after the revocation")

	// Disable and enable.
	r = do(t, "PATCH", api+"/acme/okta", testAdminToken, `{"state":"disabled"}`)
	want(t, r, http.StatusOK, "disable")
	if r.object(t)["state"] != "disabled" {
		t.Errorf("disable answer: %s", r.body)
	}
	want(t, do(t, "GET", scimBase+"/Users", newSecret, ""), http.StatusUnauthorized, "SCIM on a disabled connection")
	want(t, do(t, "GET", api+"/acme/okta/Users/"+userID, testAdminToken, ""), http.StatusOK, "the view of a disabled connection")
	want(t, do(t, "PATCH", api+"/acme/okta", testAdminToken, `{"state":"active"}`), http.StatusOK, "enable")
	want(t, do(t, "GET", scimBase+"/Users", newSecret, ""), http.StatusOK, "SCIM after enable")

	// Credentials: only the admin token opens the admin routes.
	for _, rt := range adminRoutePaths(userID, groupID, firstID) {
		for name, token := range map[string]string{"no token": "", "a SCIM token": newSecret, "a wrong admin token": testAdminToken + "x"} {
			r := do(t, rt.method, srv.URL+rt.path, token, rt.body)
			if r.status != http.StatusUnauthorized || r.object(t)["code"] != adminapi.CodeUnauthorized {
				t.Errorf("%s %s with %s: %d %s, want 401", rt.method, rt.path, name, r.status, r.body)
			}
		}
	}
	want(t, do(t, "GET", scimBase+"/Users", testAdminToken, ""), http.StatusUnauthorized, "the admin token on the SCIM API")

	// Delete: gone from every API.
	want(t, do(t, "DELETE", api+"/acme/okta", testAdminToken, ""), http.StatusNoContent, "delete")
	want(t, do(t, "GET", api+"/acme/okta", testAdminToken, ""), http.StatusNotFound, "GET a deleted connection")
	want(t, do(t, "GET", api+"/acme/okta/Users", testAdminToken, ""), http.StatusNotFound, "the view of a deleted connection")
	want(t, do(t, "GET", scimBase+"/Users", newSecret, ""), http.StatusUnauthorized, "SCIM on a deleted connection")
}

func stringOf(v any) string { s, _ := v.(string); return s }

func doSCIM(t *testing.T, method, url, token, body string) reply {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/scim+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{status: resp.StatusCode, header: resp.Header, body: b}
}

// TestAdminAPIOffWithoutToken: without an admin token every admin route is 404.
func TestAdminAPIOffWithoutToken(t *testing.T) {
	srv := localServer(t, openStores(t, "sqlite"), "")
	for _, rt := range adminRoutePaths("u", "g", "t") {
		for _, token := range []string{"", testAdminToken} {
			if r := do(t, rt.method, srv.URL+rt.path, token, rt.body); r.status != http.StatusNotFound {
				t.Errorf("%s %s without an admin API: %d, want 404", rt.method, rt.path, r.status)
			}
		}
	}
}

// TestSCIMIsolationMatrix: every SCIM route, with every credential that
// must not open acme/okta, answers 401 and changes nothing.
func TestSCIMIsolationMatrix(t *testing.T) {
	for _, kind := range storeKinds {
		t.Run(kind, func(t *testing.T) { testIsolationMatrix(t, openStores(t, kind)) })
	}
}

func testIsolationMatrix(t *testing.T, st *stores) {
	ctx := context.Background()
	srv := localServer(t, st, testAdminToken)
	past := time.Now().Add(-2 * time.Hour)
	svc := admin.New(admin.Config{Store: st.conns, PublicURL: srv.URL, Clock: time.Now})
	earlier := admin.New(admin.Config{Store: st.conns, PublicURL: srv.URL, Clock: func() time.Time { return past }})

	acme := scim.Connection{Tenant: "acme", SSO: "okta"}
	created, err := svc.CreateConnection(ctx, acme, "", admin.TokenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	valid := created.Token
	revoked, err := svc.CreateToken(ctx, acme, admin.TokenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.RevokeToken(ctx, acme, revoked.ID); err != nil {
		t.Fatal(err)
	}
	expired, err := earlier.CreateToken(ctx, acme, admin.TokenOptions{Expires: past.Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	tokenOf := func(conn scim.Connection) string {
		t.Helper()
		c, err := svc.CreateConnection(ctx, conn, "", admin.TokenOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return c.Token
	}
	otherConnection := tokenOf(scim.Connection{Tenant: "acme", SSO: "entra"})
	otherTenant := tokenOf(scim.Connection{Tenant: "globex", SSO: "okta"})
	disabledConn := scim.Connection{Tenant: "initech", SSO: "okta"}
	disabled := tokenOf(disabledConn)

	base := func(c scim.Connection) string { return srv.URL + "/scim/v2/" + c.Tenant + "/" + c.SSO }
	seed := func(c scim.Connection, token string) (userID, groupID string) {
		t.Helper()
		r := doSCIM(t, "POST", base(c)+"/Users", token, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"ada@example.com"}`)
		want(t, r, http.StatusCreated, "seed user")
		userID = stringOf(r.object(t)["id"])
		r = doSCIM(t, "POST", base(c)+"/Groups", token, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Eng","members":[{"value":"`+userID+`"}]}`)
		want(t, r, http.StatusCreated, "seed group")
		return userID, stringOf(r.object(t)["id"])
	}
	acmeUser, acmeGroup := seed(acme, valid)
	initechUser, initechGroup := seed(disabledConn, disabled)
	if _, err := svc.SetState(ctx, disabledConn, "disabled"); err != nil {
		t.Fatal(err)
	}
	// What each connection holds, read through the admin views (which also
	// see a disabled connection).
	snapshot := func() string {
		t.Helper()
		var b strings.Builder
		for _, c := range []scim.Connection{acme, disabledConn} {
			for _, res := range []string{"Users", "Groups"} {
				r := do(t, "GET", srv.URL+adminapi.ViewsPrefix+"/"+c.Tenant+"/"+c.SSO+"/"+res, testAdminToken, "")
				want(t, r, http.StatusOK, "snapshot")
				b.Write(r.body)
			}
		}
		return b.String()
	}
	before := snapshot()

	cases := []struct {
		name, token string
		conn        scim.Connection
		user, group string
	}{
		{"no token", "", acme, acmeUser, acmeGroup},
		{"a revoked token", revoked.Secret, acme, acmeUser, acmeGroup},
		{"an expired token", expired.Secret, acme, acmeUser, acmeGroup},
		{"a disabled connection's token", disabled, disabledConn, initechUser, initechGroup},
		{"another connection's token", otherConnection, acme, acmeUser, acmeGroup},
		{"another tenant's token", otherTenant, acme, acmeUser, acmeGroup},
		{"the admin token", testAdminToken, acme, acmeUser, acmeGroup},
	}
	bodies := map[string]string{
		"Users":  `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"mallory@example.com"}`,
		"Groups": `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Mallory"}`,
		"PATCH":  `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"active","value":false}]}`,
		"Bulk":   `{"schemas":["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],"Operations":[{"method":"POST","path":"/Users","bulkId":"m","data":{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"bulk@example.com"}}]}`,
		"search": `{"schemas":["urn:ietf:params:scim:api:messages:2.0:SearchRequest"]}`,
	}
	for _, rt := range httpapi.Routes() {
		for _, tc := range cases {
			id := "User"
			switch {
			case strings.HasPrefix(rt.Pattern, "/{tenant}/{sso}/Users/"):
				id = tc.user
			case strings.HasPrefix(rt.Pattern, "/{tenant}/{sso}/Groups/"):
				id = tc.group
			}
			path := strings.NewReplacer("/{tenant}/{sso}", "", "{id}", id).Replace(rt.Pattern)
			body := ""
			switch {
			case strings.HasSuffix(path, ".search"):
				body = bodies["search"]
			case rt.Method == "PATCH":
				body = bodies["PATCH"]
			case rt.Resource == httpapi.BulkResource:
				body = bodies["Bulk"]
			case rt.Method == "POST" || rt.Method == "PUT":
				body = bodies[string(rt.Resource)]
			}
			r := doSCIM(t, rt.Method, base(tc.conn)+path, tc.token, body)
			if r.status != http.StatusUnauthorized {
				t.Errorf("%s %s with %s: %d, want 401: %s", rt.Method, rt.Pattern, tc.name, r.status, r.body)
			}
		}
	}
	if after := snapshot(); after != before {
		t.Errorf("refused requests changed data:\nbefore %s\nafter  %s", before, after)
	}
}
