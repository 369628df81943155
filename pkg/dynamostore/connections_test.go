package dynamostore_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/scimgate/scimgate/pkg/admin"
	"github.com/scimgate/scimgate/pkg/auth"
	"github.com/scimgate/scimgate/pkg/dynamostore"
	"github.com/scimgate/scimgate/pkg/scim"
)

// populate gives e.conn users, a group with members, an archived user and
// tokens, and returns the group ids (whose member partitions a purge must erase).
func (e *env) populate(t *testing.T) []string {
	t.Helper()
	ctx := context.Background()
	users := e.users(t, 6)
	g := e.resource(scim.GroupResource, "Engineering", "g-eng")
	g.Members = asMembers(users[:4])
	e.mustCreate(t, g)
	h := e.resource(scim.GroupResource, "Sales", "")
	h.Members = asMembers(users[4:5])
	e.mustCreate(t, h)
	if err := e.store.Delete(ctx, e.conn, scim.UserResource, users[5].ID, 1, e.tick()); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := auth.Issue(ctx, e.store, e.conn, e.tick()); err != nil {
			t.Fatal(err)
		}
	}
	return []string{g.ID, h.ID}
}

// itemsLeft counts, with raw Queries, every item of conn: its partition,
// its groups' member partitions and its directory entry.
func (e *env) itemsLeft(t *testing.T, conn scim.Connection, groupIDs []string) int {
	t.Helper()
	n := 0
	count := func(pk, sk string) {
		in := &dynamodb.QueryInput{
			TableName: aws.String(e.table), KeyConditionExpression: aws.String("pk = :pk"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: pk}},
			ConsistentRead:            aws.Bool(true),
		}
		if sk != "" {
			in.KeyConditionExpression = aws.String("pk = :pk AND sk = :sk")
			in.ExpressionAttributeValues[":sk"] = &types.AttributeValueMemberS{Value: sk}
		}
		out, err := e.client.Query(context.Background(), in)
		if err != nil {
			t.Fatal(err)
		}
		n += len(out.Items)
	}
	count("C#"+conn.Tenant+"#"+conn.SSO, "")
	count("CONNS", conn.Tenant+"#"+conn.SSO)
	count("E#"+conn.Tenant+"#"+conn.SSO, "")  // change records
	count("EC#"+conn.Tenant+"#"+conn.SSO, "") // delivery cursors
	for _, id := range groupIDs {
		count("M#"+conn.Tenant+"#"+conn.SSO+"#"+id, "")
	}
	return n
}

// TestAdminCallsPerOperation pins what each admin operation costs in
// DynamoDB calls (docs/dynamodb.md, "Access patterns").
func TestAdminCallsPerOperation(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	clock := e.now
	svc := admin.New(admin.Config{Store: e.store, PublicURL: "https://scim.example.com", Clock: func() time.Time { return clock }})
	var created *admin.CreatedConnection
	var tok *admin.NewToken
	var rotated *admin.Rotated
	var authed *auth.TokenInfo
	var purged int
	var groupIDs []string
	tests := []struct {
		name string
		run  func() error
		want map[string]int
	}{
		{"CreateConnection (with its first token)", func() (err error) {
			created, err = svc.CreateConnection(ctx, e.conn, "Acme Okta", admin.TokenOptions{})
			return err
		}, map[string]int{"TransactWriteItems": 1}},
		{"ListConnections", func() error { _, err := svc.ListConnections(ctx, ""); return err }, map[string]int{"Query": 1}},
		{"ListConnections of a tenant", func() error { _, err := svc.ListConnections(ctx, "acme"); return err }, map[string]int{"Query": 1}},
		{"GetConnection", func() error { _, err := svc.GetConnection(ctx, e.conn); return err }, map[string]int{"GetItem": 1}},
		{"ShowConnection (counts and tokens)", func() error { _, err := svc.ShowConnection(ctx, e.conn); return err },
			map[string]int{"GetItem": 1, "Query": 2}},
		{"SetState (disable or enable)", func() error { _, err := svc.SetState(ctx, e.conn, auth.StateDisabled); return err },
			// The store reads the connection for its record (and to write none for a no-op); the service reads it for the answer.
			map[string]int{"TransactWriteItems": 1, "GetItem": 2}},
		{"CreateToken", func() (err error) {
			if _, err := svc.SetState(ctx, e.conn, auth.StateActive); err != nil {
				return err
			}
			e.counter.Reset()
			tok, err = svc.CreateToken(ctx, e.conn, admin.TokenOptions{Description: "second"})
			return err
		}, map[string]int{"TransactWriteItems": 1}},
		{"ListTokens", func() error { _, err := svc.ListTokens(ctx, e.conn); return err }, map[string]int{"GetItem": 1, "Query": 1}},
		{"RotateToken", func() (err error) {
			rotated, err = svc.RotateToken(ctx, e.conn, created.TokenID, 0, admin.TokenOptions{})
			return err
			// One Query more when the rotation names no expiry or description:
			// the service reads the old token's to inherit them.
		}, map[string]int{"Query": 2, "TransactWriteItems": 1}},
		{"RevokeToken", func() error { _, err := svc.RevokeToken(ctx, e.conn, tok.ID); return err },
			// The update and its token.revoked record: one TransactWriteItems instead of the UpdateItem.
			map[string]int{"GetItem": 1, "Query": 1, "TransactWriteItems": 1}},
		{"Authenticate (every SCIM request)", func() (err error) {
			authed, err = auth.Authenticate(ctx, e.store, "Bearer "+rotated.New.Secret, e.conn, clock)
			return err
		}, map[string]int{"BatchGetItem": 1}},
		{"RecordUse, first request of a token in 5 minutes", func() error { return auth.RecordUse(ctx, e.store, authed, clock) },
			map[string]int{"UpdateItem": 1}},
		{"RecordUse, any later request within 5 minutes", func() error {
			authed, err := auth.Authenticate(ctx, e.store, "Bearer "+rotated.New.Secret, e.conn, clock.Add(4*time.Minute))
			if err != nil {
				return err
			}
			e.counter.Reset()
			return auth.RecordUse(ctx, e.store, authed, clock.Add(4*time.Minute))
		}, map[string]int{}},
		{"DeleteConnection", func() error {
			groupIDs = e.populate(t)
			e.counter.Reset()
			return svc.DeleteConnection(ctx, e.conn)
		}, map[string]int{"GetItem": 1, "TransactWriteItems": 1}}, // the read: the connection.deleted record's data
		// 45 items: resources, the archive, guards, counter shards, members, tokens, the connection item and its
		// directory entry (36), and the 9 change records the admin operations above wrote.
		{"PurgeConnection (2 groups, 45 items)", func() (err error) {
			purged, err = svc.PurgeConnection(ctx, e.conn, nil)
			return err
		}, map[string]int{"GetItem": 1, "Query": 6, "BatchWriteItem": 5, "TransactWriteItems": 1}},
	}
	var report strings.Builder
	fmt.Fprintf(&report, "\n| admin operation | DynamoDB calls |\n| --- | --- |\n")
	for _, tc := range tests {
		e.counter.Reset()
		if err := tc.run(); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		got := e.counter.Snapshot()
		fmt.Fprintf(&report, "| %s | %s |\n", tc.name, formatCalls(got))
		if !mapsEqual(got, tc.want) {
			t.Errorf("%s: calls %v, want %v", tc.name, got, tc.want)
		}
	}
	t.Log(report.String())
	if left := e.itemsLeft(t, e.conn, groupIDs); left != 0 || purged != 45 {
		t.Fatalf("purge erased %d items (want 45) and left %d", purged, left)
	}
}

// crashing applies writes until its budget is spent, then applies one more
// and fails as if the process died before seeing the answer; from then on
// every call fails.
type crashing struct {
	dynamostore.API
	writes int
	dead   bool
}

var errCrashed = errors.New("crashed")

func (c *crashing) write() (apply bool, err error) {
	if c.dead {
		return false, errCrashed
	}
	if c.writes == 0 {
		c.dead = true
		return true, errCrashed
	}
	c.writes--
	return true, nil
}

func (c *crashing) BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error) {
	apply, crash := c.write()
	if !apply {
		return nil, crash
	}
	out, err := c.API.BatchWriteItem(ctx, in, optFns...)
	if crash != nil {
		return nil, crash
	}
	return out, err
}

func (c *crashing) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, optFns ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	apply, crash := c.write()
	if !apply {
		return nil, crash
	}
	out, err := c.API.TransactWriteItems(ctx, in, optFns...)
	if crash != nil {
		return nil, crash
	}
	return out, err
}

func (c *crashing) Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	if c.dead {
		return nil, errCrashed
	}
	return c.API.Query(ctx, in, optFns...)
}

// TestPurgeResumesAfterCrashAtAnyWrite crashes a purge after each of its
// writes in turn (the write applied, its answer lost) and resumes it with
// a fresh store: every time, everything of the connection goes and nothing
// of its neighbour.
func TestPurgeResumesAfterCrashAtAnyWrite(t *testing.T) {
	ctx := context.Background()
	for crashAfter := 0; ; crashAfter++ {
		e := newEnv(t)
		groupIDs := e.populate(t)
		victim := e.conn
		e.conn = scim.Connection{Tenant: victim.Tenant, SSO: victim.SSO + "-2"}
		neighbourGroups := e.populate(t)
		neighbourItems := e.itemsLeft(t, e.conn, neighbourGroups)

		db := &crashing{API: e.client, writes: crashAfter}
		crashy := dynamostore.New(db, e.table)
		var err error
		for steps := 0; err == nil; steps++ {
			var p auth.PurgeProgress
			if p, err = crashy.PurgeConnection(ctx, victim, 4); err == nil && p.Done {
				break
			}
			if steps > 100 {
				t.Fatal("purge does not finish")
			}
		}
		if err == nil {
			if crashAfter < 2 {
				t.Fatalf("a purge of this connection took %d writes: the test crashes nothing", crashAfter)
			}
			return // crashAfter exceeds the writes a purge makes: every point was tried
		}
		if !errors.Is(err, errCrashed) {
			t.Fatalf("crash after %d writes: %v", crashAfter, err)
		}
		if left := e.itemsLeft(t, victim, groupIDs); left > 0 {
			if _, err := e.store.LookupConnection(ctx, victim); err != nil {
				t.Fatalf("crash after %d writes: %d items left but the connection cannot be found to resume: %v", crashAfter, left, err)
			}
		}
		for steps := 0; ; steps++ {
			p, err := e.store.PurgeConnection(ctx, victim, 4)
			if err != nil {
				t.Fatalf("resume after crash at write %d: %v", crashAfter, err)
			}
			if p.Done {
				break
			}
			if steps > 100 {
				t.Fatal("resumed purge does not finish")
			}
		}
		if left := e.itemsLeft(t, victim, groupIDs); left != 0 {
			t.Fatalf("crash after %d writes, resumed: %d items left", crashAfter, left)
		}
		if got := e.itemsLeft(t, e.conn, neighbourGroups); got != neighbourItems {
			t.Fatalf("crash after %d writes: the neighbour has %d items, had %d", crashAfter, got, neighbourItems)
		}
	}
}

// unprocessed answers the first BatchGetItem with every key unprocessed,
// as DynamoDB may under load.
type unprocessed struct {
	dynamostore.API
	n int
}

func (u *unprocessed) BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	if u.n > 0 {
		u.n--
		return &dynamodb.BatchGetItemOutput{Responses: map[string][]map[string]types.AttributeValue{}, UnprocessedKeys: in.RequestItems}, nil
	}
	return u.API.BatchGetItem(ctx, in, optFns...)
}

func TestAuthenticateRetriesUnprocessedKeys(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	secret, err := auth.Issue(ctx, e.store, e.conn, e.now)
	if err != nil {
		t.Fatal(err)
	}
	s := dynamostore.New(&unprocessed{API: e.client, n: 2}, e.table, dynamostore.WithConflictRetry(8, time.Millisecond))
	if _, err := auth.Authenticate(ctx, s, "Bearer "+secret, e.conn, e.now); err != nil {
		t.Fatalf("authenticate after unprocessed keys: %v", err)
	}
}
