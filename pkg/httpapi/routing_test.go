package httpapi_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/scimgate/scimgate/pkg/httpapi"
	"github.com/scimgate/scimgate/pkg/scim"
)

// TestTrailingSlashServedAsWithout: clients that build URLs by joining
// strings send /Users/?filter=...; every collection and discovery endpoint
// answers with a trailing slash exactly as without it.
func TestTrailingSlashServedAsWithout(t *testing.T) {
	srv := newServer(t)
	c := srv.client(t, testConn)
	user := c.createUser(t, "ada@example.com")
	group := c.createGroup(t, "Eng", user)
	filter := "?filter=" + url.QueryEscape(`userName eq "ada@example.com"`)
	search := fmt.Sprintf(`{"schemas":[%q],"filter":"userName eq \"ada@example.com\""}`, scim.SearchRequestSchema)
	tests := []struct{ method, path, body string }{
		{"GET", "/Users" + filter, ""},
		{"GET", "/Users/" + user, ""},
		{"GET", "/Groups?filter=" + url.QueryEscape(`displayName eq "Eng"`), ""},
		{"GET", "/Groups/" + group, ""},
		{"POST", "/Users/.search", search},
		{"POST", "/.search", search},
		{"GET", "/ServiceProviderConfig", ""},
		{"GET", "/Schemas", ""},
		{"GET", "/Schemas/" + scim.UserSchema, ""},
		{"GET", "/ResourceTypes", ""},
		{"GET", "/ResourceTypes/User", ""},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			want := c.do(t, tc.method, tc.path, tc.body)
			mustStatus(t, want, http.StatusOK)
			path, query, _ := strings.Cut(tc.path, "?")
			slashed := path + "/"
			if query != "" {
				slashed += "?" + query
			}
			got := c.do(t, tc.method, slashed, tc.body)
			mustStatus(t, got, http.StatusOK)
			if string(got.body) != string(want.body) {
				t.Errorf("%s answers\n%s\nbut without the slash\n%s", slashed, got.body, want.body)
			}
		})
	}
	t.Run("POST /Users/ creates", func(t *testing.T) {
		r := c.do(t, "POST", "/Users/", fmt.Sprintf(`{"schemas":[%q],"userName":"grace@example.com"}`, scim.UserSchema))
		mustStatus(t, r, http.StatusCreated)
	})
}

// TestEndpointNameCase: SCIM endpoint names are case-sensitive (RFC 7644
// §3.2 names them; RFC 3986 §6.2.2.1 makes paths case-sensitive), and on
// AWS, API Gateway routes only the exact spelling to the function that
// serves it. So /users is not served, in either place, but its 404 says
// which spelling is, so that an admin who typed it can fix the base URL.
func TestEndpointNameCase(t *testing.T) {
	st := sqliteStores(t)
	all := startServer(t, st, serverConfig{})
	// Behind API Gateway, a misspelt path reaches the catch-all route of the
	// discovery function, which must answer the same.
	discovery := startServer(t, st, serverConfig{handler: func(cfg *httpapi.Config) {
		cfg.Resources = []httpapi.Resource{httpapi.DiscoveryResource}
	}})
	full := all.client(t, testConn)
	user := full.createUser(t, "ada@example.com")
	before := full.snapshot(t)
	tests := []struct{ method, path, right string }{
		{"GET", "/users", "/Users"},
		{"GET", "/users/" + user, "/Users/" + user},
		{"POST", "/USERS", "/Users"},
		{"GET", "/groups?filter=" + url.QueryEscape(`displayName eq "x"`), "/Groups"},
		{"GET", "/serviceproviderconfig", "/ServiceProviderConfig"},
		{"GET", "/schemas", "/Schemas"},
		{"GET", "/resourcetypes/User", "/ResourceTypes/User"},
		{"POST", "/bulk", "/Bulk"},
		{"POST", "/users/.SEARCH", "/Users/.search"},
	}
	for _, srv := range []*testServer{all, discovery} {
		c := &client{srv: srv, conn: testConn, token: full.token}
		for _, tc := range tests {
			t.Run(tc.method+" "+tc.path, func(t *testing.T) {
				body := checkError(t, c.do(t, tc.method, tc.path, `{"userName":"x@example.com"}`), http.StatusNotFound, "")
				detail, _ := body["detail"].(string)
				if !strings.Contains(detail, httpapi.BasePath+"/"+testConn.Tenant+"/"+testConn.SSO+tc.right) || !strings.Contains(detail, "case") {
					t.Errorf("detail %q does not name the right spelling %s", detail, tc.right)
				}
			})
		}
	}
	requireUnchanged(t, full, before)
}
