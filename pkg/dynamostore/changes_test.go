package dynamostore_test

import (
	"context"
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/scimgate/scimgate/pkg/auth"
	"github.com/scimgate/scimgate/pkg/changes"
	"github.com/scimgate/scimgate/pkg/dynamostore"
	"github.com/scimgate/scimgate/pkg/scim"
	"github.com/scimgate/scimgate/pkg/storetest"
)

func TestFeedContract(t *testing.T) {
	storetest.RunFeed(t, func(t *testing.T) storetest.FeedStore {
		return newEnv(t).store
	})
}

// TestFeedHoldsBackTheSettleWindow: records younger than the settle window
// are not listed yet (a record with an older id may still commit), and
// are once the window has passed; the item carries the retention's ttl.
func TestFeedHoldsBackTheSettleWindow(t *testing.T) {
	now := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)
	e := newEnv(t, dynamostore.WithChangeSettle(5*time.Second), dynamostore.WithNow(func() time.Time { return now }),
		dynamostore.WithChangeRetention(30*24*time.Hour))
	ctx := context.Background()
	gen := changes.NewIDGenerator(nil)
	rec := changes.Record{ID: gen(now.Add(-2 * time.Second)), Type: changes.UserCreated, Tenant: "acme", SSO: "okta",
		ResourceType: "User", ResourceID: "u", Version: 1, Time: now.Add(-2 * time.Second), Actor: changes.TokenActor("t"),
		Data: json.RawMessage(`{}`)}
	if err := e.store.AppendChanges(ctx, rec); err != nil {
		t.Fatal(err)
	}
	q := changes.Query{Tenant: "acme", SSO: "okta"}
	if p, err := e.store.ListChanges(ctx, q); err != nil || len(p.Records) != 0 || p.Next != "" {
		t.Fatalf("within the settle window: %+v, %v; want nothing yet", p, err)
	}
	now = now.Add(4 * time.Second)
	if p, err := e.store.ListChanges(ctx, q); err != nil || len(p.Records) != 1 || p.Next != rec.ID {
		t.Fatalf("after the settle window: %+v, %v", p, err)
	}
	out, err := e.client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(e.table), Key: map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: "E#acme#okta"}, "sk": &types.AttributeValueMemberS{Value: rec.ID}}})
	if err != nil {
		t.Fatal(err)
	}
	ttl, _ := out.Item[dynamostore.ChangeTTLAttribute].(*types.AttributeValueMemberN)
	if want := strconv.FormatInt(rec.Time.Add(30*24*time.Hour).Unix(), 10); ttl == nil || ttl.Value != want {
		t.Errorf("ttl = %v, want %s", out.Item[dynamostore.ChangeTTLAttribute], want)
	}
	if typ, _ := out.Item["typ"].(*types.AttributeValueMemberS); typ == nil || typ.Value != dynamostore.ChangeItemType {
		t.Errorf("typ = %v, want %q (the stream filter matches on it)", out.Item["typ"], dynamostore.ChangeItemType)
	}
}

func TestAdminRecords(t *testing.T) {
	storetest.RunAdminRecords(t, func(t *testing.T) storetest.AdminFeedStore { return newEnv(t).store })
}

func TestRecordContent(t *testing.T) {
	storetest.RunRecordContent(t, func(t *testing.T) storetest.RecordStore { return newEnv(t).store })
}

// TestGlobalFeedUnderConcurrentWrites: the merge over the connection
// directory keeps the per-connection feed's settle window, so concurrent
// writers whose ids are drawn before their commit leave no gap.
func TestGlobalFeedUnderConcurrentWrites(t *testing.T) {
	const settle = 2 * time.Second
	e := newEnv(t, dynamostore.WithChangeSettle(settle))
	storetest.RunGlobalFeed(t, e.store, storetest.GlobalFeedConfig{Settle: settle, Writers: 4, Records: 20})
}

// TestGlobalFeedHoldsBackTheSettleWindow: the merged feed keeps the
// per-connection feed's settle window.
func TestGlobalFeedHoldsBackTheSettleWindow(t *testing.T) {
	now := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)
	e := newEnv(t, dynamostore.WithChangeSettle(5*time.Second), dynamostore.WithNow(func() time.Time { return now }))
	ctx := context.Background()
	acme := scim.Connection{Tenant: "acme", SSO: "okta"}
	if err := e.store.CreateConnection(ctx, auth.ConnectionRecord{Conn: acme, State: auth.StateActive, Created: now.Add(-time.Hour)},
		auth.NewTokenInfo(acme, "s3cr3t-s3cr3t-s3cr3t-s3cr3t-s3cr3t-x", now.Add(-time.Hour))); err != nil {
		t.Fatal(err)
	}
	gen := changes.NewIDGenerator(nil)
	rec := changes.Record{ID: gen(now.Add(-2 * time.Second)), Type: changes.UserCreated, Tenant: "acme", SSO: "okta",
		ResourceType: "User", ResourceID: "u", Version: 1, Time: now.Add(-2 * time.Second), Actor: changes.TokenActor("t"),
		Data: json.RawMessage(`{}`)}
	if err := e.store.AppendChanges(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if p, err := e.store.ListAllChanges(ctx, changes.GlobalQuery{}); err != nil || len(p.Records) != 0 || p.Next != "" {
		t.Fatalf("within the settle window: %+v, %v; want nothing yet", p, err)
	}
	now = now.Add(4 * time.Second)
	if p, err := e.store.ListAllChanges(ctx, changes.GlobalQuery{}); err != nil || len(p.Records) != 1 || p.Next != rec.ID {
		t.Fatalf("after the settle window: %+v, %v", p, err)
	}
}
