package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/scimgate/scimgate/pkg/scim"
)

func cancellation(codes ...string) error {
	reasons := make([]types.CancellationReason, len(codes))
	for i, c := range codes {
		reasons[i] = types.CancellationReason{Code: aws.String(c)}
	}
	return &types.TransactionCanceledException{CancellationReasons: reasons}
}

func TestClassifyUnavailable(t *testing.T) {
	for _, tc := range []struct {
		name        string
		err         error
		unavailable bool
	}{
		{"throttling", &types.ThrottlingException{}, true},
		{"provisioned throughput", &types.ProvisionedThroughputExceededException{}, true},
		{"request limit", &types.RequestLimitExceeded{}, true},
		{"internal server error", &types.InternalServerError{}, true},
		{"item-level transaction conflict", &types.TransactionConflictException{}, true},
		{"SDK gave up", &retry.MaxAttemptsError{Attempt: 4, Err: &types.ThrottlingException{}}, true},
		{"retry quota empty", fmt.Errorf("get item: %w", &retry.MaxAttemptsError{Err: &types.ProvisionedThroughputExceededException{}}), true},
		{"deadline", fmt.Errorf("query: %w", context.DeadlineExceeded), true},
		{"read timeout", &smithyhttp.RequestSendError{Err: &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}}, true},
		{"connection refused", &smithyhttp.RequestSendError{Err: errors.New("connect: connection refused")}, true},
		{"cancellation by conflict", cancellation("None", "TransactionConflict"), true},
		{"cancellation by throttling", cancellation("ThrottlingError"), true},
		{"cancellation by a condition", cancellation("ConditionalCheckFailed", "None"), false},
		{"condition and conflict", cancellation("ConditionalCheckFailed", "TransactionConflict"), false},
		{"validation cancellation", cancellation("ValidationError"), false},
		{"conditional check", &types.ConditionalCheckFailedException{}, false},
		{"client hung up", fmt.Errorf("get item: %w", context.Canceled), false},
		{"resource not found", &types.ResourceNotFoundException{}, false},
		{"scim error", scim.Errorf(scim.ENotFound, "gone"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := classifyUnavailable(tc.err)
			if gotUnavailable := scim.ErrorCodeOf(got) == scim.EUnavailable; gotUnavailable != tc.unavailable {
				t.Fatalf("classifyUnavailable(%v) = %v (code %s), unavailable %v", tc.err, got, scim.ErrorCodeOf(got), tc.unavailable)
			}
			if !errors.Is(got, tc.err) {
				t.Errorf("the cause %v is not kept in %v", tc.err, got)
			}
		})
	}
	if classifyUnavailable(nil) != nil {
		t.Error("nil must stay nil")
	}
}
