package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/scimgate/scimgate/pkg/auth"
	"github.com/scimgate/scimgate/pkg/changes"
	"github.com/scimgate/scimgate/pkg/scim"
)

// A token is an item in its connection's partition, keyed by its hash:
// the request names the connection and the presented secret gives the
// hash, so authentication reads the token and the connection item in one
// BatchGetItem, and a connection's tokens are one Query. The public id is
// the hash's prefix, so a token by id is a Query on that prefix.
const (
	tokenPrefix  = "T#"
	attrExpires  = "expires"
	attrDesc     = "desc"
	attrLastUsed = "last_used"
	attrRevoked  = "revoked"
)

func tokenSK(hash string) string { return tokenPrefix + hash }

// lastUsedLayout has a fixed width, so that TouchToken's condition can
// compare stored times as strings.
const lastUsedLayout = "2006-01-02T15:04:05.000000000Z"

func formatLastUsed(t time.Time) string { return t.UTC().Format(lastUsedLayout) }

// tokenRecord is a token item.
type tokenRecord struct {
	SK       string `dynamodbav:"sk"`
	ID       string `dynamodbav:"id"`
	Created  string `dynamodbav:"created"`
	Expires  string `dynamodbav:"expires,omitempty"`
	Desc     string `dynamodbav:"desc,omitempty"`
	LastUsed string `dynamodbav:"last_used,omitempty"`
	Revoked  string `dynamodbav:"revoked,omitempty"`
}

func validHash(hash string) bool {
	if len(hash) != 64 {
		return false
	}
	for _, c := range hash {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func tokenItem(pk string, t auth.TokenInfo) (map[string]types.AttributeValue, error) {
	if !validHash(t.Hash) || t.ID != auth.TokenID(t.Hash) {
		return nil, fmt.Errorf("token %q with hash %q is not storable", t.ID, t.Hash)
	}
	item := key(pk, tokenSK(t.Hash))
	item[attrID] = str(t.ID)
	item[attrCreated] = str(formatTime(t.Created))
	for attr, at := range map[string]time.Time{attrExpires: t.Expires, attrRevoked: t.Revoked} {
		if !at.IsZero() {
			item[attr] = str(formatTime(at))
		}
	}
	if !t.LastUsed.IsZero() {
		item[attrLastUsed] = str(formatLastUsed(t.LastUsed))
	}
	if t.Description != "" {
		item[attrDesc] = str(t.Description)
	}
	return item, nil
}

func decodeToken(conn scim.Connection, item map[string]types.AttributeValue) (*auth.TokenInfo, error) {
	var rec tokenRecord
	if err := unmarshal(item, &rec); err != nil {
		return nil, err
	}
	t := &auth.TokenInfo{ID: rec.ID, Hash: strings.TrimPrefix(rec.SK, tokenPrefix), Conn: conn, Description: rec.Desc}
	for _, f := range []struct {
		src string
		dst *time.Time
	}{{rec.Created, &t.Created}, {rec.Expires, &t.Expires}, {rec.LastUsed, &t.LastUsed}, {rec.Revoked, &t.Revoked}} {
		var err error
		if *f.dst, err = parseTime(f.src); err != nil {
			return nil, fmt.Errorf("decode token %s: %w", rec.ID, err)
		}
	}
	return t, nil
}

// AddToken is one TransactWriteItems: the token item, and the connection
// item and directory entry, created active if missing and refused if deleted.
func (s *Store) AddToken(ctx context.Context, t auth.TokenInfo) error {
	const op = "create token"
	pk, err := connPK(t.Conn)
	if err != nil {
		return err
	}
	token, err := tokenItem(pk, t)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	ensure := func(k map[string]types.AttributeValue) txItem {
		return txItem{write: updateItem(s.tableName(), k,
			"SET #tenant = :tenant, #sso = :sso, #created = if_not_exists(#created, :created), #state = if_not_exists(#state, :active)",
			"attribute_not_exists(#deleted)",
			names(attrTenant, attrSSO, attrCreated, attrState, attrDeleted), map[string]types.AttributeValue{
				":tenant": str(t.Conn.Tenant), ":sso": str(t.Conn.SSO), ":created": str(formatTime(t.Created)),
				":active": str(string(auth.StateActive)),
			})}
	}
	// token.created, in the same transaction.
	recs, err := auth.JournalFrom(ctx).Token(changes.TokenCreated, t, t.Created)
	if err != nil {
		return err
	}
	puts, err := s.recordPuts(recs)
	if err != nil {
		return err
	}
	failures, err := s.transact(ctx, op, append([]txItem{
		{role: roleToken, write: putItem(s.tableName(), token, "attribute_not_exists(#pk)", names(attrPK), nil)},
		ensure(key(pk, connectionSK)),
		ensure(key(directoryPK, directorySK(t.Conn))),
	}, puts...))
	if err != nil {
		return err
	}
	for _, f := range failures {
		if f.role != roleToken {
			return deletedConnectionError(t.Conn)
		}
	}
	if len(failures) > 0 {
		return scim.Errorf(scim.EUniqueness, "this token is already stored")
	}
	return nil
}

// maxBatchAttempts bounds the retries of a batch call's unprocessed part.
const maxBatchAttempts = 8

// FindToken is one BatchGetItem of the token item and the connection item,
// strongly consistent, so that a revocation or a disable applies to the
// very next request.
func (s *Store) FindToken(ctx context.Context, conn scim.Connection, hash string) (*auth.Credential, error) {
	const op = "find token"
	notFound := scim.Errorf(scim.ENotFound, "token not found")
	pk, err := connPK(conn)
	if err != nil {
		return nil, err
	}
	if !validHash(hash) {
		return nil, notFound
	}
	keys := &types.KeysAndAttributes{
		Keys:           []map[string]types.AttributeValue{key(pk, tokenSK(hash)), key(pk, connectionSK)},
		ConsistentRead: aws.Bool(true),
	}
	var tokenItem, connItem map[string]types.AttributeValue
	for attempt := 1; ; attempt++ {
		out, err := s.db.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{
			RequestItems: map[string]types.KeysAndAttributes{s.table: *keys},
		})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		for _, item := range out.Responses[s.table] {
			if sk, ok := item[attrSK].(*types.AttributeValueMemberS); ok && sk.Value == connectionSK {
				connItem = item
			} else {
				tokenItem = item
			}
		}
		left, ok := out.UnprocessedKeys[s.table]
		if !ok || len(left.Keys) == 0 {
			break
		}
		if attempt >= maxBatchAttempts {
			return nil, fmt.Errorf("%s: keys still unprocessed after %d attempts", op, attempt)
		}
		if err := s.backoff(ctx, attempt); err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		keys = &left
	}
	if tokenItem == nil {
		return nil, notFound
	}
	tok, err := decodeToken(conn, tokenItem)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	cred := &auth.Credential{Token: *tok}
	if connItem != nil {
		if cred.Connection, err = decodeConnection(connItem); err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
	}
	return cred, nil
}

// TouchToken is at most one conditional UpdateItem; it writes only if the
// stored last use is older than at-granularity, so concurrent servers
// record one use per granularity between them.
func (s *Store) TouchToken(ctx context.Context, conn scim.Connection, hash string, at time.Time, granularity time.Duration) error {
	const op = "touch token"
	pk, err := connPK(conn)
	if err != nil {
		return err
	}
	if !validHash(hash) {
		return nil
	}
	_, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                s.tableName(),
		Key:                      key(pk, tokenSK(hash)),
		UpdateExpression:         aws.String("SET #last_used = :at"),
		ConditionExpression:      aws.String("attribute_exists(#pk) AND (attribute_not_exists(#last_used) OR #last_used < :threshold)"),
		ExpressionAttributeNames: names(attrPK, attrLastUsed),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":at": str(formatLastUsed(at)), ":threshold": str(formatLastUsed(at.Add(-granularity))),
		},
	})
	var failed *types.ConditionalCheckFailedException
	if errors.As(err, &failed) {
		return nil // fresh already, or gone: nothing to record
	}
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return nil
}

// ListTokens is one Query per 1 MB of the connection's tokens.
func (s *Store) ListTokens(ctx context.Context, conn scim.Connection) ([]auth.TokenInfo, error) {
	toks, err := s.queryTokens(ctx, conn, tokenPrefix, 0, "list tokens")
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(toks, func(a, b auth.TokenInfo) int {
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return toks, nil
}

func (s *Store) queryTokens(ctx context.Context, conn scim.Connection, prefix string, limit int32, op string) ([]auth.TokenInfo, error) {
	pk, err := connPK(conn)
	if err != nil {
		return nil, err
	}
	in := &dynamodb.QueryInput{
		TableName:                s.tableName(),
		KeyConditionExpression:   aws.String("#pk = :pk AND begins_with(#sk, :prefix)"),
		ExpressionAttributeNames: names(attrPK, attrSK),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": str(pk), ":prefix": str(prefix),
		},
		ConsistentRead: aws.Bool(true),
	}
	if limit > 0 {
		in.Limit = aws.Int32(limit)
	}
	toks := []auth.TokenInfo{}
	for {
		out, err := s.db.Query(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		for _, item := range out.Items {
			t, err := decodeToken(conn, item)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", op, err)
			}
			toks = append(toks, *t)
		}
		if len(out.LastEvaluatedKey) == 0 || limit > 0 {
			return toks, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

func tokenNotFound(conn scim.Connection, id string) error {
	return scim.Errorf(scim.ENotFound, "connection %s has no token %q", conn, id)
}

// GetTokenByID is one Query on the id, which is the prefix of the hash.
func (s *Store) GetTokenByID(ctx context.Context, conn scim.Connection, id string) (*auth.TokenInfo, error) {
	if err := conn.Validate(); err != nil {
		return nil, err
	}
	if !auth.ValidTokenID(id) {
		return nil, tokenNotFound(conn, id)
	}
	toks, err := s.queryTokens(ctx, conn, tokenPrefix+id, 2, "get token")
	if err != nil {
		return nil, err
	}
	switch len(toks) {
	case 0:
		return nil, tokenNotFound(conn, id)
	case 1:
		return &toks[0], nil
	}
	return nil, fmt.Errorf("get token: connection %s has two tokens with id %s", conn, id)
}

// RotateToken reads the old token (one Query), then one TransactWriteItems:
// the old token's new expiry (if it is not revoked), the new token, and a
// check that the connection is live.
func (s *Store) RotateToken(ctx context.Context, conn scim.Connection, oldID string, expires time.Time, next auth.TokenInfo) (time.Time, error) {
	const op = "rotate token"
	pk, err := connPK(conn)
	if err != nil {
		return time.Time{}, err
	}
	if next.Conn != conn {
		return time.Time{}, fmt.Errorf("%s of %s: the new token is for %s", op, conn, next.Conn)
	}
	old, err := s.GetTokenByID(ctx, conn, oldID)
	if err != nil {
		return time.Time{}, err
	}
	if !old.Revoked.IsZero() {
		return time.Time{}, revokedRotationError(oldID)
	}
	token, err := tokenItem(pk, next)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s: %w", op, err)
	}
	notRevoked := "attribute_exists(#pk) AND attribute_not_exists(#revoked)"
	oldKey := key(pk, tokenSK(old.Hash))
	var oldWrite types.TransactWriteItem
	if old.Expires.IsZero() || old.Expires.After(expires) {
		oldWrite = updateItem(s.tableName(), oldKey, "SET #expires = :e", notRevoked,
			names(attrPK, attrRevoked, attrExpires), map[string]types.AttributeValue{":e": str(formatTime(expires))})
	} else {
		oldWrite = conditionCheck(s.tableName(), oldKey, notRevoked, names(attrPK, attrRevoked))
		expires = old.Expires
	}
	// token.rotated (the old token, its expiry as it now stands) and
	// token.created (the new one), in the same transaction.
	j := auth.JournalFrom(ctx)
	rotated := *old
	rotated.Expires = expires
	recs, err := j.Token(changes.TokenRotated, rotated, next.Created, "expires")
	if err != nil {
		return time.Time{}, err
	}
	more, err := j.Token(changes.TokenCreated, next, next.Created)
	if err != nil {
		return time.Time{}, err
	}
	puts, err := s.recordPuts(append(recs, more...))
	if err != nil {
		return time.Time{}, err
	}
	failures, err := s.transact(ctx, op, append([]txItem{
		{write: oldWrite},
		{role: roleToken, write: putItem(s.tableName(), token, "attribute_not_exists(#pk)", names(attrPK), nil)},
		{write: conditionCheck(s.tableName(), key(pk, connectionSK), liveCondition, names(attrPK, attrDeleted))},
	}, puts...))
	if err != nil {
		return time.Time{}, err
	}
	for _, f := range failures {
		switch f.index {
		case 0:
			return time.Time{}, revokedRotationError(oldID) // revoked (or erased) since it was read
		case 2:
			return time.Time{}, connectionNotFound(conn)
		}
	}
	if len(failures) > 0 {
		return time.Time{}, scim.Errorf(scim.EUniqueness, "this token is already stored")
	}
	return expires, nil
}

func revokedRotationError(id string) error {
	return scim.Errorf(scim.EInvalidValue, "token %s is revoked and cannot be rotated; create a new token instead", id)
}

func conditionCheck(table *string, k map[string]types.AttributeValue, cond string, names map[string]string) types.TransactWriteItem {
	return types.TransactWriteItem{ConditionCheck: &types.ConditionCheck{
		TableName: table, Key: k, ConditionExpression: aws.String(cond), ExpressionAttributeNames: names,
	}}
}

// RevokeToken reads the token (one Query), then one UpdateItem that keeps
// the first revocation time and returns the token as it now is.
func (s *Store) RevokeToken(ctx context.Context, conn scim.Connection, id string, at time.Time) (*auth.TokenInfo, error) {
	const op = "revoke token"
	pk, err := connPK(conn)
	if err != nil {
		return nil, err
	}
	tok, err := s.GetTokenByID(ctx, conn, id)
	if err != nil {
		return nil, err
	}
	if j := auth.JournalFrom(ctx); j != nil {
		return s.revokeRecorded(ctx, j, pk, tok, at)
	}
	out, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 s.tableName(),
		Key:                       key(pk, tokenSK(tok.Hash)),
		UpdateExpression:          aws.String("SET #revoked = if_not_exists(#revoked, :at)"),
		ConditionExpression:       aws.String("attribute_exists(#pk)"),
		ExpressionAttributeNames:  names(attrPK, attrRevoked),
		ExpressionAttributeValues: map[string]types.AttributeValue{":at": str(formatTime(at))},
		ReturnValues:              types.ReturnValueAllNew,
	})
	var failed *types.ConditionalCheckFailedException
	if errors.As(err, &failed) {
		return nil, tokenNotFound(conn, id)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	if tok, err = decodeToken(conn, out.Attributes); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return tok, nil
}

// revokeRecorded is RevokeToken with its token.revoked record: the
// UpdateItem becomes a TransactWriteItems of the update and the record, one
// round trip still. A token revoked already is a no-op: no write, no record.
func (s *Store) revokeRecorded(ctx context.Context, j *auth.Journal, pk string, tok *auth.TokenInfo, at time.Time) (*auth.TokenInfo, error) {
	const op = "revoke token"
	if !tok.Revoked.IsZero() {
		return tok, nil
	}
	revoked := *tok
	revoked.Revoked = at.UTC()
	recs, err := j.Token(changes.TokenRevoked, revoked, at, "revoked")
	if err != nil {
		return nil, err
	}
	puts, err := s.recordPuts(recs)
	if err != nil {
		return nil, err
	}
	failures, err := s.transact(ctx, op, append([]txItem{{write: updateItem(s.tableName(), key(pk, tokenSK(tok.Hash)),
		"SET #revoked = :at", "attribute_exists(#pk) AND attribute_not_exists(#revoked)",
		names(attrPK, attrRevoked), map[string]types.AttributeValue{":at": str(formatTime(at))})}}, puts...))
	if err != nil {
		return nil, err
	}
	if len(failures) > 0 {
		// Revoked (or erased) since it was read: what is stored now stands.
		return s.GetTokenByID(ctx, tok.Conn, tok.ID)
	}
	return &revoked, nil
}
