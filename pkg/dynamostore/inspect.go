package dynamostore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/scimgate/scimgate/pkg/reconcile"
	"github.com/scimgate/scimgate/pkg/scim"
)

// The store's side of the reconciliation check (pkg/reconcile): its raw
// items read back as an inventory, and each repair as one conditional
// write, so that a repair racing live traffic fails instead of doing harm.

var _ reconcile.Inspector = (*Store)(nil)

// scanAPI is the one call only the check makes: listing connections needs
// a Scan, as the table has no index (docs/operations.md, "Reconciliation").
type scanAPI interface {
	Scan(ctx context.Context, in *dynamodb.ScanInput, optFns ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
}

// inventoryItem is the part of an item the check reads (no doc).
type inventoryItem struct {
	PK     string   `dynamodbav:"pk"`
	SK     string   `dynamodbav:"sk"`
	Type   string   `dynamodbav:"typ"`
	ID     string   `dynamodbav:"id"`
	Name   string   `dynamodbav:"name"`
	Ext    string   `dynamodbav:"ext"`
	Groups []string `dynamodbav:"grp,stringset"`
	Owner  string   `dynamodbav:"owner"`
	Count  int      `dynamodbav:"n"`
}

// queryAll reads every item of partition pk (with the given projection), page by page.
func (s *Store) queryAll(ctx context.Context, pk, op string, projection ...string) ([]inventoryItem, error) {
	in := &dynamodb.QueryInput{
		TableName: s.tableName(), ConsistentRead: aws.Bool(true),
		KeyConditionExpression:    aws.String("#pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(pk)},
	}
	in.ExpressionAttributeNames = names(append([]string{attrPK}, projection...)...)
	if len(projection) > 0 {
		refs := make([]string, len(projection))
		for i, p := range projection {
			refs[i] = "#" + p
		}
		in.ProjectionExpression = aws.String(strings.Join(refs, ", "))
	}
	var items []inventoryItem
	for {
		out, err := s.db.Query(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("%s: query %s: %w", op, pk, err)
		}
		for _, raw := range out.Items {
			var it inventoryItem
			if err := unmarshal(raw, &it); err != nil {
				return nil, fmt.Errorf("%s: %w", op, err)
			}
			items = append(items, it)
		}
		if len(out.LastEvaluatedKey) == 0 {
			return items, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// Inventory reads the connection's partition and the member partition of
// every group it knows of (live, archived, or named in a user's groups).
func (s *Store) Inventory(ctx context.Context, conn scim.Connection) (*reconcile.Inventory, error) {
	const op = "inventory"
	pk, err := connPK(conn)
	if err != nil {
		return nil, err
	}
	items, err := s.queryAll(ctx, pk, op, attrSK, attrType, attrID, attrName, attrExt, attrGroups, attrOwner, attrCount)
	if err != nil {
		return nil, err
	}
	inv := &reconcile.Inventory{Counts: map[scim.ResourceType]int{scim.UserResource: 0, scim.GroupResource: 0}}
	groupIDs := map[string]bool{}
	typeOf := map[string]scim.ResourceType{"U": scim.UserResource, "G": scim.GroupResource}
	for _, it := range items {
		prefix, rest, _ := strings.Cut(it.SK, "#")
		switch prefix {
		case "U", "G":
			r := reconcile.Resource{Type: typeOf[prefix], ID: rest, Name: it.Name, ExternalID: it.Ext}
			if r.Type == scim.UserResource {
				r.Groups = it.Groups
				for _, g := range it.Groups {
					groupIDs[g] = true
				}
			} else {
				groupIDs[rest] = true
			}
			inv.Live = append(inv.Live, r)
		case "XU", "XG":
			typ := typeOf[prefix[1:]]
			inv.Deleted = append(inv.Deleted, reconcile.Resource{Type: typ, ID: rest})
			if typ == scim.GroupResource {
				groupIDs[rest] = true
			}
		case "UN", "GN", "UX", "GX":
			kind := reconcile.NameGuard
			if prefix[1] == 'X' {
				kind = reconcile.ExternalGuard
			}
			inv.Guards = append(inv.Guards, reconcile.Guard{Type: typeOf[prefix[:1]], Kind: kind, Key: rest, Owner: it.Owner})
		case "N":
			letter, _, _ := strings.Cut(rest, "#")
			inv.Counts[typeOf[letter]] += it.Count
		}
	}
	for gid := range groupIDs {
		members, err := s.queryAll(ctx, membersPK(conn, gid), op, attrSK)
		if err != nil {
			return nil, err
		}
		for _, m := range members {
			inv.Members = append(inv.Members, reconcile.Membership{GroupID: gid, UserID: m.SK})
		}
	}
	return inv, nil
}

// connectionsScanPage is how many items one Scan request of Connections
// evaluates: bounded work per call whatever the table's size.
const connectionsScanPage = 1000

// Connections lists connections by their CONN items with a Scan, page by
// page, until at least limit are found or the table ends. The cursor is the
// Scan's position.
func (s *Store) Connections(ctx context.Context, cursor string, limit int) ([]scim.Connection, string, error) {
	const op = "list connections"
	db := s.db
	if c, ok := db.(unavailableClassifier); ok {
		db = c.API
	}
	scanner, ok := db.(scanAPI)
	if !ok {
		return nil, "", fmt.Errorf("%s: the DynamoDB client cannot Scan", op)
	}
	in := &dynamodb.ScanInput{
		TableName: s.tableName(), Limit: aws.Int32(connectionsScanPage),
		FilterExpression:          aws.String("#sk = :conn"),
		ProjectionExpression:      aws.String("#pk, #sk"),
		ExpressionAttributeNames:  names(attrPK, attrSK),
		ExpressionAttributeValues: map[string]types.AttributeValue{":conn": str(connectionSK)},
	}
	if cursor != "" {
		var k [2]string
		if err := json.Unmarshal([]byte(cursor), &k); err != nil {
			return nil, "", scim.Errorf(scim.EInvalidCursor, "connection cursor %q is not one this store issued", cursor)
		}
		in.ExclusiveStartKey = key(k[0], k[1])
	}
	var conns []scim.Connection
	for {
		out, err := scanner.Scan(ctx, in)
		if err != nil {
			return nil, "", fmt.Errorf("%s: %w", op, classifyUnavailable(err))
		}
		for _, raw := range out.Items {
			var it inventoryItem
			if err := unmarshal(raw, &it); err != nil {
				return nil, "", fmt.Errorf("%s: %w", op, err)
			}
			tenant, sso, ok := strings.Cut(strings.TrimPrefix(it.PK, "C#"), "#")
			if ok && strings.HasPrefix(it.PK, "C#") {
				conns = append(conns, scim.Connection{Tenant: tenant, SSO: sso})
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			return conns, "", nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
		if len(conns) >= limit {
			var k inventoryItem
			if err := unmarshal(out.LastEvaluatedKey, &k); err != nil {
				return nil, "", fmt.Errorf("%s: %w", op, err)
			}
			next, _ := json.Marshal([2]string{k.PK, k.SK})
			return conns, string(next), nil
		}
	}
}

// guardSK is the sort key of a guard as the check reports it (the key is
// stored already case-folded for name guards).
func guardSK(g reconcile.Guard) string {
	if g.Kind == reconcile.NameGuard {
		return typeLetter(g.Type) + "N#" + g.Key
	}
	return typeLetter(g.Type) + "X#" + g.Key
}

// errChanged is a repair refused because the state moved since the check.
func errChanged(r reconcile.Repair) error {
	return scim.Errorf(scim.EConflict, "the items changed since the check; %s not applied, run the check again", r.Action)
}

// Apply makes one repair with one conditional write.
func (s *Store) Apply(ctx context.Context, conn scim.Connection, r reconcile.Repair) error {
	op := "repair " + string(r.Action)
	pk, err := connPK(conn)
	if err != nil {
		return err
	}
	t := s.tableName()
	var items []txItem
	switch r.Action {
	case reconcile.DeleteGuard:
		// Only if it still names the owner the check saw (or is gone already).
		items = []txItem{{write: deleteItem(t, key(pk, guardSK(*r.Guard)), "attribute_not_exists(#pk) OR #owner = :o",
			names(attrPK, attrOwner), map[string]types.AttributeValue{":o": str(r.Guard.Owner)})}}
	case reconcile.PutGuard:
		g := *r.Guard
		guard := key(pk, guardSK(g))
		guard[attrOwner] = str(g.Owner)
		items = []txItem{
			{write: putItem(t, guard, "attribute_not_exists(#pk) OR #owner = :o", names(attrPK, attrOwner), map[string]types.AttributeValue{":o": str(g.Owner)})},
			{write: conditionCheck(t, key(pk, resourceSK(g.Type, g.Owner)), "attribute_exists(#pk)", names(attrPK))},
		}
	case reconcile.DeleteMember:
		items = []txItem{{write: deleteItem(t, key(membersPK(conn, r.GroupID), r.UserID), "", nil, nil)}}
	case reconcile.RemoveReverse:
		// Only while the member item is still absent.
		items = []txItem{
			{write: conditionCheck(t, key(membersPK(conn, r.GroupID), r.UserID), "attribute_not_exists(#pk)", names(attrPK))},
			{write: updateItem(t, key(pk, resourceSK(scim.UserResource, r.UserID)), "DELETE #grp :g", "attribute_exists(#pk)",
				names(attrPK, attrGroups), map[string]types.AttributeValue{":g": strSet(r.GroupID)})},
		}
	case reconcile.AddReverse:
		items = []txItem{
			{write: conditionCheck(t, key(membersPK(conn, r.GroupID), r.UserID), "attribute_exists(#pk)", names(attrPK))},
			{write: conditionCheck(t, key(pk, resourceSK(scim.GroupResource, r.GroupID)), "attribute_exists(#pk)", names(attrPK))},
			{write: updateItem(t, key(pk, resourceSK(scim.UserResource, r.UserID)), "ADD #grp :g", "attribute_exists(#pk)",
				names(attrPK, attrGroups), map[string]types.AttributeValue{":g": strSet(r.GroupID)})},
		}
	case reconcile.SetCount:
		return s.setCount(ctx, conn, pk, r)
	default:
		return fmt.Errorf("%s: unknown repair", op)
	}
	failures, err := s.transact(ctx, op, items)
	if err != nil {
		return err
	}
	if len(failures) > 0 {
		return errChanged(r)
	}
	return nil
}

// setCount rewrites typ's counter shards from the live items: each shard
// conditional on the value read, so that a create or delete in between
// refuses the repair rather than being lost.
func (s *Store) setCount(ctx context.Context, conn scim.Connection, pk string, r reconcile.Repair) error {
	op := "repair " + string(r.Action)
	items, err := s.queryAll(ctx, pk, op, attrSK, attrCount)
	if err != nil {
		return err
	}
	want := map[string]int{}
	have := map[string]*int{}
	prefix := counterPrefix(r.Type)
	for _, it := range items {
		if id, ok := strings.CutPrefix(it.SK, typeLetter(r.Type)+"#"); ok {
			want[counterSK(r.Type, id)]++
		}
		if strings.HasPrefix(it.SK, prefix) {
			n := it.Count
			have[it.SK] = &n
		}
	}
	total := 0
	for _, n := range want {
		total += n
	}
	if total != r.Count {
		return errChanged(r)
	}
	for shard := range counterShards {
		sk := prefix + strconv.FormatInt(int64(shard), 16)
		if old := have[sk]; (old == nil && want[sk] == 0) || (old != nil && *old == want[sk]) {
			continue
		}
		cond, attrNames := "attribute_not_exists(#pk)", names(attrPK, attrCount)
		values := map[string]types.AttributeValue{":v": num(int64(want[sk]))}
		if old := have[sk]; old != nil {
			cond, attrNames, values[":old"] = "#n = :old", names(attrCount), num(int64(*old))
		}
		_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: s.tableName(), Key: key(pk, sk), UpdateExpression: aws.String("SET #n = :v"),
			ConditionExpression: aws.String(cond), ExpressionAttributeNames: attrNames, ExpressionAttributeValues: values,
		})
		var failed *types.ConditionalCheckFailedException
		if errors.As(err, &failed) {
			return errChanged(r)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
	}
	return nil
}
