package functions_test

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/scimgate/scimgate/functions/internal/lambdamain"
	"github.com/scimgate/scimgate/internal/localrun"
	"github.com/scimgate/scimgate/pkg/auth"
	"github.com/scimgate/scimgate/pkg/dynamostore"
	"github.com/scimgate/scimgate/pkg/httpapi"
	"github.com/scimgate/scimgate/pkg/lambdaapi"
	"github.com/scimgate/scimgate/pkg/scim"
)

// TestDiscoveryFunctionServesDeclarations: the Discovery function, as
// Lambda builds it, lists the platform's default schemas and the
// connection's own on /Schemas, both read from the table.
func TestDiscoveryFunctionServesDeclarations(t *testing.T) {
	srv := moto.Server(t)
	client := srv.Client(t)
	table := srv.NewTable(t, client)
	ctx := context.Background()
	st := dynamostore.New(client, table)
	conn := scim.Connection{Tenant: localrun.DemoTenant, SSO: localrun.DemoSSO}
	if err := auth.Register(ctx, st, conn, localrun.DemoToken, time.Now()); err != nil {
		t.Fatal(err)
	}
	declare := func(urn string) string {
		d, err := scim.ParseDeclaration([]byte(`{"id":"` + urn + `","attributes":[{"name":"costCentre","type":"integer"}]}`))
		if err != nil {
			t.Fatal(err)
		}
		return d.JSON()
	}
	const platformURN = "urn:ietf:params:scim:schemas:extension:platform:2.0:User"
	const ownURN = "urn:ietf:params:scim:schemas:extension:acme:2.0:User"
	if err := st.SetDefaultSchemas(ctx, declare(platformURN)); err != nil {
		t.Fatal(err)
	}
	if err := st.SetDeclaredSchemas(ctx, conn, declare(ownURN)); err != nil {
		t.Fatal(err)
	}
	setLambdaEnv(t, srv)
	env := map[string]string{"SCIMGATE_DYNAMODB_TABLE": table, "LOG_LEVEL": "ERROR"}
	h, err := lambdamain.New(ctx, httpapi.DiscoveryResource, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(eventsDir, "02-discovery-schemas.json"))
	if err != nil {
		t.Fatal(err)
	}
	var req events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(raw, &req); err != nil {
		t.Fatal(err)
	}
	resp, err := lambdaapi.Handler(h)(ctx, req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /Schemas: %v %d %s", err, resp.StatusCode, resp.Body)
	}
	var list struct {
		Resources []struct {
			ID string `json:"id"`
		} `json:"Resources"`
	}
	if err := json.Unmarshal([]byte(resp.Body), &list); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, r := range list.Resources {
		seen[r.ID] = true
	}
	if !seen[platformURN] || !seen[ownURN] {
		t.Fatalf("/Schemas lists %v, want the default %s and the connection's %s", seen, platformURN, ownURN)
	}
}
