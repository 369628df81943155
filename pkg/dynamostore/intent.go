package dynamostore

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/uuid"

	"github.com/scimgate/scimgate/pkg/scim"
)

// A change too large for one transaction (a group DELETE with many
// members, a user DELETE in many groups, a PATCH or PUT of many members) is
// made all-or-nothing from the client's point of view with an intent
// (docs/dynamodb.md, "Chunked changes"):
//
//  1. The first transaction makes the change visible as a whole: it
//     deletes the resource (or updates the group and marks it with pend),
//     puts an intent item that records what remains to be done, and adds
//     the intent to the connection's pending set.
//  2. Further transactions apply the rest in chunks, each conditional on
//     the intent still being there; the last one deletes the intent, takes
//     it out of the pending set and unmarks the group.
//  3. Whoever finds the pending set non-empty (every user read, every group
//     read with members, every write of a marked group, Sweep) first rolls
//     the intents forward. A crash between chunks therefore never shows:
//     the next request, or Sweep, completes the change exactly.
//
// Every chunk is idempotent (conditional puts and deletes), so a chunk
// applied twice by two helpers changes nothing the second time, and the
// intent condition keeps a slow helper from writing after the change is
// complete and other changes have followed it.

const (
	pendingSK     = "N#P" // the connection's set of intent keys; under N# so that a list's count Query reads it too
	attrPending   = "i"   // on the pending item: String Set of intent sort keys
	attrPend      = "pend"
	attrKind      = "kind"
	attrToken     = "tok"
	attrAddJSON   = "add"
	attrRemoveSet = "rm"

	kindDeleteGroup = "delete-group"
	kindDeleteUser  = "delete-user"
	kindMembers     = "members"
)

func intentSK(typ scim.ResourceType, id string) string { return "I#" + typeLetter(typ) + "#" + id }

// intent is an intent item.
type intent struct {
	SK     string   `dynamodbav:"sk"`
	Kind   string   `dynamodbav:"kind"`
	Token  string   `dynamodbav:"tok"`
	ID     string   `dynamodbav:"id"`
	Groups []string `dynamodbav:"grp,stringset,omitempty"` // delete-user: the groups to leave
	Add    string   `dynamodbav:"add,omitempty"`           // members: JSON of the members to add
	Remove []string `dynamodbav:"rm,stringset,omitempty"`  // members: the ids to remove
}

type intentMember struct {
	Value   string `json:"v"`
	Display string `json:"d,omitempty"`
}

// maxIntentBytes keeps an intent item well inside DynamoDB's 400 KB.
const maxIntentBytes = 350_000

// intentStart is the pair of writes that records in: the intent item
// (which must not exist yet) and its key in the pending set.
func (s *Store) intentStart(pk string, in *intent) ([]txItem, error) {
	item := key(pk, in.SK)
	item[attrKind] = str(in.Kind)
	item[attrToken] = str(in.Token)
	item[attrID] = str(in.ID)
	size := 0
	if len(in.Groups) > 0 {
		item[attrGroups] = strSet(in.Groups...)
		size += 40 * len(in.Groups)
	}
	if in.Add != "" {
		item[attrAddJSON] = str(in.Add)
		size += len(in.Add)
	}
	if len(in.Remove) > 0 {
		item[attrRemoveSet] = strSet(in.Remove...)
		size += 40 * len(in.Remove)
	}
	if size > maxIntentBytes {
		return nil, scim.Errorf(scim.ETooMany, "this change touches too many memberships for one request; send it in several requests of at most a few thousand members each")
	}
	return []txItem{
		{role: roleIntent, write: putItem(s.tableName(), item, "attribute_not_exists(#pk)", names(attrPK), nil)},
		{write: updateItem(s.tableName(), key(pk, pendingSK), "ADD #i :k", "", names(attrPending),
			map[string]types.AttributeValue{":k": strSet(in.SK)})},
	}, nil
}

// intentCheck is the condition of every chunk: the intent is still open.
func (s *Store) intentCheck(pk string, in *intent) txItem {
	// An update that changes nothing, as groupCheck, not a ConditionCheck.
	return txItem{role: roleIntent, write: updateItem(s.tableName(), key(pk, in.SK), "SET #tok = #tok", "#tok = :tok",
		names(attrToken), map[string]types.AttributeValue{":tok": str(in.Token)})}
}

// intentEnd closes the intent: delete it (if still this one), leave the
// pending set, and for a membership change unmark the group.
func (s *Store) intentEnd(pk string, in *intent) []txItem {
	items := []txItem{
		{role: roleIntent, write: deleteItem(s.tableName(), key(pk, in.SK), "#tok = :tok", names(attrToken),
			map[string]types.AttributeValue{":tok": str(in.Token)})},
		{write: updateItem(s.tableName(), key(pk, pendingSK), "DELETE #i :k", "", names(attrPending),
			map[string]types.AttributeValue{":k": strSet(in.SK)})},
	}
	if in.Kind == kindMembers {
		items = append(items, txItem{write: updateItem(s.tableName(), key(pk, resourceSK(scim.GroupResource, in.ID)),
			"REMOVE #pend", "#pend = :tok", names(attrPend), map[string]types.AttributeValue{":tok": str(in.Token)})})
	}
	return items
}

func newToken() string { return uuid.NewString() }

func encodeIntentMembers(add []scim.Member) (string, error) {
	if len(add) == 0 {
		return "", nil
	}
	list := make([]intentMember, len(add))
	for i, m := range add {
		list[i] = intentMember{Value: m.Value, Display: m.Display}
	}
	b, err := json.Marshal(list)
	if err != nil {
		return "", fmt.Errorf("encode intent: %w", err)
	}
	return string(b), nil
}

func (in *intent) members() ([]scim.Member, error) {
	if in.Add == "" {
		return nil, nil
	}
	var list []intentMember
	if err := json.Unmarshal([]byte(in.Add), &list); err != nil {
		return nil, fmt.Errorf("decode intent %s: %w", in.SK, err)
	}
	out := make([]scim.Member, len(list))
	for i, m := range list {
		out[i] = scim.Member{Value: m.Value, Display: m.Display}
	}
	return out, nil
}

// pendingOf reads the intent keys of a pending item (nil: none).
func pendingOf(item map[string]types.AttributeValue) []string {
	if set, ok := item[attrPending].(*types.AttributeValueMemberSS); ok {
		return set.Value
	}
	return nil
}

var _ scim.Sweeper = (*Store)(nil)

// Sweep completes every change of conn that a crash (or a request that ran
// out of time) left half-applied: the member items of deleted groups and
// users, and the remaining chunks of large membership changes. It is
// idempotent and safe to run at any time, concurrently with requests; the
// store runs it itself whenever a read or write finds pending work, and a
// consistency check can call it for every connection.
func (s *Store) Sweep(ctx context.Context, conn scim.Connection) error {
	pk, err := connPK(conn)
	if err != nil {
		return err
	}
	item, err := s.getItem(ctx, pk, pendingSK, "sweep")
	if err != nil {
		return err
	}
	return s.sweep(ctx, pk, conn, pendingOf(item))
}

// sweep rolls forward the intents whose keys are given.
func (s *Store) sweep(ctx context.Context, pk string, conn scim.Connection, keys []string) error {
	for _, sk := range slices.Sorted(slices.Values(keys)) {
		if err := s.rollForward(ctx, pk, conn, sk); err != nil {
			return err
		}
	}
	return nil
}

// rollForward completes the intent at sk, or cleans a stale pending entry.
func (s *Store) rollForward(ctx context.Context, pk string, conn scim.Connection, sk string) error {
	// Helpers in this process queue instead of racing each other.
	unlock, err := s.intents.lock(ctx, pk+"#"+sk)
	if err != nil {
		return fmt.Errorf("roll forward %s: %w", sk, err)
	}
	defer unlock()
	item, err := s.getItem(ctx, pk, sk, "roll forward")
	if err != nil {
		return err
	}
	if item == nil {
		// Completed meanwhile, or the pending entry outlived its intent: drop it.
		_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: s.tableName(), Key: key(pk, pendingSK), UpdateExpression: aws.String("DELETE #i :k"),
			ExpressionAttributeNames: names(attrPending), ExpressionAttributeValues: map[string]types.AttributeValue{":k": strSet(sk)},
		})
		if err != nil {
			return fmt.Errorf("roll forward %s: clear pending entry: %w", sk, err)
		}
		return nil
	}
	var in intent
	if err := unmarshal(item, &in); err != nil {
		return fmt.Errorf("roll forward %s: %w", sk, err)
	}
	return s.complete(ctx, pk, conn, &in)
}

// complete applies what remains of an intent, in chunks, and closes it.
func (s *Store) complete(ctx context.Context, pk string, conn scim.Connection, in *intent) error {
	op := "complete " + in.Kind + " of " + in.ID
	switch in.Kind {
	case kindDeleteGroup:
		ids, err := s.memberIDs(ctx, conn, in.ID, op)
		if err != nil {
			return err
		}
		_, _, err = s.applyMembers(ctx, pk, conn, in.ID, memberChange{check: s.intentCheck(pk, in), last: s.intentEnd(pk, in), tolerant: true}, nil, ids)
		return err
	case kindMembers:
		add, err := in.members()
		if err != nil {
			return err
		}
		_, _, err = s.applyMembers(ctx, pk, conn, in.ID, memberChange{check: s.intentCheck(pk, in), last: s.intentEnd(pk, in), tolerant: true}, add, in.Remove)
		return err
	case kindDeleteUser:
		groups := slices.Clone(in.Groups)
		for {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("%s: %w", op, err)
			}
			end := s.intentEnd(pk, in)
			last := len(groups) <= s.maxItems-len(end)
			items := []txItem{s.intentCheck(pk, in)}
			if last {
				items = end
			}
			take := min(len(groups), s.maxItems-len(items))
			for _, gid := range groups[:take] {
				items = append(items, txItem{write: deleteItem(s.tableName(), key(membersPK(conn, gid), in.ID), "", nil, nil)})
			}
			failures, err := s.transact(ctx, op, items)
			if err != nil || len(failures) > 0 || last {
				return err // failures: another helper completed the intent
			}
			groups = groups[take:]
		}
	}
	return fmt.Errorf("%s: unknown kind of intent %q", op, in.Kind)
}

// readLive reads a live resource together with the connection's pending
// set in one BatchGetItem, and when changes are pending completes them
// first and reads again: a reader never sees a half-applied change.
func (s *Store) readLive(ctx context.Context, pk string, conn scim.Connection, typ scim.ResourceType, id, op string) (*record, error) {
	sk := resourceSK(typ, id)
	if len(sk) > maxKeyBytes {
		return nil, scim.NotFoundError(typ, id)
	}
	for attempt := 0; ; attempt++ {
		items, err := s.batchGet(ctx, []map[string]types.AttributeValue{key(pk, sk), key(pk, pendingSK)}, op)
		if err != nil {
			return nil, err
		}
		var rec map[string]types.AttributeValue
		var pending []string
		for _, item := range items {
			if v, ok := item[attrSK].(*types.AttributeValueMemberS); ok && v.Value == pendingSK {
				pending = pendingOf(item)
			} else {
				rec = item
			}
		}
		if len(pending) > 0 && attempt < 3 {
			if err := s.sweep(ctx, pk, conn, pending); err != nil {
				return nil, err
			}
			continue
		}
		if rec == nil {
			return nil, scim.NotFoundError(typ, id)
		}
		out, err := decodeRecord(rec)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		if out.Pend != "" && attempt < 3 {
			// A membership change of this group is open but not in the
			// pending set yet (impossible: both are in one transaction);
			// roll it forward all the same.
			if err := s.rollForward(ctx, pk, conn, intentSK(typ, id)); err != nil {
				return nil, err
			}
			continue
		}
		return out, nil
	}
}

// batchGet reads keys with consistent reads, retrying unprocessed keys.
func (s *Store) batchGet(ctx context.Context, keys []map[string]types.AttributeValue, op string) ([]map[string]types.AttributeValue, error) {
	request := map[string]types.KeysAndAttributes{s.table: {Keys: keys, ConsistentRead: aws.Bool(true)}}
	var out []map[string]types.AttributeValue
	for attempt := 1; len(request) > 0; attempt++ {
		res, err := s.db.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: request})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		out = append(out, res.Responses[s.table]...)
		request = res.UnprocessedKeys
		if len(request) > 0 {
			if err := s.backoff(ctx, min(attempt, 6)); err != nil {
				return nil, fmt.Errorf("%s: %w", op, err)
			}
		}
	}
	return out, nil
}
