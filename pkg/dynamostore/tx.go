package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/scimgate/scimgate/pkg/scim"
)

// maxTransactItems is DynamoDB's limit of items per TransactWriteItems.
// https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis.html
const maxTransactItems = 100

// role says what an item of a transaction stands for, so that a
// cancellation can be turned into the client-facing error it means.
type role int

const (
	roleOther            role = iota
	roleResource              // the user or group item itself
	roleNameGuard             // a new userName/displayName guard
	roleExtGuard              // a new externalId guard
	roleOldGuard              // a guard being released
	roleMemberAdd             // a user item gaining a group id
	roleMemberRemove          // a user item losing a group id
	roleGroupCheck            // the group must still exist
	roleMemberItemAdd         // a member item put only if not there yet
	roleMemberItemRemove      // a member item deleted only if there
	roleIntent                // an intent item (intent.go)
	roleToken                 // a new token item
)

type txItem struct {
	write types.TransactWriteItem
	role  role
	id    string // the member's user id for roleMemberAdd/roleMemberRemove
}

// condFailure is one item whose condition failed in a cancelled transaction.
type condFailure struct {
	index int
	role  role
	id    string
	// old is the item as it was, when the write asked for ALL_OLD and the item existed.
	old map[string]types.AttributeValue
}

// transact runs items as one transaction. It returns the items whose
// conditions failed (nothing was written then), or an error for anything
// that is not a condition failure. Cancellations caused only by
// TransactionConflict or throttling are retried with jittered backoff
// (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis.html#transaction-conflict-handling).
func (s *Store) transact(ctx context.Context, op string, items []txItem) ([]condFailure, error) {
	writes := make([]types.TransactWriteItem, len(items))
	for i, it := range items {
		writes[i] = it.write
	}
	start := time.Now()
	for attempt := 1; ; attempt++ {
		// A fresh input every attempt: the SDK fills ClientRequestToken into
		// the input, and a retry must not reuse the token of a cancelled call.
		_, err := s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: writes})
		if err == nil {
			return nil, nil
		}
		var canceled *types.TransactionCanceledException
		if !errors.As(err, &canceled) {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		var failures []condFailure
		retryable := false
		for i, reason := range canceled.CancellationReasons {
			switch aws.ToString(reason.Code) {
			case "ConditionalCheckFailed":
				if i < len(items) {
					failures = append(failures, condFailure{index: i, role: items[i].role, id: items[i].id, old: reason.Item})
				}
			case "TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded":
				retryable = true
			}
		}
		if len(failures) > 0 {
			return failures, nil
		}
		if !retryable {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		if attempt >= s.conflictAttempts || !s.backoffWithin(ctx, start, attempt) {
			return nil, contended(op, err)
		}
	}
}

// contended is the answer when conflicts outlasted the retries: 503 with
// Retry-After, nothing of the transaction written.
func contended(op string, err error) error {
	return &scim.Error{Code: scim.EUnavailable, Detail: "the resource is being changed by other requests at this moment; nothing was changed, retry the request", Err: fmt.Errorf("%s: %w", op, err)}
}

// backoffWithin sleeps as backoff does, unless that would take the retries
// of an operation begun at start past the store's retry bound or the
// context's deadline; it reports whether to try again.
func (s *Store) backoffWithin(ctx context.Context, start time.Time, attempt int) bool {
	ceiling := s.conflictBase << min(attempt-1, 10)
	wait := time.Millisecond
	if ceiling > 0 {
		wait += rand.N(ceiling)
	}
	if time.Since(start)+wait > s.retryBound {
		return false
	}
	if d, ok := ctx.Deadline(); ok && time.Until(d) < wait {
		return false
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}

// backoff sleeps a random time below conflictBase·2^(attempt-1) ("full
// jitter"), so that transactions that collided spread out instead of
// colliding again.
func (s *Store) backoff(ctx context.Context, attempt int) error {
	ceiling := s.conflictBase << min(attempt-1, 10)
	if ceiling <= 0 {
		return ctx.Err()
	}
	timer := time.NewTimer(rand.N(ceiling) + time.Millisecond)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}

func putItem(table *string, item map[string]types.AttributeValue, cond string, names map[string]string, values map[string]types.AttributeValue) types.TransactWriteItem {
	p := &types.Put{TableName: table, Item: item}
	if cond != "" {
		p.ConditionExpression = aws.String(cond)
		p.ExpressionAttributeNames = names
		p.ExpressionAttributeValues = values
	}
	return types.TransactWriteItem{Put: p}
}

func deleteItem(table *string, k map[string]types.AttributeValue, cond string, names map[string]string, values map[string]types.AttributeValue) types.TransactWriteItem {
	d := &types.Delete{TableName: table, Key: k}
	if cond != "" {
		d.ConditionExpression = aws.String(cond)
		d.ExpressionAttributeNames = names
		d.ExpressionAttributeValues = values
	}
	return types.TransactWriteItem{Delete: d}
}

func updateItem(table *string, k map[string]types.AttributeValue, update, cond string, names map[string]string, values map[string]types.AttributeValue) types.TransactWriteItem {
	u := &types.Update{
		TableName: table, Key: k, UpdateExpression: aws.String(update),
		ExpressionAttributeNames: names, ExpressionAttributeValues: values,
	}
	if cond != "" {
		u.ConditionExpression = aws.String(cond)
	}
	return types.TransactWriteItem{Update: u}
}

// guardPut claims a uniqueness key for ownerID; it fails if anyone holds it.
func (s *Store) guardPut(pk, sk, ownerID string, r role) txItem {
	item := key(pk, sk)
	item[attrOwner] = str(ownerID)
	return txItem{role: r, write: putItem(s.tableName(), item, "attribute_not_exists(#pk)", names(attrPK), nil)}
}

// guardRelease frees a uniqueness key if it still belongs to ownerID. A
// guard that is already gone is not an error: releasing is idempotent.
func (s *Store) guardRelease(pk, sk, ownerID string) txItem {
	return txItem{role: roleOldGuard, write: deleteItem(s.tableName(), key(pk, sk),
		"attribute_not_exists(#pk) OR #owner = :id", names(attrPK, attrOwner),
		map[string]types.AttributeValue{":id": str(ownerID)})}
}

// counterAdd moves a connection's resource count by delta, in the shard of id.
func (s *Store) counterAdd(pk string, typ scim.ResourceType, id string, delta int64) txItem {
	return txItem{write: updateItem(s.tableName(), key(pk, counterSK(typ, id)), "ADD #n :d", "",
		names(attrCount), map[string]types.AttributeValue{":d": num(delta)})}
}
