package scim_test

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"testing"

	"github.com/scimgate/scimgate/pkg/scim"
)

// enterpriseUser is a user with an enterprise extension to patch.
func enterpriseUser(h *harness) *scim.Resource {
	h.t.Helper()
	return h.create(scim.UserResource, fmt.Sprintf(`{"schemas":[%q,%q],"userName":"ada@example.com",
		%q:{"department":"Math","employeeNumber":"7","manager":{"value":"boss-1"}}}`,
		scim.UserSchema, scim.EnterpriseUserSchema, scim.EnterpriseUserSchema))
}

// TestPatchExtensionURNPath: a PATCH path that is the extension's schema URN
// itself names the extension as one complex attribute (RFC 7644 §3.5.2,
// §3.10), as scim2-tester and Microsoft's SCIMReferenceCode send it.
func TestPatchExtensionURNPath(t *testing.T) {
	ext := scim.EnterpriseUserSchema
	tests := []struct {
		name    string
		ops     string
		want    map[string]any // nil: the extension is gone
		schemas []any
	}{
		{"replace merges sub-attributes", fmt.Sprintf(`[{"op":"replace","path":%q,"value":{"department":"R&D","manager":{"value":"boss-2"}}}]`, ext),
			map[string]any{"department": "R&D", "employeeNumber": "7", "manager": map[string]any{"value": "boss-2"}}, []any{scim.UserSchema, ext}},
		{"add merges sub-attributes", fmt.Sprintf(`[{"op":"add","path":%q,"value":{"costCenter":"CC1"}}]`, ext),
			map[string]any{"department": "Math", "employeeNumber": "7", "costCenter": "CC1", "manager": map[string]any{"value": "boss-1"}}, []any{scim.UserSchema, ext}},
		{"URN in another case", `[{"op":"Replace","path":"URN:ietf:params:scim:schemas:extension:ENTERPRISE:2.0:User","value":{"department":"Ops"}}]`,
			map[string]any{"department": "Ops", "employeeNumber": "7", "manager": map[string]any{"value": "boss-1"}}, []any{scim.UserSchema, ext}},
		{"remove drops the extension and its schema URN", fmt.Sprintf(`[{"op":"remove","path":%q}]`, ext), nil, []any{scim.UserSchema}},
		{"replace with null is a remove (RFC 7643 §2.5)", fmt.Sprintf(`[{"op":"replace","path":%q,"value":null}]`, ext), nil, []any{scim.UserSchema}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			u := enterpriseUser(h)
			if _, err := h.patch(scim.UserResource, u.ID, tc.ops); err != nil {
				t.Fatalf("patch: %v", err)
			}
			doc := h.doc(scim.UserResource, u.ID)
			got, present := doc[ext]
			if tc.want == nil && present {
				t.Errorf("extension still present: %v", got)
			}
			if tc.want != nil && !reflect.DeepEqual(got, tc.want) {
				t.Errorf("extension = %#v, want %#v", got, tc.want)
			}
			if !reflect.DeepEqual(doc["schemas"], tc.schemas) {
				t.Errorf("schemas = %v, want %v", doc["schemas"], tc.schemas)
			}
		})
	}

	t.Run("add to a user without the extension creates it", func(t *testing.T) {
		h := newHarness(t)
		u := h.user("ada@example.com")
		if _, err := h.patch(scim.UserResource, u.ID, fmt.Sprintf(`[{"op":"add","path":%q,"value":{"department":"R&D"}}]`, ext)); err != nil {
			t.Fatalf("patch: %v", err)
		}
		doc := h.doc(scim.UserResource, u.ID)
		if at(doc, ext+".department") != "R&D" || !slices.Contains(doc["schemas"].([]any), any(ext)) {
			t.Fatalf("extension not added: %v", doc)
		}
	})

	t.Run("a value that is not an object is refused and changes nothing", func(t *testing.T) {
		h := newHarness(t)
		u := enterpriseUser(h)
		_, err := h.patch(scim.UserResource, u.ID, fmt.Sprintf(`[{"op":"replace","path":%q,"value":"R&D"}]`, ext))
		wantCode(t, err, scim.EInvalidValue)
		if at(h.doc(scim.UserResource, u.ID), ext+".department") != "Math" {
			t.Fatal("refused PATCH changed the user")
		}
	})

	t.Run("an unknown sub-attribute is refused", func(t *testing.T) {
		h := newHarness(t)
		u := enterpriseUser(h)
		_, err := h.patch(scim.UserResource, u.ID, fmt.Sprintf(`[{"op":"add","path":%q,"value":{"shoeSize":"44"}}]`, ext))
		wantCode(t, err, scim.EInvalidPath)
	})
}

// TestPatchExtensionValueWithItsOwnSchemas: scim2-tester sends the
// enterprise extension object as a PATCH value with its own "schemas"
// member, by path or inside a path-less value. There it can only name the
// extension itself: it is accepted and ignored, and the extension's
// attributes apply as without it.
func TestPatchExtensionValueWithItsOwnSchemas(t *testing.T) {
	ext := scim.EnterpriseUserSchema
	for name, ops := range map[string]string{
		"path is the URN": fmt.Sprintf(`[{"op":"replace","path":%q,"value":{"schemas":[%q],"department":"R&D"}}]`, ext, ext),
		"path-less value": fmt.Sprintf(`[{"op":"replace","value":{%q:{"schemas":[%q],"department":"R&D"}}}]`, ext, ext),
		"add, Schemas":    fmt.Sprintf(`[{"op":"add","path":%q,"value":{"Schemas":[%q],"department":"R&D"}}]`, ext, ext),
	} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t)
			u := enterpriseUser(h)
			if _, err := h.patch(scim.UserResource, u.ID, ops); err != nil {
				t.Fatalf("patch: %v", err)
			}
			doc := h.doc(scim.UserResource, u.ID)
			want := map[string]any{"department": "R&D", "employeeNumber": "7", "manager": map[string]any{"value": "boss-1"}}
			if !reflect.DeepEqual(doc[ext], want) {
				t.Errorf("extension = %#v, want %#v", doc[ext], want)
			}
			if !reflect.DeepEqual(doc["schemas"], []any{scim.UserSchema, ext}) {
				t.Errorf("schemas = %v", doc["schemas"])
			}
		})
	}
}

// TestEmptyExtensionObjectAccepted: {"urn:...:enterprise:2.0:User": {}} in a
// POST or PUT carries no value; RFC 7643 §2.5 makes it unassigned, not an error.
func TestEmptyExtensionObjectAccepted(t *testing.T) {
	h := newHarness(t)
	ext := scim.EnterpriseUserSchema
	body := fmt.Sprintf(`{"schemas":[%q,%q],"userName":"ada@example.com",%q:{}}`, scim.UserSchema, ext, ext)
	u := h.create(scim.UserResource, body)
	doc := h.doc(scim.UserResource, u.ID)
	if _, ok := doc[ext]; ok || !reflect.DeepEqual(doc["schemas"], []any{scim.UserSchema}) {
		t.Fatalf("POST with an empty extension: %v", doc)
	}
	h2 := newHarness(t)
	v := enterpriseUser(h2)
	if _, err := h2.svc.Replace(context.Background(), conn, scim.UserResource, v.ID, []byte(body), scim.Precondition{}); err != nil {
		t.Fatalf("PUT with an empty extension: %v", err)
	}
	if doc := h2.doc(scim.UserResource, v.ID); doc[ext] != nil {
		t.Fatalf("PUT with an empty extension kept the old one: %v", doc[ext])
	}
}

// TestPatchRemoveActive: RFC 7643 §4.1.1 leaves an unassigned active to the
// provider; scimgate grants access only to active users, so unassigning
// active (remove, or a null value) deactivates, and GET says active:false,
// exactly what was stored.
func TestPatchRemoveActive(t *testing.T) {
	for _, ops := range []string{
		`[{"op":"remove","path":"active"}]`,
		`[{"op":"Remove","path":"ACTIVE"}]`,
		`[{"op":"replace","path":"active","value":null}]`,
		`[{"op":"replace","value":{"active":null}}]`,
	} {
		t.Run(ops, func(t *testing.T) {
			h := newHarness(t)
			u := h.user("ada@example.com")
			res, err := h.patch(scim.UserResource, u.ID, ops)
			if err != nil {
				t.Fatalf("patch: %v", err)
			}
			if res.Active {
				t.Errorf("PATCH result is active")
			}
			if doc := h.doc(scim.UserResource, u.ID); doc["active"] != false {
				t.Errorf("GET active = %v, want false", doc["active"])
			}
		})
	}
	t.Run("other operations leave active alone", func(t *testing.T) {
		h := newHarness(t)
		u := h.user("ada@example.com")
		if _, err := h.patch(scim.UserResource, u.ID, `[{"op":"remove","path":"title"},{"op":"replace","path":"nickName","value":"A"}]`); err != nil {
			t.Fatalf("patch: %v", err)
		}
		if doc := h.doc(scim.UserResource, u.ID); doc["active"] != true {
			t.Errorf("active = %v, want true", doc["active"])
		}
	})
}

// TestEmptyMultiValuedAttributesOmitted: RFC 7643 §2.5 treats an empty
// multi-valued attribute as unassigned, and unassigned attributes are not
// returned: no "groups": [] on a user without groups, no "members": [] on
// an empty group.
func TestEmptyMultiValuedAttributesOmitted(t *testing.T) {
	h := newHarness(t)
	u := h.user("ada@example.com")
	g := h.create(scim.GroupResource, fmt.Sprintf(`{"schemas":[%q],"displayName":"Eng","members":[{"value":%q}]}`, scim.GroupSchema, u.ID))
	if groups := h.doc(scim.UserResource, u.ID)["groups"]; groups == nil {
		t.Fatal("a member's groups are missing")
	}
	if _, err := h.patch(scim.GroupResource, g.ID, `[{"op":"remove","path":"members"}]`); err != nil {
		t.Fatalf("patch: %v", err)
	}
	if doc := h.doc(scim.GroupResource, g.ID); hasKey(doc, "members") {
		t.Errorf("empty group renders members: %v", doc["members"])
	}
	if doc := h.doc(scim.UserResource, u.ID); hasKey(doc, "groups") {
		t.Errorf("user without groups renders groups: %v", doc["groups"])
	}
}

func hasKey(doc map[string]any, key string) bool {
	_, ok := doc[key]
	return ok
}
