package functions_test

import (
	"context"
	"encoding/json"
	"io"
	"maps"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/scimgate/scimgate/functions/internal/lambdamain"
	"github.com/scimgate/scimgate/internal/localrun"
	"github.com/scimgate/scimgate/pkg/auth"
	"github.com/scimgate/scimgate/pkg/dynamostore"
	"github.com/scimgate/scimgate/pkg/dynamotest"
	"github.com/scimgate/scimgate/pkg/httpapi"
	"github.com/scimgate/scimgate/pkg/lambdaapi"
	"github.com/scimgate/scimgate/pkg/scim"
)

// setLambdaEnv gives the test the environment a function's wiring reads
// on Lambda, pointed at srv: its DynamoDB endpoint, a region, static
// credentials, and no profile or instance metadata to fall back on.
func setLambdaEnv(t *testing.T, srv *dynamotest.Server) {
	t.Helper()
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL_DYNAMODB": srv.Endpoint(), "AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "local",
		"AWS_SECRET_ACCESS_KEY": "local", "AWS_SESSION_TOKEN": "", "AWS_PROFILE": "", "AWS_EC2_METADATA_DISABLED": "true",
	} {
		t.Setenv(k, v)
	}
}

// readHTTPEvent reads an API Gateway HTTP API event of events/.
func readHTTPEvent(t *testing.T, path string) events.APIGatewayV2HTTPRequest {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var ev events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

// countedUsersFunction is the Users function as lambdamain wires it, on a
// fresh table of srv that holds the demo connection's token, with env set
// beside the table's name, and a counter of the DynamoDB calls it makes.
// A fresh table per call, so that each run makes the token's first-use write.
func countedUsersFunction(t *testing.T, srv *dynamotest.Server, client *dynamodb.Client, env map[string]string) (lambdaapi.EventHandler, string, *dynamostore.CallCounter) {
	t.Helper()
	ctx := context.Background()
	table := srv.NewTable(t, client)
	conn := scim.Connection{Tenant: localrun.DemoTenant, SSO: localrun.DemoSSO}
	if err := auth.Register(ctx, dynamostore.New(client, table), conn, localrun.DemoToken, time.Now()); err != nil {
		t.Fatal(err)
	}
	counter := &dynamostore.CallCounter{}
	env = maps.Clone(env)
	env["SCIMGATE_DYNAMODB_TABLE"] = table
	h, err := lambdamain.New(ctx, httpapi.UsersResource, func(k string) string { return env[k] }, io.Discard, counter.ClientOption())
	if err != nil {
		t.Fatal(err)
	}
	return lambdaapi.Handler(h), table, counter
}
