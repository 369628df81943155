package dynamostore

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/scimgate/scimgate/pkg/auth"
	"github.com/scimgate/scimgate/pkg/changes"
	"github.com/scimgate/scimgate/pkg/scim"
)

var _ auth.ExtensionPolicyStore = (*Store)(nil)

// attrUnknownExtensions holds a connection's scim.ExtensionPolicy on the
// connection item, which FindToken's BatchGetItem already reads: the policy
// adds no request and, at a few bytes, no read capacity to a SCIM request.
const attrUnknownExtensions = "unknown_extensions"

// SetUnknownExtensions implements auth.ExtensionPolicyStore: one
// TransactWriteItems of the connection item and its directory entry, as
// for the connection's state. No change record: the policy configures the
// connection and changes none of its resources.
func (s *Store) SetUnknownExtensions(ctx context.Context, conn scim.Connection, policy scim.ExtensionPolicy) error {
	if !policy.Valid() {
		return scim.Errorf(scim.EInvalidValue, "unknown_extensions must be %q, %q or %q", scim.ExtensionsStore, scim.ExtensionsReject, scim.ExtensionsIgnore)
	}
	if policy == "" {
		policy = scim.ExtensionsStore
	}
	return s.updateLiveConnection(ctx, conn, "set unknown_extensions", attrUnknownExtensions, string(policy),
		func(*auth.Journal, auth.ConnectionRecord) ([]changes.Record, error) { return nil, nil })
}

var (
	_ auth.DeclaredSchemaStore = (*Store)(nil)
	_ auth.DefaultSchemaStore  = (*Store)(nil)
)

// attrDeclaredSchemas holds a connection's declared extension schemas
// (canonical JSON of scim.Declaration, at most scim.MaxDeclarationBytes) on
// the connection item, which FindToken's BatchGetItem already reads: no
// extra request per SCIM request, but read units grow with the item, one
// per 4 KB (docs/custom-attributes.md).
//
// Unlike unknown_extensions it is not copied to the directory entry: the
// directory is what ListConnections and every page of the global feed
// Query, and up to 16 KiB per connection would multiply their read units
// and pages (1 MB holds ~8,000 entries without it, ~60 with full
// declarations), while neither needs the declaration.
const attrDeclaredSchemas = "declared_schemas"

// The platform's default declaration is one item of its own, outside every
// connection's partition: read once a minute per process (through the
// caching source of pkg/declared), written by the admin only.
const (
	settingsPK         = "SETTINGS"
	defaultSchemasSK   = "DEFAULT_SCHEMAS"
	attrDefaultSchemas = "schemas"
)

// SetDeclaredSchemas implements auth.DeclaredSchemaStore: one UpdateItem
// of the connection item, conditional on the connection being live. As
// for the policy, no change record: the declaration configures the
// connection and changes none of its resources. "" (or "[]") removes the
// attribute.
func (s *Store) SetDeclaredSchemas(ctx context.Context, conn scim.Connection, canonical string) error {
	const op = "set declared schemas"
	pk, err := connPK(conn)
	if err != nil {
		return err
	}
	in := &dynamodb.UpdateItemInput{
		TableName:                s.tableName(),
		Key:                      key(pk, connectionSK),
		ConditionExpression:      aws.String(liveCondition),
		ExpressionAttributeNames: names(attrPK, attrDeleted, attrDeclaredSchemas),
	}
	if canonical == "" || canonical == "[]" {
		in.UpdateExpression = aws.String("REMOVE #" + attrDeclaredSchemas)
	} else {
		in.UpdateExpression = aws.String("SET #" + attrDeclaredSchemas + " = :v")
		in.ExpressionAttributeValues = map[string]types.AttributeValue{":v": str(canonical)}
	}
	if _, err := s.db.UpdateItem(ctx, in); err != nil {
		var failed *types.ConditionalCheckFailedException
		if errors.As(err, &failed) {
			return connectionNotFound(conn)
		}
		return fmt.Errorf("%s of connection %s: %w", op, conn, err)
	}
	return nil
}

// DefaultSchemas implements auth.DefaultSchemaStore: one strongly
// consistent GetItem of the settings item.
func (s *Store) DefaultSchemas(ctx context.Context) (string, error) {
	item, err := s.getItem(ctx, settingsPK, defaultSchemasSK, "read default schemas")
	if err != nil || item == nil {
		return "", err
	}
	v, ok := item[attrDefaultSchemas].(*types.AttributeValueMemberS)
	if !ok {
		return "", nil
	}
	return v.Value, nil
}

// SetDefaultSchemas implements auth.DefaultSchemaStore: one UpdateItem of
// the settings item ("" or "[]" removes the value).
func (s *Store) SetDefaultSchemas(ctx context.Context, canonical string) error {
	in := &dynamodb.UpdateItemInput{
		TableName:                s.tableName(),
		Key:                      key(settingsPK, defaultSchemasSK),
		ExpressionAttributeNames: names(attrDefaultSchemas),
	}
	if canonical == "" || canonical == "[]" {
		in.UpdateExpression = aws.String("REMOVE #" + attrDefaultSchemas)
	} else {
		in.UpdateExpression = aws.String("SET #" + attrDefaultSchemas + " = :v")
		in.ExpressionAttributeValues = map[string]types.AttributeValue{":v": str(canonical)}
	}
	if _, err := s.db.UpdateItem(ctx, in); err != nil {
		return fmt.Errorf("set default schemas: %w", err)
	}
	return nil
}
