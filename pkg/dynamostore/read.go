package dynamostore

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/scimgate/scimgate/pkg/scim"
)

// Every read is strongly consistent: an IdP reads back what it has just
// written (Okta creates a user, then PATCHes it within the second), and an
// eventually consistent read could miss it.
// https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/HowItWorks.ReadConsistency.html

// getItem returns the item at pk/sk, or nil when there is none.
func (s *Store) getItem(ctx context.Context, pk, sk, op string) (map[string]types.AttributeValue, error) {
	if len(sk) > maxKeyBytes {
		return nil, nil // no item can have a key DynamoDB would refuse
	}
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: s.tableName(), Key: key(pk, sk), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	if len(out.Item) == 0 {
		return nil, nil
	}
	return out.Item, nil
}

// getRecord reads a live user or group item.
func (s *Store) getRecord(ctx context.Context, pk string, typ scim.ResourceType, id, op string) (*record, error) {
	item, err := s.getItem(ctx, pk, resourceSK(typ, id), op)
	if err != nil {
		return nil, err
	}
	if item == nil {
		return nil, scim.NotFoundError(typ, id)
	}
	rec, err := decodeRecord(item)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return rec, nil
}

func (s *Store) get(ctx context.Context, conn scim.Connection, pk string, typ scim.ResourceType, id string, withMembers bool, op string) (*scim.Resource, error) {
	var rec *record
	var err error
	if typ == scim.UserResource || withMembers {
		// A user shows its groups, a group its members: both may be
		// mid-way through a chunked change, which is completed first.
		rec, err = s.readLive(ctx, pk, conn, typ, id, op)
	} else {
		rec, err = s.getRecord(ctx, pk, typ, id, op)
		if err == nil && rec.Pend != "" {
			// An open membership change of this group: complete it first,
			// so that a write based on this read follows it.
			if err := s.rollForward(ctx, pk, conn, intentSK(typ, id)); err != nil {
				return nil, err
			}
			rec, err = s.getRecord(ctx, pk, typ, id, op)
		}
	}
	if err != nil {
		return nil, err
	}
	return s.resource(ctx, conn, rec, withMembers, op)
}

func (s *Store) resource(ctx context.Context, conn scim.Connection, rec *record, withMembers bool, op string) (*scim.Resource, error) {
	r, err := rec.resource(conn)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	if withMembers && r.Type == scim.GroupResource {
		if r.Members, err = s.members(ctx, conn, r.ID, s.memberReadLimit, op); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Get is one GetItem; a group's members add one Query per 1 MB of members.
func (s *Store) Get(ctx context.Context, conn scim.Connection, typ scim.ResourceType, id string, withMembers bool) (*scim.Resource, error) {
	pk, err := connPK(conn)
	if err != nil {
		return nil, err
	}
	return s.get(ctx, conn, pk, typ, id, withMembers, "get "+noun(typ))
}

// FindByName reads the name guard, then the resource it points to.
func (s *Store) FindByName(ctx context.Context, conn scim.Connection, typ scim.ResourceType, name string, withMembers bool) (*scim.Resource, error) {
	return s.findByGuard(ctx, conn, typ, nameGuardSK(typ, name), name, withMembers, "find "+noun(typ)+" by name")
}

// FindByExternalID reads the externalId guard, then the resource it points to.
func (s *Store) FindByExternalID(ctx context.Context, conn scim.Connection, typ scim.ResourceType, externalID string, withMembers bool) (*scim.Resource, error) {
	if externalID == "" {
		return nil, scim.NotFoundError(typ, externalID) // empty externalIds have no guard and never match
	}
	return s.findByGuard(ctx, conn, typ, extGuardSK(typ, externalID), externalID, withMembers, "find "+noun(typ)+" by externalId")
}

func (s *Store) findByGuard(ctx context.Context, conn scim.Connection, typ scim.ResourceType, guardSK, value string, withMembers bool, op string) (*scim.Resource, error) {
	pk, err := connPK(conn)
	if err != nil {
		return nil, err
	}
	guard, err := s.getItem(ctx, pk, guardSK, op)
	if err != nil {
		return nil, err
	}
	owner, ok := guard[attrOwner].(*types.AttributeValueMemberS)
	if !ok {
		return nil, scim.NotFoundError(typ, value)
	}
	r, err := s.get(ctx, conn, pk, typ, owner.Value, withMembers, op)
	if scim.IsNotFound(err) {
		// Deleted between the two reads: not found under the name asked for.
		return nil, scim.NotFoundError(typ, value)
	}
	return r, err
}

// List queries one page in id order. Offset is skipped with COUNT queries
// (no items returned, https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_Query.html#DDB-Query-request-Select),
// and Total comes from the connection's counter shards: a page costs one
// Query for the count and one per 1 MB of page, whatever the connection's size.
func (s *Store) List(ctx context.Context, conn scim.Connection, typ scim.ResourceType, opts scim.ListOptions) (*scim.ListResult, error) {
	op := "list " + noun(typ) + "s"
	pk, err := connPK(conn)
	if err != nil {
		return nil, err
	}
	res := &scim.ListResult{Resources: []*scim.Resource{}}
	var pending []string
	if res.Total, pending, err = s.count(ctx, pk, typ, op); err != nil {
		return nil, err
	}
	if len(pending) > 0 && (typ == scim.UserResource || opts.WithMembers) {
		// Complete half-applied changes before showing groups or members.
		if err := s.sweep(ctx, pk, conn, pending); err != nil {
			return nil, err
		}
		if res.Total, _, err = s.count(ctx, pk, typ, op); err != nil {
			return nil, err
		}
	}

	page := &dynamodb.QueryInput{
		TableName:                s.tableName(),
		KeyConditionExpression:   aws.String("#pk = :pk AND begins_with(#sk, :prefix)"),
		ExpressionAttributeNames: names(attrPK, attrSK),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": str(pk), ":prefix": str(typeLetter(typ) + "#"),
		},
		ConsistentRead: aws.Bool(true),
	}
	if opts.After != "" {
		after := resourceSK(typ, opts.After)
		if len(after) > maxKeyBytes {
			return res, nil
		}
		page.ExclusiveStartKey = key(pk, after)
	}

	// count runs COUNT queries until n items are passed or the type's items
	// end; it reports how many it passed and whether more may follow.
	count := func(n int) (int, bool, error) {
		passed := 0
		for passed < n {
			in := *page
			in.Select = types.SelectCount
			in.Limit = aws.Int32(int32(min(n-passed, 1<<30)))
			out, err := s.db.Query(ctx, &in)
			if err != nil {
				return passed, false, fmt.Errorf("%s: %w", op, err)
			}
			passed += int(out.Count)
			if len(out.LastEvaluatedKey) == 0 {
				return passed, false, nil
			}
			page.ExclusiveStartKey = out.LastEvaluatedKey
		}
		return passed, true, nil
	}
	if opts.Offset > 0 {
		_, open, err := count(opts.Offset)
		if err != nil || !open {
			return res, err
		}
	}
	if opts.Limit <= 0 {
		n, _, err := count(1)
		res.More = n > 0
		return res, err
	}

	// One item beyond the page tells whether more follow.
	want := opts.Limit + 1
	var items []map[string]types.AttributeValue
	for len(items) < want {
		in := *page
		in.Limit = aws.Int32(int32(min(want-len(items), 1<<30)))
		out, err := s.db.Query(ctx, &in)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		items = append(items, out.Items...)
		if len(out.LastEvaluatedKey) == 0 {
			break
		}
		page.ExclusiveStartKey = out.LastEvaluatedKey
	}
	if len(items) > opts.Limit {
		res.More = true
		items = items[:opts.Limit]
	}
	for _, item := range items {
		rec, err := decodeRecord(item)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		r, err := s.resource(ctx, conn, rec, opts.WithMembers, op)
		if err != nil {
			return nil, err
		}
		res.Resources = append(res.Resources, r)
	}
	return res, nil
}

// count sums typ's counter shards in pk and returns the connection's
// pending intents with them: one Query of at most 33 small items.
func (s *Store) count(ctx context.Context, pk string, typ scim.ResourceType, op string) (int, []string, error) {
	out, err := s.db.Query(ctx, &dynamodb.QueryInput{
		TableName:                s.tableName(),
		KeyConditionExpression:   aws.String("#pk = :pk AND begins_with(#sk, :prefix)"),
		ExpressionAttributeNames: names(attrPK, attrSK),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": str(pk), ":prefix": str("N#"),
		},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return 0, nil, fmt.Errorf("%s: count: %w", op, err)
	}
	total := 0
	var pending []string
	for _, item := range out.Items {
		sk, _ := item[attrSK].(*types.AttributeValueMemberS)
		if sk != nil && sk.Value == pendingSK {
			pending = pendingOf(item)
			continue
		}
		if sk == nil || !strings.HasPrefix(sk.Value, counterPrefix(typ)) {
			continue
		}
		n, ok := item[attrCount].(*types.AttributeValueMemberN)
		if !ok {
			continue
		}
		var shard int
		if _, err := fmt.Sscan(n.Value, &shard); err != nil {
			return 0, nil, fmt.Errorf("%s: decode counter %q: %w", op, n.Value, err)
		}
		total += shard
	}
	return total, pending, nil
}
