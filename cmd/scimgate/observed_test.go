package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/scimgate/scimgate/pkg/adminapi"
	"github.com/scimgate/scimgate/pkg/scim"
	"github.com/scimgate/scimgate/pkg/sqlitestore"
)

const observedTestURN = "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User"

// TestObservedSchemaThroughServe: on both stores, the local server records
// what Entra sends under an undeclared URN it does not list in schemas, and
// GET .../schemas lists it with the fixed keys; a PUT adding an attribute
// adds it. "from_observed" on a connection that sent nothing is a 400.
func TestObservedSchemaThroughServe(t *testing.T) {
	for _, kind := range storeKinds {
		t.Run(kind, func(t *testing.T) {
			srv := localServer(t, openStores(t, kind), testAdminToken)
			api := srv.URL + adminapi.ViewsPrefix
			r := do(t, "POST", api, testAdminToken, `{"tenant":"acme","sso":"entra"}`)
			want(t, r, http.StatusCreated, "create connection")
			secret, _ := r.object(t)["token"].(string)
			base := srv.URL + "/scim/v2/acme/entra"
			user := func(name, ext string) string {
				return `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"` + name + `","` + observedTestURN + `":` + ext + `}`
			}
			r = doSCIM(t, "POST", base+"/Users", secret, user("a@example.com", `{"CustomAttribute":"701984"}`))
			want(t, r, http.StatusCreated, "POST with an undeclared URN")
			id, _ := r.object(t)["id"].(string)
			want(t, doSCIM(t, "POST", base+"/Users", secret, user("b@example.com", `{"CustomAttribute":"42"}`)), http.StatusCreated, "second POST")
			want(t, doSCIM(t, "PUT", base+"/Users/"+id, secret, user("a@example.com", `{"CustomAttribute":"701984","startYear":2019}`)), http.StatusOK, "PUT adding an attribute")

			r = do(t, "GET", api+"/acme/entra/schemas", testAdminToken, "")
			want(t, r, http.StatusOK, "GET schemas")
			var got struct {
				Observed []map[string]any `json:"observed"`
			}
			if err := json.Unmarshal(r.body, &got); err != nil {
				t.Fatal(err)
			}
			if len(got.Observed) != 2 {
				t.Fatalf("observed: %s", r.body)
			}
			for i, wantAttr := range []string{"CustomAttribute", "startYear"} {
				o := got.Observed[i]
				for _, k := range []string{"urn", "attribute", "json_type", "first_seen", "last_seen", "count"} {
					if _, ok := o[k]; !ok {
						t.Fatalf("observed entry without %q: %s", k, r.body)
					}
				}
				first, err := time.Parse(time.RFC3339, o["first_seen"].(string))
				if o["urn"] != observedTestURN || o["attribute"] != wantAttr || o["count"].(float64) < 1 || err != nil ||
					!strings.HasSuffix(o["first_seen"].(string), "Z") || len(o["first_seen"].(string)) != len("2006-01-02T15:04:05.000Z") ||
					time.Since(first) > time.Minute {
					t.Fatalf("observed entry %d: %v (%v)", i, o, err)
				}
			}
			if got.Observed[0]["json_type"] != "string" || got.Observed[1]["json_type"] != "number" {
				t.Fatalf("json types: %s", r.body)
			}

			// Declaring what was observed is a copy: it keeps what the
			// connection declared before, and the IdP's next request is
			// judged by it.
			kept := `{"id":"urn:example:kept:2.0:User","attributes":[{"name":"tier","type":"string"}]}`
			want(t, do(t, "PUT", api+"/acme/entra/schemas", testAdminToken, `{"declared":[`+kept+`]}`), http.StatusOK, "declare another schema first")
			r = do(t, "PUT", api+"/acme/entra/schemas", testAdminToken, `{"from_observed":true}`)
			want(t, r, http.StatusOK, "from_observed")
			var decl struct {
				Declared []struct {
					ID         string `json:"id"`
					Attributes []struct {
						Name, Type string
					} `json:"attributes"`
				} `json:"declared"`
			}
			if err := json.Unmarshal(r.body, &decl); err != nil {
				t.Fatal(err)
			}
			types := map[string]string{}
			var ids []string
			for _, d := range decl.Declared {
				ids = append(ids, d.ID)
				for _, a := range d.Attributes {
					types[d.ID+":"+a.Name] = a.Type
				}
			}
			if len(ids) != 2 || types[observedTestURN+":CustomAttribute"] != "string" || types[observedTestURN+":startYear"] != "decimal" || types["urn:example:kept:2.0:User:tier"] != "string" {
				t.Fatalf("declared from what was observed: %s", r.body)
			}
			r = doSCIM(t, "POST", base+"/Users", secret, user("c@example.com", `{"CustomAttribute":"1","startYear":"soon"}`))
			want(t, r, http.StatusBadRequest, "a value the observed type does not fit, once declared")
			if !strings.Contains(string(r.body), "startYear") {
				t.Fatalf("400 does not name the attribute: %s", r.body)
			}
			want(t, doSCIM(t, "GET", base+"/Users?filter="+url.QueryEscape(observedTestURN+`:startYear gt 2000`), secret, ""), http.StatusOK, "filter on the declared attribute")

			want(t, do(t, "POST", api, testAdminToken, `{"tenant":"acme","sso":"quiet"}`), http.StatusCreated, "create a second connection")
			r = do(t, "PUT", api+"/acme/quiet/schemas", testAdminToken, `{"from_observed":true}`)
			want(t, r, http.StatusBadRequest, "from_observed with nothing observed")
			if !strings.Contains(string(r.body), "no undeclared attribute yet") {
				t.Fatalf("from_observed answer: %s", r.body)
			}
		})
	}
}

// TestObservedSchemaShowTable: `connection schema show` prints what was
// observed as a table.
func TestObservedSchemaShowTable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "scimgate.db")
	runCLI := func(args ...string) (string, string, error) {
		t.Helper()
		var stdout, stderr strings.Builder
		err := run(context.Background(), append(args, "--data="+path), &stdout, &stderr)
		return stdout.String(), stderr.String(), err
	}
	out, _, err := runCLI("connection", "create", "--tenant", "acme", "--sso", "okta", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var created struct{ Token string }
	if err := json.Unmarshal([]byte(out), &created); err != nil || created.Token == "" {
		t.Fatalf("create: %v\n%s", err, out)
	}
	st, err := sqlitestore.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	handler, err := localHandler(&stores{resources: st, tokens: st, conns: st, embedded: st, close: func() error { return nil }},
		serveOptions{requestTimeout: time.Minute}, slog.New(slog.NewJSONHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(handler)
	defer srv.Close()
	body := `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"ada@example.com",` +
		`"urn:ietf:params:scim:schemas:extension:acme:2.0:User":{"costCentre":"C-17","isContractor":false,"roles":["a","b"]}}`
	want(t, doSCIM(t, "POST", srv.URL+"/scim/v2/acme/okta/Users", created.Token, body), http.StatusCreated, "POST")

	out, _, err = runCLI("connection", "schema", "show", "--tenant", "acme", "--sso", "okta")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var table []string
	for i, l := range lines {
		if strings.HasPrefix(l, "TYPE ") {
			table = lines[i:]
		}
	}
	if len(table) != 4 || !strings.Contains(out, "observed attributes  3") {
		t.Fatalf("show:\n%s", out)
	}
	for i, want := range []string{"costCentre", "isContractor", "roles"} {
		f := strings.Fields(table[i+1])
		if len(f) != 7 || f[0] != "User" || f[1] != "urn:ietf:params:scim:schemas:extension:acme:2.0:User" || f[2] != want || f[4] != "1" {
			t.Fatalf("row %d: %q\n%s", i, table[i+1], out)
		}
	}
	if f := strings.Fields(table[3]); f[3] != "array" {
		t.Fatalf("roles row: %q", table[3])
	}
}

// TestServeFlushesObservedCountsOnShutdown: the counts that wait in memory
// for the minute to pass are written when serve stops on SIGTERM.
func TestServeFlushesObservedCountsOnShutdown(t *testing.T) {
	bin := buildBinary(t)
	data := filepath.Join(t.TempDir(), "scimgate.db")
	srv := startServe(t, bin, data, "--demo")
	token := tokenLine.FindStringSubmatch(srv.banner)
	if token == nil {
		t.Fatalf("no demo token in the banner:\n%s", srv.banner)
	}
	for i := range 3 {
		body := `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"u` + string(rune('a'+i)) + `@example.com","` +
			observedTestURN + `":{"CustomAttribute":"701984"}}`
		want(t, doSCIM(t, "POST", "http://"+srv.addr+"/scim/v2/demo/okta/Users", token[1], body), http.StatusCreated, "POST")
	}
	if err := srv.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-srv.done:
		if err != nil {
			t.Fatalf("serve exited with %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not exit")
	}
	st, err := sqlitestore.Open(context.Background(), data)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	got, err := st.ListObserved(context.Background(), scim.Connection{Tenant: "demo", SSO: "okta"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Count != 3 {
		t.Fatalf("observed after shutdown: %+v; want CustomAttribute counted 3 times", got)
	}
}
