package dynamostore_test

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/scimgate/scimgate/pkg/auth"
	"github.com/scimgate/scimgate/pkg/dynamostore"
	"github.com/scimgate/scimgate/pkg/scim"
)

// declarationOfSize returns the canonical JSON of the largest declaration
// of string attributes whose canonical form stays within limit bytes.
func declarationOfSize(t *testing.T, limit int) string {
	t.Helper()
	build := func(n int) string {
		var schemas []string
		for s := 0; n > 0; s++ {
			k := min(n, 100)
			n -= k
			attrs := make([]string, k)
			for i := range attrs {
				attrs[i] = fmt.Sprintf(`{"name":"attribute%02d%03d","type":"string"}`, s, i)
			}
			schemas = append(schemas, fmt.Sprintf(`{"id":"urn:ietf:params:scim:schemas:extension:acme%d:2.0:User","attributes":[%s]}`, s, strings.Join(attrs, ",")))
		}
		return "[" + strings.Join(schemas, ",") + "]"
	}
	best := ""
	for n := 1; ; n++ {
		d, err := scim.ParseDeclaration([]byte(build(n)))
		if err != nil || len(d.JSON()) > limit {
			if best == "" {
				t.Fatalf("no declaration fits in %d bytes: %v", limit, err)
			}
			return best
		}
		best = d.JSON()
	}
}

// TestDeclaredSchemasCost measures, against moto, what a declaration costs
// on DynamoDB. On the SCIM path: no request (the declaration is on the
// connection item the token lookup already reads), only read units as the
// item grows (1 per 4 KB, strongly consistent). Setting it: one UpdateItem.
// The directory entry never carries it. docs/custom-attributes.md quotes
// these numbers.
func TestDeclaredSchemasCost(t *testing.T) {
	srv := moto.Server(t)
	meter := &writeMeter{}
	client := srv.Client(t, meter.option())
	raw := srv.Client(t)
	table := srv.NewTable(t, client)
	st := dynamostore.New(client, table)
	ctx := context.Background()
	conn := scim.Connection{Tenant: "acme", SSO: "entra"}
	secret, err := auth.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	if err := st.CreateConnection(ctx, auth.ConnectionRecord{Conn: conn, State: auth.StateActive, Created: at}, auth.NewTokenInfo(conn, secret, at)); err != nil {
		t.Fatal(err)
	}
	authenticate := func() error {
		_, _, err := auth.AuthenticateConnection(ctx, st, "Bearer "+secret, conn, at)
		return err
	}
	sizes := []struct {
		name  string
		limit int // bytes of canonical JSON; 0: no declaration
	}{{"no declaration", 0}, {"~1 KB declaration", 1 << 10}, {"~4 KB declaration", 4 << 10}, {"16 KiB declaration (the cap)", scim.MaxDeclarationBytes}}
	var baseline cost
	for i, s := range sizes {
		canonical := ""
		if s.limit > 0 {
			canonical = declarationOfSize(t, s.limit)
		}
		set := meter.measure(t, raw, table, func() error { return st.SetDeclaredSchemas(ctx, conn, canonical) })
		read := meter.measure(t, raw, table, authenticate)
		t.Logf("%-30s %5d bytes: authenticate %d request, %d RCU (token + connection); set %d request, %d WCU",
			s.name, len(canonical), read.requests, read.batchRCU, set.requests, set.wcu)
		if i == 0 {
			baseline = read
			continue
		}
		if read.requests != baseline.requests {
			t.Errorf("%s: authentication makes %d requests, without a declaration %d", s.name, read.requests, baseline.requests)
		}
		if want := 1 + int(math.Ceil(float64(len(canonical)+400)/4096)); read.batchRCU > want {
			t.Errorf("%s: authentication reads %d RCU, want at most %d", s.name, read.batchRCU, want)
		}
		if set.requests != 1 {
			t.Errorf("%s: setting it makes %d requests, want 1", s.name, set.requests)
		}
	}

	// The directory entry stays small: ListConnections and the global feed
	// Query it.
	out, err := raw.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: "CONNS"}, "sk": &types.AttributeValueMemberS{Value: "acme#entra"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := out.Item["declared_schemas"]; ok || len(out.Item) == 0 {
		t.Errorf("the directory entry carries the declaration (or is missing): %d bytes", dynamostore.ItemSize(out.Item))
	}
	t.Logf("directory entry: %d bytes", dynamostore.ItemSize(out.Item))

	// The default declaration: one item, read by GetItem at most once a
	// minute per process (pkg/declared).
	full := declarationOfSize(t, scim.MaxDeclarationBytes)
	setDefault := meter.measure(t, raw, table, func() error { return st.SetDefaultSchemas(ctx, full) })
	item, err := raw.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: "SETTINGS"}, "sk": &types.AttributeValueMemberS{Value: "DEFAULT_SCHEMAS"}}})
	if err != nil {
		t.Fatal(err)
	}
	size := dynamostore.ItemSize(item.Item)
	readDefault := meter.measure(t, raw, table, func() error { _, err := st.DefaultSchemas(ctx); return err })
	t.Logf("default declaration of %d bytes: item %d bytes, read %d request, %d RCU; set %d request, %d WCU",
		len(full), size, readDefault.requests, int(math.Ceil(float64(size)/4096)), setDefault.requests, setDefault.wcu)
	if readDefault.requests != 1 || setDefault.requests != 1 {
		t.Errorf("default: read %d requests, set %d, want 1 each", readDefault.requests, setDefault.requests)
	}
}
