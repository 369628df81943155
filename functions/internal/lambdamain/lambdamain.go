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
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/scimgate/scimgate/pkg/declared"
	"github.com/scimgate/scimgate/pkg/dynamostore"
	"github.com/scimgate/scimgate/pkg/httpapi"
	"github.com/scimgate/scimgate/pkg/lambdaapi"
	"github.com/scimgate/scimgate/pkg/metrics"
	observedschema "github.com/scimgate/scimgate/pkg/observed"
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
	awsCfg, err := awsConfigFromEnv(os.Getenv)
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
	store := dynamostore.New(dynamostore.NewClient(awsCfg, clientOptions...), cfg.Table, feedOpts...)
	healthObs, err := healthObserver(getenv, store)
	if err != nil {
		return nil, err
	}
	logger := lambdaapi.NewLogger(logs, cfg.LogLevel).With("function", string(resource))
	// The observed schema: a key new to the execution environment is
	// written in the request that carries it (the environment may be frozen
	// right after), the counts at most once a minute per connection, on a
	// later request; nothing runs between invocations.
	observer := observedschema.NewRecorder(store, observedschema.WithLogger(logger))
	return tracer.Handler(httpapi.New(httpapi.Config{
		// Per execution environment: see pkg/ratelimit for the effective bound.
		Admit:    limiter.Admit,
		Observer: httpapi.Observers(recorder, healthObs),
		Service:  scim.NewService(metrics.CountMemberChanges(store), scim.WithObserver(observer)),
		Tokens:   store,
		Logger:   logger,
		// Read once a minute per execution environment, not per request.
		DefaultSchemas:  declared.NewCache(store, time.Now, declared.DefaultMaxAge, logger),
		Resources:       []httpapi.Resource{resource},
		DedicatedTenant: cfg.DedicatedTenant,
	})), nil
}

// awsConfigFromEnv is the AWS configuration Lambda hands a function: the
// region and the execution role's temporary credentials are environment
// variables (https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-runtime),
// valid for the life of the execution environment, and AWS_ENDPOINT_URL_DYNAMODB
// (or AWS_ENDPOINT_URL), when set, points the client at a local DynamoDB.
// Reading them directly, rather than with config.LoadDefaultConfig, keeps the
// SDK's shared-config, SSO, STS and instance-metadata credential providers
// out of the binary, whose package initialisers are a third of the
// function's init (docs/performance.md).
func awsConfigFromEnv(getenv func(string) string) (aws.Config, error) {
	region := getenv("AWS_REGION")
	if region == "" {
		region = getenv("AWS_DEFAULT_REGION")
	}
	if region == "" {
		return aws.Config{}, fmt.Errorf("AWS_REGION is not set")
	}
	key, secret := getenv("AWS_ACCESS_KEY_ID"), getenv("AWS_SECRET_ACCESS_KEY")
	if key == "" || secret == "" {
		return aws.Config{}, fmt.Errorf("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set (Lambda sets them from the execution role)")
	}
	cfg := aws.Config{
		Region:      region,
		Credentials: aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider(key, secret, getenv("AWS_SESSION_TOKEN"))),
	}
	for _, name := range []string{"AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL"} {
		if v := getenv(name); v != "" {
			cfg.BaseEndpoint = aws.String(v)
			break
		}
	}
	return cfg, nil
}
