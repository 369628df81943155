package httpapi_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scimgate/scimgate/pkg/auth"
	"github.com/scimgate/scimgate/pkg/declared"
	"github.com/scimgate/scimgate/pkg/httpapi"
	"github.com/scimgate/scimgate/pkg/scim"
)

const acmeURN = "urn:ietf:params:scim:schemas:extension:acme:2.0:User"

// acmeDeclaration declares costCentre as an integer (or as typ) on User.
func acmeDeclaration(typ string) string {
	return `[{"id":"` + acmeURN + `","name":"Acme","attributes":[` +
		`{"name":"costCentre","type":"` + typ + `","multiValued":false,"required":false,"caseExact":false,"mutability":"readWrite","returned":"default"},` +
		`{"name":"department","type":"string","multiValued":false,"required":false,"caseExact":false,"mutability":"readWrite","returned":"default"}]}]`
}

// canonical parses a declaration as the admin surfaces do before storing it.
func canonical(t *testing.T, declaration string) string {
	t.Helper()
	d, err := scim.ParseDeclaration([]byte(declaration))
	if err != nil {
		t.Fatalf("parse declaration: %v", err)
	}
	return d.JSON()
}

// declaredStore is what both test stores are.
type declaredStore interface {
	auth.DeclaredSchemaStore
	auth.DefaultSchemaStore
}

func declaredStoreOf(t *testing.T, st stores) declaredStore {
	t.Helper()
	ds, ok := st.tokens.(declaredStore)
	if !ok {
		t.Fatalf("%T keeps no declared schemas", st.tokens)
	}
	return ds
}

func acmeUser(userName, costCentre string) string {
	return `{"schemas":["` + scim.UserSchema + `","` + acmeURN + `"],"userName":"` + userName + `","` + acmeURN + `":{"costCentre":` + costCentre + `}}`
}

// listsSchema reports whether a /Schemas list response lists id.
func listsSchema(t *testing.T, list map[string]any, id string) bool {
	t.Helper()
	resources, _ := list["Resources"].([]any)
	for _, r := range resources {
		if m, _ := r.(map[string]any); m["id"] == id {
			return true
		}
	}
	return false
}

// userExtension returns the schemaExtensions entry of /ResourceTypes/User for urn.
func userExtension(t *testing.T, c *client, urn string) map[string]any {
	t.Helper()
	rt := c.get(t, "/ResourceTypes/User")
	exts, _ := rt["schemaExtensions"].([]any)
	for _, e := range exts {
		if m, _ := e.(map[string]any); m["schema"] == urn {
			return m
		}
	}
	return nil
}

// TestDeclarationReachesEveryRequestOfTheConnection declares a schema on
// the stored connection record, on both stores, and checks that each kind
// of SCIM request of that connection follows it: validation by type, a
// filter, /Schemas and /ResourceTypes. Without the declaration on the
// request's context every check fails: costCentre would be an undeclared
// value, kept as sent, unfilterable and undiscoverable.
func TestDeclarationReachesEveryRequestOfTheConnection(t *testing.T) {
	forEachStore(t, func(t *testing.T, srv *testServer) {
		ctx := context.Background()
		c := srv.client(t, testConn)
		other := srv.client(t, scim.Connection{Tenant: testConn.Tenant, SSO: "entra"})
		if err := declaredStoreOf(t, srv.stores).SetDeclaredSchemas(ctx, testConn, canonical(t, acmeDeclaration("integer"))); err != nil {
			t.Fatal(err)
		}

		r := c.do(t, "POST", "/Users", acmeUser("abc@example.com", `"abc"`))
		mustStatus(t, r, http.StatusBadRequest)
		body := r.object(t)
		if body["scimType"] != "invalidValue" || !strings.Contains(body["detail"].(string), "costCentre") {
			t.Fatalf("a declared integer given \"abc\": %s, want invalidValue naming costCentre", r.body)
		}
		c.create(t, "/Users", acmeUser("a@example.com", "42"))
		c.create(t, "/Users", acmeUser("b@example.com", "7"))

		list := c.get(t, "/Users?filter="+url.QueryEscape(acmeURN+":costCentre eq 42"))
		if n, _ := list["totalResults"].(float64); n != 1 {
			t.Fatalf("filter on the declared attribute: %v results, want 1\n%v", list["totalResults"], list)
		}

		if !listsSchema(t, c.get(t, "/Schemas"), acmeURN) {
			t.Fatalf("/Schemas of the connection does not list %s", acmeURN)
		}
		if got := c.get(t, "/Schemas/"+acmeURN); got["id"] != acmeURN {
			t.Fatalf("/Schemas/%s: %v", acmeURN, got)
		}
		ext := userExtension(t, c, acmeURN)
		if ext == nil || ext["required"] != false {
			t.Fatalf("/ResourceTypes/User schemaExtensions entry for %s: %v, want required false", acmeURN, ext)
		}

		// Another connection of the tenant declares nothing.
		if listsSchema(t, other.get(t, "/Schemas"), acmeURN) || userExtension(t, other, acmeURN) != nil {
			t.Fatal("another connection's discovery lists the declaration")
		}
		other.create(t, "/Users", acmeUser("abc@example.com", `"abc"`)) // undeclared there: kept as sent
	})
}

// manualClock is a clock the test moves.
type manualClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *manualClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *manualClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// TestDefaultDeclarationUnderEveryConnection sets the platform's default
// declaration once in the store, on both stores: an existing connection,
// with data and no declaration of its own, follows it once the process's
// cache has refreshed (at most a minute), and a connection's own schema of
// the same id replaces the default's.
func TestDefaultDeclarationUnderEveryConnection(t *testing.T) {
	for name, factory := range map[string]storeFactory{"sqlite": sqliteStores, "dynamodb": dynamoStores} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			st := factory(t)
			ds := declaredStoreOf(t, st)
			clk := &manualClock{t: time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)}
			srv := startServer(t, st, serverConfig{handler: func(cfg *httpapi.Config) {
				cfg.DefaultSchemas = declared.NewCache(ds, clk.now, time.Minute, nil)
			}})
			existing := srv.client(t, testConn)
			own := srv.client(t, scim.Connection{Tenant: testConn.Tenant, SSO: "entra"})
			// The connection exists and holds data before the default is set;
			// this request also fills the process's cache with "no default".
			existing.create(t, "/Users", `{"schemas":["`+scim.UserSchema+`"],"userName":"before@example.com"}`)

			if err := ds.SetDefaultSchemas(ctx, canonical(t, acmeDeclaration("integer"))); err != nil {
				t.Fatal(err)
			}
			if err := ds.SetDeclaredSchemas(ctx, own.conn, canonical(t, acmeDeclaration("string"))); err != nil {
				t.Fatal(err)
			}
			// Within the minute the process still applies what it read.
			if listsSchema(t, existing.get(t, "/Schemas"), acmeURN) {
				t.Fatal("the default applied before the cache's minute was up: the request path reads the store per request")
			}
			clk.advance(time.Minute)

			r := existing.do(t, "POST", "/Users", acmeUser("abc@example.com", `"abc"`))
			mustStatus(t, r, http.StatusBadRequest)
			if d, _ := r.object(t)["detail"].(string); !strings.Contains(d, "costCentre") {
				t.Fatalf("default declaration on an existing connection: detail %q, want it to name costCentre", d)
			}
			existing.create(t, "/Users", acmeUser("n@example.com", "42"))
			if list := existing.get(t, "/Users?filter="+url.QueryEscape(acmeURN+":costCentre eq 42")); list["totalResults"] != float64(1) {
				t.Fatalf("filter on a default-declared attribute: %v", list)
			}
			if !listsSchema(t, existing.get(t, "/Schemas"), acmeURN) || userExtension(t, existing, acmeURN) == nil {
				t.Fatal("the default schema is not discoverable on an existing connection")
			}

			// The connection's own schema of the same id wins: a string there.
			own.create(t, "/Users", acmeUser("abc@example.com", `"abc"`))
			schemas := own.get(t, "/Schemas/"+acmeURN)
			attrs, _ := schemas["attributes"].([]any)
			var costCentreType any
			for _, a := range attrs {
				if m, _ := a.(map[string]any); strings.EqualFold(m["name"].(string), "costCentre") {
					costCentreType = m["type"]
				}
			}
			if costCentreType != "string" {
				t.Fatalf("/Schemas/%s of the overriding connection: costCentre type %v, want its own string", acmeURN, costCentreType)
			}
		})
	}
}
