package dynamostore

import (
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// The SDK's retry defaults for DynamoDB (retryable.go relies on them):
// 4 attempts in all and a 25 ms backoff base, against 3 and 50 ms for
// other services.
const (
	clientMaxAttempts = 4
	clientBaseDelay   = 25 * time.Millisecond
)

// NewClient is dynamodb.NewFromConfig with DynamoDB's own retry defaults
// set explicitly. The service module is held below v1.69.0 (go.mod), whose
// schema-based serialisation costs every cold start its package
// initialiser; the versions it allows set these defaults only under
// AWS_NEW_RETRIES_2026=true, a flag the core module no longer reads, while
// v1.74.0 (resolveRetryer in api_client.go) sets them always. So they are
// set here, replacing the retryer the client resolved for itself, unless
// cfg.Retryer is given; an explicit RetryMaxAttempts in cfg or optFns still
// wins, as in the SDK.
func NewClient(cfg aws.Config, optFns ...func(*dynamodb.Options)) *dynamodb.Client {
	if cfg.Retryer == nil {
		optFns = append([]func(*dynamodb.Options){retryDefaults}, optFns...)
	}
	return dynamodb.NewFromConfig(cfg, optFns...)
}

func retryDefaults(o *dynamodb.Options) {
	standard := func(so *retry.StandardOptions) {
		if o.RetryMaxAttempts == 0 {
			so.MaxAttempts = clientMaxAttempts
		}
		so.BaseDelay = clientBaseDelay
	}
	if o.RetryMode == aws.RetryModeAdaptive {
		o.Retryer = retry.NewAdaptiveMode(func(ao *retry.AdaptiveModeOptions) {
			ao.StandardOptions = append(ao.StandardOptions, standard)
		})
		return
	}
	o.Retryer = retry.NewStandard(standard)
}
