package dynamostore

import (
	"context"
	"errors"
	"net"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/scimgate/scimgate/pkg/scim"
)

// Back-pressure. A DynamoDB that throttles, fails internally or does not
// answer in time is not the client's fault and not a bug: the request may
// succeed a moment later. Answered 500, Entra counts it as a hard failure
// (and quarantines a job whose failure rate stays high) and Okta marks the
// task failed; answered 503 with Retry-After, both wait and retry. So every
// such error becomes scim.EUnavailable, which pkg/httpapi answers 503 with a
// small jittered Retry-After.
//
// It happens after the SDK's own retryer has given up. For DynamoDB that is
// the standard mode with 4 attempts in all, exponential backoff with full
// jitter from a 25 ms base (capped at 20 s, never reached in 3 retries), on
// throttling codes, 5xx statuses, connection errors and timeouts; each retry
// takes tokens from a client-wide bucket of 500 (5 for a throttling error, 14
// for another), and once it is empty the SDK stops retrying (a "retry quota
// exceeded" error wrapping the last one), so that a struggling table is not
// hammered further. The store's own loop (transact) additionally retries
// transactions cancelled by TransactionConflict or throttling, whose
// cancellation the SDK does not retry, up to WithConflictRetry's attempts.
//
// Every write the store makes is a single conditional request or
// transaction, so one that fails with one of these errors changed nothing,
// and the client's retry is safe.

// throttlingCodes are the error codes by which DynamoDB says "too fast".
// https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Programming.Errors.html
var throttlingCodes = map[string]bool{
	"ThrottlingException":                    true,
	"ProvisionedThroughputExceededException": true,
	"RequestLimitExceeded":                   true,
}

// retryableCancellations are the TransactionCanceledException reasons that
// say nothing about the items and everything about timing.
var retryableCancellations = map[string]bool{
	"TransactionConflict":           true,
	"ThrottlingError":               true,
	"ProvisionedThroughputExceeded": true,
}

// unavailableDetail is what the IdP's provisioning log shows: what happened
// in words an admin can act on, nothing internal.
const unavailableDetail = "The service is temporarily unable to handle the request; it changed nothing. Retry after the number of seconds in Retry-After."

// classifyUnavailable returns err as a scim.EUnavailable error (the cause
// kept for the log) if it means "retry later", and err unchanged otherwise:
// conditional-check failures and validation errors keep meaning what they
// mean to the store.
func classifyUnavailable(err error) error {
	if err == nil || !isRetryLater(err) {
		return err
	}
	var already *scim.Error
	if errors.As(err, &already) {
		return err
	}
	return &scim.Error{Code: scim.EUnavailable, Detail: unavailableDetail, Err: err}
}

func isRetryLater(err error) bool {
	// A client that hung up (context.Canceled) is not waiting for an answer.
	if errors.Is(err, context.Canceled) {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var canceled *types.TransactionCanceledException
	if errors.As(err, &canceled) {
		retryable := false
		for _, reason := range canceled.CancellationReasons {
			switch code := aws.ToString(reason.Code); {
			case code == "" || code == "None":
			case retryableCancellations[code]:
				retryable = true
			default:
				return false // a condition or validation failure: the store decides
			}
		}
		return retryable
	}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		// TransactionConflictException: a single-item write lost to a
		// transaction on its item, after the store's own retries.
		switch code := apiErr.ErrorCode(); {
		case throttlingCodes[code], code == "InternalServerError", code == "TransactionConflictException":
			return true
		}
	}
	var respErr *smithyhttp.ResponseError
	if errors.As(err, &respErr) && respErr.HTTPStatusCode() >= 500 {
		return true
	}
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		return true
	}
	// The request never got an answer (connection refused or reset): the
	// SDK has already retried it.
	var sendErr *smithyhttp.RequestSendError
	return errors.As(err, &sendErr)
}

// unavailableClassifier is the client the store calls through: every error
// of every call passes classifyUnavailable. Embedding API lets calls this
// file does not list pass through unchanged.
type unavailableClassifier struct{ API }

// classifying wraps db so that its retry-later errors become scim.EUnavailable.
func classifying(db API) API {
	if c, ok := db.(unavailableClassifier); ok {
		return c
	}
	return unavailableClassifier{db}
}

func (c unavailableClassifier) GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	out, err := c.API.GetItem(ctx, in, optFns...)
	return out, classifyUnavailable(err)
}

func (c unavailableClassifier) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	out, err := c.API.UpdateItem(ctx, in, optFns...)
	return out, classifyUnavailable(err)
}

func (c unavailableClassifier) Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	out, err := c.API.Query(ctx, in, optFns...)
	return out, classifyUnavailable(err)
}

func (c unavailableClassifier) BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	out, err := c.API.BatchGetItem(ctx, in, optFns...)
	return out, classifyUnavailable(err)
}

func (c unavailableClassifier) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, optFns ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	out, err := c.API.TransactWriteItems(ctx, in, optFns...)
	return out, classifyUnavailable(err)
}
