package dynamostore

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/scimgate/scimgate/pkg/health"
	"github.com/scimgate/scimgate/pkg/scim"
)

// HealthItemType is the typ of a sync health bucket item. The events
// function's stream filter takes only change items, so these writes never
// invoke it.
const HealthItemType = "health"

// healthPK is the partition of one connection's health buckets: a partition
// of its own, so that no Query of the connection's resources or tokens ever
// reads them, and their writes (a few per minute) never share a partition
// with SCIM traffic.
func healthPK(conn scim.Connection) (string, error) {
	if err := conn.Validate(); err != nil {
		return "", err
	}
	return "H#" + conn.Tenant + "#" + conn.SSO, nil
}

// healthSK orders a connection's buckets by hour: health.HourKey, then the
// instance.
func healthSK(hour time.Time, instance string) string { return health.HourKey(hour) + "#" + instance }

var _ health.Store = (*Store)(nil)

// validInstance keeps instance ids to what fits a sort key unambiguously.
func validInstance(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// PutHealth implements health.Store: each bucket is one PutItem of a
// BatchWriteItem (25 to a call), replacing the instance's item for that
// hour. An item is under 1 KB (one write capacity unit); its ttl removes it
// health.Retention after its hour.
func (s *Store) PutHealth(ctx context.Context, buckets []health.Bucket) error {
	reqs := make([]types.WriteRequest, 0, len(buckets))
	for _, b := range buckets {
		item, err := healthItem(b)
		if err != nil {
			return fmt.Errorf("put health: %w", err)
		}
		reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: item}})
	}
	for len(reqs) > 0 {
		chunk := reqs[:min(len(reqs), maxBatchWrite)]
		reqs = reqs[len(chunk):]
		for attempt := 1; len(chunk) > 0; attempt++ {
			out, err := s.db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{
				RequestItems: map[string][]types.WriteRequest{s.table: chunk},
			})
			if err != nil {
				return fmt.Errorf("put health: %w", err)
			}
			chunk = out.UnprocessedItems[s.table]
			if len(chunk) == 0 {
				break
			}
			if attempt >= maxBatchAttempts {
				return fmt.Errorf("put health: %d buckets still unprocessed after %d attempts", len(chunk), attempt)
			}
			if err := s.backoff(ctx, attempt); err != nil {
				return fmt.Errorf("put health: %w", err)
			}
		}
	}
	return nil
}

// healthItem is the item of one bucket.
func healthItem(b health.Bucket) (map[string]types.AttributeValue, error) {
	pk, err := healthPK(b.Conn)
	if err != nil {
		return nil, err
	}
	if !validInstance(b.Instance) {
		return nil, fmt.Errorf("instance id %q is not 1-64 letters, digits, - or _", b.Instance)
	}
	data, err := health.EncodeBucket(b)
	if err != nil {
		return nil, err
	}
	return map[string]types.AttributeValue{
		attrPK:             &types.AttributeValueMemberS{Value: pk},
		attrSK:             &types.AttributeValueMemberS{Value: healthSK(b.Hour, b.Instance)},
		attrType:           &types.AttributeValueMemberS{Value: HealthItemType},
		attrDoc:            &types.AttributeValueMemberS{Value: string(data)},
		ChangeTTLAttribute: &types.AttributeValueMemberN{Value: strconv.FormatInt(b.Hour.Add(time.Hour+health.Retention).Unix(), 10)},
	}, nil
}

// ListHealth implements health.Store: one Query of the connection's health
// partition from since's hour on, eventually consistent (a report is a
// flush interval stale anyway), paginated.
func (s *Store) ListHealth(ctx context.Context, conn scim.Connection, since time.Time) ([]health.Bucket, error) {
	pk, err := healthPK(conn)
	if err != nil {
		return nil, fmt.Errorf("list health: %w", err)
	}
	in := &dynamodb.QueryInput{
		TableName:              aws.String(s.table),
		KeyConditionExpression: aws.String("#pk = :pk AND #sk >= :from"),
		ExpressionAttributeNames: map[string]string{
			"#pk": attrPK, "#sk": attrSK, "#doc": attrDoc,
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk":   &types.AttributeValueMemberS{Value: pk},
			":from": &types.AttributeValueMemberS{Value: health.HourKey(since)},
		},
		ProjectionExpression: aws.String("#sk, #doc"),
	}
	var out []health.Bucket
	for {
		page, err := s.db.Query(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("list health: %w", err)
		}
		for _, item := range page.Items {
			sk, _ := item[attrSK].(*types.AttributeValueMemberS)
			doc, _ := item[attrDoc].(*types.AttributeValueMemberS)
			if sk == nil || doc == nil {
				return nil, fmt.Errorf("list health: item without sk or doc in %s", pk)
			}
			hourKey, instance, ok := strings.Cut(sk.Value, "#")
			if !ok {
				return nil, fmt.Errorf("list health: malformed sort key %q", sk.Value)
			}
			hour, err := time.Parse("2006-01-02T15Z", hourKey)
			if err != nil {
				return nil, fmt.Errorf("list health: sort key %q: %w", sk.Value, err)
			}
			b := health.Bucket{Conn: conn, Hour: hour.UTC(), Instance: instance}
			if err := health.DecodeBucket([]byte(doc.Value), &b); err != nil {
				return nil, fmt.Errorf("list health: %w", err)
			}
			out = append(out, b)
		}
		if len(page.LastEvaluatedKey) == 0 {
			return out, nil
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
	}
}
