package functions_test

import (
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/scimgate/scimgate/functions/internal/lambdamain"
	"github.com/scimgate/scimgate/internal/localrun"
	"github.com/scimgate/scimgate/pkg/lambdaapi"
)

// TestAdminFunctionRefusesEventsWithoutIAMIdentity: API Gateway checks
// SigV4 and the caller's execute-api:Invoke permission; the function
// itself refuses every admin event whose request context carries no IAM
// identity (a route that lost its AWS_IAM authorizer), before touching the
// table, and answers the same events with their identity.
func TestAdminFunctionRefusesEventsWithoutIAMIdentity(t *testing.T) {
	srv := moto.Server(t)
	client := srv.Client(t)
	table := srv.NewTable(t, client)
	setLambdaEnv(t, srv)
	env := map[string]string{"SCIMGATE_DYNAMODB_TABLE": table, "LOG_LEVEL": "ERROR"}
	rec := &iamRecorder{table: table}
	h, err := lambdamain.NewAdmin(context.Background(), func(k string) string { return env[k] }, io.Discard, rec.clientOption())
	if err != nil {
		t.Fatal(err)
	}
	invoke := lambdaapi.Handler(h)
	evs, err := localrun.LoadEvents(eventsDir)
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{"tokenId": "tok", "userId": "u1", "groupId": "g1"}
	n := 0
	for _, ev := range evs {
		if !strings.HasPrefix(expectationName(ev.Name), "admin-") {
			continue
		}
		raw, err := localrun.Substitute(ev.Raw, vars)
		if err != nil {
			t.Fatal(err)
		}
		var req events.APIGatewayV2HTTPRequest
		if err := json.Unmarshal(raw, &req); err != nil {
			t.Fatal(err)
		}
		req.RequestContext.Authorizer = nil
		resp, err := invoke(context.Background(), req)
		if err != nil {
			t.Fatalf("%s: %v", ev.Name, err)
		}
		if resp.StatusCode != 401 || !strings.Contains(resp.Body, `"code":"unauthorized"`) {
			t.Errorf("%s without an IAM identity: %d %s, want 401 unauthorized", ev.Name, resp.StatusCode, resp.Body)
		}
		n++
	}
	if n < 10 {
		t.Fatalf("only %d admin events in events/", n)
	}
	if used, _ := rec.used(); len(used) != 0 {
		t.Errorf("refused requests called DynamoDB: %v", used)
	}
}
