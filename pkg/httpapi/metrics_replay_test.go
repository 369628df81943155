package httpapi_test

import (
	"bufio"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scimgate/scimgate/pkg/dynamostore"
	"github.com/scimgate/scimgate/pkg/httpapi"
	"github.com/scimgate/scimgate/pkg/metrics"
)

// emfLine is one parsed Embedded Metric Format line.
type emfLine struct {
	raw    map[string]any
	values map[string]float64
	dims   map[string]string
}

// parseEMF checks that every line of out is an EMF document as CloudWatch
// Logs requires it (the _aws metadata, the namespace, each dimension set
// naming top-level string members, each metric a top-level number) and
// returns them.
func parseEMF(t *testing.T, out string) []emfLine {
	t.Helper()
	var lines []emfLine
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var raw map[string]any
		if err := json.Unmarshal(sc.Bytes(), &raw); err != nil {
			t.Fatalf("not a JSON object: %v\n%s", err, sc.Text())
		}
		meta, ok := raw["_aws"].(map[string]any)
		if !ok {
			t.Fatalf("no _aws metadata: %s", sc.Text())
		}
		if ts, ok := meta["Timestamp"].(float64); !ok || ts < 1e12 {
			t.Fatalf("_aws.Timestamp %v is not epoch milliseconds", meta["Timestamp"])
		}
		directives, ok := meta["CloudWatchMetrics"].([]any)
		if !ok || len(directives) != 1 {
			t.Fatalf("want one CloudWatchMetrics directive: %s", sc.Text())
		}
		d := directives[0].(map[string]any)
		if d["Namespace"] != metrics.Namespace {
			t.Fatalf("namespace %v", d["Namespace"])
		}
		l := emfLine{raw: raw, values: map[string]float64{}, dims: map[string]string{}}
		sets, _ := d["Dimensions"].([]any)
		if len(sets) == 0 {
			t.Fatalf("no dimension sets: %s", sc.Text())
		}
		for _, set := range sets {
			names, ok := set.([]any)
			if !ok || len(names) > 30 {
				t.Fatalf("dimension set %v is not an array of at most 30 names", set)
			}
			for _, n := range names {
				v, ok := raw[n.(string)].(string)
				if !ok || v == "" {
					t.Fatalf("dimension %v has no string value in %s", n, sc.Text())
				}
				l.dims[n.(string)] = v
			}
		}
		defs, _ := d["Metrics"].([]any)
		if len(defs) == 0 || len(defs) > 100 {
			t.Fatalf("%d metric definitions", len(defs))
		}
		for _, def := range defs {
			m := def.(map[string]any)
			name, _ := m["Name"].(string)
			v, ok := raw[name].(float64)
			if !ok {
				t.Fatalf("metric %q has no numeric value in %s", name, sc.Text())
			}
			l.values[name] = v
		}
		lines = append(lines, l)
	}
	return lines
}

// TestOktaReplayEmitsEMF replays the recorded Okta session through a
// handler whose observer writes EMF (as every Lambda function does) and
// checks each request's line: one per request, the route and status class
// of that request, a 401 counted as an auth failure, member changes only on
// successful group writes, and on DynamoDB the calls the request made.
func TestOktaReplayEmitsEMF(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { replayWithEMF(t, sqliteStores, false) })
	t.Run("dynamodb", func(t *testing.T) {
		replayWithEMF(t, func(t *testing.T) stores {
			srv := moto.Server(t)
			client := srv.Client(t, metrics.DynamoDBClientOption())
			st := dynamostore.New(client, srv.NewTable(t, client))
			return stores{resources: st, tokens: st}
		}, true)
	})
}

func replayWithEMF(t *testing.T, newStores storeFactory, onDynamoDB bool) {
	files := fixtureFiles(t, oktaFixtures)
	totalMembers := 0.0
	for _, file := range files {
		sc := loadScenario(t, file)
		t.Run(strings.TrimSuffix(filepath.Base(file), ".json"), func(t *testing.T) {
			emf := &lockedBuffer{}
			recorder := metrics.NewRecorder("users", func() time.Time { return time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC) }, metrics.NewEMF(emf, true))
			st := newStores(t)
			st.resources = metrics.CountMemberChanges(st.resources)
			srv := startServer(t, st, serverConfig{handler: func(c *httpapi.Config) { c.Observer = recorder }})
			r := &replay{srv: srv, token: srv.token(t, testConn), scenario: sc, vars: map[string]string{}}
			for i, step := range sc.Steps {
				if problems := r.check(t, step); len(problems) > 0 {
					t.Fatalf("step %d %q: %v", i+1, step.Name, problems)
				}
			}
			mustStatus(t, srv.call(t, testConn, "scimgate_wrong-token-0000000000000000000000000000000000", "GET", "/Users", ""), http.StatusUnauthorized)

			lines := parseEMF(t, emf.String())
			if len(lines) != len(sc.Steps)+1 {
				t.Fatalf("%d EMF lines for %d requests", len(lines), len(sc.Steps)+1)
			}
			for i, l := range lines {
				status, method := http.StatusUnauthorized, "GET"
				if i < len(sc.Steps) {
					status, method = sc.Steps[i].Expect.Status, sc.Steps[i].Method
				}
				if l.values[metrics.MetricRequests] != 1 {
					t.Errorf("line %d: Requests %v", i+1, l.values[metrics.MetricRequests])
				}
				if want := metrics.StatusClass(status); l.dims[metrics.DimStatusClass] != want {
					t.Errorf("line %d: StatusClass %q, want %q", i+1, l.dims[metrics.DimStatusClass], want)
				}
				if !strings.HasPrefix(l.dims[metrics.DimRoute], method+" /{tenant}/{sso}/") {
					t.Errorf("line %d: Route %q for a %s", i+1, l.dims[metrics.DimRoute], method)
				}
				if l.dims[metrics.DimFunction] != "users" || l.dims[metrics.DimTenant] != testConn.Tenant {
					t.Errorf("line %d: dimensions %v", i+1, l.dims)
				}
				if got, want := l.values[metrics.MetricAuthFailures], b2f(status == http.StatusUnauthorized); got != want {
					t.Errorf("line %d: AuthFailures %v, want %v", i+1, got, want)
				}
				if l.values[metrics.MetricServerErrors] != 0 || l.values[metrics.MetricRateLimited] != 0 || l.values[metrics.MetricUnavailable] != 0 {
					t.Errorf("line %d: error counts in a clean session: %v", i+1, l.values)
				}
				if mc := l.values[metrics.MetricMemberChanges]; mc != 0 && (!strings.Contains(l.dims[metrics.DimRoute], "/Groups") || status >= 300) {
					t.Errorf("line %d: %v member changes on %s answered %d", i+1, mc, l.dims[metrics.DimRoute], status)
				}
				totalMembers += l.values[metrics.MetricMemberChanges]
				if calls := l.values[metrics.MetricDynamoDBCalls]; onDynamoDB != (calls >= 1) {
					t.Errorf("line %d: %v DynamoDB calls (on DynamoDB: %v)", i+1, calls, onDynamoDB)
				}
				if l.values[metrics.MetricLatency] < 0 {
					t.Errorf("line %d: negative latency", i+1)
				}
			}
			if strings.Contains(file, "06-import") {
				// The import creates one group with one member.
				for i, step := range sc.Steps {
					if step.Method == "POST" && strings.HasPrefix(step.Path, "/Groups") && lines[i].values[metrics.MetricMemberChanges] != 1 {
						t.Errorf("POST /Groups with one member: MemberChanges %v", lines[i].values[metrics.MetricMemberChanges])
					}
				}
			}
		})
	}
	if totalMembers == 0 {
		t.Error("the Okta session changes group members, yet no MemberChanges were counted")
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
