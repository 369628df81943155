package httpapi_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/scimgate/scimgate/pkg/dynamostore"
	"github.com/scimgate/scimgate/pkg/httpapi"
	"github.com/scimgate/scimgate/pkg/metrics"
	"github.com/scimgate/scimgate/pkg/scim"
)

// dynamoFault is one way DynamoDB fails. It is injected at the bottom of
// the SDK client's middleware stack, where the HTTP request would be sent:
// the SDK's own deserializer turns the answer into its typed error and its
// own retryer retries it, exactly as with the real service, and the request
// never reaches moto, so nothing can be applied.
type dynamoFault struct {
	name string
	// status and errorType make DynamoDB's JSON error answer; status 0 is a
	// read timeout on the connection instead.
	status    int
	errorType string
	// extra is added to the error body (cancellation reasons).
	extra string
	// ops are the operations this fault can happen on.
	ops []string
}

var dynamoFaults = []dynamoFault{
	{name: "ThrottlingException", status: 400, errorType: "ThrottlingException"},
	{name: "ProvisionedThroughputExceededException", status: 400, errorType: "ProvisionedThroughputExceededException"},
	{name: "RequestLimitExceeded", status: 400, errorType: "RequestLimitExceeded"},
	{name: "InternalServerError", status: 500, errorType: "InternalServerError"},
	{name: "TransactionConflict", status: 400, errorType: "TransactionCanceledException",
		extra: `,"CancellationReasons":[{"Code":"TransactionConflict","Message":"Transaction is ongoing for the item"}]`,
		ops:   []string{"TransactWriteItems"}},
	{name: "timeout", status: 0},
}

func (f dynamoFault) appliesTo(op string) bool {
	if f.ops == nil {
		return true
	}
	for _, o := range f.ops {
		if o == op {
			return true
		}
	}
	return false
}

// faultInjector fails every call of one operation with one fault while armed.
type faultInjector struct {
	mu       sync.Mutex
	op       string
	fault    dynamoFault
	injected int
	skip     int // calls of op to let through before failing
}

// armAfter fails the calls of op after the first skip ones.
func (fi *faultInjector) armAfter(op string, f dynamoFault, skip int) {
	fi.arm(op, f)
	fi.mu.Lock()
	defer fi.mu.Unlock()
	fi.skip = skip
}

func (fi *faultInjector) arm(op string, f dynamoFault) {
	fi.mu.Lock()
	defer fi.mu.Unlock()
	fi.op, fi.fault, fi.injected, fi.skip = op, f, 0, 0
}

// disarm stops injecting and returns how many calls failed.
func (fi *faultInjector) disarm() int {
	fi.mu.Lock()
	defer fi.mu.Unlock()
	fi.op = ""
	return fi.injected
}

func (fi *faultInjector) take(op string) (dynamoFault, bool) {
	fi.mu.Lock()
	defer fi.mu.Unlock()
	if fi.op == "" || fi.op != op {
		return dynamoFault{}, false
	}
	if fi.skip > 0 {
		fi.skip--
		return dynamoFault{}, false
	}
	fi.injected++
	return fi.fault, true
}

// timeoutError is what net/http reports for a connection whose read deadline passed.
var timeoutError = &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}

func (fi *faultInjector) clientOption() func(*dynamodb.Options) {
	return func(o *dynamodb.Options) {
		o.APIOptions = append(o.APIOptions, func(stack *middleware.Stack) error {
			return stack.Deserialize.Add(middleware.DeserializeMiddlewareFunc("faultInjector",
				func(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (middleware.DeserializeOutput, middleware.Metadata, error) {
					f, ok := fi.take(middleware.GetOperationName(ctx))
					if !ok {
						return next.HandleDeserialize(ctx, in)
					}
					if f.status == 0 {
						return middleware.DeserializeOutput{}, middleware.Metadata{}, &smithyhttp.RequestSendError{Err: timeoutError}
					}
					body := fmt.Sprintf(`{"__type":"com.amazonaws.dynamodb.v20120810#%s","message":"injected %s"%s}`, f.errorType, f.name, f.extra)
					resp := &http.Response{
						StatusCode: f.status,
						Header:     http.Header{"Content-Type": {"application/x-amz-json-1.0"}, "X-Amzn-Requestid": {"injected"}},
						Body:       io.NopCloser(strings.NewReader(body)),
					}
					return middleware.DeserializeOutput{RawResponse: &smithyhttp.Response{Response: resp}}, middleware.Metadata{}, nil
				}), middleware.After)
		})
	}
}

// recordedRequests is a metrics sink that keeps what it was given.
type recordedRequests struct {
	mu   sync.Mutex
	reqs []metrics.Request
}

func (r *recordedRequests) Record(req metrics.Request) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reqs = append(r.reqs, req)
}

func (r *recordedRequests) last() metrics.Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.reqs) == 0 {
		return metrics.Request{}
	}
	return r.reqs[len(r.reqs)-1]
}

// TestDynamoDBFaultsAnswer503 injects each DynamoDB fault into each kind of
// request and checks that the IdP is told to come back later (503, a SCIM
// error, Retry-After in seconds, nothing internal in the detail), that
// nothing of the request was applied, and that the same request succeeds
// once DynamoDB is back.
func TestDynamoDBFaultsAnswer503(t *testing.T) {
	srv := moto.Server(t)
	faults := &faultInjector{}
	// Two attempts per call instead of the SDK's four for DynamoDB: the
	// retry is still exercised (each fault must be injected twice), without
	// waiting out the 1 s throttling backoff base three times per request.
	client := srv.Client(t, faults.clientOption(), metrics.DynamoDBClientOption(), func(o *dynamodb.Options) { o.RetryMaxAttempts = 2 })
	// Few, fast transaction retries: the test is about what happens after
	// they are exhausted.
	st := dynamostore.New(client, srv.NewTable(t, client), dynamostore.WithConflictRetry(2, time.Millisecond))
	seen := &recordedRequests{}
	ts := startServer(t, stores{resources: st, tokens: st}, serverConfig{handler: func(c *httpapi.Config) {
		c.Observer = metrics.NewRecorder("users", nil, seen)
	}})
	c := ts.client(t, testConn)
	alice := c.createUser(t, "alice@example.com")
	bob := c.createUser(t, "bob@example.com")
	team := c.createGroup(t, "Team", alice)

	n := 0
	requests := []struct {
		name, op, method string
		path             func() string
		body             func() string
		retryStatus      int
	}{
		{"create user", "TransactWriteItems", "POST", func() string { return "/Users" },
			func() string {
				n++
				return fmt.Sprintf(`{"schemas":[%q],"userName":"new%d@example.com"}`, scim.UserSchema, n)
			}, http.StatusCreated},
		{"replace user", "UpdateItem", "PUT", func() string { return "/Users/" + bob },
			func() string {
				n++
				return fmt.Sprintf(`{"schemas":[%q],"userName":"bob@example.com","displayName":"Bob %d"}`, scim.UserSchema, n)
			}, http.StatusOK},
		{"add member", "TransactWriteItems", "PATCH", func() string { return "/Groups/" + team },
			func() string {
				return fmt.Sprintf(`{"schemas":[%q],"Operations":[{"op":"add","path":"members","value":[{"value":%q}]}]}`, scim.PatchOpSchema, bob)
			}, http.StatusNoContent},
		{"delete user in a group", "TransactWriteItems", "DELETE", func() string { return "/Users/" + alice },
			func() string { return "" }, http.StatusNoContent},
		{"list users", "Query", "GET", func() string { return "/Users" }, func() string { return "" }, http.StatusOK},
		{"get user (token lookup)", "BatchGetItem", "GET", func() string { return "/Users/" + bob }, func() string { return "" }, http.StatusOK},
	}
	for _, f := range dynamoFaults {
		for _, rq := range requests {
			if !f.appliesTo(rq.op) {
				continue
			}
			t.Run(f.name+"/"+rq.name, func(t *testing.T) {
				before := c.snapshot(t)
				path, body := rq.path(), rq.body()
				faults.arm(rq.op, f)
				r := c.do(t, rq.method, path, body)
				injected := faults.disarm()
				// The metrics saw the 503 and, for throttling, the throttled attempts.
				m := seen.last()
				if m.Status != http.StatusServiceUnavailable {
					t.Errorf("metrics recorded status %d", m.Status)
				}
				throttles := 0
				for _, n := range m.DynamoDBThrottles {
					throttles += n
				}
				if isThrottle := f.status == 400 && f.errorType != "TransactionCanceledException"; isThrottle != (throttles > 0) || (isThrottle && throttles != m.DynamoDBCalls[rq.op]) {
					t.Errorf("metrics recorded %v throttles of %v calls for %s", m.DynamoDBThrottles, m.DynamoDBCalls, f.name)
				}
				// Both the SDK's retryer and the store's transaction loop
				// try again before giving up.
				if injected < 2 {
					t.Fatalf("%s failed %d times, want at least 2 (a retry)", rq.op, injected)
				}
				mustStatus(t, r, http.StatusServiceUnavailable)
				if s, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || s < 1 || s > 3 {
					t.Errorf("Retry-After %q, want 1-3 seconds", r.header.Get("Retry-After"))
				}
				obj := r.object(t)
				if obj["status"] != "503" || !strings.Contains(fmt.Sprint(obj["schemas"]), scim.ErrorSchema) {
					t.Errorf("not a SCIM 503 error: %v", obj)
				}
				if detail := fmt.Sprint(obj["detail"]); strings.Contains(detail, "injected") || (f.errorType != "" && strings.Contains(detail, f.errorType)) {
					t.Errorf("detail leaks the cause: %q", detail)
				}
				if after := c.snapshot(t); after != before {
					t.Fatalf("a failed %s changed the state:\nbefore %s\nafter %s", rq.name, before, after)
				}
				// The IdP's retry, once DynamoDB answers again, succeeds.
				mustStatus(t, c.do(t, rq.method, path, body), rq.retryStatus)
				if rq.method == "DELETE" {
					alice = c.createUser(t, "alice@example.com")
					mustStatus(t, c.do(t, "PATCH", "/Groups/"+team, fmt.Sprintf(`{"schemas":[%q],"Operations":[{"op":"add","path":"members","value":[{"value":%q}]}]}`, scim.PatchOpSchema, alice)), http.StatusNoContent)
				}
				if rq.name == "add member" {
					mustStatus(t, c.do(t, "PATCH", "/Groups/"+team, fmt.Sprintf(`{"schemas":[%q],"Operations":[{"op":"remove","path":"members[value eq \"%s\"]"}]}`, scim.PatchOpSchema, bob)), http.StatusNoContent)
				}
			})
		}
	}
}

// TestChunkedPatchRetryConverges: a group PATCH adding more members than one
// transaction holds is written in chunks under an intent; when DynamoDB
// throttles after the first chunk the IdP gets a 503, yet no reader ever sees
// the change half-applied (the next read completes the intent), and the IdP's
// retry of the same request converges to exactly the same result.
func TestChunkedPatchRetryConverges(t *testing.T) {
	srv := moto.Server(t)
	faults := &faultInjector{}
	client := srv.Client(t, faults.clientOption(), func(o *dynamodb.Options) { o.RetryMaxAttempts = 2 })
	st := dynamostore.New(client, srv.NewTable(t, client), dynamostore.WithConflictRetry(2, time.Millisecond))
	ts := startServer(t, stores{resources: st, tokens: st}, serverConfig{})
	c := ts.client(t, testConn)
	team := c.createGroup(t, "Big team")
	var values []string
	for i := range 60 {
		values = append(values, fmt.Sprintf(`{"value":%q}`, c.createUser(t, fmt.Sprintf("member%02d@example.com", i))))
	}
	patch := fmt.Sprintf(`{"schemas":[%q],"Operations":[{"op":"add","path":"members","value":[%s]}]}`, scim.PatchOpSchema, strings.Join(values, ","))
	memberCount := func() int {
		t.Helper()
		members, _ := c.get(t, "/Groups/"+team)["members"].([]any)
		return len(members)
	}

	faults.armAfter("TransactWriteItems", dynamoFaults[0], 1) // the first chunk passes, the second is throttled
	r := c.do(t, "PATCH", "/Groups/"+team, patch)
	faults.disarm()
	mustStatus(t, r, http.StatusServiceUnavailable)
	if n := memberCount(); n != 60 {
		t.Fatalf("after the throttled PATCH a reader sees %d members, want all 60: the intent is completed before any read answers", n)
	}
	mustStatus(t, c.do(t, "PATCH", "/Groups/"+team, patch), http.StatusNoContent)
	if n := memberCount(); n != 60 {
		t.Fatalf("after the retry the group has %d members, want 60", n)
	}
	// And every member lists the group.
	list := c.get(t, "/Users?count=100&attributes=groups")
	for _, u := range list["Resources"].([]any) {
		if groups, _ := u.(map[string]any)["groups"].([]any); len(groups) != 1 {
			t.Fatalf("user %v", u)
		}
	}
}
