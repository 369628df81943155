package scim_test

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/scimgate/scimgate/pkg/scim"
)

const customURN = "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User"

// Entra's documented shape: the custom object is not listed in "schemas"
// (entra-docs customize-application-attributes.md).
const entraCustomUser = `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"ada@example.com","active":true,
 "` + customURN + `":{"CustomAttribute":"701984","tags":["a","b"],"address":{"floor":3}}}`

func customOf(t *testing.T, doc map[string]any) map[string]any {
	t.Helper()
	ext, _ := doc[customURN].(map[string]any)
	return ext
}

func TestUndeclaredExtensionStoredByDefault(t *testing.T) {
	onBothStores(t, func(t *testing.T, newHarness harnessFactory) {
		h := newHarness(t)
		u := h.create(scim.UserResource, entraCustomUser)
		doc := h.doc(scim.UserResource, u.ID)
		want := map[string]any{"CustomAttribute": "701984", "tags": []any{"a", "b"}, "address": map[string]any{"floor": float64(3)}}
		if got := customOf(t, doc); !reflect.DeepEqual(got, want) {
			t.Fatalf("stored extension = %#v, want %#v", got, want)
		}
		if schemas, _ := doc["schemas"].([]any); len(schemas) != 2 || schemas[1] != customURN {
			t.Fatalf("schemas = %v, want the core schema and %s", doc["schemas"], customURN)
		}

		steps := []struct {
			name, ops string
			want      map[string]any
		}{
			{"replace with URN path", `[{"op":"Replace","path":"` + customURN + `:CustomAttribute","value":"1"}]`,
				map[string]any{"CustomAttribute": "1", "tags": []any{"a", "b"}, "address": map[string]any{"floor": float64(3)}}},
			{"case-insensitive name and sub-attribute", `[{"op":"replace","path":"` + customURN + `:customattribute","value":"2"},{"op":"add","path":"` + customURN + `:address.room","value":"12b"}]`,
				map[string]any{"CustomAttribute": "2", "tags": []any{"a", "b"}, "address": map[string]any{"floor": float64(3), "room": "12b"}}},
			{"no-path replace with URN-prefixed keys", `[{"op":"replace","value":{"` + customURN + `:CustomAttribute":"3","` + customURN + `:Other":true}}]`,
				map[string]any{"CustomAttribute": "3", "Other": true, "tags": []any{"a", "b"}, "address": map[string]any{"floor": float64(3), "room": "12b"}}},
			{"no-path replace with the extension object", `[{"op":"replace","value":{"` + customURN + `":{"Other":false}}}]`,
				map[string]any{"CustomAttribute": "3", "Other": false, "tags": []any{"a", "b"}, "address": map[string]any{"floor": float64(3), "room": "12b"}}},
			{"add to a list", `[{"op":"add","path":"` + customURN + `:tags","value":["c"]}]`,
				map[string]any{"CustomAttribute": "3", "Other": false, "tags": []any{"a", "b", "c"}, "address": map[string]any{"floor": float64(3), "room": "12b"}}},
			{"remove", `[{"op":"remove","path":"` + customURN + `:CustomAttribute"},{"op":"remove","path":"` + customURN + `:address"},{"op":"remove","path":"` + customURN + `:tags"}]`,
				map[string]any{"Other": false}},
			{"remove the extension", `[{"op":"remove","path":"` + customURN + `"}]`, nil},
		}
		for _, step := range steps {
			if _, err := h.patch(scim.UserResource, u.ID, step.ops); err != nil {
				t.Fatalf("%s: %v", step.name, err)
			}
			doc := h.doc(scim.UserResource, u.ID)
			if got := customOf(t, doc); !reflect.DeepEqual(got, step.want) {
				t.Fatalf("%s: extension = %#v, want %#v", step.name, got, step.want)
			}
		}
		if schemas, _ := h.doc(scim.UserResource, u.ID)["schemas"].([]any); len(schemas) != 1 {
			t.Fatalf("schemas after removing the extension = %v", schemas)
		}
	})
}

func TestUndeclaredExtensionListedInSchemasMeansTheSame(t *testing.T) {
	h := newHarness(t)
	body := strings.Replace(entraCustomUser, `"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"]`, `"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","`+customURN+`"]`, 1)
	u := h.create(scim.UserResource, body)
	if got := customOf(t, h.doc(scim.UserResource, u.ID)); got["CustomAttribute"] != "701984" {
		t.Fatalf("extension = %v", got)
	}
}

func TestUndeclaredExtensionPolicies(t *testing.T) {
	ctxFor := func(p scim.ExtensionPolicy) context.Context {
		return scim.WithExtensionPolicy(context.Background(), p)
	}
	t.Run("reject", func(t *testing.T) {
		h := newHarness(t)
		_, err := h.svc.Create(ctxFor(scim.ExtensionsReject), conn, scim.UserResource, []byte(entraCustomUser))
		wantCode(t, err, scim.EInvalidValue)
		if d := scim.ErrorDetailOf(err); !strings.Contains(d, customURN) || !strings.Contains(d, "declare") {
			t.Fatalf("detail %q must name the URN and how to declare it", d)
		}
		u := h.user("b@example.com")
		body := `{"schemas":["` + scim.PatchOpSchema + `"],"Operations":[{"op":"replace","path":"` + customURN + `:CustomAttribute","value":"1"}]}`
		_, err = h.svc.Patch(ctxFor(scim.ExtensionsReject), conn, scim.UserResource, u.ID, []byte(body), scim.Precondition{})
		wantCode(t, err, scim.EInvalidPath)
		if customOf(t, h.doc(scim.UserResource, u.ID)) != nil {
			t.Fatal("a refused PATCH stored the extension")
		}
	})
	t.Run("ignore", func(t *testing.T) {
		h := newHarness(t)
		res, err := h.svc.Create(ctxFor(scim.ExtensionsIgnore), conn, scim.UserResource, []byte(entraCustomUser))
		if err != nil {
			t.Fatalf("create: %v", err)
		}
		if _, ok := res.Resource.Attributes[customURN]; ok {
			t.Fatal("ignore kept the extension")
		}
		body := `{"schemas":["` + scim.PatchOpSchema + `"],"Operations":[{"op":"replace","path":"` + customURN + `:CustomAttribute","value":"1"}]}`
		if _, err := h.svc.Patch(ctxFor(scim.ExtensionsIgnore), conn, scim.UserResource, res.Resource.ID, []byte(body), scim.Precondition{}); err != nil {
			t.Fatalf("patch: %v", err)
		}
		if customOf(t, h.doc(scim.UserResource, res.Resource.ID)) != nil {
			t.Fatal("ignore stored the PATCHed extension")
		}
	})
	t.Run("core attributes stay strict", func(t *testing.T) {
		h := newHarness(t)
		_, err := h.svc.Create(context.Background(), conn, scim.UserResource, []byte(`{"userName":"a@x","shoeSize":44}`))
		wantCode(t, err, scim.EInvalidValue)
		_, err = h.svc.Create(context.Background(), conn, scim.UserResource, []byte(`{"userName":"a@x","`+scim.GroupSchema+`":{"x":1}}`))
		wantCode(t, err, scim.EInvalidValue)
	})
}

func TestUndeclaredExtensionLimits(t *testing.T) {
	h := newHarness(t)
	big := strings.Repeat("x", scim.MaxStringBytes+1)
	tests := []struct{ name, ext string }{
		{"string too long", `{"a":"` + big + `"}`},
		{"too many values", `{"a":[` + strings.TrimSuffix(strings.Repeat(`"v",`, scim.MaxValuesPerAttribute+1), ",") + `]}`},
		{"control character", `{"a":"x\u0000y"}`},
		{"not an object", `"x"`},
		{"nested too deep", `{"a":{"b":{"c":1}}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := h.svc.Create(context.Background(), conn, scim.UserResource, []byte(`{"userName":"a@x","`+customURN+`":`+tc.ext+`}`))
			if scim.ErrorCodeOf(err) != scim.EInvalidValue && scim.ErrorCodeOf(err) != scim.ETooMany {
				t.Fatalf("error = %v, want invalidValue or tooMany", err)
			}
		})
	}
	// The resource bound counts custom data: many attributes of the largest string.
	var sb strings.Builder
	sb.WriteString("{")
	for i := 0; i*scim.MaxStringBytes <= scim.MaxResourceBytes; i++ {
		if i > 0 {
			sb.WriteString(",")
		}
		b, _ := json.Marshal(strings.Repeat("y", scim.MaxStringBytes))
		sb.WriteString(`"a` + strings.Repeat("0", i%3) + string(rune('a'+i%26)) + strings.Repeat("z", i/26) + `":` + string(b))
	}
	sb.WriteString("}")
	_, err := h.svc.Create(context.Background(), conn, scim.UserResource, []byte(`{"userName":"a@x","`+customURN+`":`+sb.String()+`}`))
	wantCode(t, err, scim.ETooLarge)
}
