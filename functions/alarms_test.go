package functions_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/scimgate/scimgate/functions/internal/checkmain"
	"github.com/scimgate/scimgate/functions/internal/lambdamain"
	"github.com/scimgate/scimgate/functions/internal/reconcilemain"
	"github.com/scimgate/scimgate/functions/internal/samtemplate"
	"github.com/scimgate/scimgate/pkg/httpapi"
	"github.com/scimgate/scimgate/pkg/metrics"
)

// emittedMetrics runs an HTTP function's and the check function's real
// wiring once each and returns what their EMF lines publish: for each
// "namespace metric" the dimension sets it is published under (names
// sorted and joined with ",").
func emittedMetrics(t *testing.T) map[string][]string {
	t.Helper()
	srv := moto.Server(t)
	client := srv.Client(t)
	table := srv.NewTable(t, client)
	setLambdaEnv(t, srv)
	env := map[string]string{"SCIMGATE_DYNAMODB_TABLE": table, "LOG_LEVEL": "ERROR"}
	getenv := func(k string) string { return env[k] }
	ctx := context.Background()
	var out bytes.Buffer
	h, err := lambdamain.New(ctx, httpapi.UsersResource, getenv, &out)
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest("GET", "/scim/v2/acme/okta/Users", nil)
	req.Header.Set("Authorization", "Bearer scimgate_not-a-token")
	h.ServeHTTP(httptest.NewRecorder(), req)
	check, err := checkmain.New(ctx, getenv, &out)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := check(ctx, nil); err != nil {
		t.Fatal(err)
	}
	reconcile, err := reconcilemain.New(ctx, getenv, &out)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reconcile(ctx, nil); err != nil {
		t.Fatal(err)
	}

	emitted := map[string][]string{}
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		var line struct {
			AWS *struct {
				CloudWatchMetrics []struct {
					Namespace  string
					Dimensions [][]string
					Metrics    []struct{ Name string }
				}
			} `json:"_aws"`
		}
		if json.Unmarshal(sc.Bytes(), &line) != nil || line.AWS == nil {
			continue // a log line
		}
		for _, d := range line.AWS.CloudWatchMetrics {
			for _, m := range d.Metrics {
				for _, set := range d.Dimensions {
					set = slices.Sorted(slices.Values(set))
					key := d.Namespace + " " + m.Name
					if !slices.Contains(emitted[key], strings.Join(set, ",")) {
						emitted[key] = append(emitted[key], strings.Join(set, ","))
					}
				}
			}
		}
	}
	if len(emitted) == 0 {
		t.Fatalf("no EMF line in the functions' output:\n%s", out.String())
	}
	return emitted
}

// lambdaMetrics are the AWS/Lambda metrics the alarms may use; IteratorAge
// only for a function with a stream event source.
var lambdaMetrics = []string{"Errors", "Throttles", "Duration", "Invocations", "ConcurrentExecutions", "IteratorAge"}

// sqsMetrics are the AWS/SQS metrics the alarms may use, of a queue that is
// a function's on-failure destination.
var sqsMetrics = []string{"ApproximateNumberOfMessagesVisible", "ApproximateAgeOfOldestMessage"}

// metricRef is one metric an alarm or widget reads.
type metricRef struct {
	where, namespace, name string
	dims                   map[string]any // name -> value (a Ref, or a string)
}

func alarmMetrics(id string, props map[string]any) []metricRef {
	dimsOf := func(v any) map[string]any {
		out := map[string]any{}
		list, _ := v.([]any)
		for _, d := range list {
			dm, _ := d.(map[string]any)
			out[fmt.Sprint(dm["Name"])] = dm["Value"]
		}
		return out
	}
	var refs []metricRef
	if name, ok := props["MetricName"]; ok {
		refs = append(refs, metricRef{id, fmt.Sprint(props["Namespace"]), fmt.Sprint(name), dimsOf(props["Dimensions"])})
	}
	list, _ := props["Metrics"].([]any)
	for _, q := range list {
		qm, _ := q.(map[string]any)
		stat, _ := qm["MetricStat"].(map[string]any)
		m, ok := stat["Metric"].(map[string]any)
		if !ok {
			continue
		}
		refs = append(refs, metricRef{id, fmt.Sprint(m["Namespace"]), fmt.Sprint(m["MetricName"]), dimsOf(m["Dimensions"])})
	}
	return refs
}

var subVariable = regexp.MustCompile(`\$\{([A-Za-z0-9:.]+)\}`)

// dashboardMetrics reads the metrics of the dashboard's widgets; ${X} in
// the body stands for a Ref to X, ${X.Y} for a GetAtt of X's attribute Y.
func dashboardMetrics(id string, props map[string]any, fail func(string, ...any)) []metricRef {
	sub, _ := props["DashboardBody"].(map[string]any)
	body, ok := sub["Fn::Sub"].(string)
	if !ok {
		fail("%s: DashboardBody is not a !Sub string", id)
		return nil
	}
	var doc struct {
		Widgets []struct {
			Properties struct {
				Metrics [][]any
			}
		}
	}
	if err := json.Unmarshal([]byte(subVariable.ReplaceAllString(body, "REF:$1")), &doc); err != nil {
		fail("%s: DashboardBody is not JSON: %v", id, err)
		return nil
	}
	var refs []metricRef
	for _, w := range doc.Widgets {
		for _, m := range w.Properties.Metrics {
			ref := metricRef{where: id + " widget", namespace: fmt.Sprint(m[0]), name: fmt.Sprint(m[1]), dims: map[string]any{}}
			for i := 2; i+1 < len(m); i += 2 {
				if name, ok := m[i].(string); ok {
					v := fmt.Sprint(m[i+1])
					if r, ok := strings.CutPrefix(v, "REF:"); ok {
						if res, attr, isAttr := strings.Cut(r, "."); isAttr {
							ref.dims[name] = map[string]any{"Fn::GetAtt": []any{res, attr}}
						} else {
							ref.dims[name] = map[string]any{"Ref": r}
						}
					} else {
						ref.dims[name] = v
					}
				}
			}
			refs = append(refs, ref)
		}
	}
	return refs
}

// TestAlarmsReferenceEmittedMetrics: every metric an alarm or the dashboard
// reads is one a function really publishes, under those dimensions; and
// there is an alarm for each figure docs/operations.md has a runbook for.
func TestAlarmsReferenceEmittedMetrics(t *testing.T) {
	tpl := loadTemplate(t)
	for _, problem := range alarmProblems(tpl, emittedMetrics(t)) {
		t.Error(problem)
	}
	// The check function and its schedule exist.
	if fn, ok := tpl.Function("CheckFunction"); !ok || !strings.Contains(fmt.Sprint(fn.Properties["Events"]), "Schedule") {
		t.Error("CheckFunction with a Schedule event is missing")
	}
}

// streamFunctions returns the functions with a DynamoDB or Kinesis event
// source (the ones Lambda publishes IteratorAge for) and, by logical id, the
// queues that are their on-failure destinations.
func streamFunctions(tpl *samtemplate.Template) (functions, queues map[string]bool) {
	functions, queues = map[string]bool{}, map[string]bool{}
	for _, fn := range tpl.Functions() {
		events, _ := fn.Properties["Events"].(map[string]any)
		for _, ev := range events {
			em, _ := ev.(map[string]any)
			if em["Type"] != "DynamoDB" && em["Type"] != "Kinesis" {
				continue
			}
			functions[fn.LogicalID] = true
			props, _ := em["Properties"].(map[string]any)
			dest, _ := props["DestinationConfig"].(map[string]any)
			onFailure, _ := dest["OnFailure"].(map[string]any)
			arn, _ := onFailure["Destination"].(map[string]any)
			if att, ok := arn["Fn::GetAtt"].([]any); ok && len(att) == 2 && att[1] == "Arn" {
				id := fmt.Sprint(att[0])
				if r, ok := tpl.Resources[id]; ok && r["Type"] == "AWS::SQS::Queue" {
					queues[id] = true
				}
			}
		}
	}
	return functions, queues
}

// requiredAlarms are the AWS-namespace alarms docs/operations.md has a
// runbook for, as "namespace metric resource".
var requiredAlarms = []string{
	"AWS/Lambda IteratorAge EventsFunction",
	"AWS/Lambda Errors EventsFunction",
	"AWS/SQS ApproximateNumberOfMessagesVisible EventsDeadLetterQueue",
}

// alarmProblems lists what is wrong with the template's alarms and
// dashboard, given the metrics the functions emit: a metric nobody
// publishes, wrong dimensions, a dimension that is not this template's
// function or queue, an alarm that does not notify AlarmTopicArn, or a
// runbook's alarm that is missing.
func alarmProblems(tpl *samtemplate.Template, emitted map[string][]string) []string {
	var problems []string
	fail := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	functions := map[string]bool{}
	for _, fn := range tpl.Functions() {
		functions[fn.LogicalID] = true
	}
	streamFns, dlqs := streamFunctions(tpl)
	var refs []metricRef
	ids := make([]string, 0, len(tpl.Resources))
	for id := range tpl.Resources {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		r := tpl.Resources[id]
		props, _ := r["Properties"].(map[string]any)
		switch r["Type"] {
		case "AWS::CloudWatch::Alarm":
			got := alarmMetrics(id, props)
			if len(got) == 0 {
				fail("%s reads no metric", id)
			}
			refs = append(refs, got...)
			for _, key := range []string{"AlarmActions", "OKActions"} {
				if !strings.Contains(fmt.Sprint(props[key]), "HasAlarmTopic") {
					fail("%s: %s does not notify AlarmTopicArn", id, key)
				}
			}
		case "AWS::CloudWatch::Dashboard":
			refs = append(refs, dashboardMetrics(id, props, fail)...)
		}
	}
	alarmed := map[string]bool{}
	for _, ref := range refs {
		isAlarm := !strings.HasSuffix(ref.where, "widget")
		if isAlarm {
			alarmed[ref.name] = true
		}
		switch ref.namespace {
		case metrics.Namespace:
			names := make([]string, 0, len(ref.dims))
			for n := range ref.dims {
				names = append(names, n)
			}
			sort.Strings(names)
			sets, ok := emitted[ref.namespace+" "+ref.name]
			if !ok {
				fail("%s reads %s %s, which no function emits", ref.where, ref.namespace, ref.name)
			} else if !slices.Contains(sets, strings.Join(names, ",")) {
				fail("%s reads %s %s with dimensions %v; it is published with %q", ref.where, ref.namespace, ref.name, names, sets)
			}
		case "AWS/Lambda":
			if !slices.Contains(lambdaMetrics, ref.name) {
				fail("%s reads AWS/Lambda %s, not a Lambda metric this test knows", ref.where, ref.name)
			}
			fn, _ := ref.dims["FunctionName"].(map[string]any)
			name := fmt.Sprint(fn["Ref"])
			if len(ref.dims) != 1 || !functions[name] {
				fail("%s reads AWS/Lambda %s of %v, not of a function of this template", ref.where, ref.name, ref.dims)
			} else if ref.name == "IteratorAge" && !streamFns[name] {
				fail("%s reads IteratorAge of %s, which has no stream event source", ref.where, name)
			} else if isAlarm {
				alarmed[ref.namespace+" "+ref.name+" "+name] = true
			}
		case "AWS/SQS":
			if !slices.Contains(sqsMetrics, ref.name) {
				fail("%s reads AWS/SQS %s, not an SQS metric this test knows", ref.where, ref.name)
			}
			// CloudWatch names a queue by its name: !GetAtt Queue.QueueName.
			q, _ := ref.dims["QueueName"].(map[string]any)
			att, _ := q["Fn::GetAtt"].([]any)
			if len(ref.dims) != 1 || len(att) != 2 || att[1] != "QueueName" || !dlqs[fmt.Sprint(att[0])] {
				fail("%s reads AWS/SQS %s of %v, not of a stream function's dead-letter queue", ref.where, ref.name, ref.dims)
			} else if isAlarm {
				alarmed[ref.namespace+" "+ref.name+" "+fmt.Sprint(att[0])] = true
			}
		default:
			fail("%s reads namespace %q", ref.where, ref.namespace)
		}
	}
	for _, want := range []string{metrics.MetricServerErrors, metrics.MetricAuthFailures, metrics.MetricRateLimited, metrics.MetricUnavailable,
		metrics.MetricLatency, "Errors", "Throttles", metrics.MetricDynamoDBThrottles, metrics.MetricDrift} {
		if !alarmed[want] {
			fail("no alarm reads %s", want)
		}
	}
	for _, want := range requiredAlarms {
		if !alarmed[want] {
			fail("no alarm reads %s", want)
		}
	}
	return problems
}

// TestAlarmCheckCatchesWrongReferences: the check above fails when a
// change-feed alarm names a metric that does not exist or a resource that is
// not the one it is about; each case breaks one alarm of the real template.
func TestAlarmCheckCatchesWrongReferences(t *testing.T) {
	emitted := emittedMetrics(t)
	if problems := alarmProblems(loadTemplate(t), emitted); len(problems) != 0 {
		t.Fatalf("the template itself has problems: %q", problems)
	}
	dimension := func(v any) func(props map[string]any) {
		return func(props map[string]any) { props["Dimensions"].([]any)[0].(map[string]any)["Value"] = v }
	}
	cases := []struct {
		name, alarm, want string
		breakIt           func(props map[string]any)
	}{
		{"misspelt iterator age", "EventsIteratorAgeAlarm", "IteratorAgeMs",
			func(props map[string]any) { props["MetricName"] = "IteratorAgeMs" }},
		{"iterator age of a function without a stream", "EventsIteratorAgeAlarm", "no stream event source",
			dimension(map[string]any{"Ref": "UsersFunction"})},
		{"iterator age of a resource that is no function", "EventsIteratorAgeAlarm", "not of a function of this template",
			dimension(map[string]any{"Ref": "EventsLogGroup"})},
		{"queue depth misspelt", "EventsDeadLetterAlarm", "ApproximateNumberOfMessages,",
			func(props map[string]any) { props["MetricName"] = "ApproximateNumberOfMessages" }},
		{"queue named by its ARN", "EventsDeadLetterAlarm", "dead-letter queue",
			dimension(map[string]any{"Fn::GetAtt": []any{"EventsDeadLetterQueue", "Arn"}})},
		{"queue that is not the dead-letter queue", "EventsDeadLetterAlarm", "dead-letter queue",
			dimension(map[string]any{"Fn::GetAtt": []any{"Table", "QueueName"}})},
		{"errors of another function", "EventsFunctionErrorsAlarm", "AWS/Lambda Errors EventsFunction",
			dimension(map[string]any{"Ref": "CheckFunction"})},
		{"no alarm topic", "EventsFunctionErrorsAlarm", "does not notify AlarmTopicArn",
			func(props map[string]any) { delete(props, "OKActions") }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tpl := loadTemplate(t)
			alarm, ok := tpl.Resources[c.alarm]
			if !ok {
				t.Fatalf("the template has no %s", c.alarm)
			}
			c.breakIt(alarm["Properties"].(map[string]any))
			problems := alarmProblems(tpl, emitted)
			if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, c.want) }) {
				t.Errorf("breaking %s (%s) went unnoticed; problems: %q", c.alarm, c.name, problems)
			}
		})
	}
}

// TestEveryAlarmHasARunbook: docs/operations.md has a section for each alarm
// the template creates, headed by its name ("### `<stack>-5xx-rate`: ...").
func TestEveryAlarmHasARunbook(t *testing.T) {
	doc, err := os.ReadFile("../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	tpl := loadTemplate(t)
	alarms := 0
	for id, r := range tpl.Resources {
		if r["Type"] != "AWS::CloudWatch::Alarm" {
			continue
		}
		alarms++
		props, _ := r["Properties"].(map[string]any)
		name, _ := props["AlarmName"].(map[string]any)
		sub, _ := name["Fn::Sub"].(string)
		suffix, ok := strings.CutPrefix(sub, "${AWS::StackName}-")
		if !ok {
			t.Errorf("%s: AlarmName %v is not !Sub ${AWS::StackName}-<name>", id, props["AlarmName"])
			continue
		}
		if !bytes.Contains(doc, []byte("\n### `<stack>-"+suffix+"`")) {
			t.Errorf("%s (%s): docs/operations.md has no runbook headed ### `<stack>-%s`", id, suffix, suffix)
		}
	}
	if alarms == 0 {
		t.Fatal("the template has no alarm")
	}
}

// TestLambdaAlarmsCoverEveryFunction: the Lambda errors and throttles
// alarms sum every function of the template, so that a function added later
// (AdminFunction was left out) cannot fail or be throttled unseen.
// EventsFunction has its own errors alarm, and its throttling shows as the
// stream's iterator age (events-iterator-age); WebhooksFunction has its own
// errors alarm, and its throttling shows as webhooks-not-running.
func TestLambdaAlarmsCoverEveryFunction(t *testing.T) {
	tpl := loadTemplate(t)
	own := map[string]map[string]bool{
		"LambdaErrorsAlarm":    {"EventsFunction": true, "WebhooksFunction": true},
		"LambdaThrottlesAlarm": {"EventsFunction": true, "WebhooksFunction": true},
	}
	for alarm, exempt := range own {
		r, ok := tpl.Resources[alarm]
		if !ok {
			t.Fatalf("no %s in the template", alarm)
		}
		props, _ := r["Properties"].(map[string]any)
		covered := map[string]bool{}
		for _, m := range alarmMetrics(alarm, props) {
			if ref, ok := m.dims["FunctionName"].(map[string]any); ok {
				covered[fmt.Sprint(ref["Ref"])] = true
			}
		}
		for id, res := range tpl.Resources {
			if res["Type"] == "AWS::Serverless::Function" && !exempt[id] && !covered[id] {
				t.Errorf("%s does not cover %s", alarm, id)
			}
		}
	}
}
