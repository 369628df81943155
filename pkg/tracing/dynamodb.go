package tracing

import (
	"context"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// scopeName names the instrumentation the spans come from.
const scopeName = "github.com/scimgate/scimgate/pkg/tracing"

// dynamoDBSpans adds to a DynamoDB client's stack one client span per call,
// named and attributed as OpenTelemetry's semantic conventions for AWS SDK
// and DynamoDB calls say (rpc.*, aws.dynamodb.table_names,
// aws.request_id), which is what X-Ray shows as the remote service.
func dynamoDBSpans(tracer trace.Tracer) func(*middleware.Stack) error {
	return func(stack *middleware.Stack) error {
		err := stack.Initialize.Add(middleware.InitializeMiddlewareFunc("ScimgateSpan", func(
			ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler,
		) (middleware.InitializeOutput, middleware.Metadata, error) {
			operation := awsmiddleware.GetOperationName(ctx)
			attrs := []attribute.KeyValue{
				attribute.String("rpc.system", "aws-api"),
				attribute.String("rpc.service", "DynamoDB"),
				attribute.String("rpc.method", operation),
				attribute.String("cloud.region", awsmiddleware.GetRegion(ctx)),
			}
			if tables := tableNames(in.Parameters); len(tables) > 0 {
				attrs = append(attrs, attribute.StringSlice("aws.dynamodb.table_names", tables))
			}
			ctx, span := tracer.Start(ctx, "DynamoDB."+operation, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
			defer span.End()
			out, md, err := next.HandleInitialize(ctx, in)
			if id, ok := awsmiddleware.GetRequestIDMetadata(md); ok {
				span.SetAttributes(attribute.String("aws.request_id", id))
			}
			if err != nil {
				span.SetStatus(codes.Error, err.Error())
			}
			return out, md, err
		}), middleware.After)
		if err != nil {
			return err
		}
		return stack.Deserialize.Add(middleware.DeserializeMiddlewareFunc("ScimgateSpanStatus", func(
			ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler,
		) (middleware.DeserializeOutput, middleware.Metadata, error) {
			out, md, err := next.HandleDeserialize(ctx, in)
			if resp, ok := out.RawResponse.(*smithyhttp.Response); ok {
				trace.SpanFromContext(ctx).SetAttributes(attribute.Int("http.response.status_code", resp.StatusCode))
			}
			return out, md, err
		}), middleware.Before)
	}
}

// tableNames lists the tables a call names.
func tableNames(params any) []string {
	one := func(p *string) []string {
		if p == nil {
			return nil
		}
		return []string{*p}
	}
	switch in := params.(type) {
	case *dynamodb.GetItemInput:
		return one(in.TableName)
	case *dynamodb.PutItemInput:
		return one(in.TableName)
	case *dynamodb.UpdateItemInput:
		return one(in.TableName)
	case *dynamodb.DeleteItemInput:
		return one(in.TableName)
	case *dynamodb.QueryInput:
		return one(in.TableName)
	case *dynamodb.ScanInput:
		return one(in.TableName)
	case *dynamodb.DescribeTableInput:
		return one(in.TableName)
	case *dynamodb.BatchGetItemInput:
		return keys(in.RequestItems)
	case *dynamodb.BatchWriteItemInput:
		return keys(in.RequestItems)
	case *dynamodb.TransactWriteItemsInput:
		seen := map[string]bool{}
		var names []string
		for _, it := range in.TransactItems {
			if p := tableOf(it); p != nil && !seen[*p] {
				seen[*p] = true
				names = append(names, *p)
			}
		}
		return names
	}
	return nil
}

func tableOf(it types.TransactWriteItem) *string {
	switch {
	case it.Put != nil:
		return it.Put.TableName
	case it.Update != nil:
		return it.Update.TableName
	case it.Delete != nil:
		return it.Delete.TableName
	case it.ConditionCheck != nil:
		return it.ConditionCheck.TableName
	}
	return nil
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
