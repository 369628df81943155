package dynamostore

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/scimgate/scimgate/pkg/idp"
	"github.com/scimgate/scimgate/pkg/scim"
)

// A connection's IdP link and its last reconcile report are two items in
// the connection's own partition, so a purge erases them with the rest and
// reading them costs one GetItem each. The link names secrets by reference
// (a Secrets Manager ARN), never holds one.
const (
	idpLinkSK         = "IDPLINK"
	reconcileReportSK = "IDPREPORT"
)

func linkNotFound(conn scim.Connection) error {
	return scim.Errorf(scim.ENotFound, "connection %s has no IdP link", conn)
}

// liveConnectionCheck is a transaction item that holds only while conn's
// connection item exists and is not deleted.
func (s *Store) liveConnectionCheck(pk string) types.TransactWriteItem {
	return types.TransactWriteItem{ConditionCheck: &types.ConditionCheck{
		TableName: s.tableName(), Key: key(pk, connectionSK),
		ConditionExpression: aws.String(liveCondition), ExpressionAttributeNames: names(attrPK, attrDeleted),
	}}
}

// PutIdPLink is one TransactWriteItems: the link item, and a check that the
// connection is live.
func (s *Store) PutIdPLink(ctx context.Context, conn scim.Connection, l idp.Link) error {
	const op = "put idp link"
	pk, err := connPK(conn)
	if err != nil {
		return err
	}
	doc, err := json.Marshal(l)
	if err != nil {
		return fmt.Errorf("%s of %s: %w", op, conn, err)
	}
	item := key(pk, idpLinkSK)
	item[attrDoc] = str(string(doc))
	failures, err := s.transact(ctx, op, []txItem{
		{write: s.liveConnectionCheck(pk)},
		{write: putItem(s.tableName(), item, "", nil, nil)},
	})
	if err != nil {
		return err
	}
	if len(failures) > 0 {
		return connectionNotFound(conn)
	}
	return nil
}

// GetIdPLink is one BatchGetItem-free pair of GetItems: the connection
// (which must be live) and the link.
func (s *Store) GetIdPLink(ctx context.Context, conn scim.Connection) (*idp.Link, error) {
	const op = "get idp link"
	doc, err := s.linkDoc(ctx, conn, idpLinkSK, op)
	if err != nil {
		return nil, err
	}
	if doc == nil {
		return nil, linkNotFound(conn)
	}
	var l idp.Link
	if err := json.Unmarshal(doc, &l); err != nil {
		return nil, fmt.Errorf("%s of %s: %w", op, conn, err)
	}
	return &l, nil
}

func (s *Store) linkDoc(ctx context.Context, conn scim.Connection, sk, op string) ([]byte, error) {
	if _, err := s.GetConnection(ctx, conn); err != nil {
		return nil, err
	}
	pk, _ := connPK(conn)
	item, err := s.getItem(ctx, pk, sk, op)
	if err != nil || item == nil {
		return nil, err
	}
	v, ok := item[attrDoc].(*types.AttributeValueMemberS)
	if !ok {
		return nil, fmt.Errorf("%s of %s: item has no document", op, conn)
	}
	return []byte(v.Value), nil
}

// DeleteIdPLink deletes the link and the last report in one transaction.
func (s *Store) DeleteIdPLink(ctx context.Context, conn scim.Connection) error {
	const op = "delete idp link"
	pk, err := connPK(conn)
	if err != nil {
		return err
	}
	failures, err := s.transact(ctx, op, []txItem{
		{write: deleteItem(s.tableName(), key(pk, idpLinkSK), "attribute_exists(#pk)", names(attrPK), nil)},
		{write: deleteItem(s.tableName(), key(pk, reconcileReportSK), "", nil, nil)},
	})
	if err != nil {
		return err
	}
	if len(failures) > 0 {
		return linkNotFound(conn)
	}
	return nil
}

// PutReconcileReport replaces the last report, only while the connection
// is live and linked (one TransactWriteItems).
func (s *Store) PutReconcileReport(ctx context.Context, conn scim.Connection, report []byte) error {
	const op = "put reconcile report"
	pk, err := connPK(conn)
	if err != nil {
		return err
	}
	item := key(pk, reconcileReportSK)
	item[attrDoc] = str(string(report))
	failures, err := s.transact(ctx, op, []txItem{
		{write: s.liveConnectionCheck(pk)},
		{write: types.TransactWriteItem{ConditionCheck: &types.ConditionCheck{
			TableName: s.tableName(), Key: key(pk, idpLinkSK),
			ConditionExpression: aws.String("attribute_exists(#pk)"), ExpressionAttributeNames: names(attrPK),
		}}},
		{write: putItem(s.tableName(), item, "", nil, nil)},
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

// GetReconcileReport returns the last report; ENotFound when there is none.
func (s *Store) GetReconcileReport(ctx context.Context, conn scim.Connection) ([]byte, error) {
	doc, err := s.linkDoc(ctx, conn, reconcileReportSK, "get reconcile report")
	if err != nil {
		return nil, err
	}
	if doc == nil {
		return nil, scim.Errorf(scim.ENotFound, "connection %s has no reconcile report yet", conn)
	}
	return doc, nil
}
