package metrics

import (
	"context"
	"errors"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
)

// throttleCodes are DynamoDB's "too fast" answers, whole-call
// (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Programming.Errors.html)
// and as transaction cancellation reasons.
var throttleCodes = map[string]bool{
	"ThrottlingException":                    true,
	"ProvisionedThroughputExceededException": true,
	"RequestLimitExceeded":                   true,
	"ThrottlingError":                        true,
	"ProvisionedThroughputExceeded":          true,
}

func isThrottle(err error) bool {
	var canceled *types.TransactionCanceledException
	if errors.As(err, &canceled) {
		for _, r := range canceled.CancellationReasons {
			if throttleCodes[aws.ToString(r.Code)] {
				return true
			}
		}
		return false
	}
	var apiErr smithy.APIError
	return errors.As(err, &apiErr) && throttleCodes[apiErr.ErrorCode()]
}

// DynamoDBClientOption counts every DynamoDB call attempt and every
// throttled one into the request the call belongs to:
// dynamodb.NewFromConfig(cfg, metrics.DynamoDBClientOption()). It sits
// after the SDK's retry middleware, so each retry is counted: a throttled
// call that the SDK retried successfully is still a throttle the table saw.
func DynamoDBClientOption() func(*dynamodb.Options) {
	return func(o *dynamodb.Options) {
		o.APIOptions = append(o.APIOptions, func(stack *middleware.Stack) error {
			return stack.Finalize.Add(middleware.FinalizeMiddlewareFunc("scimgateMetrics",
				func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
					out, md, err := next.HandleFinalize(ctx, in)
					if t := tallyOf(ctx); t != nil {
						t.addCall(middleware.GetOperationName(ctx), err != nil && isThrottle(err))
					}
					return out, md, err
				}), middleware.After)
		})
	}
}
