package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/scimgate/scimgate/pkg/scim"
	"github.com/scimgate/scimgate/pkg/webhooks"
)

// Webhook items live in partitions "W#<partition>" (docs/dynamodb.md): the
// endpoints in one small partition, and each endpoint's positions, dead
// letters and delivery log in a partition of its own, so that one busy
// endpoint's log never shares a partition with another's. Expiring items
// (the log) carry the table's ttl attribute.
const (
	webhookPKPrefix = "W#"
	attrBody        = "body"
)

var _ webhooks.Store = (*Store)(nil)

func webhookKey(partition, k string) map[string]types.AttributeValue {
	return key(webhookPKPrefix+partition, k)
}

// PutWebhookItem implements webhooks.Store: one UpdateItem (a put of the
// whole item), 1 WCU per KB.
func (s *Store) PutWebhookItem(ctx context.Context, partition string, item webhooks.Item) error {
	expr := "SET #body = :body REMOVE #ttl"
	values := map[string]types.AttributeValue{":body": &types.AttributeValueMemberB{Value: item.Body}}
	if !item.Expires.IsZero() {
		expr = "SET #body = :body, #ttl = :ttl"
		values[":ttl"] = num(item.Expires.Unix())
	}
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 s.tableName(),
		Key:                       webhookKey(partition, item.Key),
		UpdateExpression:          aws.String(expr),
		ExpressionAttributeNames:  map[string]string{"#body": attrBody, "#ttl": ChangeTTLAttribute},
		ExpressionAttributeValues: values,
	})
	if err != nil {
		return fmt.Errorf("put webhook item %s %s: %w", partition, item.Key, err)
	}
	return nil
}

func decodeWebhookItem(av map[string]types.AttributeValue) (webhooks.Item, error) {
	var it webhooks.Item
	sk, ok := av[attrSK].(*types.AttributeValueMemberS)
	body, ok2 := av[attrBody].(*types.AttributeValueMemberB)
	if !ok || !ok2 {
		return it, errors.New("webhook item without sk or body")
	}
	it.Key, it.Body = sk.Value, body.Value
	if ttl, ok := av[ChangeTTLAttribute].(*types.AttributeValueMemberN); ok {
		sec, err := strconv.ParseInt(ttl.Value, 10, 64)
		if err != nil {
			return it, fmt.Errorf("webhook item %s ttl: %w", it.Key, err)
		}
		it.Expires = time.Unix(sec, 0).UTC()
	}
	return it, nil
}

// GetWebhookItem implements webhooks.Store: one strongly consistent
// GetItem (1 RCU per 4 KB), as a lane must read its own last position.
func (s *Store) GetWebhookItem(ctx context.Context, partition, k string) (webhooks.Item, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: s.tableName(), Key: webhookKey(partition, k), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return webhooks.Item{}, fmt.Errorf("get webhook item %s %s: %w", partition, k, err)
	}
	if out.Item == nil {
		return webhooks.Item{Key: k}, scim.Errorf(scim.ENotFound, "webhook item %s not found", k)
	}
	return decodeWebhookItem(out.Item)
}

// ListWebhookItems implements webhooks.Store: one Query on the partition
// (begins_with on the sort key), strongly consistent.
func (s *Store) ListWebhookItems(ctx context.Context, partition, prefix, after string, limit int) ([]webhooks.Item, error) {
	in := &dynamodb.QueryInput{
		TableName:                s.tableName(),
		ConsistentRead:           aws.Bool(true),
		KeyConditionExpression:   aws.String("#pk = :pk AND begins_with(#sk, :prefix)"),
		ExpressionAttributeNames: map[string]string{"#pk": attrPK, "#sk": attrSK},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": str(webhookPKPrefix + partition), ":prefix": str(prefix),
		},
		Limit: aws.Int32(int32(limit)),
	}
	if prefix == "" {
		in.KeyConditionExpression = aws.String("#pk = :pk")
		delete(in.ExpressionAttributeValues, ":prefix")
		delete(in.ExpressionAttributeNames, "#sk")
	}
	if after != "" {
		in.ExclusiveStartKey = webhookKey(partition, after)
	}
	var out []webhooks.Item
	for len(out) < limit {
		res, err := s.db.Query(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("list webhook items %s %s: %w", partition, prefix, err)
		}
		for _, av := range res.Items {
			it, err := decodeWebhookItem(av)
			if err != nil {
				return nil, err
			}
			out = append(out, it)
		}
		if res.LastEvaluatedKey == nil {
			break
		}
		in.ExclusiveStartKey = res.LastEvaluatedKey
		in.Limit = aws.Int32(int32(limit - len(out)))
	}
	return out, nil
}

// DeleteWebhookItem implements webhooks.Store: a BatchWriteItem of one
// delete (the store's API has no DeleteItem), retried while unprocessed.
func (s *Store) DeleteWebhookItem(ctx context.Context, partition, k string) error {
	req := map[string][]types.WriteRequest{s.table: {{DeleteRequest: &types.DeleteRequest{Key: webhookKey(partition, k)}}}}
	for attempt := 0; len(req) > 0; attempt++ {
		if attempt > 0 {
			if err := sleepCtx(ctx, time.Duration(attempt)*50*time.Millisecond); err != nil {
				return err
			}
		}
		out, err := s.db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: req})
		if err != nil {
			return fmt.Errorf("delete webhook item %s %s: %w", partition, k, err)
		}
		req = out.UnprocessedItems
		if attempt > 10 {
			return fmt.Errorf("delete webhook item %s %s: still unprocessed", partition, k)
		}
	}
	return nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
