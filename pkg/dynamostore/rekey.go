package dynamostore

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/scimgate/scimgate/pkg/scim"
)

// RekeyResult says what RekeyNames did in one connection.
type RekeyResult struct {
	// Moved counts the guards moved to their new key.
	Moved int
	// Kept lists the ids whose new key another (older) resource holds:
	// their guard stays on the old key, so nothing is lost and they stay
	// reachable by id and externalId.
	Kept []string
}

// RekeyNames moves conn's userName and displayName guards (UN#, GN#) from
// the key earlier versions wrote, strings.ToLower of the name, to
// scim.NameKey's PRECIS key. Names whose two keys are equal (every ASCII
// userName, and every ASCII displayName without leading, trailing or doubled
// spaces) are left alone, so on most tables it writes nothing. Resources
// are taken oldest first: where two names now share a key, the one already
// holding it (its key did not change) or else the older keeps
// it. Each move is one transaction (new guard put if absent, old guard
// deleted if still this resource's), so the pass is idempotent and can be
// interrupted and run again, also while the connection serves requests.
func (s *Store) RekeyNames(ctx context.Context, conn scim.Connection) (RekeyResult, error) {
	var res RekeyResult
	pk, err := connPK(conn)
	if err != nil {
		return res, err
	}
	for _, typ := range []scim.ResourceType{scim.UserResource, scim.GroupResource} {
		recs, err := s.liveRecords(ctx, pk, typ)
		if err != nil {
			return res, err
		}
		sort.Slice(recs, func(i, j int) bool {
			if recs[i].Created != recs[j].Created {
				return recs[i].Created < recs[j].Created
			}
			return recs[i].ID < recs[j].ID
		})
		for _, rec := range recs {
			oldSK := typeLetter(typ) + "N#" + strings.ToLower(rec.Name)
			newSK := nameGuardSK(typ, rec.Name)
			if oldSK == newSK {
				continue
			}
			moved, kept, err := s.moveGuard(ctx, pk, oldSK, newSK, rec.ID)
			if err != nil {
				return res, err
			}
			if moved {
				res.Moved++
			}
			if kept {
				res.Kept = append(res.Kept, rec.ID)
			}
		}
	}
	return res, nil
}

// moveGuard reports whether it moved the guard, and whether the guard stays
// on the old key because newSK belongs to another resource. Neither means
// an earlier pass moved it already.
func (s *Store) moveGuard(ctx context.Context, pk, oldSK, newSK, id string) (moved, kept bool, err error) {
	if len(newSK) > maxKeyBytes {
		return false, true, nil
	}
	failures, err := s.transact(ctx, "rekey name", []txItem{s.guardPut(pk, newSK, id, roleNameGuard), s.guardRelease(pk, oldSK, id)})
	if err != nil || len(failures) == 0 {
		return err == nil, false, err
	}
	guard, err := s.getItem(ctx, pk, newSK, "rekey name")
	if err != nil {
		return false, false, err
	}
	if owner, ok := guard[attrOwner].(*types.AttributeValueMemberS); !ok || owner.Value != id {
		return false, true, nil
	}
	// Moved by an earlier pass; an interrupted one may have left the old guard.
	old, err := s.getItem(ctx, pk, oldSK, "rekey name")
	if err != nil || len(old) == 0 {
		return false, false, err
	}
	if failures, err := s.transact(ctx, "rekey name", []txItem{s.guardRelease(pk, oldSK, id)}); err != nil || len(failures) > 0 {
		return false, false, err
	}
	return true, false, nil
}

func (s *Store) liveRecords(ctx context.Context, pk string, typ scim.ResourceType) ([]*record, error) {
	in := &dynamodb.QueryInput{
		TableName:                s.tableName(),
		KeyConditionExpression:   aws.String("#pk = :pk AND begins_with(#sk, :prefix)"),
		ExpressionAttributeNames: map[string]string{"#pk": attrPK, "#sk": attrSK, "#id": "id", "#name": attrName, "#created": attrCreated},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": str(pk), ":prefix": str(typeLetter(typ) + "#"),
		},
		ProjectionExpression: aws.String("#id, #name, #created"),
		ConsistentRead:       aws.Bool(true),
	}
	var recs []*record
	for {
		out, err := s.db.Query(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("rekey names: %w", err)
		}
		for _, item := range out.Items {
			rec, err := decodeRecord(item)
			if err != nil {
				return nil, fmt.Errorf("rekey names: %w", err)
			}
			recs = append(recs, rec)
		}
		if len(out.LastEvaluatedKey) == 0 {
			return recs, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}
