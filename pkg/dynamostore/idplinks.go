package dynamostore

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/scimgate/scimgate/pkg/idp"
	"github.com/scimgate/scimgate/pkg/scim"
)

// A connection's IdP link and its last reconcile report are one item in the
// connection's own partition: doc is the link, report the last report. A
// purge erases it with the rest; reading either is one GetItem. Every write
// is an UpdateItem (clearing removes both attributes), which the admin
// function's policy already grants: it has no DeleteItem. The link names
// secrets by reference (a Secrets Manager ARN), never holds one.
const (
	idpLinkSK  = "IDPLINK"
	attrReport = "report"
)

func linkNotFound(conn scim.Connection) error {
	return scim.Errorf(scim.ENotFound, "connection %s has no IdP link", conn)
}

// liveConnectionCheck is a transaction item that holds only while the
// connection item of partition pk exists and is not deleted.
func (s *Store) liveConnectionCheck(pk string) types.TransactWriteItem {
	return types.TransactWriteItem{ConditionCheck: &types.ConditionCheck{
		TableName: s.tableName(), Key: key(pk, connectionSK),
		ConditionExpression: aws.String(liveCondition), ExpressionAttributeNames: names(attrPK, attrDeleted),
	}}
}

// setLinkAttr is one TransactWriteItems: a check that the connection is
// live, and an update of the link item setting attr (cond on the item).
func (s *Store) setLinkAttr(ctx context.Context, conn scim.Connection, op, attr, value, cond string) error {
	pk, err := connPK(conn)
	if err != nil {
		return err
	}
	// DynamoDB refuses an expression attribute name the expressions do not use.
	exprNames := map[string]string{"#a": attr}
	if strings.Contains(cond, "#doc") {
		exprNames["#doc"] = attrDoc
	}
	failures, err := s.transact(ctx, op, []txItem{
		{write: s.liveConnectionCheck(pk)},
		{write: updateItem(s.tableName(), key(pk, idpLinkSK), "SET #a = :v", cond,
			exprNames, map[string]types.AttributeValue{":v": str(value)})},
	})
	if err != nil {
		return err
	}
	for _, f := range failures {
		if f.index == 0 {
			return connectionNotFound(conn)
		}
	}
	if len(failures) > 0 {
		return linkNotFound(conn)
	}
	return nil
}

// PutIdPLink stores the link, keeping the last report.
func (s *Store) PutIdPLink(ctx context.Context, conn scim.Connection, l idp.Link) error {
	doc, err := json.Marshal(l)
	if err != nil {
		return fmt.Errorf("put idp link of %s: %w", conn, err)
	}
	return s.setLinkAttr(ctx, conn, "put idp link", attrDoc, string(doc), "")
}

// GetIdPLink is a GetItem of the connection and one of the link.
func (s *Store) GetIdPLink(ctx context.Context, conn scim.Connection) (*idp.Link, error) {
	const op = "get idp link"
	item, err := s.linkItem(ctx, conn, op)
	if err != nil {
		return nil, err
	}
	doc, ok := item[attrDoc].(*types.AttributeValueMemberS)
	if !ok {
		return nil, linkNotFound(conn)
	}
	var l idp.Link
	if err := json.Unmarshal([]byte(doc.Value), &l); err != nil {
		return nil, fmt.Errorf("%s of %s: %w", op, conn, err)
	}
	return &l, nil
}

func (s *Store) linkItem(ctx context.Context, conn scim.Connection, op string) (map[string]types.AttributeValue, error) {
	if _, err := s.GetConnection(ctx, conn); err != nil {
		return nil, err
	}
	pk, _ := connPK(conn)
	return s.getItem(ctx, pk, idpLinkSK, op)
}

// DeleteIdPLink removes the link and the last report: one UpdateItem,
// conditional on a link.
func (s *Store) DeleteIdPLink(ctx context.Context, conn scim.Connection) error {
	const op = "delete idp link"
	pk, err := connPK(conn)
	if err != nil {
		return err
	}
	failures, err := s.transact(ctx, op, []txItem{
		{write: updateItem(s.tableName(), key(pk, idpLinkSK), "REMOVE #doc, #report", "attribute_exists(#doc)",
			map[string]string{"#doc": attrDoc, "#report": attrReport}, nil)},
	})
	if err != nil {
		return err
	}
	if len(failures) > 0 {
		return linkNotFound(conn)
	}
	return nil
}

// PutReconcileReport replaces the last report, only while the connection is
// live and linked.
func (s *Store) PutReconcileReport(ctx context.Context, conn scim.Connection, report []byte) error {
	return s.setLinkAttr(ctx, conn, "put reconcile report", attrReport, string(report), "attribute_exists(#doc)")
}

// GetReconcileReport returns the last report; ENotFound when there is none.
func (s *Store) GetReconcileReport(ctx context.Context, conn scim.Connection) ([]byte, error) {
	item, err := s.linkItem(ctx, conn, "get reconcile report")
	if err != nil {
		return nil, err
	}
	_, linked := item[attrDoc]
	report, ok := item[attrReport].(*types.AttributeValueMemberS)
	if !linked || !ok {
		return nil, scim.Errorf(scim.ENotFound, "connection %s has no reconcile report yet", conn)
	}
	return []byte(report.Value), nil
}
