package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/scimgate/scimgate/pkg/scim"
)

func noun(typ scim.ResourceType) string { return strings.ToLower(string(typ)) }

// writableRecord is r as the item it is stored as, in its connection's
// partition, after checking that its keys fit DynamoDB's limits.
func writableRecord(r *scim.Resource) (pk string, rec *record, err error) {
	if pk, err = connPK(r.Conn); err != nil {
		return "", nil, err
	}
	if err = checkKeys(r); err != nil {
		return "", nil, err
	}
	if rec, err = newRecord(pk, r); err != nil {
		return "", nil, err
	}
	return pk, rec, nil
}

// checkKeys refuses values whose key items DynamoDB would reject, with an
// error the IdP admin can act on instead of an internal one.
func checkKeys(r *scim.Resource) error {
	if r.ID == "" || len(resourceSK(r.Type, r.ID)) > maxKeyBytes {
		return fmt.Errorf("%s id %q is not a valid key", noun(r.Type), r.ID)
	}
	if len(nameGuardSK(r.Type, r.Name)) > maxKeyBytes {
		return scim.Errorf(scim.EInvalidValue, "%s is longer than %d bytes", scim.UniqueAttrName(r.Type), maxKeyBytes-3)
	}
	if len(extGuardSK(r.Type, r.ExternalID)) > maxKeyBytes {
		return scim.Errorf(scim.EInvalidValue, "externalId is longer than %d bytes", maxKeyBytes-3)
	}
	return nil
}

// Create writes the resource, its uniqueness guards and the counter in one
// transaction, and for a group with members the memberships too when they
// fit into it. Larger member lists are verified first and added in chunks
// right after the group is created (docs/dynamodb.md, "Create").
func (s *Store) Create(ctx context.Context, r *scim.Resource) error {
	op := "create " + noun(r.Type)
	pk, rec, err := writableRecord(r)
	if err != nil {
		return err
	}
	item, err := attributevalue.MarshalMap(rec)
	if err != nil {
		return fmt.Errorf("%s: encode item: %w", op, err)
	}
	items := []txItem{
		{role: roleResource, write: putItem(s.tableName(), item, "attribute_not_exists(#pk)", names(attrPK), nil)},
		s.guardPut(pk, nameGuardSK(r.Type, r.Name), r.ID, roleNameGuard),
	}
	if r.ExternalID != "" {
		items = append(items, s.guardPut(pk, extGuardSK(r.Type, r.ExternalID), r.ID, roleExtGuard))
	}
	items = append(items, s.counterAdd(pk, r.Type, r.ID, +1))

	var members []scim.Member
	if r.Type == scim.GroupResource {
		if members, _, err = dedupeMembers(r.Members, nil); err != nil {
			return err
		}
	}
	inline := len(items)+2*len(members) <= maxTransactItems
	if inline {
		for _, m := range members {
			items = append(items, s.memberAdd(pk, r.Conn, r.ID, m)...)
		}
	} else if err := s.verifyUsers(ctx, pk, members); err != nil {
		return err
	}

	failures, err := s.transact(ctx, op, items)
	if err != nil {
		return err
	}
	if len(failures) > 0 {
		return createFailure(r, failures)
	}
	if inline {
		return nil
	}
	failures, err = s.applyMembers(ctx, pk, r.Conn, r.ID, nil, s.groupExists(pk, r.ID), members, nil)
	if err == nil && len(failures) > 0 {
		err = scim.NotFoundError(r.Type, r.ID)
	}
	if err != nil {
		// A user vanished between the check and its chunk. Undo the create
		// (as a delete, which also removes the memberships already added) so
		// that the client's retry is not refused as a duplicate.
		if undoErr := s.Delete(ctx, r.Conn, r.Type, r.ID, r.Version, r.LastModified); undoErr != nil {
			return errors.Join(err, fmt.Errorf("%s: undo partial create: %w", op, undoErr))
		}
		return err
	}
	return nil
}

func createFailure(r *scim.Resource, failures []condFailure) error {
	for _, f := range failures {
		switch f.role {
		case roleResource:
			// The id is server-generated; a clash means a retried create
			// whose first attempt got through, or a broken ID generator.
			return scim.UniquenessError(r.Type, "id", r.ID)
		case roleNameGuard:
			return scim.UniquenessError(r.Type, scim.UniqueAttrName(r.Type), r.Name)
		case roleExtGuard:
			return scim.UniquenessError(r.Type, "externalId", r.ExternalID)
		case roleMemberAdd:
			return scim.UnknownMemberError(f.id)
		}
	}
	return fmt.Errorf("create %s: unexpected condition failure at item %d", noun(r.Type), failures[0].index)
}

// resourceUpdate is the conditional update of a live item to rec. With old
// == nil it assumes that the unique keys are unchanged and says so in its
// condition (the common case: one write, no guard items); with old, the
// item as it was at version prev, it also moves the guards whose key changed.
func (s *Store) resourceUpdate(pk string, rec *record, prev int64, old *record) []txItem {
	set := []string{"#doc = :doc", "#name = :name", "#active = :active", "#ver = :ver", "#modified = :modified"}
	values := map[string]types.AttributeValue{
		":doc": str(rec.Doc), ":name": str(rec.Name), ":active": &types.AttributeValueMemberBOOL{Value: rec.Active},
		":ver": num(rec.Version), ":modified": str(rec.Modified), ":prev": num(prev),
	}
	update := ""
	if rec.Ext != "" {
		set = append(set, "#ext = :ext")
		values[":ext"] = str(rec.Ext)
		update = "SET " + strings.Join(set, ", ")
	} else {
		update = "SET " + strings.Join(set, ", ") + " REMOVE #ext"
	}
	cond := "#ver = :prev"
	if old == nil {
		// Comparing the exact stored name is cheaper than storing its key;
		// a case-only rename takes the slow path and keeps its guard.
		cond += " AND #name = :name"
		if rec.Ext != "" {
			cond += " AND #ext = :ext"
		} else {
			cond += " AND attribute_not_exists(#ext)"
		}
	}
	u := updateItem(s.tableName(), key(pk, rec.SK), update, cond,
		names(attrDoc, attrName, attrActive, attrVersion, attrModified, attrExt), values)
	u.Update.ReturnValuesOnConditionCheckFailure = types.ReturnValuesOnConditionCheckFailureAllOld
	items := []txItem{{role: roleResource, write: u}}
	if old == nil {
		return items
	}
	typ := scim.ResourceType(rec.Type)
	if scim.NameKey(typ, old.Name) != scim.NameKey(typ, rec.Name) {
		items = append(items,
			s.guardRelease(pk, nameGuardSK(typ, old.Name), rec.ID),
			s.guardPut(pk, nameGuardSK(typ, rec.Name), rec.ID, roleNameGuard))
	}
	if old.Ext != rec.Ext {
		if old.Ext != "" {
			items = append(items, s.guardRelease(pk, extGuardSK(typ, old.Ext), rec.ID))
		}
		if rec.Ext != "" {
			items = append(items, s.guardPut(pk, extGuardSK(typ, rec.Ext), rec.ID, roleExtGuard))
		}
	}
	return items
}

// classifyUpdate explains a failed resourceUpdate from the item as it was
// (ALL_OLD): gone, or at another version, is the client's problem; at the
// expected version it only means the unique keys change, and old is
// returned so that the caller can redo the update with guard moves.
func classifyUpdate(typ scim.ResourceType, id string, prev int64, item map[string]types.AttributeValue) (*record, error) {
	if len(item) == 0 {
		return nil, scim.NotFoundError(typ, id)
	}
	old, err := decodeRecord(item)
	if err != nil {
		return nil, err
	}
	if old.Version != prev {
		return nil, scim.VersionConflictError(typ, id)
	}
	return old, nil
}

// updateFailure maps the failures of a resourceUpdate transaction built with
// the old item.
func updateFailure(r *scim.Resource, prev int64, failures []condFailure) error {
	for _, f := range failures {
		if f.role == roleResource {
			if _, err := classifyUpdate(r.Type, r.ID, prev, f.old); err != nil {
				return err
			}
			// Same version as a moment ago but the keys differ again:
			// impossible without a version change, so treat it as a lost race.
			return scim.VersionConflictError(r.Type, r.ID)
		}
	}
	for _, f := range failures {
		switch f.role {
		case roleNameGuard:
			return scim.UniquenessError(r.Type, scim.UniqueAttrName(r.Type), r.Name)
		case roleExtGuard:
			return scim.UniquenessError(r.Type, "externalId", r.ExternalID)
		case roleOldGuard:
			return fmt.Errorf("update %s: a uniqueness guard of %s is held by another resource", noun(r.Type), r)
		case roleMemberAdd:
			return scim.UnknownMemberError(f.id)
		}
	}
	return fmt.Errorf("update %s: unexpected condition failure at item %d", noun(r.Type), failures[0].index)
}

// Replace is one conditional UpdateItem when userName/displayName and
// externalId are unchanged. Otherwise that update fails on its key
// condition, returns the stored item, and a transaction moves the guards.
func (s *Store) Replace(ctx context.Context, r *scim.Resource, prevVersion int64) error {
	op := "replace " + noun(r.Type)
	pk, rec, err := writableRecord(r)
	if err != nil {
		return err
	}
	fast := s.resourceUpdate(pk, rec, prevVersion, nil)[0].write.Update
	for attempt := 1; ; attempt++ {
		_, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: fast.TableName, Key: fast.Key, UpdateExpression: fast.UpdateExpression,
			ConditionExpression: fast.ConditionExpression, ExpressionAttributeNames: fast.ExpressionAttributeNames,
			ExpressionAttributeValues:           fast.ExpressionAttributeValues,
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
		})
		// A single write to an item that a transaction is changing at
		// that moment is refused with TransactionConflictException (a user
		// replaced while a group adds it, say), which the SDK does not retry.
		// https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis.html#transaction-conflict-handling
		var conflict *types.TransactionConflictException
		if !errors.As(err, &conflict) || attempt >= s.conflictAttempts {
			break
		}
		if err := s.backoff(ctx, attempt); err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
	}
	if err == nil {
		return nil
	}
	var ccf *types.ConditionalCheckFailedException
	if !errors.As(err, &ccf) {
		return fmt.Errorf("%s: %w", op, err)
	}
	old, err := classifyUpdate(r.Type, r.ID, prevVersion, ccf.Item)
	if err != nil {
		return err
	}
	failures, err := s.transact(ctx, op, s.resourceUpdate(pk, rec, prevVersion, old))
	if err != nil {
		return err
	}
	if len(failures) > 0 {
		return updateFailure(r, prevVersion, failures)
	}
	return nil
}

// Delete soft-deletes. Memberships are removed first, in chunks that each
// re-check the version; the final transaction then swaps the live item for
// its archive copy, frees the guards and decrements the counter. If it
// fails half-way, the membership chunks already done are harmless and a
// retry finishes the job.
func (s *Store) Delete(ctx context.Context, conn scim.Connection, typ scim.ResourceType, id string, prevVersion int64, at time.Time) error {
	op := "delete " + noun(typ)
	pk, err := connPK(conn)
	if err != nil {
		return err
	}
	// A membership added concurrently between cleanup and tombstone makes
	// the tombstone's condition fail; go round again for it.
	const rounds = 5
	for range rounds {
		rec, err := s.getRecord(ctx, pk, typ, id, op)
		if err != nil {
			return err
		}
		if rec.Version != prevVersion {
			return scim.VersionConflictError(typ, id)
		}
		if typ == scim.UserResource {
			err = s.leaveAllGroups(ctx, pk, conn, rec, op)
		} else {
			err = s.dropAllMembers(ctx, pk, conn, rec, op)
		}
		if err != nil {
			return err
		}
		done, err := s.tombstone(ctx, pk, rec, at, op)
		if err != nil || done {
			return err
		}
	}
	return fmt.Errorf("%s %s: memberships kept changing during %d attempts", op, id, rounds)
}

// leaveAllGroups removes a user from every group in its grp set: per chunk,
// the member items go and the group ids leave grp, conditional on the version
// the delete was asked for.
func (s *Store) leaveAllGroups(ctx context.Context, pk string, conn scim.Connection, rec *record, op string) error {
	typ := scim.UserResource
	for chunk := range slices.Chunk(rec.Groups, maxTransactItems-1) {
		items := []txItem{{role: roleResource, write: updateItem(s.tableName(), key(pk, rec.SK),
			"DELETE #grp :g", "#ver = :prev", names(attrGroups, attrVersion),
			map[string]types.AttributeValue{":g": strSet(chunk...), ":prev": num(rec.Version)})}}
		items[0].write.Update.ReturnValuesOnConditionCheckFailure = types.ReturnValuesOnConditionCheckFailureAllOld
		for _, gid := range chunk {
			items = append(items, txItem{write: deleteItem(s.tableName(), key(membersPK(conn, gid), rec.ID), "", nil, nil)})
		}
		failures, err := s.transact(ctx, op, items)
		if err != nil {
			return err
		}
		if len(failures) > 0 {
			_, err := classifyUpdate(typ, rec.ID, rec.Version, failures[0].old)
			if err == nil {
				err = scim.VersionConflictError(typ, rec.ID)
			}
			return err
		}
	}
	return nil
}

// dropAllMembers removes every member of a group, chunk by chunk, each
// chunk conditional on the group's version.
func (s *Store) dropAllMembers(ctx context.Context, pk string, conn scim.Connection, rec *record, op string) error {
	ids, err := s.memberIDs(ctx, conn, rec.ID, op)
	if err != nil {
		return err
	}
	if len(ids) == 0 {
		return nil
	}
	check := s.groupCheck(pk, rec.ID, "#ver = :prev", names(attrVersion), map[string]types.AttributeValue{":prev": num(rec.Version)})
	failures, err := s.applyMembers(ctx, pk, conn, rec.ID, nil, check, nil, ids)
	if err != nil {
		return err
	}
	if len(failures) > 0 {
		return scim.VersionConflictError(scim.GroupResource, rec.ID)
	}
	return nil
}

// tombstone is the final step of Delete. done is false when the item
// gained a membership since the cleanup.
func (s *Store) tombstone(ctx context.Context, pk string, rec *record, at time.Time, op string) (done bool, err error) {
	typ := scim.ResourceType(rec.Type)
	cond := "#ver = :prev"
	if typ == scim.UserResource {
		cond += " AND attribute_not_exists(#grp)"
	}
	del := deleteItem(s.tableName(), key(pk, rec.SK), cond, names(attrVersion, attrGroups),
		map[string]types.AttributeValue{":prev": num(rec.Version)})
	if typ != scim.UserResource {
		del.Delete.ExpressionAttributeNames = names(attrVersion)
	}
	del.Delete.ReturnValuesOnConditionCheckFailure = types.ReturnValuesOnConditionCheckFailureAllOld

	archived := *rec
	archived.SK = archiveSK(typ, rec.ID)
	archived.Deleted = formatTime(at)
	archive, err := attributevalue.MarshalMap(&archived)
	if err != nil {
		return false, fmt.Errorf("%s: encode archive: %w", op, err)
	}
	items := []txItem{
		{role: roleResource, write: del},
		{write: putItem(s.tableName(), archive, "", nil, nil)},
		s.guardRelease(pk, nameGuardSK(typ, rec.Name), rec.ID),
	}
	if rec.Ext != "" {
		items = append(items, s.guardRelease(pk, extGuardSK(typ, rec.Ext), rec.ID))
	}
	items = append(items, s.counterAdd(pk, typ, rec.ID, -1))
	failures, err := s.transact(ctx, op, items)
	if err != nil {
		return false, err
	}
	for _, f := range failures {
		if f.role != roleResource {
			continue
		}
		old, err := classifyUpdate(typ, rec.ID, rec.Version, f.old)
		if err != nil {
			return false, err
		}
		if len(old.Groups) > 0 {
			return false, nil
		}
		return false, scim.VersionConflictError(typ, rec.ID)
	}
	if len(failures) > 0 {
		return false, fmt.Errorf("%s: a uniqueness guard of %s %s is held by another resource", op, typ, rec.ID)
	}
	return true, nil
}
