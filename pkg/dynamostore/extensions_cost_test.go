package dynamostore_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/scimgate/scimgate/pkg/dynamostore"
	"github.com/scimgate/scimgate/pkg/scim"
)

// TestCustomAttributesCost measures what custom (undeclared extension)
// attributes add to a SCIM write on DynamoDB: no request and no item, only
// bytes of the items the write already makes (the resource item and its
// change record), hence write units once those cross a 1 KB boundary.
// docs/custom-attributes.md quotes these numbers.
func TestCustomAttributesCost(t *testing.T) {
	srv := moto.Server(t)
	meter := &writeMeter{}
	client := srv.Client(t, meter.option())
	raw := srv.Client(t)
	table := srv.NewTable(t, client)
	svc := scim.NewService(dynamostore.New(client, table))
	ctx := context.Background()
	conn := scim.Connection{Tenant: "acme", SSO: "entra"}
	const ext = "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User"
	body := func(n int, custom string) string {
		return fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"u%d@example.com","name":{"givenName":"Ada","familyName":"Lovelace"},"emails":[{"value":"u%d@example.com","type":"work","primary":true}],"active":true%s}`, n, n, custom)
	}
	three := `,"` + ext + `":{"CustomAttribute":"701984","CostCentre":"CC-4711","Role":"engineer"}`
	var plainID, customID string
	create := func(n int, custom string, id *string) func() error {
		return func() error {
			res, err := svc.Create(ctx, conn, scim.UserResource, []byte(body(n, custom)))
			if err == nil {
				*id = res.Resource.ID
			}
			return err
		}
	}
	patch := func(id *string, path, value string) func() error {
		return func() error {
			_, err := svc.Patch(ctx, conn, scim.UserResource, *id, []byte(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"`+path+`","value":"`+value+`"}]}`), scim.Precondition{})
			return err
		}
	}
	plain := meter.measure(t, raw, table, create(1, "", &plainID))
	custom := meter.measure(t, raw, table, create(2, three, &customID))
	plainPatch := meter.measure(t, raw, table, patch(&plainID, "displayName", "x"))
	customPatch := meter.measure(t, raw, table, patch(&customID, ext+":CostCentre", "CC-4712"))
	t.Logf("POST without custom attributes: %d requests, %d transaction items, %d WCU", plain.requests, plain.txItems, plain.wcu)
	t.Logf("POST with 3 custom attributes:  %d requests, %d transaction items, %d WCU", custom.requests, custom.txItems, custom.wcu)
	t.Logf("PATCH displayName:              %d requests, %d transaction items, %d WCU", plainPatch.requests, plainPatch.txItems, plainPatch.wcu)
	t.Logf("PATCH urn:...:CostCentre:       %d requests, %d transaction items, %d WCU", customPatch.requests, customPatch.txItems, customPatch.wcu)
	if custom.requests != plain.requests || custom.txItems != plain.txItems {
		t.Errorf("custom attributes changed the requests or items of a POST: %+v, without: %+v", custom, plain)
	}
	if customPatch.requests != plainPatch.requests || customPatch.txItems != plainPatch.txItems {
		t.Errorf("a custom attribute's PATCH costs other requests or items than a core one: %+v vs %+v", customPatch, plainPatch)
	}
}
