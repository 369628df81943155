package admin_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/scimgate/scimgate/pkg/admin"
	"github.com/scimgate/scimgate/pkg/observed"
	"github.com/scimgate/scimgate/pkg/scim"
)

const entraURN = "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User"

// TestShowSchemasListsObserved: the observed schema is listed with the
// fixed JSON keys, times as RFC 3339 UTC milliseconds, ordered; a deleted
// connection's is hidden.
func TestShowSchemasListsObserved(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	conn := scim.Connection{Tenant: "acme", SSO: "entra"}
	if _, err := f.svc.CreateConnection(ctx, conn, "", admin.TokenOptions{}); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 2, 9, 0, 1, 250_000_000, time.UTC)
	if err := f.store.AddObserved(ctx, conn, []observed.Entry{
		{ResourceType: scim.GroupResource, URN: "urn:acme:Group", Attribute: "region", JSONType: "string", FirstSeen: at, LastSeen: at, Count: 1},
		{ResourceType: scim.UserResource, URN: entraURN, Attribute: "CustomAttribute", JSONType: "string", FirstSeen: at, LastSeen: at.Add(time.Minute), Count: 12},
	}); err != nil {
		t.Fatal(err)
	}
	settings, err := f.svc.ShowSchemas(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(settings.Observed)
	if err != nil {
		t.Fatal(err)
	}
	want := `[{"urn":"` + entraURN + `","attribute":"CustomAttribute","json_type":"string","first_seen":"2026-11-02T09:00:01.250Z","last_seen":"2026-11-02T09:01:01.250Z","count":12,"resource_type":"User"},` +
		`{"urn":"urn:acme:Group","attribute":"region","json_type":"string","first_seen":"2026-11-02T09:00:01.250Z","last_seen":"2026-11-02T09:00:01.250Z","count":1,"resource_type":"Group"}]`
	if string(b) != want {
		t.Fatalf("observed =\n%s\nwant\n%s", b, want)
	}
	if b, _ := json.Marshal(settings); strings.Contains(string(b), `"notes"`) {
		t.Fatalf("show carries notes: %s", b)
	}

	schemas, notes, err := f.svc.ObservedDeclaration(ctx, conn)
	if err != nil || len(notes) != 0 || len(schemas) != 2 {
		t.Fatalf("ObservedDeclaration = %s, %v, %v", schemas, notes, err)
	}
	all, _ := json.Marshal(schemas)
	d, err := scim.ParseDeclaration(all)
	if err != nil {
		t.Fatalf("the observed declaration does not parse: %v\n%s", err, all)
	}
	if !d.Has(scim.UserResource, entraURN, "CustomAttribute") || !d.Has(scim.GroupResource, "urn:acme:Group", "region") {
		t.Fatalf("declaration %s", d.JSON())
	}

	if err := f.svc.DeleteConnection(ctx, conn); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.ShowSchemas(ctx, conn); scim.ErrorCodeOf(err) != scim.ENotFound {
		t.Fatalf("schemas of a deleted connection: %v", err)
	}
	if _, _, err := f.svc.ObservedDeclaration(ctx, conn); scim.ErrorCodeOf(err) != scim.ENotFound {
		t.Fatalf("observed declaration of a deleted connection: %v", err)
	}
}

// TestFromObservedWithNothingObservedChangesNothing: --from-observed on a
// connection that sent nothing undeclared is a 400 saying so, never an
// empty declared set.
func TestFromObservedWithNothingObservedChangesNothing(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	conn := scim.Connection{Tenant: "acme", SSO: "okta"}
	if _, err := f.svc.CreateConnection(ctx, conn, "", admin.TokenOptions{}); err != nil {
		t.Fatal(err)
	}
	ignore := "ignore"
	_, err := f.svc.SetSchemas(ctx, conn, admin.SchemaUpdate{FromObserved: true, UnknownExtensions: &ignore})
	wantCode(t, err, scim.EInvalidValue)
	if !strings.Contains(scim.ErrorDetailOf(err), "no undeclared attribute yet") {
		t.Fatalf("detail: %s", scim.ErrorDetailOf(err))
	}
	if s, err := f.svc.ShowSchemas(ctx, conn); err != nil || s.UnknownExtensions != "store" {
		t.Fatalf("a refused update changed the policy: %+v, %v", s, err)
	}
}

// TestMergeDeclared: --file's schemas replace the observed ones with the
// same id, whatever its case, and the others are kept, observed first.
func TestMergeDeclared(t *testing.T) {
	obs := []json.RawMessage{json.RawMessage(`{"id":"urn:a:User","attributes":[{"name":"x","type":"string"}]}`),
		json.RawMessage(`{"id":"urn:b:User","attributes":[{"name":"y","type":"string"}]}`)}
	file := []json.RawMessage{json.RawMessage(`{"id":"URN:B:User","attributes":[{"name":"y","type":"integer"}]}`),
		json.RawMessage(`{"id":"urn:c:User","attributes":[{"name":"z","type":"string"}]}`)}
	got := admin.MergeDeclared(obs, file)
	var ids []string
	for _, raw := range got {
		var s struct{ ID string }
		if err := json.Unmarshal(raw, &s); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, s.ID)
	}
	if strings.Join(ids, ",") != "urn:a:User,URN:B:User,urn:c:User" || !strings.Contains(string(got[1]), "integer") {
		t.Fatalf("merged = %s", got)
	}
	all, _ := json.Marshal(got)
	if _, err := scim.ParseDeclaration(all); err != nil {
		t.Fatalf("merged declaration: %v", err)
	}
}
