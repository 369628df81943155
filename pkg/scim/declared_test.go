package scim_test

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/scimgate/scimgate/pkg/scim"
)

const acmeURN = "urn:ietf:params:scim:schemas:extension:acme:2.0:User"

// acmeDeclaration is what an Okta profile editor's custom attributes look
// like once declared: a string, an integer, a multi-valued string, a
// complex attribute and one returned only on request.
const acmeDeclaration = `[{"id":"` + acmeURN + `","name":"Acme","description":"Acme's custom attributes",
 "attributes":[
  {"name":"costCentre","type":"string","caseExact":false},
  {"name":"badge","type":"integer"},
  {"name":"projects","type":"string","multiValued":true},
  {"name":"desk","type":"complex","subAttributes":[{"name":"floor","type":"integer"},{"name":"room","type":"string"}]},
  {"name":"clearance","type":"string","returned":"request"}
 ]},
 {"id":"urn:example:team:2.0:Group","x-resourceType":"Group","attributes":[{"name":"kind","type":"string"}]}]`

func declaredCtx(t *testing.T, layers ...string) context.Context {
	t.Helper()
	for _, l := range layers {
		d, err := scim.ParseDeclaration([]byte(l))
		if err != nil {
			t.Fatalf("parse declaration: %v", err)
		}
		if got := d.JSON(); got == "" {
			t.Fatalf("empty canonical JSON")
		}
	}
	return scim.WithDeclaration(context.Background(), layers...)
}

// canonical is the stored form of a declaration, as the stores keep it.
func canonical(t *testing.T, decl string) string {
	t.Helper()
	d, err := scim.ParseDeclaration([]byte(decl))
	if err != nil {
		t.Fatalf("parse declaration: %v", err)
	}
	return d.JSON()
}

func TestParseDeclarationRefusesNamingTheAttribute(t *testing.T) {
	schema := func(attrs string) string {
		return `{"id":"` + acmeURN + `","attributes":[` + attrs + `]}`
	}
	tests := []struct {
		name, decl, want string
	}{
		{"unknown type", schema(`{"name":"badge","type":"int"}`), "badge"},
		{"binary", schema(`{"name":"photo","type":"binary"}`), "photo"},
		{"no type", schema(`{"name":"badge"}`), "badge"},
		{"bad name", schema(`{"name":"1st","type":"string"}`), "1st"},
		{"duplicate name", schema(`{"name":"a","type":"string"},{"name":"A","type":"string"}`), "declared twice"},
		{"nested complex", schema(`{"name":"desk","type":"complex","subAttributes":[{"name":"x","type":"complex","subAttributes":[{"name":"y","type":"string"}]}]}`), "desk.x"},
		{"complex without subs", schema(`{"name":"desk","type":"complex"}`), "desk"},
		{"uniqueness server", schema(`{"name":"badge","type":"integer","uniqueness":"server"}`), "badge"},
		{"unknown member", schema(`{"name":"badge","type":"integer","multivalue":true}`), "multivalue"},
		{"writeOnly returned", schema(`{"name":"pin","type":"string","mutability":"writeOnly"}`), "pin"},
		{"not a urn", `{"id":"acme","attributes":[{"name":"a","type":"string"}]}`, "URN"},
		{"core schema", `{"id":"` + scim.UserSchema + `","attributes":[{"name":"a","type":"string"}]}`, "core"},
		{"enterprise", `{"id":"` + scim.EnterpriseUserSchema + `","attributes":[{"name":"a","type":"string"}]}`, "built in"},
		{"bad resource type", `{"id":"` + acmeURN + `","x-resourceType":"Device","attributes":[{"name":"a","type":"string"}]}`, "Device"},
		{"overlapping ids", `[{"id":"urn:acme:x","attributes":[{"name":"a","type":"string"}]},{"id":"urn:acme:x:y","attributes":[{"name":"a","type":"string"}]}]`, "overlap"},
		{"no attributes", `{"id":"` + acmeURN + `"}`, "attributes"},
		{"not json", `[{`, "JSON"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := scim.ParseDeclaration([]byte(tc.decl))
			wantCode(t, err, scim.EInvalidValue)
			if d := scim.ErrorDetailOf(err); !strings.Contains(d, tc.want) {
				t.Fatalf("detail %q does not name %q", d, tc.want)
			}
		})
	}
}

func TestParseDeclarationRoundTrips(t *testing.T) {
	d, err := scim.ParseDeclaration([]byte(acmeDeclaration))
	if err != nil {
		t.Fatal(err)
	}
	if d.Len() != 2 || !d.Has(scim.UserResource, strings.ToUpper(acmeURN), "BADGE") || d.Has(scim.GroupResource, acmeURN, "badge") {
		t.Fatalf("declaration = %s", d.JSON())
	}
	again, err := scim.ParseDeclaration([]byte(d.JSON()))
	if err != nil {
		t.Fatalf("canonical form does not parse again: %v", err)
	}
	if again.JSON() != d.JSON() {
		t.Fatalf("canonical form is not stable:\n%s\n%s", d.JSON(), again.JSON())
	}
	var first map[string]any
	if err := json.Unmarshal(d.Resources()[0], &first); err != nil {
		t.Fatal(err)
	}
	if first["x-resourceType"] != "User" || first["id"] != acmeURN {
		t.Fatalf("resource = %v", first)
	}
	one, err := scim.ParseDeclaration([]byte(`{"id":"` + acmeURN + `","attributes":[{"name":"a","type":"string"}]}`))
	if err != nil || one.Len() != 1 {
		t.Fatalf("one schema object: %v, %d", err, one.Len())
	}
	for _, empty := range []string{"", "null", "[]", " [ ] "} {
		if d, err := scim.ParseDeclaration([]byte(empty)); err != nil || d.Len() != 0 || d.JSON() != "[]" {
			t.Fatalf("%q: %v %v", empty, d, err)
		}
	}
}

func TestDeclaredAttributesAreTyped(t *testing.T) {
	onBothStores(t, func(t *testing.T, newHarness harnessFactory) {
		h := newHarness(t)
		ctx := declaredCtx(t, acmeDeclaration)
		body := func(ext string) []byte {
			return []byte(`{"schemas":["` + scim.UserSchema + `","` + acmeURN + `"],"userName":"ada@example.com","` + acmeURN + `":` + ext + `}`)
		}
		_, err := h.svc.Create(ctx, conn, scim.UserResource, body(`{"badge":"abc"}`))
		wantCode(t, err, scim.EInvalidValue)
		if d := scim.ErrorDetailOf(err); !strings.Contains(d, acmeURN+":badge") {
			t.Fatalf("detail %q does not name the attribute", d)
		}
		_, err = h.svc.Create(ctx, conn, scim.UserResource, body(`{"shoeSize":42}`))
		wantCode(t, err, scim.EInvalidValue)
		if d := scim.ErrorDetailOf(err); !strings.Contains(d, "shoeSize") || !strings.Contains(d, "declar") {
			t.Fatalf("detail %q", d)
		}
		_, err = h.svc.Create(ctx, conn, scim.UserResource, body(`{"desk":{"floor":"x"}}`))
		wantCode(t, err, scim.EInvalidValue)

		res, err := h.svc.Create(ctx, conn, scim.UserResource, body(`{"costCentre":"CC-7","badge":"701984","projects":"apollo","desk":{"floor":3,"room":"12b"},"clearance":"secret"}`))
		if err != nil {
			t.Fatal(err)
		}
		doc := roundTrip(t, h.svc.Document(ctx, res.Resource, base))
		want := map[string]any{"costCentre": "CC-7", "badge": float64(701984), "projects": []any{"apollo"}, "desk": map[string]any{"floor": float64(3), "room": "12b"}, "clearance": "secret"}
		if got := doc[acmeURN]; !reflect.DeepEqual(got, want) {
			t.Fatalf("stored %v, want %v", got, want)
		}
		if schemas, _ := doc["schemas"].([]any); !slices.Contains(schemas, any(acmeURN)) {
			t.Fatalf("schemas = %v", doc["schemas"])
		}
		// Without the declaration on the context, the same data is an
		// undeclared extension and is still returned.
		plain := roundTrip(t, h.svc.Document(context.Background(), res.Resource, base))
		if !reflect.DeepEqual(plain[acmeURN], want) {
			t.Fatalf("without declaration: %v", plain[acmeURN])
		}
	})
}

func TestDeclaredAttributesFilterSortAndProject(t *testing.T) {
	onBothStores(t, func(t *testing.T, newHarness harnessFactory) {
		h := newHarness(t)
		ctx := declaredCtx(t, acmeDeclaration)
		for i, cc := range []string{"cc-2", "CC-1", "cc-3"} {
			b := fmt.Sprintf(`{"schemas":[%q],"userName":"u%d@example.com",%q:{"costCentre":%q,"badge":%d,"clearance":"c%d"}}`, scim.UserSchema, i, acmeURN, cc, 10-i, i)
			if _, err := h.svc.Create(ctx, conn, scim.UserResource, []byte(b)); err != nil {
				t.Fatal(err)
			}
		}
		names := func(page *scim.ListPage) []string {
			var out []string
			for _, r := range page.Resources {
				out = append(out, r.Name)
			}
			return out
		}
		// caseExact false: eq matches whatever the case (RFC 7644 §3.4.2.2).
		page, err := h.svc.List(ctx, conn, scim.UserResource, scim.ListQuery{Filter: acmeURN + `:costCentre eq "cc-1"`, Count: -1, BaseURL: base})
		if err != nil {
			t.Fatal(err)
		}
		if got := names(page); !slices.Equal(got, []string{"u1@example.com"}) {
			t.Fatalf("filter matched %v", got)
		}
		page, err = h.svc.List(ctx, conn, scim.UserResource, scim.ListQuery{Filter: acmeURN + `:badge gt 8`, SortBy: acmeURN + ":badge", Count: -1, BaseURL: base})
		if err != nil {
			t.Fatal(err)
		}
		if got := names(page); !slices.Equal(got, []string{"u1@example.com", "u0@example.com"}) {
			t.Fatalf("badge gt 8 sorted by badge = %v", got)
		}
		_, err = h.svc.List(ctx, conn, scim.UserResource, scim.ListQuery{Filter: acmeURN + `:badge gt "x"`, Count: -1})
		wantCode(t, err, scim.EInvalidFilter)
		// Undeclared, the same filter is refused with the advice to declare.
		_, err = h.svc.List(context.Background(), conn, scim.UserResource, scim.ListQuery{Filter: acmeURN + `:badge gt 8`, Count: -1})
		if err == nil || !strings.Contains(scim.ErrorDetailOf(err), "declare") {
			t.Fatalf("undeclared filter: %v", err)
		}

		r := page.Resources[0]
		proj, err := h.svc.ParseProjection(ctx, scim.UserResource, acmeURN+":badge", "")
		if err != nil {
			t.Fatal(err)
		}
		doc := roundTrip(t, h.svc.Apply(ctx, scim.UserResource, h.svc.Document(ctx, r, base), proj))
		if got := doc[acmeURN]; !reflect.DeepEqual(got, map[string]any{"badge": float64(9)}) || doc["userName"] != nil {
			t.Fatalf("attributes=badge gave %v", doc)
		}
		// returned "request": absent by default, present when asked for.
		full := roundTrip(t, h.svc.Apply(ctx, scim.UserResource, h.svc.Document(ctx, r, base), scim.Projection{}))
		if ext, _ := full[acmeURN].(map[string]any); ext["clearance"] != nil || ext["badge"] == nil {
			t.Fatalf("default representation: %v", full[acmeURN])
		}
		proj, _ = h.svc.ParseProjection(ctx, scim.UserResource, acmeURN+":clearance", "")
		asked := roundTrip(t, h.svc.Apply(ctx, scim.UserResource, h.svc.Document(ctx, r, base), proj))
		if ext, _ := asked[acmeURN].(map[string]any); ext["clearance"] != "c1" {
			t.Fatalf("attributes=clearance: %v", asked[acmeURN])
		}
	})
}

func TestDeclaredAttributesPatchByEveryPathForm(t *testing.T) {
	onBothStores(t, func(t *testing.T, newHarness harnessFactory) {
		h := newHarness(t)
		ctx := declaredCtx(t, acmeDeclaration)
		res, err := h.svc.Create(ctx, conn, scim.UserResource, []byte(`{"schemas":["`+scim.UserSchema+`"],"userName":"ada@example.com"}`))
		if err != nil {
			t.Fatal(err)
		}
		id := res.Resource.ID
		steps := []struct {
			name, ops string
			want      map[string]any
		}{
			{"urn:X:attr", `[{"op":"Replace","path":"` + acmeURN + `:badge","value":7}]`, map[string]any{"badge": float64(7)}},
			{"urn:X:attr.sub", `[{"op":"add","path":"` + acmeURN + `:desk.floor","value":2}]`, map[string]any{"badge": float64(7), "desk": map[string]any{"floor": float64(2)}}},
			{"urn:X itself", `[{"op":"add","path":"` + acmeURN + `","value":{"costCentre":"CC"}}]`, map[string]any{"badge": float64(7), "desk": map[string]any{"floor": float64(2)}, "costCentre": "CC"}},
			{"no path, URN-prefixed keys", `[{"op":"replace","value":{"` + acmeURN + `:badge":8,"` + acmeURN + `:projects":["x"]}}]`, map[string]any{"badge": float64(8), "desk": map[string]any{"floor": float64(2)}, "costCentre": "CC", "projects": []any{"x"}}},
			{"remove", `[{"op":"remove","path":"` + acmeURN + `:costCentre"},{"op":"remove","path":"` + acmeURN + `:desk"}]`, map[string]any{"badge": float64(8), "projects": []any{"x"}}},
		}
		for _, step := range steps {
			body := fmt.Sprintf(`{"schemas":[%q],"Operations":%s}`, scim.PatchOpSchema, step.ops)
			r, err := h.svc.Patch(ctx, conn, scim.UserResource, id, []byte(body), scim.Precondition{})
			if err != nil {
				t.Fatalf("%s: %v", step.name, err)
			}
			if got := roundTrip(t, h.svc.Document(ctx, r, base))[acmeURN]; !reflect.DeepEqual(got, step.want) {
				t.Fatalf("%s: %v, want %v", step.name, got, step.want)
			}
		}
		body := fmt.Sprintf(`{"schemas":[%q],"Operations":[{"op":"replace","path":"%s:badge","value":"abc"}]}`, scim.PatchOpSchema, acmeURN)
		_, err = h.svc.Patch(ctx, conn, scim.UserResource, id, []byte(body), scim.Precondition{})
		wantCode(t, err, scim.EInvalidValue)
	})
}

// A changed declaration never loses or hides stored data: values that no
// longer fit stay, are returned, and do not block other changes.
func TestChangingADeclarationKeepsStoredValues(t *testing.T) {
	h := newHarness(t)
	res, err := h.svc.Create(context.Background(), conn, scim.UserResource, []byte(`{"schemas":["`+scim.UserSchema+`"],"userName":"ada@example.com","`+acmeURN+`":{"badge":"B-12","legacy":"kept"}}`))
	if err != nil {
		t.Fatal(err)
	}
	ctx := declaredCtx(t, acmeDeclaration) // badge is now an integer; legacy is not declared
	body := fmt.Sprintf(`{"schemas":[%q],"Operations":[{"op":"replace","path":"%s:costCentre","value":"CC"},{"op":"replace","path":"displayName","value":"Ada"}]}`, scim.PatchOpSchema, acmeURN)
	r, err := h.svc.Patch(ctx, conn, scim.UserResource, res.Resource.ID, []byte(body), scim.Precondition{})
	if err != nil {
		t.Fatalf("patch beside values the declaration does not fit: %v", err)
	}
	got := roundTrip(t, h.svc.Document(ctx, r, base))[acmeURN]
	want := map[string]any{"badge": "B-12", "legacy": "kept", "costCentre": "CC"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("after patch: %v, want %v", got, want)
	}
	// Sending the misfit value anew is judged by the declaration.
	body = fmt.Sprintf(`{"schemas":[%q],"Operations":[{"op":"replace","path":"%s:badge","value":"B-13"}]}`, scim.PatchOpSchema, acmeURN)
	_, err = h.svc.Patch(ctx, conn, scim.UserResource, res.Resource.ID, []byte(body), scim.Precondition{})
	wantCode(t, err, scim.EInvalidValue)
}

func TestDiscoveryListsTheDeclaredSchemas(t *testing.T) {
	h := newHarness(t)
	ctx := declaredCtx(t, acmeDeclaration)
	var ids []string
	for _, d := range h.svc.SchemaDocuments(ctx, base) {
		ids = append(ids, d["id"].(string))
	}
	if !slices.Contains(ids, acmeURN) || !slices.Contains(ids, "urn:example:team:2.0:Group") || len(ids) != 5 {
		t.Fatalf("/Schemas ids = %v", ids)
	}
	if n := len(h.svc.SchemaDocuments(context.Background(), base)); n != 3 {
		t.Fatalf("/Schemas without a declaration has %d schemas", n)
	}
	rts := roundTrip(t, map[string]any{"r": h.svc.ResourceTypes(ctx, base)})["r"].([]any)
	user, group := rts[0].(map[string]any), rts[1].(map[string]any)
	wantUser := []any{map[string]any{"schema": scim.EnterpriseUserSchema, "required": false}, map[string]any{"schema": acmeURN, "required": false}}
	if !reflect.DeepEqual(user["schemaExtensions"], wantUser) {
		t.Fatalf("User schemaExtensions = %v", user["schemaExtensions"])
	}
	if !reflect.DeepEqual(group["schemaExtensions"], []any{map[string]any{"schema": "urn:example:team:2.0:Group", "required": false}}) {
		t.Fatalf("Group schemaExtensions = %v", group["schemaExtensions"])
	}
}

// The connection's own declaration replaces a platform default with the same id.
func TestDeclarationLayers(t *testing.T) {
	h := newHarness(t)
	platform := canonical(t, `[{"id":"`+acmeURN+`","attributes":[{"name":"badge","type":"string"}]},{"id":"urn:example:platform:2.0:User","attributes":[{"name":"tier","type":"string"}]}]`)
	own := canonical(t, `{"id":"`+acmeURN+`","attributes":[{"name":"badge","type":"integer"}]}`)
	ctx := scim.WithDeclaration(context.Background(), platform, own)
	_, err := h.svc.Create(ctx, conn, scim.UserResource, []byte(`{"schemas":["`+scim.UserSchema+`"],"userName":"a@example.com","`+acmeURN+`":{"badge":"x"},"urn:example:platform:2.0:User":{"tier":"gold"}}`))
	wantCode(t, err, scim.EInvalidValue) // the connection's integer, not the platform's string
	res, err := h.svc.Create(ctx, conn, scim.UserResource, []byte(`{"schemas":["`+scim.UserSchema+`"],"userName":"a@example.com","`+acmeURN+`":{"badge":1},"urn:example:platform:2.0:User":{"tier":"gold"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.List(ctx, conn, scim.UserResource, scim.ListQuery{Filter: `urn:example:platform:2.0:User:tier eq "gold"`, Count: -1}); err != nil {
		t.Fatalf("the platform's schema is declared for the connection: %v", err)
	}
	_ = res
}

type recordingObserver struct {
	mu  sync.Mutex
	got []scim.Observation
}

func (o *recordingObserver) Observe(_ context.Context, _ scim.Connection, obs []scim.Observation) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.got = append(o.got, obs...)
}

func TestObserverHearsOfUndeclaredAttributesOfSuccessfulWrites(t *testing.T) {
	obs := &recordingObserver{}
	h := newHarness(t, scim.WithObserver(obs))
	ctx := declaredCtx(t, acmeDeclaration)
	u, err := h.svc.Create(ctx, conn, scim.UserResource, []byte(`{"schemas":["`+scim.UserSchema+`"],"userName":"a@example.com","`+acmeURN+`":{"badge":1},"`+customURN+`":{"CustomAttribute":"701984","tags":["a"]}}`))
	if err != nil {
		t.Fatal(err)
	}
	_, err = h.svc.Create(ctx, conn, scim.UserResource, []byte(`{"schemas":["`+scim.UserSchema+`"],"userName":"b@example.com","`+customURN+`":{"Fails":1},"`+acmeURN+`":{"badge":"x"}}`))
	wantCode(t, err, scim.EInvalidValue)
	body := fmt.Sprintf(`{"schemas":[%q],"Operations":[{"op":"add","path":"%s:floor","value":3},{"op":"add","path":"%s:desk.room","value":"1"}]}`, scim.PatchOpSchema, customURN, customURN)
	if _, err := h.svc.Patch(ctx, conn, scim.UserResource, u.Resource.ID, []byte(body), scim.Precondition{}); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, o := range obs.got {
		got = append(got, fmt.Sprintf("%s %s:%s %s", o.ResourceType, o.URN, o.Attribute, o.JSONType))
	}
	slices.Sort(got)
	want := []string{
		"User " + customURN + ":CustomAttribute string",
		"User " + customURN + ":desk object",
		"User " + customURN + ":floor number",
		"User " + customURN + ":tags array",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("observed\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
