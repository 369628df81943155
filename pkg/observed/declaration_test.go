package observed_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/scimgate/scimgate/pkg/observed"
	"github.com/scimgate/scimgate/pkg/scim"
)

// TestDeclarationIsAcceptedAndTyped: what --from-observed declares parses
// with scim.ParseDeclaration, one schema per URN with the resource type it
// was seen on, each attribute typed by its JSON type; what cannot be
// copied whole is left out with a note.
func TestDeclarationIsAcceptedAndTyped(t *testing.T) {
	const okta = "urn:ietf:params:scim:schemas:extension:acme:2.0:User"
	const group = "urn:ietf:params:scim:schemas:extension:acme:2.0:Group"
	const withObject = "urn:ietf:params:scim:schemas:extension:nested:2.0:User"
	const badName = "urn:ietf:params:scim:schemas:extension:odd:2.0:User"
	at := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	e := func(typ scim.ResourceType, urn, attr, jsonType string, count int64) observed.Entry {
		return observed.Entry{ResourceType: typ, URN: urn, Attribute: attr, JSONType: jsonType, FirstSeen: at, LastSeen: at, Count: count}
	}
	entries := []observed.Entry{
		e(scim.UserResource, entraURN, "CustomAttribute", "string", 10),
		e(scim.UserResource, okta, "costCentre", "string", 3),
		e(scim.UserResource, okta, "costCentre", "number", 1), // once as a number: string wins
		e(scim.UserResource, okta, "isContractor", "boolean", 2),
		e(scim.UserResource, okta, "level", "number", 2),
		e(scim.UserResource, okta, "roles", "array", 2),
		e(scim.GroupResource, group, "region", "string", 1),
		e(scim.UserResource, withObject, "plain", "string", 1),
		e(scim.UserResource, withObject, "manager", "object", 1),
		e(scim.UserResource, badName, "cost centre", "string", 1),
	}
	schemas, notes := observed.Declaration(entries)
	if len(schemas) != 3 {
		t.Fatalf("%d schemas, want 3 (Entra's, Okta's User and Group ones): %s", len(schemas), schemas)
	}
	all, err := json.Marshal(schemas)
	if err != nil {
		t.Fatal(err)
	}
	d, err := scim.ParseDeclaration(all)
	if err != nil {
		t.Fatalf("scim.ParseDeclaration refused the observed declaration: %v\n%s", err, all)
	}
	if d.Len() != 3 || !d.Has(scim.UserResource, entraURN, "customattribute") || !d.Has(scim.UserResource, okta, "roles") ||
		!d.Has(scim.GroupResource, group, "region") || d.Has(scim.UserResource, group, "region") || d.Has(scim.UserResource, withObject, "plain") {
		t.Fatalf("declaration %s", d.JSON())
	}
	types := map[string]string{}
	multi := map[string]bool{}
	for _, raw := range d.Resources() {
		var sc struct {
			ID           string `json:"id"`
			ResourceType string `json:"x-resourceType"`
			Attributes   []struct {
				Name, Type, Mutability, Returned string
				MultiValued, Required            bool
			} `json:"attributes"`
		}
		if err := json.Unmarshal(raw, &sc); err != nil {
			t.Fatal(err)
		}
		for _, a := range sc.Attributes {
			types[sc.ID+":"+a.Name] = a.Type
			multi[sc.ID+":"+a.Name] = a.MultiValued
			if a.Mutability != "readWrite" || a.Returned != "default" || a.Required {
				t.Errorf("%s:%s: %+v", sc.ID, a.Name, a)
			}
		}
	}
	for attr, want := range map[string]string{
		entraURN + ":CustomAttribute": "string", okta + ":costCentre": "string", okta + ":isContractor": "boolean",
		okta + ":level": "decimal", okta + ":roles": "string", group + ":region": "string",
	} {
		if types[attr] != want {
			t.Errorf("%s declared as %q, want %q (all: %v)", attr, types[attr], want, types)
		}
	}
	if !multi[okta+":roles"] || multi[okta+":level"] {
		t.Errorf("multiValued: %v", multi)
	}
	joined := strings.Join(notes, "\n")
	for _, want := range []string{withObject + " (User) is not declared: its attribute manager is an object", badName + " (User) is not declared",
		okta + ":costCentre (User) was sent as number and string"} {
		if !strings.Contains(joined, want) {
			t.Errorf("notes lack %q:\n%s", want, joined)
		}
	}
	if len(notes) != 3 {
		t.Errorf("%d notes, want 3:\n%s", len(notes), joined)
	}
	again, _ := observed.Declaration([]observed.Entry{entries[9], entries[3], entries[0], entries[6], entries[2], entries[1], entries[4], entries[5]})
	if a, b := string(mustJSON(t, again)), string(all); a != b {
		t.Errorf("the declaration depends on the order of the entries:\n%s\n%s", a, b)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
