// Package lambdamain is the whole main of every scimgate Lambda function:
// read the configuration from the environment, build the AWS clients once
// per execution environment, and serve the SCIM handler restricted to the
// function's resource. Each functions/<name>/main.go is one call to Run.
package lambdamain

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/scimgate/scimgate/pkg/dynamostore"
	"github.com/scimgate/scimgate/pkg/httpapi"
	"github.com/scimgate/scimgate/pkg/lambdaapi"
	"github.com/scimgate/scimgate/pkg/metrics"
	"github.com/scimgate/scimgate/pkg/ratelimit"
	"github.com/scimgate/scimgate/pkg/scim"
	"github.com/scimgate/scimgate/pkg/tracing"
)

// EnvMetricsPerTenant, "true", adds the Tenant dimension to the metrics
// (the template's MetricsPerTenant parameter): every tenant then costs its
// own custom metrics.
const EnvMetricsPerTenant = "SCIMGATE_METRICS_PER_TENANT"

// Run starts the function serving resource. A configuration error ends the
// process during the init phase with the reason on stderr: Lambda reports
// Runtime.ExitError with that text in the function's log, instead of a
// function that starts and then fails every request.
func Run(resource httpapi.Resource) {
	handler, err := New(context.Background(), resource, os.Getenv, os.Stdout)
	if err != nil {
		fmt.Fprintf(os.Stderr, "scimgate %s function cannot start: %v\n", resource, err)
		os.Exit(1)
	}
	lambdaapi.Start(handler)
}

// New builds the handler of the function serving resource: configuration
// through getenv, JSON logs to logs, clientOptions applied to the DynamoDB
// client (the tests record its calls). Requests outside resource's routes
// get the handler's SCIM 404 (or 405 for a wrong method on a known path).
func New(ctx context.Context, resource httpapi.Resource, getenv func(string) string, logs io.Writer,
	clientOptions ...func(*dynamodb.Options)) (http.Handler, error) {
	cfg, err := lambdaapi.ConfigFromEnv(getenv)
	if err != nil {
		return nil, err
	}
	// The SDK reads region, credentials (the execution role's, from the
	// environment Lambda sets) and AWS_ENDPOINT_URL_DYNAMODB itself.
	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	limiter, err := ratelimit.FromEnv(getenv)
	if err != nil {
		return nil, err
	}
	// One EMF line per request on stdout: CloudWatch Logs extracts the metrics.
	recorder := metrics.NewRecorder(string(resource), nil, metrics.NewEMF(logs, getenv(EnvMetricsPerTenant) == "true")).WithTraceID(lambdaapi.TraceID)
	tracer, err := tracing.FromEnv(ctx, getenv)
	if err != nil {
		return nil, err
	}
	clientOptions = append([]func(*dynamodb.Options){metrics.DynamoDBClientOption(), tracer.ClientOption()}, clientOptions...)
	feedOpts, err := dynamostore.ChangeOptionsFromEnv(getenv)
	if err != nil {
		return nil, err
	}
	store := dynamostore.New(dynamodb.NewFromConfig(awsCfg, clientOptions...), cfg.Table, feedOpts...)
	return tracer.Handler(httpapi.New(httpapi.Config{
		// Per execution environment: see pkg/ratelimit for the effective bound.
		Admit:           limiter.Admit,
		Observer:        recorder,
		Service:         scim.NewService(metrics.CountMemberChanges(store)),
		Tokens:          store,
		Logger:          lambdaapi.NewLogger(logs, cfg.LogLevel).With("function", string(resource)),
		Resources:       []httpapi.Resource{resource},
		DedicatedTenant: cfg.DedicatedTenant,
	})), nil
}
