package dynamostore

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/scimgate/scimgate/pkg/auth"
	"github.com/scimgate/scimgate/pkg/scim"
)

// maxBatchWrite is DynamoDB's limit of requests per BatchWriteItem.
// https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchWriteItem.html
const maxBatchWrite = 25

// PurgeConnection erases at most batch items per call, in an order that
// makes every call safe to repeat after a crash (deleting is idempotent and
// nothing is erased before what leads to it):
//  1. each live group's member partition (M#<conn>#<id>), then the group
//     item: the group item is the only way to find its member partition;
//  2. every other item of the connection's partition (users, archives,
//     guards, counters, tokens), the connection item excepted;
//  3. the directory entry and the connection item, in one transaction:
//     while the connection item exists the purge is unfinished and
//     LookupConnection finds it.
func (s *Store) PurgeConnection(ctx context.Context, conn scim.Connection, batch int) (auth.PurgeProgress, error) {
	const op = "purge connection"
	pk, err := connPK(conn)
	if err != nil {
		return auth.PurgeProgress{}, err
	}
	if batch < 2 {
		return auth.PurgeProgress{}, fmt.Errorf("%s %s: batch must be at least 2, not %d", op, conn, batch)
	}
	var p auth.PurgeProgress

	// 1. Groups with their members.
	groups := &dynamodb.QueryInput{
		TableName:                 s.tableName(),
		KeyConditionExpression:    aws.String("#pk = :pk AND begins_with(#sk, :prefix)"),
		ProjectionExpression:      aws.String("#pk, #sk, #id"),
		ExpressionAttributeNames:  names(attrPK, attrSK, attrID),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(pk), ":prefix": str(resourceSK(scim.GroupResource, ""))},
		ConsistentRead:            aws.Bool(true),
	}
	for {
		out, err := s.db.Query(ctx, groups)
		if err != nil {
			return p, fmt.Errorf("%s: list groups: %w", op, err)
		}
		for _, g := range out.Items {
			id, _ := g[attrID].(*types.AttributeValueMemberS)
			if id != nil {
				n, more, err := s.eraseQueried(ctx, membersPK(conn, id.Value), batch-p.Deleted, nil, op)
				p.Deleted += n
				if err != nil || more || p.Deleted >= batch {
					return p, err
				}
			}
			if err := s.eraseKeys(ctx, []map[string]types.AttributeValue{{attrPK: g[attrPK], attrSK: g[attrSK]}}, op); err != nil {
				return p, err
			}
			p.Deleted++
			if p.Deleted >= batch {
				return p, nil
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			break
		}
		groups.ExclusiveStartKey = out.LastEvaluatedKey
	}

	// 2. The rest of the partition but the connection item.
	n, more, err := s.eraseQueried(ctx, pk, batch-p.Deleted, func(sk string) bool { return sk != connectionSK }, op)
	p.Deleted += n
	if err != nil || more || batch-p.Deleted < 2 {
		return p, err
	}

	// 3. The connection: its directory entry and item together.
	failures, err := s.transact(ctx, op, []txItem{
		{write: deleteItem(s.tableName(), key(directoryPK, directorySK(conn)), "", nil, nil)},
		{write: deleteItem(s.tableName(), key(pk, connectionSK), "attribute_exists(#pk)", names(attrPK), nil)},
	})
	if err != nil {
		return p, err
	}
	if len(failures) == 0 {
		p.Deleted += 2
	} else if err := s.eraseKeys(ctx, []map[string]types.AttributeValue{key(directoryPK, directorySK(conn))}, op); err != nil {
		// The connection item is gone already: only a directory entry can be left.
		return p, err
	}
	p.Done = true
	return p, nil
}

// eraseQueried deletes up to limit items of partition pk (those keep
// accepts, all when nil), reporting how many it deleted and whether the
// partition may hold more.
func (s *Store) eraseQueried(ctx context.Context, pk string, limit int, keep func(sk string) bool, op string) (int, bool, error) {
	in := &dynamodb.QueryInput{
		TableName:                 s.tableName(),
		KeyConditionExpression:    aws.String("#pk = :pk"),
		ProjectionExpression:      aws.String("#pk, #sk"),
		ExpressionAttributeNames:  names(attrPK, attrSK),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(pk)},
		ConsistentRead:            aws.Bool(true),
	}
	deleted := 0
	for deleted < limit {
		// One more than needed, for the item keep may pass over.
		in.Limit = aws.Int32(int32(limit - deleted + 1))
		out, err := s.db.Query(ctx, in)
		if err != nil {
			return deleted, false, fmt.Errorf("%s: query %s: %w", op, pk, err)
		}
		var keys []map[string]types.AttributeValue
		for _, item := range out.Items {
			sk, _ := item[attrSK].(*types.AttributeValueMemberS)
			if sk == nil || (keep != nil && !keep(sk.Value)) {
				continue
			}
			if len(keys) == limit-deleted {
				// The budget is spent and this item is left for the next call.
				if err := s.eraseKeys(ctx, keys, op); err != nil {
					return deleted, false, err
				}
				return limit, true, nil
			}
			keys = append(keys, map[string]types.AttributeValue{attrPK: item[attrPK], attrSK: item[attrSK]})
		}
		if err := s.eraseKeys(ctx, keys, op); err != nil {
			return deleted, false, err
		}
		deleted += len(keys)
		if len(out.LastEvaluatedKey) == 0 {
			return deleted, false, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
	return deleted, true, nil
}

// eraseKeys deletes items with BatchWriteItem, 25 at a time, retrying
// what DynamoDB leaves unprocessed.
func (s *Store) eraseKeys(ctx context.Context, keys []map[string]types.AttributeValue, op string) error {
	for len(keys) > 0 {
		chunk := keys[:min(len(keys), maxBatchWrite)]
		keys = keys[len(chunk):]
		reqs := make([]types.WriteRequest, len(chunk))
		for i, k := range chunk {
			reqs[i] = types.WriteRequest{DeleteRequest: &types.DeleteRequest{Key: k}}
		}
		for attempt := 1; len(reqs) > 0; attempt++ {
			out, err := s.db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{
				RequestItems: map[string][]types.WriteRequest{s.table: reqs},
			})
			if err != nil {
				return fmt.Errorf("%s: delete items: %w", op, err)
			}
			reqs = out.UnprocessedItems[s.table]
			if len(reqs) == 0 {
				break
			}
			if attempt >= maxBatchAttempts {
				return fmt.Errorf("%s: %d deletes still unprocessed after %d attempts", op, len(reqs), attempt)
			}
			if err := s.backoff(ctx, attempt); err != nil {
				return fmt.Errorf("%s: %w", op, err)
			}
		}
	}
	return nil
}
