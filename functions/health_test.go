package functions_test

import (
	"context"
	"maps"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/scimgate/scimgate/functions/internal/lambdamain"
	"github.com/scimgate/scimgate/internal/localrun"
	"github.com/scimgate/scimgate/pkg/dynamostore"
	"github.com/scimgate/scimgate/pkg/health"
	"github.com/scimgate/scimgate/pkg/lambdaapi"
	"github.com/scimgate/scimgate/pkg/scim"
)

// TestHealthAddsNoCallPerRequest runs 50 Okta lookups through the Users
// function's real wiring, once with sync health off and once with its
// default interval, counting DynamoDB calls: health adds exactly one
// BatchWriteItem (the environment's first request flushes at once; the
// others fall within the interval) and nothing else.
func TestHealthAddsNoCallPerRequest(t *testing.T) {
	srv := moto.Server(t)
	client := srv.Client(t)
	ctx := context.Background()
	conn := scim.Connection{Tenant: localrun.DemoTenant, SSO: localrun.DemoSSO}
	setLambdaEnv(t, srv)
	ev := readHTTPEvent(t, "../events/06-users-lookup-absent.json")
	var table string
	run := func(flush string) map[string]int {
		t.Helper()
		var handler lambdaapi.EventHandler
		var counter *dynamostore.CallCounter
		handler, table, counter = countedUsersFunction(t, srv, client, map[string]string{lambdamain.EnvHealthFlushInterval: flush})
		for i := range 50 {
			ictx := lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{AwsRequestID: "req"})
			resp, err := handler(ictx, ev)
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("request %d: %v %d %s", i, err, resp.StatusCode, resp.Body)
			}
		}
		return counter.Snapshot()
	}
	off := run("off")
	on := run("") // the default interval
	want := maps.Clone(off)
	want["BatchWriteItem"]++
	if !maps.Equal(on, want) {
		t.Fatalf("DynamoDB calls for 50 requests: %v with health, %v without; want exactly one BatchWriteItem more", on, off)
	}
	buckets, err := dynamostore.New(client, table).ListHealth(ctx, conn, health.Since(time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	r := health.Summarize(conn, buckets, time.Now())
	// Only the first request is flushed yet: the rest waits for the next
	// request after the interval (the documented staleness).
	if r.LastDay.Success2xx != 1 || r.LastRequest == nil || r.LastRequest.Route != "/Users" || r.UserAgent != "Okta SCIM Client 1.0.0" {
		t.Fatalf("stored health %+v", r)
	}
}
