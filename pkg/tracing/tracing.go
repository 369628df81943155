// Package tracing traces the DynamoDB calls of a Lambda invocation as
// OpenTelemetry spans that are children of the invocation's X-Ray trace, so
// that a slow PATCH shows which call was slow.
//
// OpenTelemetry was chosen over the X-Ray SDK by measured cost under the
// Lambda emulator (docs/operations.md, "Tracing"): the X-Ray SDK more than
// doubled the bootstrap and raised the init time by about 1.5-1.8×;
// OpenTelemetry raised it by 1.1-1.4×. Spans are exported over OTLP/HTTP to
// the collector of the AWS Distro for OpenTelemetry Lambda layer, which
// forwards them to X-Ray; without OTEL_EXPORTER_OTLP_ENDPOINT nothing is
// traced and nothing is set up.
//
// What a function links is its cold start (docs/performance.md): the OTLP
// exporter is this package's own (otlp.go: OTLP/HTTP with JSON bodies),
// because otlptracehttp links gRPC and its gateway through the collector's
// generated package, and the protobuf runtime alone costs each cold start
// its package initialisers; and the span per DynamoDB call is this
// package's middleware (dynamodb.go), because otelaws links the S3, SNS and
// SQS clients for their attributes.
package tracing

import (
	"context"
	"net/http"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"go.opentelemetry.io/contrib/propagators/aws/xray"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// EnvEndpoint is the OpenTelemetry exporter's standard variable; the
// template sets it to the collector layer's address when the layer is given.
const EnvEndpoint = "OTEL_EXPORTER_OTLP_ENDPOINT"

// lambdaTraceKey is the context key under which aws-lambda-go puts the
// invocation's X-Ray trace header (lambda/invoke_loop.go).
const lambdaTraceKey = "x-amzn-trace-id"

// Tracer traces DynamoDB calls, or does nothing when disabled.
type Tracer struct {
	tp *sdktrace.TracerProvider // nil: disabled
}

// FromEnv returns the tracer the environment asks for: disabled without
// OTEL_EXPORTER_OTLP_ENDPOINT. The exporter opens no connection here; it
// sends at the end of each request.
func FromEnv(ctx context.Context, getenv func(string) string) (*Tracer, error) {
	if strings.TrimSpace(getenv(EnvEndpoint)) == "" {
		return &Tracer{}, nil
	}
	return New(newJSONExporter(getenv)), nil
}

// New returns a tracer exporting to exporter, with X-Ray compatible ids.
func New(exporter sdktrace.SpanExporter) *Tracer {
	return &Tracer{tp: sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exporter),
		// The parent's sampling decision is Lambda's (the header's Sampled flag).
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.NeverSample())),
		sdktrace.WithIDGenerator(xray.NewIDGenerator()),
	)}
}

// Enabled reports whether spans are recorded.
func (t *Tracer) Enabled() bool { return t.tp != nil }

// ClientOption adds a span per DynamoDB call to a client's middleware.
func (t *Tracer) ClientOption() func(*dynamodb.Options) {
	return func(o *dynamodb.Options) {
		if t.tp != nil {
			o.APIOptions = append(o.APIOptions, dynamoDBSpans(t.tp.Tracer(scopeName)))
		}
	}
}

// Handler makes each request's context a child of the invocation's X-Ray
// trace, so that the DynamoDB spans land under the function's segment, and
// sends the spans before the response is handed back (a Lambda environment
// may be frozen right after).
func (t *Tracer) Handler(next http.Handler) http.Handler {
	if t.tp == nil {
		return next
	}
	propagator := xray.Propagator{}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		if header, ok := ctx.Value(lambdaTraceKey).(string); ok && header != "" {
			ctx = propagator.Extract(ctx, propagation.MapCarrier{"X-Amzn-Trace-Id": header})
		}
		next.ServeHTTP(w, r.WithContext(ctx))
		_ = t.tp.ForceFlush(r.Context())
	})
}
