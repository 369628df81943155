package functions_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	streamtypes "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go/middleware"

	"github.com/scimgate/scimgate/functions/internal/eventsmain"
	"github.com/scimgate/scimgate/functions/internal/samtemplate"
	"github.com/scimgate/scimgate/pkg/changes"
	"github.com/scimgate/scimgate/pkg/changes/changestest"
	"github.com/scimgate/scimgate/pkg/dynamostore"
	"github.com/scimgate/scimgate/pkg/dynamotest"
	"github.com/scimgate/scimgate/pkg/scim"
)

const eventsFunction = "EventsFunction"

// isStreamFunction reports whether fn is invoked by a DynamoDB stream
// (EventsFunction) rather than by the API or a schedule.
func isStreamFunction(fn samtemplate.Function) bool {
	evs, _ := fn.Properties["Events"].(map[string]any)
	for _, e := range evs {
		if em, _ := e.(map[string]any); em["Type"] == "DynamoDB" {
			return true
		}
	}
	return false
}

// eventSource returns the function's one DynamoDB event source's properties.
func eventSource(t *testing.T, fn samtemplate.Function) map[string]any {
	t.Helper()
	evs, _ := fn.Properties["Events"].(map[string]any)
	var found []map[string]any
	for _, e := range evs {
		em, _ := e.(map[string]any)
		if em["Type"] == "DynamoDB" {
			p, _ := em["Properties"].(map[string]any)
			found = append(found, p)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%s: want exactly one DynamoDB event source, found %d", fn.LogicalID, len(found))
	}
	return found[0]
}

// filterPattern is the event source's one filter pattern, parsed.
func filterPattern(t *testing.T, src map[string]any) map[string]any {
	t.Helper()
	fc, _ := src["FilterCriteria"].(map[string]any)
	filters, _ := fc["Filters"].([]any)
	if len(filters) != 1 {
		t.Fatalf("want one filter, got %v", fc)
	}
	f, _ := filters[0].(map[string]any)
	var pattern map[string]any
	if err := json.Unmarshal([]byte(toString(f["Pattern"])), &pattern); err != nil {
		t.Fatalf("filter pattern: %v", err)
	}
	return pattern
}

// TestEventsFunctionIsConfiguredAsTheIssueRequires: the stream source
// reports batch item failures, bisects, retries a bounded number of times,
// sends what is left to the dead-letter queue, and is filtered to new
// change-record items; the function publishes to the stack's own bus.
func TestEventsFunctionIsConfiguredAsTheIssueRequires(t *testing.T) {
	tpl := loadTemplate(t)
	fn, ok := tpl.Function(eventsFunction)
	if !ok {
		t.Fatalf("no %s in the template", eventsFunction)
	}
	if len(fn.Routes) != 0 {
		t.Errorf("%s has HTTP routes %v; it serves the stream only", eventsFunction, fn.Routes)
	}
	src := eventSource(t, fn)
	if !reflect.DeepEqual(src["Stream"], map[string]any{"Fn::GetAtt": []any{"Table", "StreamArn"}}) {
		t.Errorf("Stream = %v, want the table's stream", src["Stream"])
	}
	if !reflect.DeepEqual(src["FunctionResponseTypes"], []any{"ReportBatchItemFailures"}) {
		t.Errorf("FunctionResponseTypes = %v", src["FunctionResponseTypes"])
	}
	if src["BisectBatchOnFunctionError"] != true {
		t.Errorf("BisectBatchOnFunctionError = %v", src["BisectBatchOnFunctionError"])
	}
	if n, ok := src["MaximumRetryAttempts"].(int); !ok || n < 1 || n > 100 {
		t.Errorf("MaximumRetryAttempts = %v, want a bound", src["MaximumRetryAttempts"])
	}
	dest, _ := src["DestinationConfig"].(map[string]any)
	onFailure, _ := dest["OnFailure"].(map[string]any)
	dlq := map[string]any{"Fn::GetAtt": []any{"EventsDeadLetterQueue", "Arn"}}
	if onFailure["Type"] != "SQS" || !reflect.DeepEqual(onFailure["Destination"], dlq) {
		t.Errorf("OnFailure = %v, want the SQS dead-letter queue", onFailure)
	}
	if q := tpl.Resources["EventsDeadLetterQueue"]; q["Type"] != "AWS::SQS::Queue" {
		t.Errorf("EventsDeadLetterQueue is %v", q["Type"])
	}
	want := map[string]any{"eventName": []any{"INSERT"}, "dynamodb": map[string]any{"NewImage": map[string]any{"typ": map[string]any{"S": []any{dynamostore.ChangeItemType}}}}}
	if got := filterPattern(t, src); !reflect.DeepEqual(got, want) {
		t.Errorf("filter pattern %v, want %v", got, want)
	}
	env, _ := mergedSetting(tpl, fn, "Environment")["Variables"].(map[string]any)
	if !reflect.DeepEqual(env[eventsmain.EnvEventBus], map[string]any{"Ref": "EventBus"}) {
		t.Errorf("%s = %v, want the stack's bus", eventsmain.EnvEventBus, env[eventsmain.EnvEventBus])
	}
	if tpl.Resources["EventBus"]["Type"] != "AWS::Events::EventBus" {
		t.Errorf("EventBus is %v", tpl.Resources["EventBus"]["Type"])
	}
}

// policyStatements maps each allowed action of fn to the resources granting it.
func policyStatements(fn samtemplate.Function) map[string][]any {
	out := map[string][]any{}
	policies, _ := fn.Properties["Policies"].([]any)
	for _, p := range policies {
		pm, _ := p.(map[string]any)
		statements, _ := pm["Statement"].([]any)
		for _, s := range statements {
			sm, _ := s.(map[string]any)
			actions, _ := sm["Action"].([]any)
			for _, a := range actions {
				out[toString(a)] = append(out[toString(a)], sm["Resource"])
			}
		}
	}
	return out
}

// apiRecorder records the operation names a client calls.
type apiRecorder struct {
	mu  sync.Mutex
	ops map[string]bool
}

func (r *apiRecorder) middleware(stack *middleware.Stack) error {
	return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("recordCalls",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			r.mu.Lock()
			if r.ops == nil {
				r.ops = map[string]bool{}
			}
			r.ops[middleware.GetOperationName(ctx)] = true
			r.mu.Unlock()
			return next.HandleInitialize(ctx, in)
		}), middleware.Before)
}

// matchesPattern evaluates an EventBridge/Lambda filter pattern of the
// shapes the template uses (nested objects, lists of allowed strings).
func matchesPattern(pattern, event map[string]any) bool {
	for k, want := range pattern {
		got, ok := event[k]
		if !ok {
			return false
		}
		switch w := want.(type) {
		case map[string]any:
			sub, ok := got.(map[string]any)
			if !ok || !matchesPattern(w, sub) {
				return false
			}
		case []any:
			if !slices.Contains(w, got) {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// lambdaAttr is a stream attribute value in the JSON form Lambda delivers.
func lambdaAttr(v streamtypes.AttributeValue) any {
	switch a := v.(type) {
	case *streamtypes.AttributeValueMemberS:
		return map[string]any{"S": a.Value}
	case *streamtypes.AttributeValueMemberN:
		return map[string]any{"N": a.Value}
	case *streamtypes.AttributeValueMemberBOOL:
		return map[string]any{"BOOL": a.Value}
	case *streamtypes.AttributeValueMemberSS:
		return map[string]any{"SS": a.Value}
	case *streamtypes.AttributeValueMemberNULL:
		return map[string]any{"NULL": true}
	case *streamtypes.AttributeValueMemberM:
		return map[string]any{"M": lambdaImage(a.Value)}
	case *streamtypes.AttributeValueMemberL:
		var l []any
		for _, x := range a.Value {
			l = append(l, lambdaAttr(x))
		}
		return map[string]any{"L": l}
	}
	return map[string]any{"NULL": true}
}

func lambdaImage(m map[string]streamtypes.AttributeValue) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = lambdaAttr(v)
	}
	return out
}

// streamBatch reads the table's whole stream from moto, keeps what the
// event source's filter lets through and returns it as the DynamoDBEvent
// Lambda would invoke the function with, and how many records it read.
func streamBatch(t *testing.T, srv *dynamotest.Server, table string, pattern map[string]any) (lambdaevents.DynamoDBEvent, int) {
	t.Helper()
	ctx := context.Background()
	streams := dynamodbstreams.NewFromConfig(awsTestConfig(), func(o *dynamodbstreams.Options) { o.BaseEndpoint = aws.String(srv.Endpoint()) })
	list, err := streams.ListStreams(ctx, &dynamodbstreams.ListStreamsInput{TableName: aws.String(table)})
	if err != nil || len(list.Streams) != 1 {
		t.Fatalf("list streams of %s: %v, %v", table, list, err)
	}
	desc, err := streams.DescribeStream(ctx, &dynamodbstreams.DescribeStreamInput{StreamArn: list.Streams[0].StreamArn})
	if err != nil {
		t.Fatal(err)
	}
	var raw []any
	read := 0
	for _, shard := range desc.StreamDescription.Shards {
		it, err := streams.GetShardIterator(ctx, &dynamodbstreams.GetShardIteratorInput{
			StreamArn: list.Streams[0].StreamArn, ShardId: shard.ShardId, ShardIteratorType: streamtypes.ShardIteratorTypeTrimHorizon})
		if err != nil {
			t.Fatal(err)
		}
		iter := it.ShardIterator
		for iter != nil {
			out, err := streams.GetRecords(ctx, &dynamodbstreams.GetRecordsInput{ShardIterator: iter})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range out.Records {
				read++
				rec := map[string]any{
					"eventID": aws.ToString(r.EventID), "eventName": string(r.EventName), "eventSource": "aws:dynamodb",
					"awsRegion": "us-east-1", "eventVersion": "1.1",
					"dynamodb": map[string]any{
						"Keys": lambdaImage(r.Dynamodb.Keys), "NewImage": lambdaImage(r.Dynamodb.NewImage),
						"SequenceNumber": aws.ToString(r.Dynamodb.SequenceNumber), "StreamViewType": string(r.Dynamodb.StreamViewType),
					},
				}
				if r.Dynamodb.OldImage != nil {
					rec["dynamodb"].(map[string]any)["OldImage"] = lambdaImage(r.Dynamodb.OldImage)
				}
				if matchesPattern(pattern, rec) {
					raw = append(raw, rec)
				}
			}
			if len(out.Records) == 0 {
				break
			}
			iter = out.NextShardIterator
		}
	}
	b, _ := json.Marshal(map[string]any{"Records": raw})
	var ev lambdaevents.DynamoDBEvent
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatal(err)
	}
	return ev, read
}

func awsTestConfig() aws.Config {
	return aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("testing", "testing", "")}
}

// eventBridgeSink is a bus on moto with one rule per pattern, each
// targeting its own SQS queue, as a platform would subscribe.
type eventBridgeSink struct {
	bus    string
	queues map[string]string // rule name -> queue URL
	sqs    *sqs.Client
}

func newEventBridgeSink(t *testing.T, srv *dynamotest.Server, rules map[string]string) *eventBridgeSink {
	t.Helper()
	ctx := context.Background()
	eb := eventbridge.NewFromConfig(awsTestConfig(), func(o *eventbridge.Options) { o.BaseEndpoint = aws.String(srv.Endpoint()) })
	sq := sqs.NewFromConfig(awsTestConfig(), func(o *sqs.Options) { o.BaseEndpoint = aws.String(srv.Endpoint()) })
	sink := &eventBridgeSink{bus: fmt.Sprintf("scimgate-changes-%d", time.Now().UnixNano()), queues: map[string]string{}, sqs: sq}
	if _, err := eb.CreateEventBus(ctx, &eventbridge.CreateEventBusInput{Name: aws.String(sink.bus)}); err != nil {
		t.Fatal(err)
	}
	for name, pattern := range rules {
		q, err := sq.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(sink.bus + "-" + name)})
		if err != nil {
			t.Fatal(err)
		}
		attrs, err := sq.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{"QueueArn"}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String(name), EventBusName: aws.String(sink.bus), EventPattern: aws.String(pattern)}); err != nil {
			t.Fatal(err)
		}
		if _, err := eb.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String(name), EventBusName: aws.String(sink.bus),
			Targets: []ebtypes.Target{{Id: aws.String("queue"), Arn: aws.String(attrs.Attributes["QueueArn"])}}}); err != nil {
			t.Fatal(err)
		}
		sink.queues[name] = aws.ToString(q.QueueUrl)
	}
	return sink
}

// received drains a rule's queue: the records in the events' details, in
// arrival order, after checking each envelope.
func (s *eventBridgeSink) received(t *testing.T, rule string) []changes.Record {
	t.Helper()
	var out []changes.Record
	for {
		msgs, err := s.sqs.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(s.queues[rule]), MaxNumberOfMessages: 10})
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs.Messages) == 0 {
			return out
		}
		for _, m := range msgs.Messages {
			var env struct {
				Source     string          `json:"source"`
				DetailType string          `json:"detail-type"`
				Detail     json.RawMessage `json:"detail"`
			}
			if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &env); err != nil {
				t.Fatalf("queue message is not an EventBridge event: %v: %s", err, aws.ToString(m.Body))
			}
			if err := changestest.ValidateJSON(env.Detail); err != nil {
				t.Errorf("detail does not match the schema: %v: %s", err, env.Detail)
			}
			var rec changes.Record
			if err := json.Unmarshal(env.Detail, &rec); err != nil {
				t.Fatal(err)
			}
			if env.Source != "scimgate" || env.DetailType != string(rec.Type) {
				t.Errorf("event source %q, detail-type %q for a %s record", env.Source, env.DetailType, rec.Type)
			}
			out = append(out, rec)
			if _, err := s.sqs.DeleteMessage(context.Background(), &sqs.DeleteMessageInput{QueueUrl: aws.String(s.queues[rule]), ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// eventsHarness is a table with its stream on moto, the real events
// function wired to a bus there, and the rules of docs/events.md.
type eventsHarness struct {
	srv      *dynamotest.Server
	table    string
	store    *dynamostore.Store
	sink     *eventBridgeSink
	handler  eventsmain.Handler
	pattern  map[string]any
	recorder *apiRecorder
}

// The two subscriptions docs/events.md shows.
const (
	ruleRevokeSessions = "revoke-sessions"
	ruleUpdateTeam     = "update-team"
	// ruleAll receives everything scimgate publishes, to check sequences.
	ruleAll = "all"
)

func newEventsHarness(t *testing.T, storeOpts ...dynamostore.Option) *eventsHarness {
	t.Helper()
	srv := moto.Server(t)
	client := srv.Client(t)
	table := fmt.Sprintf("scimgate-events-%d", time.Now().UnixNano())
	// The full definition, stream included (test tables usually go without).
	if err := dynamostore.CreateTableFrom(context.Background(), client, dynamostore.TableDefinition(table)); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{
		"AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_SESSION_TOKEN": "",
		"AWS_PROFILE": "", "AWS_EC2_METADATA_DISABLED": "true",
	} {
		t.Setenv(k, v)
	}
	sink := newEventBridgeSink(t, srv, map[string]string{
		ruleRevokeSessions: `{"source":["scimgate"],"detail-type":["user.deactivated"]}`,
		ruleUpdateTeam:     `{"source":["scimgate"],"detail-type":[{"prefix":"group.members_"}]}`,
		ruleAll:            `{"source":["scimgate"]}`,
	})
	rec := &apiRecorder{}
	env := map[string]string{eventsmain.EnvEventBus: sink.bus, "LOG_LEVEL": "ERROR"}
	h, err := eventsmain.New(context.Background(), func(k string) string { return env[k] }, io.Discard, func(o *eventbridge.Options) {
		o.BaseEndpoint = aws.String(srv.Endpoint())
		o.APIOptions = append(o.APIOptions, rec.middleware)
	})
	if err != nil {
		t.Fatal(err)
	}
	fn, _ := loadTemplate(t).Function(eventsFunction)
	return &eventsHarness{srv: srv, table: table, store: dynamostore.New(client, table, storeOpts...), sink: sink, handler: h,
		pattern: filterPattern(t, eventSource(t, fn)), recorder: rec}
}

// deliver runs the events function on everything the stream holds that the
// filter lets through, as Lambda would, and fails on reported failures.
func (h *eventsHarness) deliver(t *testing.T) lambdaevents.DynamoDBEvent {
	t.Helper()
	batch, _ := streamBatch(t, h.srv, h.table, h.pattern)
	resp, err := h.handler(context.Background(), batch)
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("events function: %+v, %v", resp.BatchItemFailures, err)
	}
	return batch
}

// TestEventsFunctionPublishesStreamRecordsToEventBridge drives the real
// function code with the stream records moto keeps for the table: only
// change records pass the template's filter, each reaches the bus, and
// the rules of docs/events.md route them to their queues. The calls it
// makes are exactly what the function's policy grants.
func TestEventsFunctionPublishesStreamRecordsToEventBridge(t *testing.T) {
	h := newEventsHarness(t)
	ctx := context.Background()
	gen := changes.NewIDGenerator(nil)
	at := time.Now().UTC().Truncate(time.Millisecond)
	mk := func(typ changes.Type, rtype, rid string, data string) changes.Record {
		at = at.Add(time.Millisecond)
		r := changes.Record{ID: gen(at), Type: typ, Tenant: "acme", SSO: "okta", ResourceType: rtype, ResourceID: rid,
			Version: 2, Time: at, RequestID: "req", Actor: changes.TokenActor("tok"), Changed: []string{"active"}, Data: json.RawMessage(data)}
		r.Part, r.Parts = 1, 1
		if strings.HasPrefix(string(typ), "group.members") {
			r.Changed = []string{"members"}
		} else {
			r.Previous, r.Current = map[string]any{"active": true}, map[string]any{"active": false}
		}
		return r
	}
	user := `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"id":"u1","active":false,"meta":{"resourceType":"User","version":"W/\"2\""}}`
	recs := []changes.Record{
		mk(changes.UserDeactivated, "User", "u1", user),
		mk(changes.GroupMembersAdded, "Group", "g1", `{"group":{"id":"g1","displayName":"Engineering","externalId":""},"members":[{"id":"u1","externalId":"","userName":"ada@example.com","displayName":"Ada","active":false}],"member_ids":["u1"]}`),
		mk(changes.UserUpdated, "User", "u1", user),
		mk(changes.GroupMembersRemoved, "Group", "g1", `{"group":{"id":"g1","displayName":"Engineering","externalId":""},"members":[{"id":"u1","externalId":"","userName":"ada@example.com","displayName":"Ada","active":false}],"member_ids":["u1"]}`),
	}
	if err := h.store.AppendChanges(ctx, recs...); err != nil {
		t.Fatal(err)
	}
	// A write that is not a record: the filter must keep it from the function.
	if err := h.store.SaveCursor(ctx, "webhook", changes.Conn{Tenant: "acme", SSO: "okta"}, recs[0].ID); err != nil {
		t.Fatal(err)
	}
	batch, read := streamBatch(t, h.srv, h.table, h.pattern)
	if read <= len(recs) || len(batch.Records) != len(recs) {
		t.Fatalf("stream held %d records, the filter passed %d; want the %d change records of more", read, len(batch.Records), len(recs))
	}
	resp, err := h.handler(ctx, batch)
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("events function: %+v, %v", resp, err)
	}
	ids := func(rs []changes.Record) []string {
		var out []string
		for _, r := range rs {
			out = append(out, r.ID)
		}
		return out
	}
	if got, want := ids(h.sink.received(t, ruleRevokeSessions)), []string{recs[0].ID}; !slices.Equal(got, want) {
		t.Errorf("revoke-sessions rule got %v, want %v", got, want)
	}
	if got, want := ids(h.sink.received(t, ruleUpdateTeam)), []string{recs[1].ID, recs[3].ID}; !slices.Equal(got, want) {
		t.Errorf("update-team rule got %v, want %v", got, want)
	}

	// Least privilege: the calls made are the policy's events:* actions,
	// on the stack's bus.
	fn, _ := loadTemplate(t).Function(eventsFunction)
	granted := policyStatements(fn)
	var grantedEvents []string
	for a := range granted {
		if strings.HasPrefix(a, "events:") {
			grantedEvents = append(grantedEvents, a)
		}
	}
	var used []string
	for op := range h.recorder.ops {
		used = append(used, "events:"+op)
	}
	slices.Sort(grantedEvents)
	slices.Sort(used)
	if !slices.Equal(used, grantedEvents) {
		t.Errorf("the function calls %v; its policy grants %v", used, grantedEvents)
	}
	for _, r := range granted["events:PutEvents"] {
		if !reflect.DeepEqual(r, map[string]any{"Fn::GetAtt": []any{"EventBus", "Arn"}}) {
			t.Errorf("events:PutEvents on %v, want only the stack's bus", r)
		}
	}
	for _, a := range []string{"dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:ListStreams"} {
		if !reflect.DeepEqual(granted[a], []any{map[string]any{"Fn::GetAtt": []any{"Table", "StreamArn"}}}) {
			t.Errorf("%s on %v, want only the table's stream (Lambda's poller reads it with the function's role)", a, granted[a])
		}
	}
	if !reflect.DeepEqual(granted["sqs:SendMessage"], []any{map[string]any{"Fn::GetAtt": []any{"EventsDeadLetterQueue", "Arn"}}}) {
		t.Errorf("sqs:SendMessage on %v, want only the dead-letter queue", granted["sqs:SendMessage"])
	}
	if len(granted) != 6 {
		t.Errorf("policy grants %d actions, want the 6 above", len(granted))
	}
}

// TestStreamSampleEventIsAChangeRecord: events/stream/ holds a sample of
// what Lambda invokes EventsFunction with (for `sam local invoke`); it must
// pass the template's filter and decode as a valid record.
func TestStreamSampleEventIsAChangeRecord(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(eventsDir, "stream", "user-deactivated.json"))
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string][]map[string]any
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	fn, _ := loadTemplate(t).Function(eventsFunction)
	pattern := filterPattern(t, eventSource(t, fn))
	for _, r := range raw["Records"] {
		if !matchesPattern(pattern, r) {
			t.Errorf("sample record does not pass the event source's filter: %v", r)
		}
	}
	var ev lambdaevents.DynamoDBEvent
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatal(err)
	}
	body := ev.Records[0].Change.NewImage[dynamostore.ChangeRecordAttribute].String()
	if err := changestest.ValidateJSON([]byte(body)); err != nil {
		t.Errorf("sample record: %v", err)
	}
}

// TestOktaOrderScenarioReachesEventBridge: a user provisioned, deactivated,
// added to a group, and the group deleted, in Okta's order, through the
// SCIM service on DynamoDB; the real events function on the stream moto
// recorded publishes exactly that sequence, and the docs' rules route
// their parts.
func TestOktaOrderScenarioReachesEventBridge(t *testing.T) {
	h := newEventsHarness(t)
	svc := scim.NewService(h.store)
	conn := scim.Connection{Tenant: "acme", SSO: "okta"}
	ctx := changes.WithOrigin(context.Background(), changes.Origin{RequestID: "req", Actor: changes.TokenActor("tok")})
	created, err := svc.Create(ctx, conn, scim.UserResource, []byte(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"ada@example.com","externalId":"00u-ada","active":true}`))
	if err != nil {
		t.Fatal(err)
	}
	uid := created.Resource.ID
	patchOp := `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[%s]}`
	if _, err := svc.Patch(ctx, conn, scim.UserResource, uid, []byte(fmt.Sprintf(patchOp, `{"op":"replace","value":{"active":false}}`)), scim.Precondition{}); err != nil {
		t.Fatal(err)
	}
	group, err := svc.Create(ctx, conn, scim.GroupResource, []byte(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Engineering"}`))
	if err != nil {
		t.Fatal(err)
	}
	gid := group.Resource.ID
	if _, err := svc.Patch(ctx, conn, scim.GroupResource, gid, []byte(fmt.Sprintf(patchOp, fmt.Sprintf(`{"op":"add","path":"members","value":[{"value":%q}]}`, uid))), scim.Precondition{}); err != nil {
		t.Fatal(err)
	}
	if err := svc.Delete(ctx, conn, scim.GroupResource, gid, scim.Precondition{}); err != nil {
		t.Fatal(err)
	}
	batch := h.deliver(t)
	if len(batch.Records) != 5 {
		t.Errorf("the stream's filter passed %d records, want the 5 change records", len(batch.Records))
	}
	describe := func(rs []changes.Record) []string {
		var out []string
		for _, r := range rs {
			res := map[string]string{uid: "user", gid: "group"}[r.ResourceID]
			out = append(out, fmt.Sprintf("%s %s [%s] %s", r.Type, res, strings.Join(r.Changed, ","), r.RequestID))
		}
		return out
	}
	want := []string{
		"user.created user [active,externalId,userName] req",
		"user.deactivated user [active] req",
		"group.created group [displayName] req",
		"group.members_added group [members] req",
		"group.deleted group [] req",
	}
	if got := describe(h.sink.received(t, ruleAll)); !slices.Equal(got, want) {
		t.Errorf("EventBridge received\n  %v\nwant\n  %v", got, want)
	}
	if got := describe(h.sink.received(t, ruleRevokeSessions)); !slices.Equal(got, want[1:2]) {
		t.Errorf("revoke-sessions got %v", got)
	}
	if got := describe(h.sink.received(t, ruleUpdateTeam)); !slices.Equal(got, want[3:4]) {
		t.Errorf("update-team got %v", got)
	}
}
