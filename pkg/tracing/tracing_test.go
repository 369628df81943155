package tracing_test

import (
	"context"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/scimgate/scimgate/pkg/dynamotest"
	"github.com/scimgate/scimgate/pkg/tracing"
)

var moto dynamotest.Shared

func TestMain(m *testing.M) { os.Exit(moto.Run(m)) }

// TestDynamoDBCallsAreChildrenOfTheInvocationTrace: a request carrying
// Lambda's trace header records one span per DynamoDB call, in that trace,
// under the function's segment, exported before the response is returned.
func TestDynamoDBCallsAreChildrenOfTheInvocationTrace(t *testing.T) {
	exporter := tracetest.NewInMemoryExporter()
	tracer := tracing.New(exporter)
	srv := moto.Server(t)
	client := srv.Client(t, tracer.ClientOption())
	table := srv.NewTable(t, client)
	h := tracer.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for range 2 {
			if _, err := client.GetItem(r.Context(), &dynamodb.GetItemInput{TableName: aws.String(table), Key: map[string]types.AttributeValue{
				"pk": &types.AttributeValueMemberS{Value: "T#x"}, "sk": &types.AttributeValueMemberS{Value: "T"}}}); err != nil {
				t.Error(err)
			}
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	for _, tc := range []struct {
		header string
		spans  int
	}{
		{"Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1", 2},
		{"Root=1-5759e988-bd862e3fe1be46a994272794;Parent=53995c3f42cd8ad8;Sampled=0", 0},
		{"", 0}, // outside Lambda nothing is traced
	} {
		exporter.Reset()
		req := httptest.NewRequest("GET", "/", nil)
		// aws-lambda-go stores the invocation's header under this string key.
		req = req.WithContext(context.WithValue(req.Context(), "x-amzn-trace-id", tc.header))
		h.ServeHTTP(httptest.NewRecorder(), req)
		spans := exporter.GetSpans()
		if len(spans) != tc.spans {
			t.Fatalf("header %q: %d spans, want %d", tc.header, len(spans), tc.spans)
		}
		for _, s := range spans {
			if s.Name != "DynamoDB.GetItem" || s.SpanContext.TraceID().String() != "5759e988bd862e3fe1be46a994272793" || s.Parent.SpanID().String() != "53995c3f42cd8ad8" {
				t.Errorf("span %s in trace %s under %s", s.Name, s.SpanContext.TraceID(), s.Parent.SpanID())
			}
		}
	}
}

func TestDisabledWithoutEndpoint(t *testing.T) {
	tr, err := tracing.FromEnv(context.Background(), func(string) string { return "" })
	if err != nil || tr.Enabled() {
		t.Fatalf("tracer %v, %v: want disabled", tr, err)
	}
	inner := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	if got := tr.Handler(inner); got == nil {
		t.Fatal("nil handler")
	}
	tr, err = tracing.FromEnv(context.Background(), func(k string) string {
		if k == tracing.EnvEndpoint {
			return "http://127.0.0.1:4318"
		}
		return ""
	})
	if err != nil || !tr.Enabled() {
		t.Fatalf("tracer %v, %v: want enabled", tr, err)
	}
}

// TestSpansReachTheCollectorOverOTLPHTTP: with OTEL_EXPORTER_OTLP_ENDPOINT
// set, a traced DynamoDB call reaches the collector as an OTLP/HTTP JSON
// POST to /v1/traces before the response, named, attributed for DynamoDB,
// a client span in the invocation's trace under the function's segment.
func TestSpansReachTheCollectorOverOTLPHTTP(t *testing.T) {
	got := make(chan []*tracepb.ResourceSpans, 16)
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s %s, Content-Type %q: want an OTLP/HTTP JSON export", r.Method, r.URL.Path, r.Header.Get("Content-Type"))
		}
		body, _ := io.ReadAll(r.Body)
		spans, err := tracing.DecodeExportRequest(body)
		if err != nil {
			t.Errorf("not an OTLP/JSON ExportTraceServiceRequest: %v\n%s", err, body)
			return
		}
		got <- spans
	}))
	defer collector.Close()
	tracer, err := tracing.FromEnv(context.Background(), func(k string) string {
		if k == tracing.EnvEndpoint {
			return collector.URL
		}
		return ""
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := moto.Server(t)
	client := srv.Client(t, tracer.ClientOption())
	table := srv.NewTable(t, client)
	var before, after time.Time
	h := tracer.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		before = time.Now()
		if _, err := client.GetItem(r.Context(), &dynamodb.GetItemInput{TableName: aws.String(table), Key: map[string]types.AttributeValue{
			"pk": &types.AttributeValueMemberS{Value: "T#x"}, "sk": &types.AttributeValueMemberS{Value: "T"}}}); err != nil {
			t.Error(err)
		}
		after = time.Now()
	}))
	req := httptest.NewRequest("GET", "/", nil)
	req = req.WithContext(context.WithValue(req.Context(), "x-amzn-trace-id", "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"))
	h.ServeHTTP(httptest.NewRecorder(), req)
	var rs []*tracepb.ResourceSpans
	select {
	case rs = <-got:
	default:
		t.Fatal("the collector received no span before the response")
	}
	if len(rs) != 1 || len(rs[0].GetScopeSpans()) != 1 || len(rs[0].GetScopeSpans()[0].GetSpans()) != 1 {
		t.Fatalf("want one span, got %v", rs)
	}
	scope := rs[0].GetScopeSpans()[0].GetScope()
	span := rs[0].GetScopeSpans()[0].GetSpans()[0]
	attrs := map[string]string{}
	for _, kv := range span.GetAttributes() {
		switch v := kv.GetValue(); {
		case v.GetArrayValue() != nil:
			attrs[kv.GetKey()] = v.GetArrayValue().GetValues()[0].GetStringValue()
		case kv.GetKey() == "http.response.status_code":
			attrs[kv.GetKey()] = strconv.FormatInt(v.GetIntValue(), 10)
		default:
			attrs[kv.GetKey()] = v.GetStringValue()
		}
	}
	if span.GetName() != "DynamoDB.GetItem" || attrs["rpc.service"] != "DynamoDB" || attrs["rpc.method"] != "GetItem" ||
		attrs["aws.dynamodb.table_names"] != table || attrs["http.response.status_code"] != "200" {
		t.Errorf("span %q with attributes %v", span.GetName(), attrs)
	}
	if scope.GetName() != "github.com/scimgate/scimgate/pkg/tracing" {
		t.Errorf("scope %q", scope.GetName())
	}
	if hex.EncodeToString(span.GetTraceId()) != "5759e988bd862e3fe1be46a994272793" || hex.EncodeToString(span.GetParentSpanId()) != "53995c3f42cd8ad8" ||
		len(span.GetSpanId()) != 8 || span.GetKind() != tracepb.Span_SPAN_KIND_CLIENT {
		t.Errorf("span %x under %x in trace %x, kind %v: want a client span under 53995c3f42cd8ad8 in 5759e988bd862e3fe1be46a994272793",
			span.GetSpanId(), span.GetParentSpanId(), span.GetTraceId(), span.GetKind())
	}
	start, end := time.Unix(0, int64(span.GetStartTimeUnixNano())), time.Unix(0, int64(span.GetEndTimeUnixNano()))
	if start.Before(before.Add(-time.Millisecond)) || end.After(after.Add(time.Millisecond)) || end.Before(start) {
		t.Errorf("span from %v to %v, the call from %v to %v", start, end, before, after)
	}
}
