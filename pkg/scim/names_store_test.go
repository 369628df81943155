package scim_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/scimgate/scimgate/pkg/dynamostore"
	"github.com/scimgate/scimgate/pkg/scim"
	"github.com/scimgate/scimgate/pkg/sqlitestore"
)

// TestStoredNameTheProfileRefusesIsKept: a user stored before the profile
// was enforced, with a userName it refuses, can still be changed (and
// deactivated) by requests that leave the userName as it is; a request that
// sets a new refused name is refused.
func TestStoredNameTheProfileRefusesIsKept(t *testing.T) {
	sqlite, err := sqlitestore.Open(context.Background(), filepath.Join(t.TempDir(), "scim.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sqlite.Close() })
	client := moto.Server(t).Client(t)
	for name, st := range map[string]scim.Store{"sqlite": sqlite, "dynamodb": dynamostore.New(client, moto.Server(t).NewTable(t, client))} {
		t.Run(name, func(t *testing.T) {
			h := newHarnessOn(t, st)
			legacy := &scim.Resource{Conn: conn, Type: scim.UserResource, ID: "00000001-0000-4000-8000-000000000001", Version: 1,
				Name: "bob@x.com ", Active: true, Attributes: map[string]any{"userName": "bob@x.com ", "active": true}}
			if err := st.Create(context.Background(), legacy); err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			body := `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":false}}]}`
			r, err := h.svc.Patch(ctx, conn, scim.UserResource, legacy.ID, []byte(body), scim.Precondition{})
			if err != nil || r.Active {
				t.Fatalf("deactivate a user with a legacy userName: %v, %v", r, err)
			}
			found, err := h.svc.List(ctx, conn, scim.UserResource, scim.ListQuery{Filter: `userName eq "bob@x.com "`, Count: 10})
			if err != nil || len(found.Resources) != 1 {
				t.Fatalf("lookup of the legacy userName: %v, %v", found, err)
			}
			put := `{"userName":"bob2@x.com\u200b"}`
			if _, err := h.svc.Replace(ctx, conn, scim.UserResource, legacy.ID, []byte(put), scim.Precondition{}); scim.ErrorCodeOf(err) != scim.EInvalidValue {
				t.Fatalf("rename to a refused userName: %v, want invalidValue", err)
			}
		})
	}
}
