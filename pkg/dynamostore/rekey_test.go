package dynamostore_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/scimgate/scimgate/pkg/scim"
)

// TestRekeyNames: guards written under the old key (strings.ToLower) move to
// scim.NameKey's; a name whose new key an older resource holds keeps its
// old guard; a second pass changes nothing.
func TestRekeyNames(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	pk := "C#" + e.conn.Tenant + "#" + e.conn.SSO
	put := func(item map[string]types.AttributeValue) {
		t.Helper()
		if _, err := e.client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(e.table), Item: item}); err != nil {
			t.Fatal(err)
		}
	}
	s := func(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
	// legacy writes a resource item and its name guard as earlier versions did.
	legacy := func(typ scim.ResourceType, id, name, created string) {
		letter := "U"
		if typ == scim.GroupResource {
			letter = "G"
		}
		put(map[string]types.AttributeValue{"pk": s(pk), "sk": s(letter + "#" + id), "typ": s(string(typ)), "id": s(id), "name": s(name),
			"active": &types.AttributeValueMemberBOOL{Value: true}, "ver": &types.AttributeValueMemberN{Value: "1"},
			"created": s(created), "modified": s(created), "doc": s(`{}`)})
		put(map[string]types.AttributeValue{"pk": s(pk), "sk": s(letter + "N#" + strings.ToLower(name)), "owner": s(id)})
	}
	legacy(scim.UserResource, "00000001-0000-4000-8000-000000000001", "ada@x.com", "2026-01-01T00:00:01.000Z")
	legacy(scim.UserResource, "00000002-0000-4000-8000-000000000002", "ａｄａ@x.com", "2026-01-01T00:00:02.000Z")
	legacy(scim.UserResource, "00000003-0000-4000-8000-000000000003", "Jose\u0301@x.com", "2026-01-01T00:00:03.000Z") // e and a combining acute
	legacy(scim.GroupResource, "00000004-0000-4000-8000-000000000004", "Sales  Team ", "2026-01-01T00:00:04.000Z")

	res, err := e.store.RekeyNames(ctx, e.conn)
	if err != nil {
		t.Fatal(err)
	}
	if res.Moved != 2 || !slices.Equal(res.Kept, []string{"00000002-0000-4000-8000-000000000002"}) {
		t.Fatalf("RekeyNames = %+v, want 2 moved and the fullwidth twin kept", res)
	}
	for _, tc := range []struct {
		typ          scim.ResourceType
		lookup, want string
	}{
		{scim.UserResource, "ADA@x.com", "00000001-0000-4000-8000-000000000001"},
		{scim.UserResource, "ａｄａ@x.com", "00000001-0000-4000-8000-000000000001"},
		{scim.UserResource, "jos\u00e9@x.com", "00000003-0000-4000-8000-000000000003"}, // é composed
		{scim.GroupResource, "sales team", "00000004-0000-4000-8000-000000000004"},
	} {
		r, err := e.store.FindByName(ctx, e.conn, tc.typ, tc.lookup, false)
		if err != nil || r.ID != tc.want {
			t.Errorf("FindByName(%q) = %v, %v; want %s", tc.lookup, r, err, tc.want)
		}
	}
	again, err := e.store.RekeyNames(ctx, e.conn)
	if err != nil || again.Moved != 0 || len(again.Kept) != 1 {
		t.Errorf("second pass = %+v, %v; want nothing moved", again, err)
	}
	if _, err := e.store.Get(ctx, e.conn, scim.UserResource, "00000002-0000-4000-8000-000000000002", false); err != nil {
		t.Errorf("the kept user is lost: %v", err)
	}
}
