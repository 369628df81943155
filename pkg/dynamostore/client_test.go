package dynamostore_test

import (
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/scimgate/scimgate/pkg/dynamostore"
)

// TestClientKeepsDynamoDBRetryDefaults: the client retries as the SDK's
// DynamoDB client of v1.74 does (4 attempts, backoff from a 25 ms base),
// which the back-pressure handling in retryable.go is sized for, and an
// explicit setting still wins.
func TestClientKeepsDynamoDBRetryDefaults(t *testing.T) {
	notThrottling := errors.New("internal server error") // throttling errors back off from 1 s
	for _, tc := range []struct {
		name         string
		cfg          aws.Config
		opts         []func(*dynamodb.Options)
		wantAttempts int
		wantMaxDelay time.Duration // for the first retry: full jitter below the base
	}{
		{"defaults", aws.Config{Region: "eu-west-1"}, nil, 4, 25 * time.Millisecond},
		{"adaptive mode", aws.Config{Region: "eu-west-1", RetryMode: aws.RetryModeAdaptive}, nil, 4, 25 * time.Millisecond},
		{"attempts from the configuration", aws.Config{Region: "eu-west-1", RetryMaxAttempts: 7}, nil, 7, 25 * time.Millisecond},
		{"attempts from an option", aws.Config{Region: "eu-west-1"},
			[]func(*dynamodb.Options){func(o *dynamodb.Options) { o.RetryMaxAttempts = 2 }}, 2, 25 * time.Millisecond},
		{"the configuration's retryer", aws.Config{Region: "eu-west-1", Retryer: func() aws.Retryer {
			return retry.NewStandard(func(so *retry.StandardOptions) { so.MaxAttempts = 9; so.BaseDelay = time.Second })
		}}, nil, 9, time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := dynamostore.NewClient(tc.cfg, tc.opts...).Options().Retryer
			if got := r.MaxAttempts(); got != tc.wantAttempts {
				t.Errorf("MaxAttempts %d, want %d", got, tc.wantAttempts)
			}
			// With full jitter, the first retry waits a uniform fraction of
			// the base: 200 draws all below 25 ms have odds of 2^-200 from a
			// 50 ms base, and a 25 ms base never exceeds it.
			var longest time.Duration
			for range 200 {
				d, err := r.RetryDelay(1, notThrottling)
				if err != nil {
					t.Fatal(err)
				}
				longest = max(longest, d)
			}
			if longest > tc.wantMaxDelay || longest < tc.wantMaxDelay/2 {
				t.Errorf("first retry waits up to %v, want a base of %v", longest, tc.wantMaxDelay)
			}
		})
	}
}
