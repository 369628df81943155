package functions_test

import (
	"context"
	"fmt"
	"maps"
	"testing"

	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/scimgate/scimgate/functions/internal/lambdamain"
	"github.com/scimgate/scimgate/internal/localrun"
	"github.com/scimgate/scimgate/pkg/dynamostore"
	"github.com/scimgate/scimgate/pkg/lambdaapi"
	"github.com/scimgate/scimgate/pkg/scim"
)

// TestObservedThroughTheUsersFunction runs 20 POSTs of users through the
// Users function's real wiring, once with Entra's custom attribute (an
// undeclared URN not listed in schemas) and once without, counting
// DynamoDB calls: the observed schema adds exactly one Query (the
// environment's load of the connection's keys) and one UpdateItem (the
// key's first write), and the key is on record after the first request.
func TestObservedThroughTheUsersFunction(t *testing.T) {
	srv := moto.Server(t)
	client := srv.Client(t)
	ctx := context.Background()
	conn := scim.Connection{Tenant: localrun.DemoTenant, SSO: localrun.DemoSSO}
	setLambdaEnv(t, srv)
	template := readHTTPEvent(t, "../events/07-users-create.json")
	const urn = "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User"
	var table string
	run := func(custom bool) map[string]int {
		t.Helper()
		var handler lambdaapi.EventHandler
		var counter *dynamostore.CallCounter
		handler, table, counter = countedUsersFunction(t, srv, client, map[string]string{lambdamain.EnvHealthFlushInterval: "off"})
		for i := range 20 {
			body := fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"u%d@example.com"`, i)
			if custom {
				body += `,"` + urn + `":{"CustomAttribute":"701984"}`
			}
			ev := template
			ev.Body, ev.IsBase64Encoded = body+"}", false
			ev.Headers = maps.Clone(template.Headers)
			delete(ev.Headers, "content-length")
			ictx := lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{AwsRequestID: fmt.Sprint("req-", i)})
			resp, err := handler(ictx, ev)
			if err != nil || resp.StatusCode != 201 {
				t.Fatalf("POST %d: %v %d %s", i, err, resp.StatusCode, resp.Body)
			}
		}
		return counter.Snapshot()
	}
	plain := run(false)
	custom := run(true)
	want := maps.Clone(plain)
	want["Query"]++
	want["UpdateItem"]++
	if !maps.Equal(custom, want) {
		t.Fatalf("DynamoDB calls for 20 POSTs: %v with a custom attribute, %v without; want one Query and one UpdateItem more", custom, plain)
	}
	got, err := dynamostore.New(client, table).ListObserved(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	// The other 19 sightings wait for the next request after the minute.
	if len(got) != 1 || got[0].URN != urn || got[0].Attribute != "CustomAttribute" || got[0].JSONType != "string" || got[0].Count != 1 {
		t.Fatalf("observed after 20 POSTs: %+v", got)
	}
	t.Logf("20 POSTs: %v without custom attributes, %v with", plain, custom)
}
