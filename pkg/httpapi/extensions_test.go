package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/scimgate/scimgate/pkg/auth"
	"github.com/scimgate/scimgate/pkg/changes"
	"github.com/scimgate/scimgate/pkg/scim"
)

const entraURN = "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User"

// TestUnknownExtensionsPolicyOnTheConnection sets each policy on the stored
// connection record, on both stores, and checks that the SCIM API applies
// it: the policy travels with the token lookup.
func TestUnknownExtensionsPolicyOnTheConnection(t *testing.T) {
	forEachStore(t, func(t *testing.T, srv *testServer) {
		c := srv.client(t, testConn)
		ps, ok := srv.stores.tokens.(auth.ExtensionPolicyStore)
		if !ok {
			t.Fatal("store cannot keep the policy")
		}
		body := func(userName string) string {
			return `{"schemas":["` + scim.UserSchema + `"],"userName":"` + userName + `","` + entraURN + `":{"CustomAttribute":"701984"}}`
		}
		// Default: store.
		id := c.create(t, "/Users", body("a@example.com"))
		if ext, _ := c.get(t, "/Users/"+id)[entraURN].(map[string]any); ext["CustomAttribute"] != "701984" {
			t.Fatalf("store: the extension is not returned: %v", ext)
		}

		if err := ps.SetUnknownExtensions(context.Background(), testConn, scim.ExtensionsReject); err != nil {
			t.Fatal(err)
		}
		r := c.do(t, "POST", "/Users", body("b@example.com"))
		mustStatus(t, r, http.StatusBadRequest)
		if d, _ := r.object(t)["detail"].(string); !strings.Contains(d, entraURN) || !strings.Contains(d, "declare") {
			t.Fatalf("reject: detail %q must name the URN and how to declare it", d)
		}
		// What was stored before stays, and stays returned.
		if ext, _ := c.get(t, "/Users/"+id)[entraURN].(map[string]any); ext["CustomAttribute"] != "701984" {
			t.Fatalf("reject: stored values are hidden: %v", ext)
		}

		if err := ps.SetUnknownExtensions(context.Background(), testConn, scim.ExtensionsIgnore); err != nil {
			t.Fatal(err)
		}
		id2 := c.create(t, "/Users", body("c@example.com"))
		if _, ok := c.get(t, "/Users/"+id2)[entraURN]; ok {
			t.Fatal("ignore: the extension was kept")
		}
	})
}

// TestChangeRecordsNameCustomAttributes: a custom attribute's change is
// listed as urn:X:attr in "changed", and the record's data carries it.
func TestChangeRecordsNameCustomAttributes(t *testing.T) {
	for name, newStores := range feedStores {
		t.Run(name, func(t *testing.T) {
			st := newStores(t)
			srv := startServer(t, st, serverConfig{})
			c := srv.client(t, testConn)
			id := c.create(t, "/Users", `{"schemas":["`+scim.UserSchema+`"],"userName":"a@example.com","`+entraURN+`":{"CustomAttribute":"1","Keep":"k"}}`)
			mustStatus(t, c.do(t, "PATCH", "/Users/"+id, `{"schemas":["`+scim.PatchOpSchema+`"],"Operations":[{"op":"Replace","path":"`+entraURN+`:CustomAttribute","value":"2"}]}`), http.StatusOK)
			recs := feedOf(t, st, testConn, "")
			var updated *changes.Record
			for i := range recs {
				if recs[i].Type == changes.UserUpdated {
					updated = &recs[i]
				}
			}
			if updated == nil {
				t.Fatalf("no user.updated record in %v", recs)
			}
			if want := []string{entraURN + ":CustomAttribute"}; !slices.Equal(updated.Changed, want) {
				t.Fatalf("changed = %v, want %v", updated.Changed, want)
			}
			var data map[string]any
			if err := json.Unmarshal(updated.Data, &data); err != nil {
				t.Fatal(err)
			}
			if ext, _ := data[entraURN].(map[string]any); ext["CustomAttribute"] != "2" || ext["Keep"] != "k" {
				t.Fatalf("record data does not carry the extension: %s", updated.Data)
			}
			if created := recs[0]; !slices.Contains(created.Changed, entraURN+":Keep") {
				t.Fatalf("user.created changed = %v, want it to list %s:Keep", created.Changed, entraURN)
			}
		})
	}
}
