package functions_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/scimgate/scimgate/functions/internal/checkmain"
	"github.com/scimgate/scimgate/functions/internal/lambdamain"
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
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL_DYNAMODB": srv.Endpoint(), "AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "local",
		"AWS_SECRET_ACCESS_KEY": "local", "AWS_SESSION_TOKEN": "", "AWS_PROFILE": "", "AWS_EC2_METADATA_DISABLED": "true",
	} {
		t.Setenv(k, v)
	}
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

// lambdaMetrics are the AWS/Lambda metrics the alarms may use.
var lambdaMetrics = []string{"Errors", "Throttles", "Duration", "Invocations", "ConcurrentExecutions"}

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

var subVariable = regexp.MustCompile(`\$\{([A-Za-z0-9:]+)\}`)

// dashboardMetrics reads the metrics of the dashboard's widgets; ${X} in
// the body stands for a Ref to X.
func dashboardMetrics(t *testing.T, id string, props map[string]any) []metricRef {
	t.Helper()
	sub, _ := props["DashboardBody"].(map[string]any)
	body, ok := sub["Fn::Sub"].(string)
	if !ok {
		t.Fatalf("%s: DashboardBody is not a !Sub string", id)
	}
	var doc struct {
		Widgets []struct {
			Properties struct {
				Metrics [][]any
			}
		}
	}
	if err := json.Unmarshal([]byte(subVariable.ReplaceAllString(body, "REF:$1")), &doc); err != nil {
		t.Fatalf("%s: DashboardBody is not JSON: %v", id, err)
	}
	var refs []metricRef
	for _, w := range doc.Widgets {
		for _, m := range w.Properties.Metrics {
			ref := metricRef{where: id + " widget", namespace: fmt.Sprint(m[0]), name: fmt.Sprint(m[1]), dims: map[string]any{}}
			for i := 2; i+1 < len(m); i += 2 {
				if name, ok := m[i].(string); ok {
					v := fmt.Sprint(m[i+1])
					if r, ok := strings.CutPrefix(v, "REF:"); ok {
						ref.dims[name] = map[string]any{"Ref": r}
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
	emitted := emittedMetrics(t)
	functions := map[string]bool{}
	for _, fn := range tpl.Functions() {
		functions[fn.LogicalID] = true
	}
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
				t.Errorf("%s reads no metric", id)
			}
			refs = append(refs, got...)
			for _, key := range []string{"AlarmActions", "OKActions"} {
				if !strings.Contains(fmt.Sprint(props[key]), "HasAlarmTopic") {
					t.Errorf("%s: %s does not notify AlarmTopicArn", id, key)
				}
			}
		case "AWS::CloudWatch::Dashboard":
			refs = append(refs, dashboardMetrics(t, id, props)...)
		}
	}
	alarmed := map[string]bool{}
	for _, ref := range refs {
		if !strings.HasSuffix(ref.where, "widget") {
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
				t.Errorf("%s reads %s %s, which no function emits", ref.where, ref.namespace, ref.name)
			} else if !slices.Contains(sets, strings.Join(names, ",")) {
				t.Errorf("%s reads %s %s with dimensions %v; it is published with %q", ref.where, ref.namespace, ref.name, names, sets)
			}
		case "AWS/Lambda":
			if !slices.Contains(lambdaMetrics, ref.name) {
				t.Errorf("%s reads AWS/Lambda %s, not a Lambda metric this test knows", ref.where, ref.name)
			}
			fn, _ := ref.dims["FunctionName"].(map[string]any)
			if len(ref.dims) != 1 || !functions[fmt.Sprint(fn["Ref"])] {
				t.Errorf("%s reads AWS/Lambda %s of %v, not of a function of this template", ref.where, ref.name, ref.dims)
			}
		default:
			t.Errorf("%s reads namespace %q", ref.where, ref.namespace)
		}
	}
	for _, want := range []string{metrics.MetricServerErrors, metrics.MetricAuthFailures, metrics.MetricRateLimited, metrics.MetricUnavailable,
		metrics.MetricLatency, "Errors", "Throttles", metrics.MetricDynamoDBThrottles, metrics.MetricDrift} {
		if !alarmed[want] {
			t.Errorf("no alarm reads %s", want)
		}
	}
	// The check function and its schedule exist.
	if fn, ok := tpl.Function("CheckFunction"); !ok || !strings.Contains(fmt.Sprint(fn.Properties["Events"]), "Schedule") {
		t.Error("CheckFunction with a Schedule event is missing")
	}
}
