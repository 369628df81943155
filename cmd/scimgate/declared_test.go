package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scimgate/scimgate/pkg/adminapi"
)

const acmeURN = "urn:ietf:params:scim:schemas:extension:acme:2.0:User"

// acmeSchema declares costCentre, an integer, on User (no x-resourceType:
// User is the default).
const acmeSchema = `{"id":"` + acmeURN + `","name":"Acme","description":"Acme's custom attributes","attributes":[` +
	`{"name":"costCentre","type":"integer","multiValued":false,"required":false,"caseExact":false,"mutability":"readWrite","returned":"default"}]}`

// badSchema has an attribute whose type RFC 7643 §7 does not know.
const badSchema = `{"id":"urn:ietf:params:scim:schemas:extension:bad:2.0:User","attributes":[{"name":"shoeSize","type":"bogus"}]}`

func acmeUserBody(userName, costCentre string) string {
	return `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"` + userName + `","` + acmeURN + `":{"costCentre":` + costCentre + `}}`
}

// declaredIDs returns the ids of the "declared" Schema resources of an answer.
func declaredIDs(t *testing.T, r reply) []string {
	t.Helper()
	var body struct {
		Declared []struct {
			ID           string `json:"id"`
			ResourceType string `json:"x-resourceType"`
		} `json:"declared"`
	}
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Fatalf("answer: %v\n%s", err, r.body)
	}
	ids := []string{}
	for _, d := range body.Declared {
		if d.ResourceType != "User" {
			t.Errorf("declared %s extends %q, want User (the default)", d.ID, d.ResourceType)
		}
		ids = append(ids, d.ID)
	}
	return ids
}

// TestDeclaredSchemasThroughAdminAPI declares a schema with PUT .../schemas
// on both stores, together with the policy in one PUT, and checks that the
// connection's SCIM API and its admin view follow it at once; an invalid
// schema is 400 naming the attribute and changes nothing.
func TestDeclaredSchemasThroughAdminAPI(t *testing.T) {
	for _, kind := range storeKinds {
		t.Run(kind, func(t *testing.T) {
			srv := localServer(t, openStores(t, kind), testAdminToken)
			api := srv.URL + adminapi.ViewsPrefix
			r := do(t, "POST", api, testAdminToken, `{"tenant":"acme","sso":"entra"}`)
			want(t, r, http.StatusCreated, "create connection")
			secret, _ := r.object(t)["token"].(string)
			scimBase := srv.URL + "/scim/v2/acme/entra"
			schemas := api + "/acme/entra/schemas"

			r = do(t, "PUT", schemas, testAdminToken, `{"declared":[`+acmeSchema+`],"unknown_extensions":"reject"}`)
			want(t, r, http.StatusOK, "PUT declared and unknown_extensions")
			if ids := declaredIDs(t, r); len(ids) != 1 || ids[0] != acmeURN || r.object(t)["unknown_extensions"] != "reject" {
				t.Fatalf("PUT answer: %s", r.body)
			}
			r = do(t, "GET", schemas, testAdminToken, "")
			want(t, r, http.StatusOK, "GET schemas")
			if ids := declaredIDs(t, r); len(ids) != 1 || ids[0] != acmeURN || r.object(t)["unknown_extensions"] != "reject" {
				t.Fatalf("GET after PUT: %s", r.body)
			}

			// The SCIM API follows it on the next request: under reject an
			// undeclared URN is refused, the declared one is validated.
			r = doSCIM(t, "POST", scimBase+"/Users", secret, acmeUserBody("abc@example.com", `"abc"`))
			want(t, r, http.StatusBadRequest, `a declared integer given "abc"`)
			if o := r.object(t); o["scimType"] != "invalidValue" || !strings.Contains(stringOf(o["detail"]), "costCentre") {
				t.Fatalf(`a declared integer given "abc": %s, want invalidValue naming costCentre`, r.body)
			}
			r = doSCIM(t, "POST", scimBase+"/Users", secret, acmeUserBody("a@example.com", "42"))
			want(t, r, http.StatusCreated, "POST a declared attribute under reject")
			id := stringOf(r.object(t)["id"])
			want(t, doSCIM(t, "POST", scimBase+"/Users", secret,
				`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"u@example.com","urn:ietf:params:scim:schemas:extension:other:2.0:User":{"x":"1"}}`),
				http.StatusBadRequest, "an undeclared URN under reject")

			// The admin view follows the declaration too: a filter on it works.
			filter := "?filter=" + url.QueryEscape(acmeURN+":costCentre eq 42")
			r = do(t, "GET", api+"/acme/entra/Users"+filter, testAdminToken, "")
			want(t, r, http.StatusOK, "view: filter on a declared attribute")
			if r.object(t)["totalResults"] != float64(1) {
				t.Fatalf("view: filter on a declared attribute: %s", r.body)
			}

			// Invalid input changes nothing: a bad schema, or a good one
			// beside a bad policy.
			r = do(t, "PUT", schemas, testAdminToken, `{"declared":[`+badSchema+`]}`)
			want(t, r, http.StatusBadRequest, "PUT an invalid schema")
			if !strings.Contains(string(r.body), "shoeSize") {
				t.Fatalf("an invalid schema: %s, want the answer to name shoeSize", r.body)
			}
			want(t, do(t, "PUT", schemas, testAdminToken, `{"declared":[],"unknown_extensions":"keep"}`), http.StatusBadRequest, "PUT with a bad policy")
			r = do(t, "GET", schemas, testAdminToken, "")
			if ids := declaredIDs(t, r); len(ids) != 1 || ids[0] != acmeURN {
				t.Fatalf("a refused PUT changed the declared set: %s", r.body)
			}

			// declared: [] clears; the policy stays; stored values stay returned.
			r = do(t, "PUT", schemas, testAdminToken, `{"declared":[]}`)
			want(t, r, http.StatusOK, "PUT declared: []")
			if ids := declaredIDs(t, r); len(ids) != 0 || r.object(t)["unknown_extensions"] != "reject" {
				t.Fatalf("after clearing: %s", r.body)
			}
			r = doSCIM(t, "GET", scimBase+"/Users/"+id, secret, "")
			want(t, r, http.StatusOK, "GET a user after its schema was removed")
			if ext, _ := r.object(t)[acmeURN].(map[string]any); ext["costCentre"] != float64(42) {
				t.Fatalf("a value stored under a removed declaration is hidden: %s", r.body)
			}
		})
	}
}

// TestDefaultSchemasThroughAdminAPI sets the platform's default with PUT
// /admin/v1/schemas/default on both stores: a connection that existed
// before follows it.
func TestDefaultSchemasThroughAdminAPI(t *testing.T) {
	for _, kind := range storeKinds {
		t.Run(kind, func(t *testing.T) {
			srv := localServer(t, openStores(t, kind), testAdminToken)
			api := srv.URL + adminapi.ViewsPrefix
			def := srv.URL + adminapi.DefaultSchemasPattern
			r := do(t, "POST", api, testAdminToken, `{"tenant":"acme","sso":"okta"}`)
			want(t, r, http.StatusCreated, "create connection")
			secret, _ := r.object(t)["token"].(string)

			r = do(t, "GET", def, testAdminToken, "")
			want(t, r, http.StatusOK, "GET default")
			if got := strings.TrimSpace(string(r.body)); got != `{"declared":[]}` {
				t.Fatalf("GET default before any: %s", got)
			}
			r = do(t, "PUT", def, testAdminToken, `{"declared":[`+acmeSchema+`]}`)
			want(t, r, http.StatusOK, "PUT default")
			if ids := declaredIDs(t, r); len(ids) != 1 || ids[0] != acmeURN {
				t.Fatalf("PUT default answer: %s", r.body)
			}
			// The process's first SCIM request reads the default.
			r = doSCIM(t, "POST", srv.URL+"/scim/v2/acme/okta/Users", secret, acmeUserBody("abc@example.com", `"abc"`))
			want(t, r, http.StatusBadRequest, "the default declaration on an existing connection")
			if !strings.Contains(stringOf(r.object(t)["detail"]), "costCentre") {
				t.Fatalf("detail does not name costCentre: %s", r.body)
			}
			// The connection's own settings do not list the default.
			r = do(t, "GET", api+"/acme/okta/schemas", testAdminToken, "")
			if ids := declaredIDs(t, r); len(ids) != 0 {
				t.Fatalf("the connection's own declared set lists the default: %s", r.body)
			}

			for _, bad := range []string{`{"declared":[` + badSchema + `]}`, `{}`, `{"schemas":[]}`} {
				r = do(t, "PUT", def, testAdminToken, bad)
				want(t, r, http.StatusBadRequest, "PUT default "+bad)
			}
			if r = do(t, "PUT", def, testAdminToken, `{"declared":[`+badSchema+`]}`); !strings.Contains(string(r.body), "shoeSize") {
				t.Fatalf("an invalid default: %s, want the answer to name shoeSize", r.body)
			}
			if ids := declaredIDs(t, do(t, "GET", def, testAdminToken, "")); len(ids) != 1 {
				t.Fatal("a refused PUT changed the default")
			}
			r = do(t, "PUT", def, testAdminToken, `{"declared":[]}`)
			want(t, r, http.StatusOK, "clear the default")
			if got := strings.TrimSpace(string(r.body)); got != `{"declared":[]}` {
				t.Fatalf("after clearing: %s", got)
			}
		})
	}
}

// TestDeclaredSchemaCLI runs `connection schema set --file` / `show` and
// `schema default set|show` with the same store flags on both stores.
func TestDeclaredSchemaCLI(t *testing.T) {
	for _, kind := range storeKinds {
		t.Run(kind, func(t *testing.T) {
			dir := t.TempDir()
			storeFlag := "--data=" + filepath.Join(dir, "scimgate.db")
			if kind == "dynamodb" {
				srv := moto.Server(t)
				table := srv.NewTable(t, srv.Client(t))
				storeFlag = "--dynamodb-table=" + table
				t.Setenv("AWS_ENDPOINT_URL_DYNAMODB", srv.Endpoint())
				t.Setenv("AWS_REGION", "us-east-1")
				t.Setenv("AWS_ACCESS_KEY_ID", "testing")
				t.Setenv("AWS_SECRET_ACCESS_KEY", "testing")
			}
			runCLI := func(args ...string) (string, error) {
				t.Helper()
				var stdout, stderr strings.Builder
				err := run(context.Background(), append(args, storeFlag), &stdout, &stderr)
				return stdout.String(), err
			}
			file := func(name, content string) string {
				p := filepath.Join(dir, name)
				if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
					t.Fatal(err)
				}
				return p
			}
			conn := []string{"--tenant", "acme", "--sso", "okta"}
			if _, err := runCLI("connection", "create", "--tenant", "acme", "--sso", "okta"); err != nil {
				t.Fatal(err)
			}

			// One Schema object in FILE, without x-resourceType: User.
			if _, err := runCLI(append([]string{"connection", "schema", "set", "--file", file("one.json", acmeSchema)}, conn...)...); err != nil {
				t.Fatalf("set --file: %v", err)
			}
			out, err := runCLI(append([]string{"connection", "schema", "show", "--json"}, conn...)...)
			if err != nil {
				t.Fatal(err)
			}
			var settings struct {
				Declared          []map[string]any `json:"declared"`
				Observed          []any            `json:"observed"`
				UnknownExtensions string           `json:"unknown_extensions"`
			}
			if err := json.Unmarshal([]byte(out), &settings); err != nil {
				t.Fatalf("show --json: %v\n%s", err, out)
			}
			if len(settings.Declared) != 1 || settings.Declared[0]["id"] != acmeURN || settings.Declared[0]["x-resourceType"] != "User" ||
				settings.UnknownExtensions != "store" || settings.Observed == nil {
				t.Fatalf("show --json after set: %s", out)
			}
			out, err = runCLI(append([]string{"connection", "schema", "show"}, conn...)...)
			if err != nil || !strings.Contains(out, "SCHEMA") || !strings.Contains(out, acmeURN) || !strings.Contains(out, "costCentre") {
				t.Fatalf("show table: %v\n%s", err, out)
			}

			// An invalid schema is refused naming the attribute, and changes nothing.
			_, err = runCLI(append([]string{"connection", "schema", "set", "--file", file("bad.json", "["+badSchema+"]")}, conn...)...)
			if err == nil || !strings.Contains(friendlyError(err), "shoeSize") {
				t.Fatalf("set an invalid schema: %v, want an error naming shoeSize", err)
			}
			if out, _ := runCLI(append([]string{"connection", "schema", "show", "--json"}, conn...)...); !strings.Contains(out, acmeURN) {
				t.Fatalf("a refused set changed the declaration: %s", out)
			}

			// --file and --unknown-extensions in one set; [] clears the declared set.
			if _, err := runCLI(append([]string{"connection", "schema", "set", "--file", file("empty.json", "[]"), "--unknown-extensions", "ignore"}, conn...)...); err != nil {
				t.Fatal(err)
			}
			out, _ = runCLI(append([]string{"connection", "schema", "show", "--json"}, conn...)...)
			if !strings.Contains(out, `"declared": []`) || !strings.Contains(out, `"unknown_extensions": "ignore"`) {
				t.Fatalf("after set --file [] --unknown-extensions ignore: %s", out)
			}

			// The platform's default set.
			if out, err := runCLI("schema", "default", "show"); err != nil || !strings.Contains(out, "no default schemas") {
				t.Fatalf("schema default show before any: %v\n%s", err, out)
			}
			if _, err := runCLI("schema", "default", "set", "--file", file("default.json", "["+acmeSchema+"]")); err != nil {
				t.Fatalf("schema default set: %v", err)
			}
			out, err = runCLI("schema", "default", "show", "--json")
			if err != nil || !strings.Contains(out, acmeURN) {
				t.Fatalf("schema default show --json: %v\n%s", err, out)
			}
			if out, err := runCLI("schema", "default", "show"); err != nil || !strings.Contains(out, acmeURN) || !strings.Contains(out, "costCentre") {
				t.Fatalf("schema default show: %v\n%s", err, out)
			}
			if _, err := runCLI("schema", "default", "set", "--file", file("bad-default.json", badSchema)); err == nil || !strings.Contains(friendlyError(err), "shoeSize") {
				t.Fatalf("schema default set of an invalid schema: %v", err)
			}
			if _, err := runCLI("schema", "default", "set"); err == nil {
				t.Fatal("schema default set without --file succeeded")
			}
		})
	}
}
