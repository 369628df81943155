package tracing_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

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
