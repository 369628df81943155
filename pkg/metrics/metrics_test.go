package metrics_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/scimgate/scimgate/pkg/metrics"
	"github.com/scimgate/scimgate/pkg/scim"
)

func emfLine(t *testing.T, perTenant bool, status int) map[string]any {
	t.Helper()
	var buf bytes.Buffer
	at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	rec := metrics.NewRecorder("groups", func() time.Time { return at }, metrics.NewEMF(&buf, perTenant))
	ctx := rec.StartRequest(context.Background())
	rec.EndRequest(ctx, "PATCH /{tenant}/{sso}/Groups/{id}", status, 1500*time.Microsecond, scim.Connection{Tenant: "acme", SSO: "okta"})
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("%v: %s", err, buf.String())
	}
	if ts := line["_aws"].(map[string]any)["Timestamp"]; ts != float64(at.UnixMilli()) {
		t.Errorf("Timestamp %v", ts)
	}
	return line
}

func dimensionSets(line map[string]any) []any {
	return line["_aws"].(map[string]any)["CloudWatchMetrics"].([]any)[0].(map[string]any)["Dimensions"].([]any)
}

func TestEMFLine(t *testing.T) {
	for _, tc := range []struct {
		status                                       int
		class                                        string
		serverErrors, auth, rateLimited, unavailable float64
	}{
		{http.StatusNoContent, "2xx", 0, 0, 0, 0},
		{http.StatusUnauthorized, "4xx", 0, 1, 0, 0},
		{http.StatusTooManyRequests, "4xx", 0, 0, 1, 0},
		{http.StatusServiceUnavailable, "5xx", 1, 0, 0, 1},
		{http.StatusInternalServerError, "5xx", 1, 0, 0, 0},
	} {
		line := emfLine(t, false, tc.status)
		if line[metrics.DimStatusClass] != tc.class || line[metrics.DimRoute] != "PATCH /{tenant}/{sso}/Groups/{id}" || line[metrics.DimFunction] != "groups" {
			t.Errorf("%d: dimensions %v", tc.status, line)
		}
		for name, want := range map[string]float64{
			metrics.MetricRequests: 1, metrics.MetricLatency: 1.5, metrics.MetricServerErrors: tc.serverErrors,
			metrics.MetricAuthFailures: tc.auth, metrics.MetricRateLimited: tc.rateLimited, metrics.MetricUnavailable: tc.unavailable,
			metrics.MetricDynamoDBCalls: 0, metrics.MetricMemberChanges: 0,
		} {
			if line[name] != want {
				t.Errorf("%d: %s = %v, want %v", tc.status, name, line[name], want)
			}
		}
		if _, ok := line[metrics.DimTenant]; ok {
			t.Errorf("tenant dimension without perTenant")
		}
	}
	if sets := dimensionSets(emfLine(t, false, 200)); len(sets) != 3 || len(sets[0].([]any)) != 0 {
		t.Errorf("dimension sets %v, want [] [Function] [Function Route StatusClass]", sets)
	}
	line := emfLine(t, true, 200)
	if sets := dimensionSets(line); len(sets) != 4 || line[metrics.DimTenant] != "acme" {
		t.Errorf("per tenant: sets %v, tenant %v", sets, line[metrics.DimTenant])
	}
}

func TestStatusClass(t *testing.T) {
	for status, want := range map[int]string{200: "2xx", 304: "3xx", 404: "4xx", 503: "5xx", 0: "other", 700: "other"} {
		if got := metrics.StatusClass(status); got != want {
			t.Errorf("StatusClass(%d) = %q, want %q", status, got, want)
		}
	}
}

func TestEMFCarriesTheTraceID(t *testing.T) {
	var buf bytes.Buffer
	type key struct{}
	rec := metrics.NewRecorder("users", nil, metrics.NewEMF(&buf, false)).WithTraceID(func(ctx context.Context) string {
		s, _ := ctx.Value(key{}).(string)
		return s
	})
	ctx := rec.StartRequest(context.WithValue(context.Background(), key{}, "Root=1-5759e988-bd862e3fe1be46a994272793"))
	rec.EndRequest(ctx, "GET /{tenant}/{sso}/Users", 200, time.Millisecond, scim.Connection{})
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatal(err)
	}
	if line[metrics.PropertyTraceID] != "Root=1-5759e988-bd862e3fe1be46a994272793" {
		t.Fatalf("trace id %v", line[metrics.PropertyTraceID])
	}
	for _, set := range dimensionSets(line) {
		for _, d := range set.([]any) {
			if d == metrics.PropertyTraceID {
				t.Fatal("the trace id is a dimension: every request would be its own metric")
			}
		}
	}
}
