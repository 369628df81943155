package dynamostore

import (
	"context"
	"fmt"
	"strings"

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
//     item: the group item is the only way to find its member partition,
//     so it goes only once its members are confirmed gone (BatchWriteItem
//     is not atomic, so never in the same batch as them);
//  2. every other item of the connection's partition (users, archives,
//     guards, counters, tokens), the connection item excepted;
//  3. the connection's change records (E#<conn>) and cursors (EC#<conn>);
//  4. the directory entry and the connection item, in one transaction:
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

	// 1. Groups with their members, the members of several groups erased
	// together and then the groups they belonged to.
	var members, drained []doomed
	flush := func() error {
		if err := s.erase(ctx, members, &p, op); err != nil {
			return err
		}
		members = nil
		if err := s.erase(ctx, drained, &p, op); err != nil {
			return err
		}
		drained = nil
		return nil
	}
	groups := &dynamodb.QueryInput{
		TableName:                 s.tableName(),
		KeyConditionExpression:    aws.String("#pk = :pk AND begins_with(#sk, :prefix)"),
		ProjectionExpression:      aws.String("#pk, #sk, #id"),
		ExpressionAttributeNames:  names(attrPK, attrSK, attrID),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(pk), ":prefix": str(resourceSK(scim.GroupResource, ""))},
		ConsistentRead:            aws.Bool(true),
		// A step erases at most batch groups: reading more would be paid for
		// (a Query costs the full size of the items read, projection or not)
		// and read again by the next step.
		Limit: aws.Int32(int32(batch)),
	}
	for {
		out, err := s.db.Query(ctx, groups)
		if err != nil {
			return p, fmt.Errorf("%s: list groups: %w", op, err)
		}
		for _, g := range out.Items {
			left := batch - p.Deleted - len(members) - len(drained)
			if id, ok := g[attrID].(*types.AttributeValueMemberS); ok {
				keys, more, err := s.queryKeys(ctx, membersPK(conn, id.Value), left, nil, op)
				if err != nil {
					return p, err
				}
				members = append(members, keys...)
				if left -= len(keys); more || left == 0 {
					return p, flush()
				}
			}
			drained = append(drained, doomedItem(g))
			if left == 1 {
				return p, flush()
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			break
		}
		groups.ExclusiveStartKey = out.LastEvaluatedKey
	}
	if err := flush(); err != nil {
		return p, err
	}

	// 2. The rest of the partition but the connection item.
	rest, more, err := s.queryKeys(ctx, pk, batch-p.Deleted, func(sk string) bool { return sk != connectionSK }, op)
	if err != nil {
		return p, err
	}
	if err := s.erase(ctx, rest, &p, op); err != nil || more || batch-p.Deleted < 2 {
		return p, err
	}

	// The connection's change records and delivery cursors: a purge erases
	// its history too (docs/events.md). Before the connection item, so an
	// interrupted purge is still found and finishes them.
	for _, partition := range []string{"E#" + conn.Tenant + "#" + conn.SSO, "EC#" + conn.Tenant + "#" + conn.SSO} {
		keys, more, err := s.queryKeys(ctx, partition, batch-p.Deleted, nil, op)
		if err != nil {
			return p, err
		}
		if err := s.erase(ctx, keys, &p, op); err != nil || more || batch-p.Deleted < 2 {
			return p, err
		}
	}

	// 4. The connection: its directory entry and item together.
	failures, err := s.transact(ctx, op, []txItem{
		{write: deleteItem(s.tableName(), key(directoryPK, directorySK(conn)), "", nil, nil)},
		{write: deleteItem(s.tableName(), key(pk, connectionSK), "attribute_exists(#pk)", names(attrPK), nil)},
	})
	if err != nil {
		return p, err
	}
	if len(failures) == 0 {
		p.Erased.Other += 2
		p.Deleted += 2
	} else if err := s.eraseKeys(ctx, []map[string]types.AttributeValue{key(directoryPK, directorySK(conn))}, op); err != nil {
		// The connection item is gone already: only a directory entry can be left.
		return p, err
	}
	p.Done = true
	return p, nil
}

// doomed is an item a purge erases.
type doomed struct {
	key    map[string]types.AttributeValue
	pk, sk string
}

func doomedItem(item map[string]types.AttributeValue) doomed {
	d := doomed{key: map[string]types.AttributeValue{attrPK: item[attrPK], attrSK: item[attrSK]}}
	if v, ok := item[attrPK].(*types.AttributeValueMemberS); ok {
		d.pk = v.Value
	}
	if v, ok := item[attrSK].(*types.AttributeValueMemberS); ok {
		d.sk = v.Value
	}
	return d
}

// queryKeys returns up to limit items of partition pk (those keep accepts,
// all when nil), and whether the partition may hold more.
func (s *Store) queryKeys(ctx context.Context, pk string, limit int, keep func(sk string) bool, op string) ([]doomed, bool, error) {
	in := &dynamodb.QueryInput{
		TableName:                 s.tableName(),
		KeyConditionExpression:    aws.String("#pk = :pk"),
		ProjectionExpression:      aws.String("#pk, #sk"),
		ExpressionAttributeNames:  names(attrPK, attrSK),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(pk)},
		ConsistentRead:            aws.Bool(true),
	}
	var found []doomed
	for len(found) < limit {
		// One more than needed: for the item keep may pass over, and to
		// tell whether more follow.
		in.Limit = aws.Int32(int32(limit - len(found) + 1))
		out, err := s.db.Query(ctx, in)
		if err != nil {
			return nil, false, fmt.Errorf("%s: query %s: %w", op, pk, err)
		}
		for _, item := range out.Items {
			d := doomedItem(item)
			if keep != nil && !keep(d.sk) {
				continue
			}
			if len(found) == limit {
				return found, true, nil // the budget is spent; this item is left for the next step
			}
			found = append(found, d)
		}
		if len(out.LastEvaluatedKey) == 0 {
			return found, false, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
	return found, true, nil
}

// erase deletes items and counts them into p.
func (s *Store) erase(ctx context.Context, items []doomed, p *auth.PurgeProgress, op string) error {
	keys := make([]map[string]types.AttributeValue, len(items))
	for i, d := range items {
		keys[i] = d.key
	}
	if err := s.eraseKeys(ctx, keys, op); err != nil {
		return err
	}
	for _, d := range items {
		countErased(&p.Erased, d.pk, d.sk)
	}
	p.Deleted += len(items)
	return nil
}

// countErased counts an erased item by what its key says it is.
func countErased(c *auth.PurgeCounts, pk, sk string) {
	switch {
	case strings.HasPrefix(pk, "M#"):
		c.Members++
	case strings.HasPrefix(sk, resourceSK(scim.UserResource, "")), strings.HasPrefix(sk, archiveSK(scim.UserResource, "")):
		c.Users++
	case strings.HasPrefix(sk, resourceSK(scim.GroupResource, "")), strings.HasPrefix(sk, archiveSK(scim.GroupResource, "")):
		c.Groups++
	case strings.HasPrefix(sk, tokenPrefix):
		c.Tokens++
	default:
		c.Other++
	}
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
