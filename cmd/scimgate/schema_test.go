package main

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/scimgate/scimgate/pkg/adminapi"
)

// TestConnectionSchemasAPI drives GET/PUT .../schemas and the admin read
// view on both stores: the policy set through the admin API governs the
// SCIM API, and the view returns the custom attributes stored.
func TestConnectionSchemasAPI(t *testing.T) {
	const urn = "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User"
	for _, kind := range storeKinds {
		t.Run(kind, func(t *testing.T) {
			srv := localServer(t, openStores(t, kind), testAdminToken)
			api := srv.URL + adminapi.ViewsPrefix
			r := do(t, "POST", api, testAdminToken, `{"tenant":"acme","sso":"entra"}`)
			want(t, r, http.StatusCreated, "create connection")
			secret, _ := r.object(t)["token"].(string)
			scimBase := srv.URL + "/scim/v2/acme/entra"
			user := func(name string) string {
				return `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"` + name + `","` + urn + `":{"CustomAttribute":"701984"}}`
			}

			r = do(t, "GET", api+"/acme/entra/schemas", testAdminToken, "")
			want(t, r, http.StatusOK, "GET schemas")
			if got := strings.TrimSpace(string(r.body)); got != `{"declared":[],"observed":[],"unknown_extensions":"store"}` {
				t.Fatalf("GET schemas = %s", got)
			}
			r = doSCIM(t, "POST", scimBase+"/Users", secret, user("a@example.com"))
			want(t, r, http.StatusCreated, "POST a user with a custom extension (store)")
			id, _ := r.object(t)["id"].(string)

			r = do(t, "GET", api+"/acme/entra/Users/"+id, testAdminToken, "")
			want(t, r, http.StatusOK, "view: the user")
			if ext, _ := r.object(t)[urn].(map[string]any); ext["CustomAttribute"] != "701984" {
				t.Fatalf("the admin view does not carry the custom attribute: %s", r.body)
			}

			r = do(t, "PUT", api+"/acme/entra/schemas", testAdminToken, `{"unknown_extensions":"reject"}`)
			want(t, r, http.StatusOK, "PUT schemas")
			if !strings.Contains(string(r.body), `"unknown_extensions":"reject"`) {
				t.Fatalf("PUT answer: %s", r.body)
			}
			want(t, doSCIM(t, "POST", scimBase+"/Users", secret, user("b@example.com")), http.StatusBadRequest, "POST under reject")

			for _, bad := range []string{`{"unknown_extensions":"keep"}`, `{}`, `{"declared":[` + badSchema + `]}`, `{"unknownExtensions":"store"}`} {
				want(t, do(t, "PUT", api+"/acme/entra/schemas", testAdminToken, bad), http.StatusBadRequest, "PUT "+bad)
			}
			r = do(t, "GET", api+"/acme/entra/schemas", testAdminToken, "")
			if !strings.Contains(string(r.body), `"unknown_extensions":"reject"`) {
				t.Fatalf("a refused PUT changed the policy: %s", r.body)
			}
			want(t, do(t, "GET", api+"/acme/nope/schemas", testAdminToken, ""), http.StatusNotFound, "unknown connection")
		})
	}
}

// TestConnectionSchemaCLI runs `connection schema set|show` with the fixed
// flags on the embedded store.
func TestConnectionSchemaCLI(t *testing.T) {
	data := "--data=" + t.TempDir() + "/scimgate.db"
	runCLI := func(args ...string) (string, error) {
		t.Helper()
		var stdout, stderr strings.Builder
		err := run(context.Background(), append(args, data), &stdout, &stderr)
		return stdout.String(), err
	}
	if _, err := runCLI("connection", "create", "--tenant", "acme", "--sso", "okta"); err != nil {
		t.Fatal(err)
	}
	out, err := runCLI("connection", "schema", "show", "--tenant", "acme", "--sso", "okta", "--json")
	if err != nil || !strings.Contains(out, `"unknown_extensions": "store"`) || !strings.Contains(out, `"observed": []`) {
		t.Fatalf("show: %v\n%s", err, out)
	}
	if _, err := runCLI("connection", "schema", "set", "--tenant", "acme", "--sso", "okta", "--unknown-extensions", "ignore"); err != nil {
		t.Fatal(err)
	}
	out, err = runCLI("connection", "schema", "show", "--tenant", "acme", "--sso", "okta", "--json")
	if err != nil || !strings.Contains(out, `"unknown_extensions": "ignore"`) {
		t.Fatalf("show after set: %v\n%s", err, out)
	}
	if _, err := runCLI("connection", "schema", "set", "--tenant", "acme", "--sso", "okta", "--unknown-extensions", "drop"); err == nil {
		t.Fatal("an unknown policy was accepted")
	}
	if _, err := runCLI("connection", "schema", "set", "--tenant", "acme", "--sso", "okta", "--from-observed"); err == nil {
		t.Fatal("--from-observed claimed success although nothing is observed yet")
	}
}
