package dynamostore

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/scimgate/scimgate/pkg/observed"
	"github.com/scimgate/scimgate/pkg/scim"
)

// The observed schema (pkg/observed) lives in the connection's partition,
// one item per key under observedPrefix: a purge erases it with the rest of
// the partition, and one Query lists it.
const observedPrefix = "OBS#"

// Attributes of an observed item.
const (
	attrObsType  = "rt" // resource type
	attrObsURN   = "urn"
	attrObsAttr  = "attr"
	attrObsJSON  = "jt"
	attrObsFirst = "first"
	attrObsLast  = "last"
)

// observedTimeLayout: RFC 3339 UTC to the millisecond, fixed width.
const observedTimeLayout = "2006-01-02T15:04:05.000Z"

// observedSK is the sort key of an entry: its case-folded key. The names'
// bounds (observed.MaxURNBytes, MaxAttributeBytes) keep it below 1 KB.
func observedSK(k observed.Key) string {
	return observedPrefix + typeLetter(k.ResourceType) + "#" + k.URN + "#" + k.Attribute + "#" + k.JSONType
}

var _ observed.Store = (*Store)(nil)

// AddObserved implements observed.Store: one UpdateItem per delta (ADD the
// count, SET last seen, first seen and the names if_not_exists), which is
// both the insert and the update, so no read precedes it. DynamoDB has no
// batch update: a flush of k keys is k requests of 1 WCU each.
func (s *Store) AddObserved(ctx context.Context, conn scim.Connection, deltas []observed.Entry) error {
	pk, err := connPK(conn)
	if err != nil {
		return fmt.Errorf("add observed: %w", err)
	}
	for _, d := range deltas {
		k := d.Key()
		sk := observedSK(k)
		if len(sk) > maxKeyBytes {
			return fmt.Errorf("add observed %s %s: the key is longer than %d bytes", d.URN, d.Attribute, maxKeyBytes)
		}
		_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: s.tableName(),
			Key:       key(pk, sk),
			UpdateExpression: aws.String("SET #typ = :typ, #rt = :rt, #jt = :jt, #last = :last, " +
				"#urn = if_not_exists(#urn, :urn), #attr = if_not_exists(#attr, :attr), #first = if_not_exists(#first, :first) ADD #n :n"),
			ExpressionAttributeNames: names(attrType, attrObsType, attrObsJSON, attrObsLast, attrObsURN, attrObsAttr, attrObsFirst, attrCount),
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":typ": str("observed"), ":rt": str(string(k.ResourceType)), ":jt": str(k.JSONType),
				":last":  str(d.LastSeen.UTC().Format(observedTimeLayout)),
				":first": str(d.FirstSeen.UTC().Format(observedTimeLayout)),
				":urn":   str(d.URN), ":attr": str(d.Attribute), ":n": num(d.Count),
			},
		})
		if err != nil {
			return fmt.Errorf("add observed %s %s: %w", d.URN, d.Attribute, err)
		}
	}
	return nil
}

// ListObserved implements observed.Store: one Query of the connection's
// observed items (200 keys are about 40 KB: one page), eventually
// consistent, as the counts are a flush interval stale anyway.
func (s *Store) ListObserved(ctx context.Context, conn scim.Connection) ([]observed.Entry, error) {
	pk, err := connPK(conn)
	if err != nil {
		return nil, fmt.Errorf("list observed: %w", err)
	}
	in := &dynamodb.QueryInput{
		TableName:                s.tableName(),
		KeyConditionExpression:   aws.String("#pk = :pk AND begins_with(#sk, :prefix)"),
		ExpressionAttributeNames: names(attrPK, attrSK),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": str(pk), ":prefix": str(observedPrefix),
		},
	}
	var out []observed.Entry
	for {
		page, err := s.db.Query(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("list observed: %w", err)
		}
		for _, item := range page.Items {
			e, err := observedEntry(conn, item)
			if err != nil {
				return nil, fmt.Errorf("list observed: %w", err)
			}
			out = append(out, e)
		}
		if len(page.LastEvaluatedKey) == 0 {
			return out, nil
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
	}
}

func observedEntry(conn scim.Connection, item map[string]types.AttributeValue) (observed.Entry, error) {
	text := func(name string) string {
		v, _ := item[name].(*types.AttributeValueMemberS)
		if v == nil {
			return ""
		}
		return v.Value
	}
	e := observed.Entry{Conn: conn, ResourceType: scim.ResourceType(text(attrObsType)), URN: text(attrObsURN),
		Attribute: text(attrObsAttr), JSONType: text(attrObsJSON)}
	n, _ := item[attrCount].(*types.AttributeValueMemberN)
	if n == nil {
		return e, fmt.Errorf("observed item %s without a count", text(attrSK))
	}
	var err error
	if e.Count, err = strconv.ParseInt(n.Value, 10, 64); err != nil {
		return e, fmt.Errorf("observed item %s: count: %w", text(attrSK), err)
	}
	if e.FirstSeen, err = time.Parse(time.RFC3339Nano, text(attrObsFirst)); err != nil {
		return e, fmt.Errorf("observed item %s: first seen: %w", text(attrSK), err)
	}
	if e.LastSeen, err = time.Parse(time.RFC3339Nano, text(attrObsLast)); err != nil {
		return e, fmt.Errorf("observed item %s: last seen: %w", text(attrSK), err)
	}
	return e, nil
}
