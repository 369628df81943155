package dynamostore

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

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
// condition is also the check that m is a live user of this connection. The
// member item's condition fails when m is a member already (with the same
// display, or m brings none): the pair is then dropped as a no-op, so that
// a repeated add changes nothing, the version included.
func (s *Store) memberAdd(pk string, conn scim.Connection, gid string, m scim.Member) []txItem {
	item := key(membersPK(conn, gid), m.Value)
	cond, values := "attribute_not_exists(#pk)", map[string]types.AttributeValue(nil)
	n := names(attrPK)
	if m.Display != "" {
		item[attrDisplay] = str(m.Display)
		// A missing display compares as false in a condition, so it is named.
		cond = "attribute_not_exists(#pk) OR attribute_not_exists(#display) OR #display <> :display"
		values = map[string]types.AttributeValue{":display": str(m.Display)}
		n = names(attrPK, attrDisplay)
	}
	return []txItem{
		{role: roleMemberItemAdd, id: m.Value, write: putItem(s.tableName(), item, cond, n, values)},
		{role: roleMemberAdd, id: m.Value, write: updateItem(s.tableName(), key(pk, resourceSK(scim.UserResource, m.Value)),
			"ADD #grp :g", "attribute_exists(#pk)", names(attrGroups, attrPK),
			map[string]types.AttributeValue{":g": strSet(gid)})},
	}
}

// memberRemove is the pair of writes that ends user id's membership of gid.
// The member item must exist: removing a non-member is a no-op and its pair
// is dropped.
func (s *Store) memberRemove(pk string, conn scim.Connection, gid, id string) []txItem {
	return []txItem{
		{role: roleMemberItemRemove, id: id, write: deleteItem(s.tableName(), key(membersPK(conn, gid), id), "attribute_exists(#pk)", names(attrPK), nil)},
		{role: roleMemberRemove, id: id, write: updateItem(s.tableName(), key(pk, resourceSK(scim.UserResource, id)),
			"DELETE #grp :g", "attribute_exists(#pk)", names(attrGroups, attrPK),
			map[string]types.AttributeValue{":g": strSet(gid)})},
	}
}

// groupCheck is a condition on the group item written nowhere else in the
// transaction. It is an update that changes nothing (SET ver = ver) rather
// than a ConditionCheck, so that the functions' IAM policies need no
// dynamodb:ConditionCheckItem for paths the replayed events never take; an
// update that changes no data writes no stream record.
func (s *Store) groupCheck(pk, gid, cond string, n map[string]string, values map[string]types.AttributeValue) txItem {
	n = maps.Clone(n)
	n["#ver"] = attrVersion
	return txItem{role: roleGroupCheck, write: updateItem(s.tableName(), key(pk, resourceSK(scim.GroupResource, gid)),
		"SET #ver = #ver", cond, n, values)}
}

// groupExists keeps membership chunks from writing into a group that was deleted meanwhile.
func (s *Store) groupExists(pk, gid string) txItem {
	return s.groupCheck(pk, gid, "attribute_exists(#pk)", names(attrPK), nil)
}

// memberChange is a membership change to be written in transactions of at
// most 100 items (applyMembers).
type memberChange struct {
	// head is the group's own update, written with the first chunk.
	head []txItem
	// headOptional: when every pair turns out to be a no-op, nothing at all
	// is written (the head only records the change in the version).
	headOptional bool
	// check goes into every later transaction (or every one, without head).
	check txItem
	// last is written with the last chunk (the end of an intent), in
	// place of check.
	last []txItem
	// tolerant: completing an intent, an added user that no longer exists
	// is skipped rather than failing (the change was accepted already).
	tolerant bool
}

// applyMembers writes membership changes in transactions of at most 100
// items. A failed condition of head, check or last is returned for the
// caller to explain, with nothing of that transaction applied. An unknown
// added user is scim.UnknownMemberError. Pairs that are no-ops (a member
// already there, a non-member removed) are dropped and the transaction is
// retried without them; a removed id that is not a live user keeps only its
// member-item delete. written reports whether anything was written.
func (s *Store) applyMembers(ctx context.Context, pk string, conn scim.Connection, gid string, mc memberChange, add []scim.Member, remove []string) (failures []condFailure, written bool, err error) {
	op := "modify members"
	var pairs [][]txItem
	for _, m := range add {
		pairs = append(pairs, s.memberAdd(pk, conn, gid, m))
	}
	for _, id := range remove {
		pairs = append(pairs, s.memberRemove(pk, conn, gid, id))
	}
	first := true
	lastDone := len(mc.last) == 0
	for first || len(pairs) > 0 || !lastDone {
		// Nothing is written past the request's deadline; the chunks
		// already written are consistent on their own (docs/dynamodb.md).
		if err := ctx.Err(); err != nil {
			return nil, written, fmt.Errorf("%s of group %s: %w", op, gid, err)
		}
		fixed := []txItem{mc.check}
		withHead := first && len(mc.head) > 0
		if withHead {
			fixed = mc.head
		}
		withLast := false
		if len(mc.last) > 0 {
			base := 0
			if withHead {
				base = len(fixed)
			}
			if 2*len(pairs) <= s.maxItems-base-len(mc.last) {
				withLast = true
				if withHead {
					fixed = append(slices.Clone(fixed), mc.last...)
				} else {
					fixed = mc.last // the intent's delete is its check
				}
			}
		}
		room := s.maxItems - len(fixed)
		room -= recordReserve(ctx) // the membership records (changes.go)
		take := min(len(pairs), room/2)
		if take == 0 && first && mc.headOptional && len(mc.last) == 0 {
			return nil, false, nil // every pair was a no-op
		}
		items := slices.Clone(fixed)
		pairOf := make([]int, len(fixed), s.maxItems)
		for i, p := range pairs[:take] {
			items = append(items, p...)
			for range p {
				pairOf = append(pairOf, i)
			}
		}
		// The records of exactly the pairs this attempt sends: a retry
		// without the no-op pairs records fewer.
		recItems, err := s.chunkRecordItems(ctx, pairs[:take])
		if err != nil {
			return nil, written, err
		}
		items = append(items, recItems...)
		failures, err := s.transact(ctx, op, items)
		if err != nil {
			return nil, written, err
		}
		if len(failures) == 0 {
			written = true
			first = false
			pairs = pairs[take:]
			lastDone = lastDone || withLast
			continue
		}
		for _, f := range failures {
			if f.index < len(fixed) {
				return failures, written, nil // head, check or last: nothing of this chunk was applied
			}
		}
		// Map the failures back to their pairs, then drop or trim them.
		drop := map[int]bool{}
		trim := map[int]bool{}
		for _, f := range failures {
			if f.index >= len(pairOf) {
				return nil, written, fmt.Errorf("%s: change record of group %s exists already", op, gid)
			}
			pair := pairOf[f.index]
			switch f.role {
			case roleMemberAdd:
				if !mc.tolerant {
					return nil, written, scim.UnknownMemberError(f.id)
				}
				drop[pair] = true
			case roleMemberItemAdd, roleMemberItemRemove:
				drop[pair] = true
			case roleMemberRemove:
				trim[pair] = true
			default:
				return nil, written, fmt.Errorf("%s: unexpected condition failure at item %d", op, f.index)
			}
		}
		var kept [][]txItem
		for i, p := range pairs {
			switch {
			case i < take && drop[i]:
			case i < take && trim[i] && len(p) == 2:
				kept = append(kept, p[:1])
			case i < take && trim[i]:
				return nil, written, fmt.Errorf("%s: removal of %s failed again", op, p[0].id)
			default:
				kept = append(kept, p)
			}
		}
		pairs = kept
	}
	return nil, written, nil
}

// verifyUsers checks with consistent BatchGetItem reads that every member
// is a live user, so that a change too large for one transaction fails
// before anything is written.
func (s *Store) verifyUsers(ctx context.Context, pk string, members []scim.Member) error {
	if cr := chunkRecordsOf(ctx); cr != nil {
		// The change's records read these users already (withChunkRecords),
		// as consistently: no second read.
		for _, m := range members {
			if _, ok := cr.users[m.Value]; !ok {
				return scim.UnknownMemberError(m.Value)
			}
		}
		return nil
	}
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
	_, err := s.modifyMembers(ctx, group, prevVersion, add, remove, false)
	return err
}

// modifyMembers is ModifyMembers; with headOptional nothing is written
// when the group's own attributes are unchanged and every member change is
// a no-op (written is false then).
func (s *Store) modifyMembers(ctx context.Context, group *scim.Resource, prevVersion int64, add []scim.Member, remove []string, headOptional bool) (written bool, err error) {
	if group.Type != scim.GroupResource {
		return false, fmt.Errorf("modify members of %s: not a group", group)
	}
	add, remove, err = dedupeMembers(add, remove)
	if err != nil {
		return false, err
	}
	if len(add) == 0 && len(remove) == 0 {
		if headOptional {
			return false, nil
		}
		return true, s.Replace(ctx, group, prevVersion)
	}
	pk, rec, err := writableRecord(group)
	if err != nil {
		return false, err
	}
	verified := false
	var old *record
	// Second round only when the first showed that displayName or
	// externalId change, and so the guards must move as well.
	// The group's own change (a rename with the members) goes with the
	// head; the membership records with each chunk (changes.go).
	recs, err := scim.JournalFrom(ctx).Replaced(group)
	if err != nil {
		return false, err
	}
	own, err := s.recordPuts(recs)
	if err != nil {
		return false, err
	}
	if ctx, err = s.withChunkRecords(ctx, pk, group, false, add, remove); err != nil {
		return false, err
	}
	recReserve := recordReserve(ctx)
	for range 2 {
		head := append(s.resourceUpdate(pk, rec, prevVersion, old), own...)
		var failures []condFailure
		var written bool
		if len(head)+2*(len(add)+len(remove))+recReserve > s.maxItems {
			// Too large for one transaction: an intent makes it all-or-nothing.
			if !verified {
				if len(add) > 0 {
					if err := s.verifyUsers(ctx, pk, add); err != nil {
						return false, err
					}
				}
				verified = true
				if add, remove, err = s.effectiveChange(ctx, group.Conn, group.ID, add, remove); err != nil {
					return false, err
				}
			}
		}
		if len(head)+2*(len(add)+len(remove))+recReserve > s.maxItems {
			failures, err = s.startMembersIntent(ctx, pk, group.Conn, group.ID, head, add, remove)
			written = len(failures) == 0 && err == nil
		} else {
			mc := memberChange{head: head, headOptional: headOptional, check: s.groupExists(pk, group.ID)}
			failures, written, err = s.applyMembers(ctx, pk, group.Conn, group.ID, mc, add, remove)
		}
		if err != nil || len(failures) == 0 {
			return written, err
		}
		for _, f := range failures {
			switch f.role {
			case roleGroupCheck:
				return written, scim.NotFoundError(scim.GroupResource, group.ID)
			case roleIntent:
				// Another chunked change of the group is open; the retry's
				// read completes it first.
				return written, scim.VersionConflictError(scim.GroupResource, group.ID)
			}
		}
		if old != nil {
			return written, updateFailure(group, prevVersion, failures)
		}
		var resourceFailed *condFailure
		for i := range failures {
			if failures[i].role == roleResource {
				resourceFailed = &failures[i]
			}
		}
		if resourceFailed == nil {
			return written, updateFailure(group, prevVersion, failures)
		}
		if old, err = classifyUpdate(group.Type, group.ID, prevVersion, resourceFailed.old); err != nil {
			return written, err
		}
	}
	return false, fmt.Errorf("modify members of %s: unexpected second key change", group)
}

// PatchMembers implements scim.Store. The group item gets no version
// condition, only an atomic increment (ADD ver 1) and must exist; each
// added member is a conditional put of its member item plus ADD grp on the
// user, each removed one a conditional delete plus DELETE grp. So
// concurrent membership changes of one group never conflict on its version;
// DynamoDB may still cancel two transactions that touch the group item at
// the same instant (TransactionConflict), which transact retries.
func (s *Store) PatchMembers(ctx context.Context, conn scim.Connection, groupID string, add []scim.Member, remove []string, at time.Time) (int64, error) {
	pk, err := connPK(conn)
	if err != nil {
		return 0, err
	}
	if !validMemberID(groupID) {
		return 0, scim.NotFoundError(scim.GroupResource, groupID)
	}
	add, remove, err = dedupeMembers(add, remove)
	if err != nil {
		return 0, err
	}
	if len(add) == 0 && len(remove) == 0 {
		return s.groupVersion(ctx, pk, groupID)
	}
	// No version condition, but no open intent either: a membership change
	// must come after (or before) a chunked one as a whole.
	bump := updateItem(s.tableName(), key(pk, resourceSK(scim.GroupResource, groupID)),
		"SET #modified = :modified ADD #ver :one", "attribute_exists(#pk) AND attribute_not_exists(#pend)",
		names(attrPK, attrModified, attrVersion, attrPend),
		map[string]types.AttributeValue{":modified": str(formatTime(at)), ":one": num(1)})
	bump.Update.ReturnValuesOnConditionCheckFailure = types.ReturnValuesOnConditionCheckFailureAllOld
	head := []txItem{{role: roleResource, write: bump}}
	// The membership records go with the change (changes.go). The version
	// after it is not known before the commit (ADD ver 1 has no condition),
	// so they carry version 0, which docs/events.md documents: order these
	// by event id.
	group := &scim.Resource{Conn: conn, Type: scim.GroupResource, ID: groupID, Version: 0, LastModified: at}
	if ctx, err = s.withChunkRecords(ctx, pk, group, true, add, remove); err != nil {
		return 0, err
	}
	recReserve := recordReserve(ctx)
	large := len(head)+2*(len(add)+len(remove))+recReserve > s.maxItems
	if large {
		if len(add) > 0 {
			if err := s.verifyUsers(ctx, pk, add); err != nil {
				return 0, err
			}
		}
		if add, remove, err = s.effectiveChange(ctx, conn, groupID, add, remove); err != nil {
			return 0, err
		}
		if len(add) == 0 && len(remove) == 0 {
			return s.groupVersion(ctx, pk, groupID)
		}
		large = len(head)+2*(len(add)+len(remove))+recReserve > s.maxItems
	}
	written := false
	for attempt := 0; ; attempt++ {
		var failures []condFailure
		written = large
		if large {
			failures, err = s.startMembersIntent(ctx, pk, conn, groupID, head, add, remove)
		} else {
			mc := memberChange{head: head, headOptional: true, check: s.groupExists(pk, groupID)}
			failures, written, err = s.applyMembers(ctx, pk, conn, groupID, mc, add, remove)
		}
		if err != nil {
			return 0, err
		}
		if len(failures) == 0 {
			break
		}
		pending := false
		for _, f := range failures {
			if f.role == roleIntent || (f.role == roleResource && len(f.old) > 0) {
				pending = true // an intent of this group is open
			}
		}
		if !pending {
			return 0, scim.NotFoundError(scim.GroupResource, groupID)
		}
		if attempt >= 3 {
			return 0, scim.UnavailableError(scim.GroupResource, groupID, "a large change to it is still being applied")
		}
		if err := s.rollForward(ctx, pk, conn, intentSK(scim.GroupResource, groupID)); err != nil {
			return 0, err
		}
	}
	if !written {
		// Only no-ops: the group must still exist for that to be true.
		return s.groupVersion(ctx, pk, groupID)
	}
	// A transaction returns no values: the version for the ETag is one
	// consistent read. The change is committed, so the read runs even past
	// the request's deadline, briefly; if it fails the answer is still a
	// success, without an ETag (version 0), not an error for a change that
	// was made.
	readCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	v, err := s.groupVersion(readCtx, pk, groupID)
	if err != nil {
		return 0, nil
	}
	return v, nil
}

// groupVersion reads a live group's version.
func (s *Store) groupVersion(ctx context.Context, pk, groupID string) (int64, error) {
	rec, err := s.getRecord(ctx, pk, scim.GroupResource, groupID, "patch members of group")
	if err != nil {
		return 0, err
	}
	return rec.Version, nil
}

// Update implements scim.Store as optimistic concurrency: read, modify,
// write conditionally on the version read, and after a lost race read and
// modify again, with jittered exponential backoff, for at most
// scim.RetryBound; then scim.EUnavailable (503 with Retry-After).
//
// Within one process, updates of the same resource queue on a lock first
// (scimgate serve handles many requests at once; a Lambda container one),
// so that they do not all collide on the version: 50 concurrent PATCHes of
// one user then cost 50 reads and 50 writes, not a storm of lost races.
func (s *Store) Update(ctx context.Context, conn scim.Connection, typ scim.ResourceType, id string, withMembers bool, modify func(cur *scim.Resource) (*scim.Change, error)) (*scim.Resource, error) {
	start := time.Now()
	unlock, err := s.updates.lock(ctx, conn.Tenant+"#"+conn.SSO+"#"+resourceSK(typ, id))
	if err != nil {
		return nil, scim.UnavailableError(typ, id, "the request ran out of time waiting for other changes to it")
	}
	defer unlock()
	for attempt := 1; ; attempt++ {
		cur, err := s.Get(ctx, conn, typ, id, withMembers)
		if err != nil {
			return nil, err
		}
		ch, err := modify(cur)
		if err != nil {
			return nil, err
		}
		if ch == nil || ch.Next == nil {
			return cur, nil
		}
		next := ch.Next
		written := true
		if ch.Members && typ == scim.GroupResource {
			written, err = s.modifyMembers(scim.WithPrevious(ctx, cur), next, cur.Version, ch.Add, ch.Remove, sameOwnAttributes(cur, next))
		} else if sameOwnAttributes(cur, next) {
			return cur, nil
		} else {
			err = s.Replace(scim.WithPrevious(ctx, cur), next, cur.Version)
		}
		if err == nil {
			if !written {
				return cur, nil
			}
			if withMembers && typ == scim.GroupResource {
				out := *next
				if out.Members, err = s.members(ctx, conn, id, s.memberReadLimit, "update group"); err != nil {
					return nil, err
				}
				return &out, nil
			}
			return next, nil
		}
		if scim.ErrorCodeOf(err) != scim.EConflict {
			return nil, err
		}
		if !s.backoffWithin(ctx, start, attempt) {
			return nil, scim.UnavailableError(typ, id, "other requests kept changing it")
		}
	}
}

// sameOwnAttributes reports whether next stores exactly what cur does.
func sameOwnAttributes(cur, next *scim.Resource) bool {
	if cur.Name != next.Name || cur.ExternalID != next.ExternalID || cur.Active != next.Active {
		return false
	}
	a, errA := json.Marshal(cur.Attributes)
	b, errB := json.Marshal(next.Attributes)
	return errA == nil && errB == nil && string(a) == string(b)
}

// stripedLock serialises work per key within the process, in a fixed
// number of stripes (bounded memory whatever the number of keys; two keys
// rarely share one). Waiting ends with the context.
type stripedLock struct {
	once    sync.Once
	stripes []chan struct{}
}

const lockStripes = 256

func (l *stripedLock) lock(ctx context.Context, key string) (unlock func(), err error) {
	l.once.Do(func() {
		l.stripes = make([]chan struct{}, lockStripes)
		for i := range l.stripes {
			l.stripes[i] = make(chan struct{}, 1)
		}
	})
	stripe := l.stripes[crc32.ChecksumIEEE([]byte(key))%lockStripes]
	select {
	case stripe <- struct{}{}:
		return func() { <-stripe }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// startMembersIntent writes the first transaction of a membership change
// too large for one: the group's own update (head, marked with the
// intent's token) and the intent recording every member change; then it
// completes the intent in chunks. Failures are head's (nothing written).
func (s *Store) startMembersIntent(ctx context.Context, pk string, conn scim.Connection, gid string, head []txItem, add []scim.Member, remove []string) ([]condFailure, error) {
	addJSON, err := encodeIntentMembers(add)
	if err != nil {
		return nil, err
	}
	in := &intent{SK: intentSK(scim.GroupResource, gid), Kind: kindMembers, Token: newToken(), ID: gid, Add: addJSON, Remove: remove}
	start, err := s.intentStart(pk, in)
	if err != nil {
		return nil, err
	}
	items := slices.Clone(head)
	items[0] = markPending(items[0], in.Token)
	items = append(items, start...)
	// Every record of the change goes into this first transaction, which
	// makes the whole change visible; the chunks that complete the intent
	// write none (complete), so a roll-forward by another request or by
	// Sweep records nothing twice.
	if group := chunkRecordsGroup(ctx); group != nil {
		added := make([]string, len(add))
		for i, m := range add {
			added[i] = m.Value
		}
		recs, err := s.memberRecords(ctx, group, added, remove)
		if err != nil {
			return nil, err
		}
		if len(items)+len(recs) > s.maxItems || putBytes(recs) > maxRecordTransactionBytes {
			return nil, scim.Errorf(scim.ETooMany, "this change touches too many memberships for one request; send it in several requests of at most a few thousand members each")
		}
		items = append(items, recs...)
	}
	failures, err := s.transact(ctx, "modify members", items)
	if err != nil || len(failures) > 0 {
		return failures, err
	}
	return nil, s.complete(ctx, pk, conn, in)
}

// markPending adds "pend = tok" to the group update of a transaction, on
// condition that no other intent of the group is open.
func markPending(it txItem, tok string) txItem {
	u := *it.write.Update
	expr := aws.ToString(u.UpdateExpression)
	if rest, ok := strings.CutPrefix(expr, "SET "); ok {
		expr = "SET #pend = :tok, " + rest
	} else {
		expr = "SET #pend = :tok " + expr
	}
	u.UpdateExpression = aws.String(expr)
	u.ConditionExpression = aws.String("(" + aws.ToString(u.ConditionExpression) + ") AND attribute_not_exists(#pend)")
	u.ExpressionAttributeNames = maps.Clone(u.ExpressionAttributeNames)
	u.ExpressionAttributeNames["#pend"] = attrPend
	u.ExpressionAttributeValues = maps.Clone(u.ExpressionAttributeValues)
	if u.ExpressionAttributeValues == nil {
		u.ExpressionAttributeValues = map[string]types.AttributeValue{}
	}
	u.ExpressionAttributeValues[":tok"] = str(tok)
	it.write = types.TransactWriteItem{Update: &u}
	return it
}

// effectiveChange drops from a change too large for one transaction what
// would change nothing (members already there with the same or no display,
// non-members removed), reading the member items with BatchGetItem, so
// that a large no-op neither opens an intent nor moves the version.
func (s *Store) effectiveChange(ctx context.Context, conn scim.Connection, gid string, add []scim.Member, remove []string) ([]scim.Member, []string, error) {
	present := map[string]string{}
	var keys []map[string]types.AttributeValue
	for _, m := range add {
		keys = append(keys, key(membersPK(conn, gid), m.Value))
	}
	for _, id := range remove {
		keys = append(keys, key(membersPK(conn, gid), id))
	}
	for chunk := range slices.Chunk(keys, 100) {
		items, err := s.batchGet(ctx, chunk, "read members of group "+gid)
		if err != nil {
			return nil, nil, err
		}
		for _, item := range items {
			sk, _ := item[attrSK].(*types.AttributeValueMemberS)
			d, _ := item[attrDisplay].(*types.AttributeValueMemberS)
			if sk != nil {
				present[sk.Value] = ""
				if d != nil {
					present[sk.Value] = d.Value
				}
			}
		}
	}
	var effAdd []scim.Member
	for _, m := range add {
		if d, ok := present[m.Value]; !ok || (m.Display != "" && m.Display != d) {
			effAdd = append(effAdd, m)
		}
	}
	var effRemove []string
	for _, id := range remove {
		if _, ok := present[id]; ok {
			effRemove = append(effRemove, id)
		}
	}
	return effAdd, effRemove, nil
}
