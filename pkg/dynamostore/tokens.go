package dynamostore

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/scimgate/scimgate/pkg/auth"
	"github.com/scimgate/scimgate/pkg/scim"
)

// CreateToken stores the token item and creates the connection item if it
// is missing, in one transaction: a token never exists without its connection.
func (s *Store) CreateToken(ctx context.Context, t auth.Token) error {
	const op = "create token"
	pk, err := connPK(t.Conn)
	if err != nil {
		return err
	}
	if t.Hash == "" || len(tokenPK(t.Hash)) > maxKeyBytes {
		return fmt.Errorf("%s: hash %q is not a valid key", op, t.Hash)
	}
	created := str(formatTime(t.Created))
	token := key(tokenPK(t.Hash), tokenSK)
	token[attrTenant] = str(t.Conn.Tenant)
	token[attrSSO] = str(t.Conn.SSO)
	token[attrCreated] = created
	items := []txItem{
		{role: roleToken, write: putItem(s.tableName(), token, "attribute_not_exists(#pk)", names(attrPK), nil)},
		{write: updateItem(s.tableName(), key(pk, connectionSK),
			"SET #tenant = :tenant, #sso = :sso, #created = if_not_exists(#created, :created)", "",
			names(attrTenant, attrSSO, attrCreated), map[string]types.AttributeValue{
				":tenant": str(t.Conn.Tenant), ":sso": str(t.Conn.SSO), ":created": created,
			})},
	}
	failures, err := s.transact(ctx, op, items)
	if err != nil {
		return err
	}
	if len(failures) > 0 {
		return scim.Errorf(scim.EUniqueness, "this token is already stored")
	}
	return nil
}

// FindToken is one GetItem by hash.
func (s *Store) FindToken(ctx context.Context, hash string) (*auth.Token, error) {
	const op = "find token"
	notFound := scim.Errorf(scim.ENotFound, "token not found")
	if hash == "" {
		return nil, notFound
	}
	item, err := s.getItem(ctx, tokenPK(hash), tokenSK, op)
	if err != nil {
		return nil, err
	}
	if item == nil {
		return nil, notFound
	}
	var stored struct {
		Tenant  string `dynamodbav:"tenant"`
		SSO     string `dynamodbav:"sso"`
		Created string `dynamodbav:"created"`
	}
	if err := unmarshal(item, &stored); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	created, err := time.Parse(time.RFC3339Nano, stored.Created)
	if err != nil {
		return nil, fmt.Errorf("%s: decode created: %w", op, err)
	}
	return &auth.Token{Hash: hash, Conn: scim.Connection{Tenant: stored.Tenant, SSO: stored.SSO}, Created: created}, nil
}
