package functions_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/smithy-go/middleware"

	"github.com/scimgate/scimgate/functions/internal/lambdamain"
	"github.com/scimgate/scimgate/internal/localrun"
	"github.com/scimgate/scimgate/pkg/auth"
	"github.com/scimgate/scimgate/pkg/dynamostore"
	"github.com/scimgate/scimgate/pkg/lambdaapi"
	"github.com/scimgate/scimgate/pkg/scim"
)

// iamRecorder records the IAM actions a DynamoDB client's calls need. IAM
// authorises a TransactWriteItems by the actions of its items (Put, Update,
// Delete, ConditionCheck), not by a TransactWriteItems action:
// https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis-iam.html
type iamRecorder struct {
	table string

	mu       sync.Mutex
	actions  map[string]bool
	problems []string
}

func (r *iamRecorder) clientOption() func(*dynamodb.Options) {
	return func(o *dynamodb.Options) {
		o.APIOptions = append(o.APIOptions, func(stack *middleware.Stack) error {
			return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("recordIAMActions",
				func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
					r.record(middleware.GetOperationName(ctx), in.Parameters)
					return next.HandleInitialize(ctx, in)
				}), middleware.Before)
		})
	}
}

func (r *iamRecorder) record(op string, params any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.actions == nil {
		r.actions = map[string]bool{}
	}
	// The policy names the table's ARN only: a call on another table or on
	// an index (table/…/index/…) would be denied.
	onTable := func(name *string) {
		if aws.ToString(name) != r.table {
			r.problems = append(r.problems, fmt.Sprintf("%s on table %q, not %q", op, aws.ToString(name), r.table))
		}
	}
	switch in := params.(type) {
	case *dynamodb.GetItemInput:
		onTable(in.TableName)
	case *dynamodb.PutItemInput:
		onTable(in.TableName)
	case *dynamodb.UpdateItemInput:
		onTable(in.TableName)
	case *dynamodb.DeleteItemInput:
		onTable(in.TableName)
	case *dynamodb.QueryInput:
		onTable(in.TableName)
		if in.IndexName != nil {
			r.problems = append(r.problems, fmt.Sprintf("Query on index %s: the policy grants the table only", aws.ToString(in.IndexName)))
		}
	case *dynamodb.BatchGetItemInput:
		for name := range in.RequestItems {
			onTable(aws.String(name))
		}
	case *dynamodb.BatchWriteItemInput:
		for name := range in.RequestItems {
			onTable(aws.String(name))
		}
	case *dynamodb.TransactWriteItemsInput:
		for _, it := range in.TransactItems {
			switch {
			case it.Put != nil:
				onTable(it.Put.TableName)
				r.actions["dynamodb:PutItem"] = true
			case it.Update != nil:
				onTable(it.Update.TableName)
				r.actions["dynamodb:UpdateItem"] = true
			case it.Delete != nil:
				onTable(it.Delete.TableName)
				r.actions["dynamodb:DeleteItem"] = true
			case it.ConditionCheck != nil:
				onTable(it.ConditionCheck.TableName)
				r.actions["dynamodb:ConditionCheckItem"] = true
			}
		}
		return
	case *dynamodb.TransactGetItemsInput:
		for _, it := range in.TransactItems {
			onTable(it.Get.TableName)
		}
		r.actions["dynamodb:GetItem"] = true
		return
	case *dynamodb.ScanInput:
		onTable(in.TableName)
		if in.IndexName != nil {
			r.problems = append(r.problems, fmt.Sprintf("Scan on index %s: the policy grants the table only", aws.ToString(in.IndexName)))
		}
	default:
		r.problems = append(r.problems, fmt.Sprintf("%s: an operation this test does not know how IAM authorises", op))
	}
	r.actions["dynamodb:"+op] = true
}

func (r *iamRecorder) used() ([]string, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var actions []string
	for a := range r.actions {
		actions = append(actions, a)
	}
	sort.Strings(actions)
	return actions, slices.Clone(r.problems)
}

// TestFunctionPermissionsAreTheirCalls replays events/ through each
// function's real wiring (lambdamain.New, lambdaapi.Handler) in this
// process, against moto, recording the DynamoDB calls each function's
// handler makes, and compares the IAM actions they need with those the
// template grants the function: a missing action would be denied in AWS,
// an extra one is more privilege than the function uses.
func TestFunctionPermissionsAreTheirCalls(t *testing.T) {
	srv := moto.Server(t)
	client := srv.Client(t)
	table := srv.NewTable(t, client)
	ctx := context.Background()
	if err := auth.Register(ctx, dynamostore.New(client, table), scim.Connection{Tenant: localrun.DemoTenant, SSO: localrun.DemoSSO}, localrun.DemoToken, time.Now()); err != nil {
		t.Fatal(err)
	}
	// The SDK's default configuration, as in Lambda, pointed at moto.
	setLambdaEnv(t, srv)
	env := map[string]string{"SCIMGATE_DYNAMODB_TABLE": table, "LOG_LEVEL": "ERROR"}

	tpl := loadTemplate(t)
	handlers := map[string]lambdaapi.EventHandler{}
	recorders := map[string]*iamRecorder{}
	for fn, res := range functionResources(t, tpl) {
		rec := &iamRecorder{table: table}
		getenv := func(k string) string { return env[k] }
		var h http.Handler
		var err error
		if res == adminResource {
			h, err = lambdamain.NewAdmin(ctx, getenv, io.Discard, rec.clientOption())
		} else {
			h, err = lambdamain.New(ctx, res, getenv, io.Discard, rec.clientOption())
		}
		if err != nil {
			t.Fatalf("%s: %v", fn, err)
		}
		handlers[fn], recorders[fn] = lambdaapi.Handler(h), rec
	}

	replayEvents(t, tpl, func(t *testing.T, function string, event []byte) events.APIGatewayV2HTTPResponse {
		t.Helper()
		var req events.APIGatewayV2HTTPRequest
		if err := json.Unmarshal(event, &req); err != nil {
			t.Fatal(err)
		}
		ictx := lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{AwsRequestID: req.RequestContext.RequestID})
		resp, err := handlers[function](ictx, req)
		if err != nil {
			t.Fatalf("%s: %v", function, err)
		}
		return resp
	})

	for _, fn := range tpl.Functions() {
		if recorders[fn.LogicalID] == nil {
			continue // not an HTTP function: checkpermissions_test.go
		}
		used, problems := recorders[fn.LogicalID].used()
		for _, p := range problems {
			t.Errorf("%s: %s", fn.LogicalID, p)
		}
		granted, resources := fn.Actions()
		for _, a := range used {
			if !slices.Contains(granted, a) {
				t.Errorf("%s calls DynamoDB with %s, which its policy does not grant: AWS would deny it", fn.LogicalID, a)
			}
		}
		for _, a := range granted {
			if !slices.Contains(used, a) {
				t.Errorf("%s is granted %s, which replaying events/ never needed: remove it (least privilege) or add an event that needs it", fn.LogicalID, a)
			}
		}
		for _, r := range resources {
			if !reflect.DeepEqual(r, map[string]any{"Fn::GetAtt": []any{"Table", "Arn"}}) {
				t.Errorf("%s: policy resource %v, want only the table's ARN", fn.LogicalID, r)
			}
		}
		t.Logf("%s needs %v", fn.LogicalID, used)
	}
}
