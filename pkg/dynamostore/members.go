package dynamostore

import (
	"context"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/scimgate/scimgate/pkg/scim"
)

// validMemberID reports whether id can be a user's key at all; anything
// else cannot name a user and is refused or ignored without a request.
func validMemberID(id string) bool {
	return id != "" && len(resourceSK(scim.UserResource, id)) <= maxKeyBytes
}

// dedupeMembers makes both lists free of repeats, because a transaction may
// not touch one item twice. An id in both lists is only removed: removals
// come after additions (scim.Store.ModifyMembers). A repeated addition keeps
// the last display. Ids that cannot be users are unknown members when
// added and ignored when removed (removing a non-member is a no-op).
func dedupeMembers(add []scim.Member, remove []string) ([]scim.Member, []string, error) {
	removing := make(map[string]bool, len(remove))
	var rm []string
	for _, id := range remove {
		if validMemberID(id) && !removing[id] {
			removing[id] = true
			rm = append(rm, id)
		}
	}
	at := make(map[string]int, len(add))
	var ad []scim.Member
	for _, m := range add {
		if !validMemberID(m.Value) {
			return nil, nil, scim.UnknownMemberError(m.Value)
		}
		if removing[m.Value] {
			continue
		}
		if i, ok := at[m.Value]; ok {
			ad[i] = m
			continue
		}
		at[m.Value] = len(ad)
		ad = append(ad, m)
	}
	return ad, rm, nil
}

// memberAdd is the pair of writes that makes user m a member of group gid:
// the member item, and gid added to the user's grp set. The user update's
// condition is also the check that m is a live user of this connection.
func (s *Store) memberAdd(pk string, conn scim.Connection, gid string, m scim.Member) []txItem {
	item := key(membersPK(conn, gid), m.Value)
	if m.Display != "" {
		item[attrDisplay] = str(m.Display)
	}
	return []txItem{
		{write: putItem(s.tableName(), item, "", nil, nil)},
		{role: roleMemberAdd, id: m.Value, write: updateItem(s.tableName(), key(pk, resourceSK(scim.UserResource, m.Value)),
			"ADD #grp :g", "attribute_exists(#pk)", names(attrGroups, attrPK),
			map[string]types.AttributeValue{":g": strSet(gid)})},
	}
}

// memberRemove is the pair of writes that ends user id's membership of gid.
func (s *Store) memberRemove(pk string, conn scim.Connection, gid, id string) []txItem {
	return []txItem{
		{write: deleteItem(s.tableName(), key(membersPK(conn, gid), id), "", nil, nil)},
		{role: roleMemberRemove, id: id, write: updateItem(s.tableName(), key(pk, resourceSK(scim.UserResource, id)),
			"DELETE #grp :g", "attribute_exists(#pk)", names(attrGroups, attrPK),
			map[string]types.AttributeValue{":g": strSet(gid)})},
	}
}

// groupCheck is a condition on the group item written nowhere else.
func (s *Store) groupCheck(pk, gid, cond string, n map[string]string, values map[string]types.AttributeValue) txItem {
	return txItem{role: roleGroupCheck, write: types.TransactWriteItem{ConditionCheck: &types.ConditionCheck{
		TableName: s.tableName(), Key: key(pk, resourceSK(scim.GroupResource, gid)),
		ConditionExpression: aws.String(cond), ExpressionAttributeNames: n, ExpressionAttributeValues: values,
	}}}
}

// groupExists keeps membership chunks from writing into a group that was deleted meanwhile.
func (s *Store) groupExists(pk, gid string) txItem {
	return s.groupCheck(pk, gid, "attribute_exists(#pk)", names(attrPK), nil)
}

// applyMembers writes membership changes in transactions of at most 100
// items. head (the group's own update) goes into the first transaction;
// every later one (or every one, without head) carries check. A failed
// condition of head or check is returned for the caller to explain, with
// nothing of that transaction applied. An unknown added user is
// scim.UnknownMemberError. A removed id that is not a live user keeps only
// its member-item delete and the transaction is retried.
func (s *Store) applyMembers(ctx context.Context, pk string, conn scim.Connection, gid string, head []txItem, check txItem, add []scim.Member, remove []string) ([]condFailure, error) {
	op := "modify members"
	var pairs [][]txItem
	for _, m := range add {
		pairs = append(pairs, s.memberAdd(pk, conn, gid, m))
	}
	for _, id := range remove {
		pairs = append(pairs, s.memberRemove(pk, conn, gid, id))
	}
	first := true
	for first || len(pairs) > 0 {
		fixed := []txItem{check}
		if first && len(head) > 0 {
			fixed = head
		}
		first = false
		reserve := 0
		if chunkRecordsGroup(ctx) != nil {
			reserve = maxRecordItemsPerChunk // this chunk's membership records (changes.go)
		}
		take := min(len(pairs), (maxTransactItems-len(fixed)-reserve)/2)
		chunk := pairs[:take]
		for {
			items := slices.Clone(fixed)
			for _, p := range chunk {
				items = append(items, p...)
			}
			recItems, err := s.chunkRecordItems(ctx, chunk)
			if err != nil {
				return nil, err
			}
			items = append(items, recItems...)
			failures, err := s.transact(ctx, op, items)
			if err != nil {
				return nil, err
			}
			if len(failures) == 0 {
				break
			}
			for _, f := range failures {
				if f.index < len(fixed) {
					return failures, nil // head or check: nothing of this chunk was applied
				}
			}
			var notUsers []string
			for _, f := range failures {
				switch f.role {
				case roleMemberAdd:
					return nil, scim.UnknownMemberError(f.id)
				case roleMemberRemove:
					notUsers = append(notUsers, f.id)
				default:
					return nil, fmt.Errorf("%s: unexpected condition failure at item %d", op, f.index)
				}
			}
			dropped := false
			for i, p := range chunk {
				if len(p) == 2 && slices.Contains(notUsers, p[1].id) {
					chunk[i] = p[:1]
					dropped = true
				}
			}
			if !dropped {
				return nil, fmt.Errorf("%s: removal of %v failed again", op, notUsers)
			}
		}
		pairs = pairs[take:]
	}
	return nil, nil
}

// verifyUsers checks with consistent BatchGetItem reads that every member
// is a live user, so that a change too large for one transaction fails
// before anything is written.
func (s *Store) verifyUsers(ctx context.Context, pk string, members []scim.Member) error {
	found := make(map[string]bool, len(members))
	for chunk := range slices.Chunk(members, 100) {
		keys := make([]map[string]types.AttributeValue, 0, len(chunk))
		for _, m := range chunk {
			keys = append(keys, key(pk, resourceSK(scim.UserResource, m.Value)))
		}
		request := map[string]types.KeysAndAttributes{s.table: {
			Keys: keys, ConsistentRead: aws.Bool(true),
			ProjectionExpression: aws.String("#sk"), ExpressionAttributeNames: names(attrSK),
		}}
		for attempt := 1; len(request) > 0; attempt++ {
			out, err := s.db.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: request})
			if err != nil {
				return fmt.Errorf("verify members: %w", err)
			}
			for _, item := range out.Responses[s.table] {
				if sk, ok := item[attrSK].(*types.AttributeValueMemberS); ok {
					found[sk.Value[len("U#"):]] = true
				}
			}
			request = out.UnprocessedKeys
			if len(request) > 0 {
				// Unprocessed keys mean throttling; back off as the AWS docs advise.
				// https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchGetItem.html
				if err := s.backoff(ctx, min(attempt, 6)); err != nil {
					return fmt.Errorf("verify members: %w", err)
				}
			}
		}
	}
	for _, m := range members {
		if !found[m.Value] {
			return scim.UnknownMemberError(m.Value)
		}
	}
	return nil
}

// memberIDs lists the user ids of a group's members.
func (s *Store) memberIDs(ctx context.Context, conn scim.Connection, gid, op string) ([]string, error) {
	var ids []string
	err := s.queryMembers(ctx, conn, gid, true, 0, op, func(item map[string]types.AttributeValue) {
		if sk, ok := item[attrSK].(*types.AttributeValueMemberS); ok {
			ids = append(ids, sk.Value)
		}
	})
	return ids, err
}

// members loads at most limit of a group's members, in user id order.
func (s *Store) members(ctx context.Context, conn scim.Connection, gid string, limit int, op string) ([]scim.Member, error) {
	members := []scim.Member{}
	err := s.queryMembers(ctx, conn, gid, false, limit, op, func(item map[string]types.AttributeValue) {
		var m scim.Member
		if sk, ok := item[attrSK].(*types.AttributeValueMemberS); ok {
			m.Value = sk.Value
		}
		if d, ok := item[attrDisplay].(*types.AttributeValueMemberS); ok {
			m.Display = d.Value
		}
		members = append(members, m)
	})
	return members, err
}

// queryMembers calls each for the group's member items, at most limit of
// them (0: all).
func (s *Store) queryMembers(ctx context.Context, conn scim.Connection, gid string, keysOnly bool, limit int, op string, each func(map[string]types.AttributeValue)) error {
	in := &dynamodb.QueryInput{
		TableName:                 s.tableName(),
		KeyConditionExpression:    aws.String("#pk = :pk"),
		ExpressionAttributeNames:  names(attrPK),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(membersPK(conn, gid))},
		ConsistentRead:            aws.Bool(true),
	}
	if keysOnly {
		in.ProjectionExpression = aws.String("#sk")
		in.ExpressionAttributeNames = names(attrPK, attrSK)
	}
	seen := 0
	for {
		if limit > 0 {
			in.Limit = aws.Int32(int32(limit - seen))
		}
		out, err := s.db.Query(ctx, in)
		if err != nil {
			return fmt.Errorf("%s: query members of group %s: %w", op, gid, err)
		}
		for _, item := range out.Items {
			each(item)
		}
		seen += len(out.Items)
		if len(out.LastEvaluatedKey) == 0 || (limit > 0 && seen >= limit) {
			return nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// ModifyMembers updates the group item (conditional on prevVersion) in the
// first transaction together with as many member changes as fit, the rest
// in further transactions of up to 49 changes each. A change that needs more
// than one transaction verifies the added users first (docs/dynamodb.md).
func (s *Store) ModifyMembers(ctx context.Context, group *scim.Resource, prevVersion int64, add []scim.Member, remove []string) error {
	if group.Type != scim.GroupResource {
		return fmt.Errorf("modify members of %s: not a group", group)
	}
	add, remove, err := dedupeMembers(add, remove)
	if err != nil {
		return err
	}
	if len(add) == 0 && len(remove) == 0 {
		return s.Replace(ctx, group, prevVersion)
	}
	pk, rec, err := writableRecord(group)
	if err != nil {
		return err
	}
	verified := false
	var old *record
	// Second round only when the first showed that displayName or
	// externalId change, and so the guards must move as well.
	// The group's own change (a rename with the members) goes with the head.
	recs, err := scim.JournalFrom(ctx).Replaced(group)
	if err != nil {
		return err
	}
	own, err := s.recordPuts(recs)
	if err != nil {
		return err
	}
	ctx = withChunkRecords(ctx, group)
	for range 2 {
		head := append(s.resourceUpdate(pk, rec, prevVersion, old), own...)
		if !verified && len(add) > 0 && len(head)+2*(len(add)+len(remove)) > maxTransactItems {
			if err := s.verifyUsers(ctx, pk, add); err != nil {
				return err
			}
			verified = true
		}
		failures, err := s.applyMembers(ctx, pk, group.Conn, group.ID, head, s.groupExists(pk, group.ID), add, remove)
		if err != nil || len(failures) == 0 {
			return err
		}
		for _, f := range failures {
			if f.role == roleGroupCheck {
				return scim.NotFoundError(scim.GroupResource, group.ID)
			}
		}
		if old != nil {
			return updateFailure(group, prevVersion, failures)
		}
		var resourceFailed *condFailure
		for i := range failures {
			if failures[i].role == roleResource {
				resourceFailed = &failures[i]
			}
		}
		if resourceFailed == nil {
			return updateFailure(group, prevVersion, failures)
		}
		if old, err = classifyUpdate(group.Type, group.ID, prevVersion, resourceFailed.old); err != nil {
			return err
		}
	}
	return fmt.Errorf("modify members of %s: unexpected second key change", group)
}
