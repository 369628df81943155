package httpapi_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/scimgate/scimgate/pkg/scim"
)

// TestEmptyMultiValuedOmittedEverywhere: RFC 7643 §2.5 treats an empty
// multi-valued attribute as unassigned; no response shape may render
// "members": [] or "groups": [], whichever request produced it.
func TestEmptyMultiValuedOmittedEverywhere(t *testing.T) {
	srv := newServer(t)
	c := srv.client(t, testConn)
	user := c.createUser(t, "ada@example.com")
	empty := fmt.Sprintf(`{"schemas":[%q],"displayName":"Empty","members":[]}`, scim.GroupSchema)

	post := c.do(t, "POST", "/Groups", empty)
	mustStatus(t, post, http.StatusCreated)
	group, _ := post.object(t)["id"].(string)
	put := c.do(t, "PUT", "/Groups/"+group, empty)
	mustStatus(t, put, http.StatusOK)
	userPut := c.do(t, "PUT", "/Users/"+user, fmt.Sprintf(`{"schemas":[%q],"userName":"ada@example.com"}`, scim.UserSchema))
	mustStatus(t, userPut, http.StatusOK)
	userPatch := c.do(t, "PATCH", "/Users/"+user, fmt.Sprintf(`{"schemas":[%q],"Operations":[{"op":"replace","path":"title","value":"Dr"}]}`, scim.PatchOpSchema))
	mustStatus(t, userPatch, http.StatusOK)
	search := func(path, filter string) response {
		r := c.do(t, "POST", path, fmt.Sprintf(`{"schemas":[%q],"filter":%q}`, scim.SearchRequestSchema, filter))
		mustStatus(t, r, http.StatusOK)
		return r
	}

	for name, doc := range map[string]map[string]any{
		"POST /Groups":         post.object(t),
		"PUT /Groups/{id}":     put.object(t),
		"GET /Groups/{id}":     c.get(t, "/Groups/"+group),
		"GET /Groups":          firstResource(t, c.get(t, "/Groups")),
		"POST /Groups/.search": firstResource(t, search("/Groups/.search", `displayName eq "Empty"`).object(t)),
		"PUT /Users/{id}":      userPut.object(t),
		"PATCH /Users/{id}":    userPatch.object(t),
		"GET /Users/{id}":      c.get(t, "/Users/"+user),
		"GET /Users":           firstResource(t, c.get(t, "/Users")),
		"POST /Users/.search":  firstResource(t, search("/Users/.search", `userName eq "ada@example.com"`).object(t)),
		"POST /.search":        firstResource(t, search("/.search", `userName eq "ada@example.com"`).object(t)),
	} {
		for _, key := range []string{"members", "groups"} {
			if v, ok := doc[key]; ok {
				t.Errorf("%s renders %s = %v; an empty multi-valued attribute is unassigned and must be omitted", name, key, v)
			}
		}
	}
}

func firstResource(t *testing.T, list map[string]any) map[string]any {
	t.Helper()
	resources, _ := list["Resources"].([]any)
	if len(resources) == 0 {
		t.Fatalf("empty list: %v", list)
	}
	first, _ := resources[0].(map[string]any)
	return first
}

// TestEmptyExtensionObject: a POST or PUT whose enterprise extension object
// is present but empty ({}), as scim2-tester sends it, is a user without
// the extension, not an error.
func TestEmptyExtensionObject(t *testing.T) {
	srv := newServer(t)
	c := srv.client(t, testConn)
	body := fmt.Sprintf(`{"schemas":[%q,%q],"userName":"ada@example.com",%q:{}}`, scim.UserSchema, scim.EnterpriseUserSchema, scim.EnterpriseUserSchema)
	post := c.do(t, "POST", "/Users", body)
	mustStatus(t, post, http.StatusCreated)
	id, _ := post.object(t)["id"].(string)
	put := c.do(t, "PUT", "/Users/"+id, body)
	mustStatus(t, put, http.StatusOK)
	for name, doc := range map[string]map[string]any{"POST": post.object(t), "PUT": put.object(t)} {
		if v, ok := doc[scim.EnterpriseUserSchema]; ok {
			t.Errorf("%s renders the empty extension: %v", name, v)
		}
	}
}
