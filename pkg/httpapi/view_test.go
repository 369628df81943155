package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/scimgate/scimgate/pkg/httpapi"
	"github.com/scimgate/scimgate/pkg/scim"
)

// TestReadOnlyViewUnderAnotherPrefix: a handler with RoutePrefix, ReadOnly
// and its own Authenticate serves the same representations as the SCIM API
// under another path, never a write, and only to what Authenticate admits.
func TestReadOnlyViewUnderAnotherPrefix(t *testing.T) {
	acme := scim.Connection{Tenant: "acme", SSO: "okta"}
	scimSrv := newServer(t)
	c := scimSrv.client(t, acme)
	userID := c.createUser(t, "ada@example.com")
	groupID := c.createGroup(t, "Engineering", userID)

	const prefix = "/platform/connections"
	view := startServer(t, scimSrv.stores, serverConfig{handler: func(hc *httpapi.Config) {
		hc.RoutePrefix = prefix
		hc.ReadOnly = true
		hc.Resources = []httpapi.Resource{httpapi.UsersResource, httpapi.GroupsResource}
		hc.Tokens = nil // the view never looks at bearer tokens
		hc.Authenticate = func(r *http.Request, conn scim.Connection) error {
			if r.Header.Get("Authorization") != "Bearer platform" {
				return scim.Errorf(scim.EUnauthorized, "not the platform")
			}
			return nil
		}
	}})
	base := view.url + prefix + "/acme/okta"
	platform := http.Header{"Authorization": {"Bearer platform"}}

	r := view.send(t, "GET", base+"/Users?filter="+strings.ReplaceAll(`userName eq "ada@example.com"`, " ", "%20"), platform, nil)
	mustStatus(t, r, http.StatusOK)
	list := r.object(t)
	if ids := resourceIDs(t, list); len(ids) != 1 || ids[0] != userID {
		t.Fatalf("filtered list: %v", ids)
	}
	r = view.send(t, "GET", base+"/Groups/"+groupID, platform, nil)
	mustStatus(t, r, http.StatusOK)
	group := r.object(t)
	if loc, _ := group["meta"].(map[string]any)["location"].(string); loc != base+"/Groups/"+groupID {
		t.Errorf("meta.location = %q, want it under the view's prefix", loc)
	}
	if members, _ := group["members"].([]any); len(members) != 1 {
		t.Errorf("members = %v", group["members"])
	}

	before := c.snapshot(t)
	for _, w := range []struct{ method, path string }{
		{"POST", "/Users"}, {"PUT", "/Users/" + userID}, {"PATCH", "/Users/" + userID}, {"DELETE", "/Users/" + userID},
		{"DELETE", "/Groups/" + groupID}, {"POST", "/Users/.search"}, {"POST", "/Bulk"},
	} {
		h := platform.Clone()
		h.Set("Content-Type", "application/scim+json")
		r := view.send(t, w.method, base+w.path, h, strings.NewReader(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"x"}`))
		if r.status != http.StatusMethodNotAllowed && r.status != http.StatusNotFound {
			t.Errorf("%s %s on the read-only view: %d, want 405 or 404\n%s", w.method, w.path, r.status, r)
		}
	}
	for _, path := range []string{"/ServiceProviderConfig", "/Schemas"} {
		if r := view.send(t, "GET", base+path, platform, nil); r.status != http.StatusNotFound {
			t.Errorf("GET %s on a Users/Groups view: %d, want 404", path, r.status)
		}
	}
	if after := c.snapshot(t); after != before {
		t.Errorf("the read-only view changed data:\nbefore %s\nafter  %s", before, after)
	}

	// The SCIM bearer token does not open the view, and the view's
	// credentials do not open the SCIM API.
	if r := view.send(t, "GET", base+"/Users", http.Header{"Authorization": {"Bearer " + c.token}}, nil); r.status != http.StatusUnauthorized {
		t.Errorf("the SCIM token on the view: %d, want 401", r.status)
	}
	if r := scimSrv.send(t, "GET", scimSrv.base(acme)+"/Users", platform, nil); r.status != http.StatusUnauthorized {
		t.Errorf("the view's credentials on the SCIM API: %d, want 401", r.status)
	}
	// The SCIM paths are not served by the view handler.
	if r := view.send(t, "GET", view.url+httpapi.BasePath+"/acme/okta/Users", platform, nil); r.status != http.StatusNotFound {
		t.Errorf("GET %s/acme/okta/Users on the view handler: %d, want 404", httpapi.BasePath, r.status)
	}
}
