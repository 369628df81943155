package dynamostore

import (
	"context"
	"errors"
	"fmt"
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
// under an intent written with the group (docs/dynamodb.md, "Create").
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
	own, err := s.ownRecords(ctx, nil, r)
	if err != nil {
		return err
	}
	items = append(items, own...)

	var members []scim.Member
	if r.Type == scim.GroupResource {
		if members, _, err = dedupeMembers(r.Members, nil); err != nil {
			return err
		}
	}
	// The members_added records of inline members go into the same
	// transaction (changes.go), with the summaries of the users read first.
	if len(members) > 0 {
		if ctx, err = s.withChunkRecords(ctx, pk, r, false, members, nil); err != nil {
			return err
		}
	}
	reserve := recordReserve(ctx)
	inline := len(items)+2*len(members)+reserve <= s.maxItems
	var in *intent
	ids := make([]string, 0, len(members))
	for _, m := range members {
		ids = append(ids, m.Value)
	}
	// The members_added records of all members go into the first
	// transaction, inline or not: the intent's roll-forward chunks write
	// none (the change is visible, as a whole, from the first one).
	recs, err := s.memberRecords(ctx, r, ids, nil)
	if err != nil {
		return err
	}
	if inline {
		for _, m := range members {
			items = append(items, s.memberAdd(pk, r.Conn, r.ID, m)...)
		}
	} else {
		// Too many members for one transaction: the group is created with
		// an intent to add them (intent.go), so that no reader ever sees it
		// with only some, even after a crash.
		if err := s.verifyUsers(ctx, pk, members); err != nil {
			return err
		}
		addJSON, err := encodeIntentMembers(members)
		if err != nil {
			return err
		}
		in = &intent{SK: intentSK(r.Type, r.ID), Kind: kindMembers, Token: newToken(), ID: r.ID, Add: addJSON}
		start, err := s.intentStart(pk, in)
		if err != nil {
			return err
		}
		item[attrPend] = str(in.Token)
		items = append(items, start...)
		if len(items)+len(recs) > s.maxItems || putBytes(recs) > maxRecordTransactionBytes {
			return scim.Errorf(scim.ETooMany, "a group created with this many members needs more change records than one transaction holds; create it with fewer members and add the rest with PATCH")
		}
	}
	items = append(items, recs...)

	failures, err := s.transact(ctx, op, items)
	if err != nil {
		return err
	}
	if len(failures) > 0 {
		return createFailure(r, failures)
	}
	if in == nil {
		return nil
	}
	// A user deleted between the check and its chunk is left out, as if
	// it had been deleted right after the create.
	return s.complete(ctx, pk, r.Conn, in)
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
	recs, err := scim.JournalFrom(ctx).Replaced(r)
	if err != nil {
		return err
	}
	if len(recs) > 0 {
		return s.replaceWithRecords(ctx, r, pk, rec, prevVersion, recs)
	}
	fast := s.resourceUpdate(pk, rec, prevVersion, nil)[0].write.Update
	start := time.Now()
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
		if !errors.As(err, &conflict) {
			break
		}
		if attempt >= s.conflictAttempts || !s.backoffWithin(ctx, start, attempt) {
			return contended(op, err)
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

// Delete soft-deletes in one transaction that swaps the live item for its
// archive copy, frees the guards, decrements the counter and ends the
// memberships, when they fit (a user in up to 94 groups, a group of up to
// 47 members). A larger one flips the visible state in that first
// transaction and records an intent for the member items that remain,
// which the same request then sweeps in chunks; should it stop half-way,
// the next request or Sweep finishes the job (intent.go). The version
// condition covers the memberships too: every membership change moves the
// group's version, and a user's is checked by its group set.
func (s *Store) Delete(ctx context.Context, conn scim.Connection, typ scim.ResourceType, id string, prevVersion int64, at time.Time) error {
	op := "delete " + noun(typ)
	pk, err := connPK(conn)
	if err != nil {
		return err
	}
	rec, err := s.readLive(ctx, pk, conn, typ, id, op)
	if err != nil {
		return err
	}
	if rec.Version != prevVersion {
		return scim.VersionConflictError(typ, id)
	}
	tomb, err := s.tombstone(ctx, pk, rec, at, op)
	if err != nil {
		return err
	}
	in := &intent{SK: intentSK(typ, id), Token: newToken(), ID: id}
	if typ == scim.UserResource {
		in.Kind = kindDeleteUser
		in.Groups = rec.Groups
		items := tomb
		if len(items)+len(rec.Groups) <= s.maxItems {
			for _, gid := range rec.Groups {
				items = append(items, txItem{write: deleteItem(s.tableName(), key(membersPK(conn, gid), id), "", nil, nil)})
			}
			return s.transactDelete(ctx, rec, items, op)
		}
		start, err := s.intentStart(pk, in)
		if err != nil {
			return err
		}
		if err := s.transactDelete(ctx, rec, append(items, start...), op); err != nil {
			return err
		}
		return s.complete(ctx, pk, conn, in)
	}
	in.Kind = kindDeleteGroup
	ids, err := s.memberIDs(ctx, conn, id, op)
	if err != nil {
		return err
	}
	if len(tomb)+2*len(ids) <= s.maxItems {
		failures, _, err := s.applyMembers(ctx, pk, conn, id, memberChange{head: tomb}, nil, ids)
		if err != nil {
			return err
		}
		return deleteFailure(rec, failures)
	}
	start, err := s.intentStart(pk, in)
	if err != nil {
		return err
	}
	if err := s.transactDelete(ctx, rec, append(tomb, start...), op); err != nil {
		return err
	}
	return s.complete(ctx, pk, conn, in)
}

// transactDelete runs the first (or only) transaction of a delete.
func (s *Store) transactDelete(ctx context.Context, rec *record, items []txItem, op string) error {
	failures, err := s.transact(ctx, op, items)
	if err != nil {
		return err
	}
	return deleteFailure(rec, failures)
}

// deleteFailure explains a cancelled delete transaction.
func deleteFailure(rec *record, failures []condFailure) error {
	typ := scim.ResourceType(rec.Type)
	for _, f := range failures {
		switch f.role {
		case roleResource:
			if _, err := classifyUpdate(typ, rec.ID, rec.Version, f.old); err != nil {
				return err
			}
			// Same version, other group set: a membership changed since the read.
			return scim.VersionConflictError(typ, rec.ID)
		case roleIntent:
			// An intent of this resource is still open: let the retry roll it forward.
			return scim.VersionConflictError(typ, rec.ID)
		}
	}
	if len(failures) > 0 {
		return fmt.Errorf("delete %s %s: a uniqueness guard is held by another resource", noun(typ), rec.ID)
	}
	return nil
}

// tombstone is what flips a resource to deleted: delete the live item
// (conditional on the version, and for a user on its group set being the
// one read), put the archive copy, release the guards, count one less.
func (s *Store) tombstone(ctx context.Context, pk string, rec *record, at time.Time, op string) ([]txItem, error) {
	typ := scim.ResourceType(rec.Type)
	cond := "#ver = :prev"
	n := names(attrVersion)
	values := map[string]types.AttributeValue{":prev": num(rec.Version)}
	if typ == scim.UserResource {
		n = names(attrVersion, attrGroups)
		if len(rec.Groups) == 0 {
			cond += " AND attribute_not_exists(#grp)"
		} else {
			cond += " AND #grp = :grp"
			values[":grp"] = strSet(rec.Groups...)
		}
	}
	del := deleteItem(s.tableName(), key(pk, rec.SK), cond, n, values)
	del.Delete.ReturnValuesOnConditionCheckFailure = types.ReturnValuesOnConditionCheckFailureAllOld

	archived := *rec
	archived.SK = archiveSK(typ, rec.ID)
	archived.Deleted = formatTime(at)
	archived.Pend = ""
	archive, err := attributevalue.MarshalMap(&archived)
	if err != nil {
		return nil, fmt.Errorf("%s: encode archive: %w", op, err)
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
	// The deleted record goes into this first transaction (changes.go).
	deleted, err := s.deleteRecords(ctx, connOfPK(pk), rec, at)
	if err != nil {
		return nil, err
	}
	return append(items, deleted...), nil
}
