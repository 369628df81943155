// Package lambdaapi runs an http.Handler as an AWS Lambda function behind an
// API Gateway HTTP API (payload format 2.0), and reads the configuration
// every scimgate function shares from its environment.
//
// It knows nothing of SCIM routes or stores: the functions' main packages
// build the handler and hand it to Start.
package lambdaapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"github.com/scimgate/scimgate/pkg/scim"
)

// Environment variables a function reads. The SAM template sets all three.
const (
	EnvTable           = "SCIMGATE_DYNAMODB_TABLE" // required: the DynamoDB table
	EnvDedicatedTenant = "SCIMGATE_TENANT"         // optional: serve only this tenant
	EnvLogLevel        = "LOG_LEVEL"               // optional: DEBUG, INFO (default), WARN or ERROR
)

// Config is what a function needs beyond the AWS SDK's own configuration.
type Config struct {
	Table           string
	DedicatedTenant string
	LogLevel        slog.Level
}

// ConfigFromEnv reads the configuration through getenv (os.Getenv in a
// function, a map in tests). It reports every problem at once, naming the
// variable, so that a misconfigured function fails its first start with a
// message that says what to fix.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	var cfg Config
	var problems []error
	cfg.Table = strings.TrimSpace(getenv(EnvTable))
	if cfg.Table == "" {
		problems = append(problems, fmt.Errorf("%s is not set: it must name the DynamoDB table the function serves", EnvTable))
	}
	cfg.DedicatedTenant = strings.TrimSpace(getenv(EnvDedicatedTenant))
	if cfg.DedicatedTenant != "" {
		// Only the tenant half matters; "x" stands in for the SSO id.
		if err := (scim.Connection{Tenant: cfg.DedicatedTenant, SSO: "x"}).Validate(); err != nil {
			problems = append(problems, fmt.Errorf("%s: %s", EnvDedicatedTenant, scim.ErrorDetailOf(err)))
		}
	}
	cfg.LogLevel = slog.LevelInfo
	if raw := strings.TrimSpace(getenv(EnvLogLevel)); raw != "" {
		if err := cfg.LogLevel.UnmarshalText([]byte(raw)); err != nil {
			problems = append(problems, fmt.Errorf("%s=%q: use DEBUG, INFO, WARN or ERROR", EnvLogLevel, raw))
		}
	}
	if len(problems) > 0 {
		return Config{}, fmt.Errorf("invalid function configuration: %w", errors.Join(problems...))
	}
	return cfg, nil
}

// NewLogger returns the functions' JSON logger. With the function's
// LoggingConfig LogFormat JSON, Lambda filters a custom runtime's JSON lines
// by their "level" field against ApplicationLogLevel, and takes the line's
// time from an RFC 3339 "timestamp" field; a line without a valid timestamp
// is filed as INFO whatever its level
// (https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-log-level.html).
// So slog's "time" is written as "timestamp"; slog's level names (DEBUG,
// INFO, WARN, ERROR) are Lambda's. Every line logged with a request's context
// also carries the Lambda request id and the X-Ray trace id, which the REPORT
// line and the trace use.
func NewLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(invocationHandler{slog.NewJSONHandler(w, &slog.HandlerOptions{
		Level: level,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				a.Key = "timestamp"
			}
			return a
		},
	})})
}

// invocationHandler adds the invocation's ids to each record.
type invocationHandler struct{ slog.Handler }

// traceIDKey is the context key under which aws-lambda-go stores the
// invocation's X-Ray trace header (lambda/invoke_loop.go).
const traceIDKey = "x-amzn-trace-id"

func (h invocationHandler) Handle(ctx context.Context, r slog.Record) error {
	if lc, ok := lambdacontext.FromContext(ctx); ok && lc.AwsRequestID != "" {
		r.AddAttrs(slog.String("aws_request_id", lc.AwsRequestID))
	}
	if trace, ok := ctx.Value(traceIDKey).(string); ok && trace != "" {
		r.AddAttrs(slog.String("xray_trace_id", trace))
	}
	return h.Handler.Handle(ctx, r)
}

// TraceID returns the invocation's X-Ray trace header, "" outside Lambda,
// for output that does not go through the logger (metrics lines).
func TraceID(ctx context.Context) string {
	trace, _ := ctx.Value(traceIDKey).(string)
	return trace
}

func (h invocationHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return invocationHandler{h.Handler.WithAttrs(attrs)}
}

func (h invocationHandler) WithGroup(name string) slog.Handler {
	return invocationHandler{h.Handler.WithGroup(name)}
}

// EventHandler is what lambda.Start runs for an HTTP API integration.
type EventHandler func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error)

// Handler translates HTTP API (payload format 2.0) events to requests for h
// and h's responses back, with aws-lambda-go-api-proxy. The request context
// is the invocation's: it carries the function's deadline, so DynamoDB calls
// end before Lambda kills the function, and the ids NewLogger logs.
//
// What the translation does (pkg/lambdaapi/testdata pins it): rawPath and
// rawQueryString become the URL unchanged (queryStringParameters only when
// rawQueryString is empty); a base64 body is decoded; header values that API
// Gateway joined with commas are split again, except for single-value headers
// such as Authorization and Content-Type; cookies become Cookie headers. In
// the response, repeated headers are joined with commas, Set-Cookie becomes
// cookies, and a body that is not UTF-8 is base64-encoded.
func Handler(h http.Handler) EventHandler {
	proxy := httpadapter.NewV2(h).ProxyWithContext
	return func(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		ctx, cancel := requestDeadline(ctx)
		defer cancel()
		return proxy(ctx, ev)
	}
}

// DeadlineMargin is the part of an invocation's remaining time kept back
// from the request: enough to write the 503, log it and return the
// response before Lambda ends the invocation.
const DeadlineMargin = 1500 * time.Millisecond

// requestDeadline is the invocation's deadline minus DeadlineMargin (at
// least a tenth of the remaining time is left to the request).
func requestDeadline(ctx context.Context) (context.Context, context.CancelFunc) {
	deadline, ok := ctx.Deadline()
	if !ok {
		return context.WithCancel(ctx)
	}
	remaining := time.Until(deadline)
	return context.WithTimeout(ctx, max(remaining-DeadlineMargin, remaining/10))
}

// Start runs the function's invoke loop with h; it does not return.
func Start(h http.Handler) {
	lambda.Start(Handler(h))
}
