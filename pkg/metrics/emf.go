package metrics

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Namespace is the CloudWatch namespace of every scimgate metric.
const Namespace = "scimgate"

// The metrics each request's EMF line carries. Every alarm and dashboard
// widget of the SAM template refers to one of these names (the template test
// checks it against EmittedMetrics).
const (
	MetricRequests          = "Requests"          // 1 per request
	MetricLatency           = "Latency"           // milliseconds, from routing to the last byte written
	MetricServerErrors      = "ServerErrors"      // 1 for a 5xx
	MetricAuthFailures      = "AuthFailures"      // 1 for a 401: a wrong, revoked or leaked-and-rotated token
	MetricRateLimited       = "RateLimited"       // 1 for a 429 (the connection's rate limit)
	MetricUnavailable       = "Unavailable"       // 1 for a 503 (DynamoDB throttled, failing or too slow)
	MetricDynamoDBCalls     = "DynamoDBCalls"     // DynamoDB call attempts, retries included
	MetricDynamoDBThrottles = "DynamoDBThrottles" // attempts DynamoDB throttled
	MetricMemberChanges     = "MemberChanges"     // group members added or removed
	// MetricObservedAttributes: undeclared attributes recorded for the first
	// time in the process (pkg/observed); MetricObservedDropped: new ones a
	// connection's observed schema had no room for.
	MetricObservedAttributes = "ObservedAttributes"
	MetricObservedDropped    = "ObservedDropped"
	// MetricDrift is emitted by the check function: invariant violations
	// found by the daily reconciliation (pkg/reconcile).
	MetricDrift = "Drift"
	// MetricConnectionsChecked is how many connections that check covered.
	MetricConnectionsChecked = "ConnectionsChecked"
	// The reconcile function's (pkg/drift): connections run, runs that
	// failed (the IdP or the store; nothing changed), repairs applied, and
	// one metric per drift kind found (DriftMetric).
	MetricConnectionsReconciled = "ConnectionsReconciled"
	MetricReconcileFailures     = "ReconcileFailures"
	MetricReconcileRepaired     = "ReconcileRepaired"
)

// DriftKinds are the drift kinds of pkg/drift, whose metrics DriftMetric names.
var DriftKinds = []string{"active_not_assigned", "assigned_missing", "member_extra", "member_missing", "group_not_pushed"}

// DriftMetric names the metric of a drift kind: "active_not_assigned" is
// ReconcileActiveNotAssigned.
func DriftMetric(kind string) string {
	var b strings.Builder
	b.WriteString("Reconcile")
	for _, w := range strings.Split(kind, "_") {
		if w != "" {
			b.WriteString(strings.ToUpper(w[:1]) + w[1:])
		}
	}
	return b.String()
}

// Dimension names.
const (
	DimFunction    = "Function"
	DimRoute       = "Route"
	DimStatusClass = "StatusClass"
	DimTenant      = "Tenant"
)

// PropertyTraceID is the member carrying the X-Ray trace header, named as
// in the functions' log lines.
const PropertyTraceID = "xray_trace_id"

// EmittedMetrics lists every metric name scimgate publishes in Namespace.
func EmittedMetrics() []string {
	out := []string{MetricRequests, MetricLatency, MetricServerErrors, MetricAuthFailures, MetricRateLimited,
		MetricUnavailable, MetricDynamoDBCalls, MetricDynamoDBThrottles, MetricMemberChanges, MetricObservedAttributes, MetricObservedDropped, MetricDrift, MetricConnectionsChecked,
		MetricConnectionsReconciled, MetricReconcileFailures, MetricReconcileRepaired}
	for _, k := range DriftKinds {
		out = append(out, DriftMetric(k))
	}
	return out
}

// Metric is one value of an EMF line.
type Metric struct {
	Name  string
	Unit  string // a CloudWatch unit: Count, Milliseconds, ...
	Value float64
}

// WriteEMF writes one CloudWatch Embedded Metric Format line
// (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html):
// the metrics, published under each of dimensionSets (an empty set publishes
// them without dimensions, which is what alarms on the whole service use),
// with the dimensions' values as top-level members.
func WriteEMF(w io.Writer, at time.Time, dimensions map[string]string, dimensionSets [][]string, values []Metric) error {
	defs := make([]map[string]string, len(values))
	line := make(map[string]any, len(values)+len(dimensions)+1)
	for i, m := range values {
		defs[i] = map[string]string{"Name": m.Name, "Unit": m.Unit}
		line[m.Name] = m.Value
	}
	for k, v := range dimensions {
		line[k] = v
	}
	line["_aws"] = map[string]any{
		"Timestamp": at.UnixMilli(),
		"CloudWatchMetrics": []any{map[string]any{
			"Namespace":  Namespace,
			"Dimensions": dimensionSets,
			"Metrics":    defs,
		}},
	}
	b, err := json.Marshal(line)
	if err != nil {
		return fmt.Errorf("encode EMF line: %w", err)
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// EMF writes one EMF line per request. Dimension sets are kept few, as every
// combination of dimension values is a billed custom metric: none (the whole
// service, for alarms), Function, Function+Route+StatusClass, and, only when
// perTenant is set, Function+Tenant.
type EMF struct {
	mu        sync.Mutex
	w         io.Writer
	perTenant bool
}

// NewEMF returns the sink; w is the function's stdout.
func NewEMF(w io.Writer, perTenant bool) *EMF { return &EMF{w: w, perTenant: perTenant} }

// Record writes r's line. A write error is dropped: metrics must never fail
// a request.
func (e *EMF) Record(r Request) {
	dims := map[string]string{DimFunction: r.Function, DimRoute: r.Route, DimStatusClass: r.StatusClass()}
	if r.TraceID != "" {
		dims[PropertyTraceID] = r.TraceID // a property, not a dimension: in no dimension set
	}
	sets := [][]string{{}, {DimFunction}, {DimFunction, DimRoute, DimStatusClass}}
	if e.perTenant && r.Conn.Tenant != "" {
		dims[DimTenant] = r.Conn.Tenant
		sets = append(sets, []string{DimFunction, DimTenant})
	}
	flag := func(b bool) float64 {
		if b {
			return 1
		}
		return 0
	}
	values := []Metric{
		{MetricRequests, "Count", 1},
		{MetricLatency, "Milliseconds", float64(r.Latency.Microseconds()) / 1000},
		{MetricServerErrors, "Count", flag(r.Status >= 500)},
		{MetricAuthFailures, "Count", flag(r.Status == http.StatusUnauthorized)},
		{MetricRateLimited, "Count", flag(r.Status == http.StatusTooManyRequests)},
		{MetricUnavailable, "Count", flag(r.Status == http.StatusServiceUnavailable)},
		{MetricDynamoDBCalls, "Count", float64(sum(r.DynamoDBCalls))},
		{MetricDynamoDBThrottles, "Count", float64(sum(r.DynamoDBThrottles))},
		{MetricMemberChanges, "Count", float64(r.MemberChanges)},
		{MetricObservedAttributes, "Count", float64(r.ObservedAttributes)},
		{MetricObservedDropped, "Count", float64(r.ObservedDropped)},
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	_ = WriteEMF(e.w, r.At, dims, sets, values)
}
