package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/scimgate/scimgate/pkg/auth"
	"github.com/scimgate/scimgate/pkg/changes"
	"github.com/scimgate/scimgate/pkg/scim"
)

var _ auth.ConnectionStore = (*Store)(nil)

// A connection is two items written together: the connection item in its
// own partition, which authentication reads with the token (one
// BatchGetItem, the load spread over every connection's partition), and a
// directory entry in the one partition that lists connections. Only admin
// operations touch the directory, so its single partition is never hot.
const (
	directoryPK = "CONNS"
	attrState   = "state"
)

// directorySK orders the directory by tenant, then sso: "#" sorts below
// every character of a tenant id, so "acme#..." comes before "acme-corp#...".
func directorySK(conn scim.Connection) string { return conn.Tenant + "#" + conn.SSO }

// connectionItem is both the connection item and its directory entry.
type connectionItem struct {
	Tenant  string `dynamodbav:"tenant"`
	SSO     string `dynamodbav:"sso"`
	Name    string `dynamodbav:"name,omitempty"`
	State   string `dynamodbav:"state"`
	Created string `dynamodbav:"created"`
	Deleted string `dynamodbav:"deleted,omitempty"`
	// UnknownExtensions: scim.ExtensionPolicy; absent is the default, store.
	UnknownExtensions string `dynamodbav:"unknown_extensions,omitempty"`
	// DeclaredSchemas: canonical JSON of scim.Declaration; absent declares
	// none. On the connection item only, never on the directory entry
	// (extensions.go says why).
	DeclaredSchemas string `dynamodbav:"declared_schemas,omitempty"`
}

func decodeConnection(item map[string]types.AttributeValue) (*auth.ConnectionRecord, error) {
	var ci connectionItem
	if err := unmarshal(item, &ci); err != nil {
		return nil, err
	}
	c := &auth.ConnectionRecord{
		Conn: scim.Connection{Tenant: ci.Tenant, SSO: ci.SSO}, Name: ci.Name, State: auth.ConnectionState(ci.State),
		UnknownExtensions: scim.ExtensionPolicy(ci.UnknownExtensions),
		DeclaredSchemas:   ci.DeclaredSchemas,
	}
	if c.State == "" {
		c.State = auth.StateActive
	}
	var err error
	if c.Created, err = parseTime(ci.Created); err != nil {
		return nil, fmt.Errorf("decode created of connection %s: %w", c.Conn, err)
	}
	if c.Deleted, err = parseTime(ci.Deleted); err != nil {
		return nil, fmt.Errorf("decode deleted of connection %s: %w", c.Conn, err)
	}
	return c, nil
}

// parseTime reads a stored time; "" is the zero time.
func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, err
	}
	return t.UTC(), nil
}

func connectionNotFound(conn scim.Connection) error {
	return scim.Errorf(scim.ENotFound, "connection %s not found", conn)
}

func deletedConnectionError(conn scim.Connection) error {
	return scim.Errorf(scim.EUniqueness, "connection %s was deleted; purge it before using its name again", conn)
}

// liveCondition is true of a connection item (or directory entry) that exists and is not deleted.
const liveCondition = "attribute_exists(#pk) AND attribute_not_exists(#deleted)"

// CreateConnection is one TransactWriteItems: the connection item, its
// directory entry and the first token, each put only if absent.
func (s *Store) CreateConnection(ctx context.Context, c auth.ConnectionRecord, first auth.TokenInfo) error {
	const op = "create connection"
	pk, err := connPK(c.Conn)
	if err != nil {
		return err
	}
	if first.Conn != c.Conn {
		return fmt.Errorf("%s %s: its first token is for %s", op, c.Conn, first.Conn)
	}
	if c.State == "" {
		c.State = auth.StateActive
	}
	token, err := tokenItem(pk, first)
	if err != nil {
		return fmt.Errorf("%s %s: %w", op, c.Conn, err)
	}
	ci := map[string]types.AttributeValue{
		attrTenant: str(c.Conn.Tenant), attrSSO: str(c.Conn.SSO), attrState: str(string(c.State)),
		attrCreated: str(formatTime(c.Created)),
	}
	if c.Name != "" {
		ci[attrName] = str(c.Name)
	}
	absent := func(pk, sk string) types.TransactWriteItem {
		item := key(pk, sk)
		for k, v := range ci {
			item[k] = v
		}
		return putItem(s.tableName(), item, "attribute_not_exists(#pk)", names(attrPK), nil)
	}
	items := []txItem{
		{write: absent(pk, connectionSK)},
		{write: absent(directoryPK, directorySK(c.Conn))},
		{role: roleToken, write: putItem(s.tableName(), token, "attribute_not_exists(#pk)", names(attrPK), nil)},
	}
	// connection.created and token.created, in the same transaction.
	j := auth.JournalFrom(ctx)
	recs, err := j.Connection(changes.ConnectionCreated, c, c.Created)
	if err != nil {
		return err
	}
	more, err := j.Token(changes.TokenCreated, first, first.Created)
	if err != nil {
		return err
	}
	puts, err := s.recordPuts(append(recs, more...))
	if err != nil {
		return err
	}
	failures, err := s.transact(ctx, op, append(items, puts...))
	if err != nil {
		return err
	}
	for _, f := range failures {
		if f.role != roleToken {
			return scim.Errorf(scim.EUniqueness, "connection %s already exists", c.Conn)
		}
	}
	if len(failures) > 0 {
		return scim.Errorf(scim.EUniqueness, "this token is already stored")
	}
	return nil
}

// GetConnection is one GetItem of the connection item.
func (s *Store) GetConnection(ctx context.Context, conn scim.Connection) (*auth.ConnectionRecord, error) {
	c, err := s.LookupConnection(ctx, conn)
	if err != nil {
		return nil, err
	}
	if !c.Live() {
		return nil, connectionNotFound(conn)
	}
	return c, nil
}

// LookupConnection is one GetItem of the connection item.
func (s *Store) LookupConnection(ctx context.Context, conn scim.Connection) (*auth.ConnectionRecord, error) {
	const op = "get connection"
	pk, err := connPK(conn)
	if err != nil {
		return nil, err
	}
	item, err := s.getItem(ctx, pk, connectionSK, op)
	if err != nil {
		return nil, err
	}
	if item == nil {
		return nil, connectionNotFound(conn)
	}
	c, err := decodeConnection(item)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return c, nil
}

// ListConnections queries the directory: one Query per 1 MB of entries
// (about 8,000 connections), deleted ones filtered out.
func (s *Store) ListConnections(ctx context.Context, tenant string) ([]auth.ConnectionRecord, error) {
	const op = "list connections"
	in := &dynamodb.QueryInput{
		TableName:                 s.tableName(),
		KeyConditionExpression:    aws.String("#pk = :pk"),
		FilterExpression:          aws.String("attribute_not_exists(#deleted)"),
		ExpressionAttributeNames:  names(attrPK, attrDeleted),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(directoryPK)},
		ConsistentRead:            aws.Bool(true),
	}
	if tenant != "" {
		if err := (scim.Connection{Tenant: tenant, SSO: "x"}).Validate(); err != nil {
			return nil, err
		}
		in.KeyConditionExpression = aws.String("#pk = :pk AND begins_with(#sk, :tenant)")
		in.ExpressionAttributeNames = names(attrPK, attrSK, attrDeleted)
		in.ExpressionAttributeValues[":tenant"] = str(tenant + "#")
	}
	out := []auth.ConnectionRecord{}
	for {
		page, err := s.db.Query(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		for _, item := range page.Items {
			c, err := decodeConnection(item)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", op, err)
			}
			out = append(out, *c)
		}
		if len(page.LastEvaluatedKey) == 0 {
			return out, nil
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
	}
}

// SetConnectionState is one TransactWriteItems of the connection item and its directory entry.
func (s *Store) SetConnectionState(ctx context.Context, conn scim.Connection, state auth.ConnectionState) error {
	if !state.Valid() {
		return scim.Errorf(scim.EInvalidValue, "state must be %q or %q", auth.StateActive, auth.StateDisabled)
	}
	return s.updateLiveConnection(ctx, conn, "set connection state", attrState, string(state),
		func(j *auth.Journal, before auth.ConnectionRecord) ([]changes.Record, error) {
			if before.State == state {
				return nil, errNoChange
			}
			after := before
			after.State = state
			typ := changes.ConnectionEnabled
			if state == auth.StateDisabled {
				typ = changes.ConnectionDisabled
			}
			return j.Connection(typ, after, j.At, "state")
		})
}

// errNoChange tells updateLiveConnection that the change is a no-op: it
// writes nothing and reports success.
var errNoChange = errors.New("no change")

// DeleteConnection is one TransactWriteItems of the connection item and
// its directory entry. Resources, guards and tokens stay as they are:
// FindToken reads the connection item with the token, so its tokens stop
// authenticating at once.
func (s *Store) DeleteConnection(ctx context.Context, conn scim.Connection, at time.Time) error {
	return s.updateLiveConnection(ctx, conn, "delete connection", attrDeleted, formatTime(at),
		func(j *auth.Journal, before auth.ConnectionRecord) ([]changes.Record, error) {
			after := before
			after.Deleted = at
			return j.Connection(changes.ConnectionDeleted, after, at)
		})
}

// updateLiveConnection sets one attribute of a live connection item and its
// directory entry in one TransactWriteItems. With a journal on ctx it first
// reads the connection (one strongly consistent GetItem: the record's data
// is the connection, and a no-op writes no record), adds the record the
// journal builds to the transaction, and conditions the write on the state
// it read, so that a concurrent change cancels it rather than misrecording.
func (s *Store) updateLiveConnection(ctx context.Context, conn scim.Connection, op, attr, value string,
	record func(j *auth.Journal, before auth.ConnectionRecord) ([]changes.Record, error)) error {
	pk, err := connPK(conn)
	if err != nil {
		return err
	}
	cond, vals := liveCondition, map[string]types.AttributeValue{":v": str(value)}
	attrNames := names(attrPK, attrDeleted, attr)
	var puts []txItem
	if j := auth.JournalFrom(ctx); j != nil {
		before, err := s.GetConnection(ctx, conn)
		if err != nil {
			return err
		}
		recs, err := record(j, *before)
		if errors.Is(err, errNoChange) {
			return nil
		}
		if err != nil {
			return err
		}
		if puts, err = s.recordPuts(recs); err != nil {
			return err
		}
		cond += " AND #state = :read"
		vals[":read"] = str(string(before.State))
		attrNames["#"+attrState] = attrState
	}
	update := func(k map[string]types.AttributeValue) txItem {
		return txItem{write: updateItem(s.tableName(), k, "SET #"+attr+" = :v", cond, attrNames, vals)}
	}
	failures, err := s.transact(ctx, op, append([]txItem{update(key(pk, connectionSK)), update(key(directoryPK, directorySK(conn)))}, puts...))
	if err != nil {
		return err
	}
	if len(failures) > 0 {
		return connectionNotFound(conn)
	}
	return nil
}

// CountResources is one Query of the connection's counter shards (both types).
func (s *Store) CountResources(ctx context.Context, conn scim.Connection) (users, groups int, err error) {
	const op = "count resources"
	pk, err := connPK(conn)
	if err != nil {
		return 0, 0, err
	}
	in := &dynamodb.QueryInput{
		TableName:                s.tableName(),
		KeyConditionExpression:   aws.String("#pk = :pk AND begins_with(#sk, :prefix)"),
		ExpressionAttributeNames: names(attrPK, attrSK),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": str(pk), ":prefix": str("N#"),
		},
		ConsistentRead: aws.Bool(true),
	}
	for {
		out, err := s.db.Query(ctx, in)
		if err != nil {
			return 0, 0, fmt.Errorf("%s: %w", op, err)
		}
		for _, item := range out.Items {
			sk, _ := item[attrSK].(*types.AttributeValueMemberS)
			n, ok := item[attrCount].(*types.AttributeValueMemberN)
			if sk == nil || !ok {
				continue
			}
			var shard int
			if _, err := fmt.Sscan(n.Value, &shard); err != nil {
				return 0, 0, fmt.Errorf("%s: decode counter %q: %w", op, n.Value, err)
			}
			switch {
			case strings.HasPrefix(sk.Value, counterPrefix(scim.UserResource)):
				users += shard
			case strings.HasPrefix(sk.Value, counterPrefix(scim.GroupResource)):
				groups += shard
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			return users, groups, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}
