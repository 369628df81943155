package dynamostore_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/scimgate/scimgate/pkg/dynamostore"
	"github.com/scimgate/scimgate/pkg/dynamotest"
	"github.com/scimgate/scimgate/pkg/scim"
	"github.com/scimgate/scimgate/pkg/storetest"
)

var moto dynamotest.Shared

func TestMain(m *testing.M) { os.Exit(moto.Run(m)) }

func TestContract(t *testing.T) {
	srv := moto.Server(t)
	client := srv.Client(t)
	storetest.Run(t, func(t *testing.T) storetest.Stores {
		// A table per test keeps moto fast: it copies the whole table on
		// every transaction to be able to roll it back.
		s := dynamostore.New(client, srv.NewTable(t, client))
		return storetest.Stores{Resources: s, Tokens: s}
	})
	storetest.RunWritePath(t, func(t *testing.T) storetest.Stores {
		s := dynamostore.New(client, srv.NewTable(t, client))
		return storetest.Stores{Resources: s, Tokens: s}
	})
}

func TestConnectionContract(t *testing.T) {
	srv := moto.Server(t)
	client := srv.Client(t)
	storetest.RunConnections(t, func(t *testing.T) storetest.ConnectionStores {
		s := dynamostore.New(client, srv.NewTable(t, client))
		return storetest.ConnectionStores{Resources: s, Connections: s}
	})
}

func TestDeclaredSchemasContract(t *testing.T) {
	srv := moto.Server(t)
	client := srv.Client(t)
	storetest.RunDeclaredSchemas(t, dynamostore.New(client, srv.NewTable(t, client)))
}

// env is a store on a fresh table with a call counter on its client.
type env struct {
	client  *dynamodb.Client
	table   string
	store   *dynamostore.Store
	counter *dynamostore.CallCounter
	conn    scim.Connection
	n       int
	now     time.Time
}

func newEnv(t testing.TB, opts ...dynamostore.Option) *env {
	t.Helper()
	srv := moto.Server(t)
	counter := &dynamostore.CallCounter{}
	client := srv.Client(t, counter.ClientOption())
	table := srv.NewTable(t, client)
	counter.Reset()
	return &env{
		client: client, table: table, store: dynamostore.New(client, table, opts...), counter: counter,
		conn: scim.Connection{Tenant: "acme", SSO: "okta"},
		now:  time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC),
	}
}

func (e *env) id() string {
	e.n++
	return fmt.Sprintf("%08d-0000-4000-8000-%012d", e.n, e.n)
}

func (e *env) tick() time.Time {
	e.now = e.now.Add(time.Second)
	return e.now
}

func (e *env) resource(typ scim.ResourceType, name, ext string) *scim.Resource {
	at := e.tick()
	attr := scim.UniqueAttrName(typ)
	attrs := map[string]any{attr: name}
	if ext != "" {
		attrs["externalId"] = ext
	}
	return &scim.Resource{
		Conn: e.conn, Type: typ, ID: e.id(), Version: 1, Created: at, LastModified: at,
		Name: name, ExternalID: ext, Active: true, Attributes: attrs,
	}
}

func (e *env) mustCreate(t testing.TB, r *scim.Resource) *scim.Resource {
	t.Helper()
	if err := e.store.Create(context.Background(), r); err != nil {
		t.Fatalf("create %s: %v", r, err)
	}
	return r
}

func (e *env) users(t testing.TB, n int) []*scim.Resource {
	t.Helper()
	var out []*scim.Resource
	for range n {
		out = append(out, e.mustCreate(t, e.resource(scim.UserResource, fmt.Sprintf("user%d@example.com", e.n+1), "")))
	}
	return out
}

func asMembers(users []*scim.Resource) []scim.Member {
	var m []scim.Member
	for _, u := range users {
		m = append(m, scim.Member{Value: u.ID})
	}
	return m
}

func wantCode(t *testing.T, err error, code scim.ErrorCode) {
	t.Helper()
	if got := scim.ErrorCodeOf(err); err == nil || got != code {
		t.Fatalf("got %v (code %s), want code %s", err, got, code)
	}
}

// next is r as a client would send it back, one version on.
func next(e *env, r *scim.Resource) *scim.Resource {
	n := *r
	n.Version++
	n.LastModified = e.tick()
	return &n
}

// TestCallsPerOperation pins what each store method costs in DynamoDB
// calls (docs/dynamodb.md, "Access patterns"): every number there is checked here.
func TestCallsPerOperation(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	users := e.users(t, 100)
	member := users[0]
	named := e.mustCreate(t, e.resource(scim.UserResource, "Named@Example.com", "00u-named"))
	group := e.mustCreate(t, e.resource(scim.GroupResource, "Engineering", "g-eng"))
	var groups []*scim.Resource
	for i := range 50 {
		g := e.resource(scim.GroupResource, fmt.Sprintf("Team %02d", i), "")
		if i == 0 || i == 49 {
			g.Members = asMembers(users[:2])
		}
		groups = append(groups, e.mustCreate(t, g))
	}
	cur := group

	tests := []struct {
		name string
		run  func() error
		want map[string]int
	}{
		{"Get user", func() error {
			_, err := e.store.Get(ctx, e.conn, scim.UserResource, member.ID, false)
			return err
		}, map[string]int{"BatchGetItem": 1}}, // the user and the connection's pending set
		{"Get group with members", func() error {
			_, err := e.store.Get(ctx, e.conn, scim.GroupResource, groups[0].ID, true)
			return err
		}, map[string]int{"BatchGetItem": 1, "Query": 1}},
		{"FindByName", func() error {
			_, err := e.store.FindByName(ctx, e.conn, scim.UserResource, "named@example.com", false)
			return err
		}, map[string]int{"GetItem": 1, "BatchGetItem": 1}},
		{"FindByExternalID", func() error {
			_, err := e.store.FindByExternalID(ctx, e.conn, scim.UserResource, "00u-named", false)
			return err
		}, map[string]int{"GetItem": 1, "BatchGetItem": 1}},
		{"Create user", func() error {
			return e.store.Create(ctx, e.resource(scim.UserResource, "new@example.com", "00u-new"))
		}, map[string]int{"TransactWriteItems": 1}},
		{"Create group with 40 members", func() error {
			g := e.resource(scim.GroupResource, "Forty", "")
			g.Members = asMembers(users[:40])
			return e.store.Create(ctx, g)
		}, map[string]int{"TransactWriteItems": 1}},
		{"Replace user, same keys", func() error {
			n := next(e, named)
			n.Attributes = map[string]any{"userName": n.Name, "title": "Boss"}
			err := e.store.Replace(ctx, n, named.Version)
			named = n
			return err
		}, map[string]int{"UpdateItem": 1}},
		{"Replace user, new userName", func() error {
			n := next(e, named)
			n.Name = "renamed@example.com"
			err := e.store.Replace(ctx, n, named.Version)
			named = n
			return err
		}, map[string]int{"UpdateItem": 1, "TransactWriteItems": 1}},
		{"ModifyMembers add 1", func() error {
			n := next(e, cur)
			err := e.store.ModifyMembers(ctx, n, cur.Version, asMembers(users[:1]), nil)
			cur = n
			return err
		}, map[string]int{"TransactWriteItems": 1}},
		{"ModifyMembers add 49", func() error {
			n := next(e, cur)
			err := e.store.ModifyMembers(ctx, n, cur.Version, asMembers(users[1:50]), nil)
			cur = n
			return err
		}, map[string]int{"TransactWriteItems": 1}},
		{"ModifyMembers add 100", func() error {
			n := next(e, cur)
			err := e.store.ModifyMembers(ctx, n, cur.Version, asMembers(users[:100]), nil)
			cur = n
			return err
		}, map[string]int{"BatchGetItem": 2, "TransactWriteItems": 3}}, // users and member items read; 50 already members are left out: intent + 2 chunks
		{"ModifyMembers remove 1", func() error {
			n := next(e, cur)
			err := e.store.ModifyMembers(ctx, n, cur.Version, nil, []string{users[0].ID})
			cur = n
			return err
		}, map[string]int{"TransactWriteItems": 1}},
		{"PatchMembers add 1", func() error {
			_, err := e.store.PatchMembers(ctx, e.conn, cur.ID, asMembers(users[:1]), nil, e.tick())
			return err
		}, map[string]int{"TransactWriteItems": 1, "GetItem": 1}},
		{"PatchMembers add 1 already a member", func() error {
			_, err := e.store.PatchMembers(ctx, e.conn, cur.ID, asMembers(users[:1]), nil, e.tick())
			return err
		}, map[string]int{"TransactWriteItems": 1, "GetItem": 1}},
		{"PatchMembers remove 1", func() error {
			_, err := e.store.PatchMembers(ctx, e.conn, cur.ID, nil, []string{users[0].ID}, e.tick())
			return err
		}, map[string]int{"TransactWriteItems": 1, "GetItem": 1}},
		{"PatchMembers add 100", func() error {
			_, err := e.store.PatchMembers(ctx, e.conn, groups[1].ID, asMembers(users[:100]), nil, e.tick())
			return err
		}, map[string]int{"BatchGetItem": 2, "TransactWriteItems": 4, "GetItem": 1}}, // users and member items read; intent + 3 chunks
		{"List 50 users", func() error {
			res, err := e.store.List(ctx, e.conn, scim.UserResource, scim.ListOptions{Limit: 50})
			if err == nil && (len(res.Resources) != 50 || !res.More) {
				err = fmt.Errorf("got %d users, more=%v", len(res.Resources), res.More)
			}
			return err
		}, map[string]int{"Query": 2}},
		{"List 50 users from offset 60", func() error {
			_, err := e.store.List(ctx, e.conn, scim.UserResource, scim.ListOptions{Offset: 60, Limit: 50})
			return err
		}, map[string]int{"Query": 3}},
		{"List 50 groups with members", func() error {
			_, err := e.store.List(ctx, e.conn, scim.GroupResource, scim.ListOptions{Limit: 50, WithMembers: true})
			return err
		}, map[string]int{"Query": 52}},
		{"Delete group with 2 members", func() error {
			return e.store.Delete(ctx, e.conn, scim.GroupResource, groups[49].ID, 1, e.tick())
		}, map[string]int{"BatchGetItem": 1, "Query": 1, "TransactWriteItems": 1}},
		{"Delete user in 3 groups", func() error {
			return e.store.Delete(ctx, e.conn, scim.UserResource, users[1].ID, 1, e.tick())
		}, map[string]int{"BatchGetItem": 1, "TransactWriteItems": 1}},
		{"FindToken", func() error {
			_, err := e.store.FindToken(ctx, e.conn, strings.Repeat("0", 64))
			if scim.IsNotFound(err) {
				return nil
			}
			return err
		}, map[string]int{"BatchGetItem": 1}},
	}
	var report strings.Builder
	fmt.Fprintf(&report, "\n| operation | DynamoDB calls |\n| --- | --- |\n")
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
}

func mapsEqual(a, b map[string]int) bool {
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	for k, v := range b {
		if a[k] != v {
			return false
		}
	}
	return true
}

func formatCalls(calls map[string]int) string {
	var parts []string
	for op, n := range calls {
		if n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, op))
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, " + ")
}

func TestCreateTableMatchesDefinition(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.table = "scimgate-full-definition"
	for range 2 { // the second time finds it and is harmless
		if err := dynamostore.CreateTable(ctx, e.client, e.table); err != nil {
			t.Fatalf("CreateTable: %v", err)
		}
	}
	out, err := e.client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(e.table)})
	if err != nil {
		t.Fatalf("describe: %v", err)
	}
	desc := out.Table
	want := dynamostore.TableDefinition(e.table)
	if desc.TableStatus != types.TableStatusActive {
		t.Errorf("status %s", desc.TableStatus)
	}
	if fmt.Sprint(keySchema(desc.KeySchema)) != fmt.Sprint(keySchema(want.KeySchema)) {
		t.Errorf("key schema %v, want %v", keySchema(desc.KeySchema), keySchema(want.KeySchema))
	}
	if len(desc.AttributeDefinitions) != 2 || len(desc.GlobalSecondaryIndexes) != 0 || len(desc.LocalSecondaryIndexes) != 0 {
		t.Errorf("attributes %d, GSIs %d, LSIs %d; want 2, 0, 0", len(desc.AttributeDefinitions), len(desc.GlobalSecondaryIndexes), len(desc.LocalSecondaryIndexes))
	}
	if desc.BillingModeSummary == nil || desc.BillingModeSummary.BillingMode != types.BillingModePayPerRequest {
		t.Errorf("billing %+v, want PAY_PER_REQUEST", desc.BillingModeSummary)
	}
	if desc.SSEDescription == nil || desc.SSEDescription.Status != types.SSEStatusEnabled {
		t.Errorf("SSE %+v, want ENABLED", desc.SSEDescription)
	}
	if !aws.ToBool(desc.DeletionProtectionEnabled) {
		t.Errorf("deletion protection off")
	}
	if desc.StreamSpecification == nil || !aws.ToBool(desc.StreamSpecification.StreamEnabled) ||
		desc.StreamSpecification.StreamViewType != types.StreamViewTypeNewAndOldImages {
		t.Errorf("stream %+v, want NEW_AND_OLD_IMAGES", desc.StreamSpecification)
	}
	backups, err := e.client.DescribeContinuousBackups(ctx, &dynamodb.DescribeContinuousBackupsInput{TableName: aws.String(e.table)})
	if err != nil {
		t.Fatalf("describe backups: %v", err)
	}
	if pitr := backups.ContinuousBackupsDescription.PointInTimeRecoveryDescription; pitr == nil || pitr.PointInTimeRecoveryStatus != types.PointInTimeRecoveryStatusEnabled {
		t.Errorf("point-in-time recovery %+v, want ENABLED", pitr)
	}
	// Deletion protection is real: the table refuses to be deleted.
	if _, err := e.client.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(e.table)}); err == nil {
		t.Errorf("protected table was deleted")
	}
}

func keySchema(ks []types.KeySchemaElement) []string {
	var out []string
	for _, k := range ks {
		out = append(out, aws.ToString(k.AttributeName)+":"+string(k.KeyType))
	}
	return out
}

// TestDeleteKeepsArchive checks the audit copy that soft delete promises.
func TestDeleteKeepsArchive(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	u := e.mustCreate(t, e.resource(scim.UserResource, "ada@example.com", "00u1"))
	g := e.resource(scim.GroupResource, "Engineering", "")
	g.Members = []scim.Member{{Value: u.ID}}
	e.mustCreate(t, g)
	at := e.tick()
	if err := e.store.Delete(ctx, e.conn, scim.UserResource, u.ID, 1, at); err != nil {
		t.Fatalf("delete: %v", err)
	}
	out, err := e.client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(e.table), Key: map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: "C#acme#okta"}, "sk": &types.AttributeValueMemberS{Value: "XU#" + u.ID},
	}})
	if err != nil {
		t.Fatalf("get archive: %v", err)
	}
	deleted, _ := out.Item["deleted"].(*types.AttributeValueMemberS)
	doc, _ := out.Item["doc"].(*types.AttributeValueMemberS)
	grp, _ := out.Item["grp"].(*types.AttributeValueMemberSS)
	if deleted == nil || deleted.Value != at.Format(time.RFC3339Nano) {
		t.Errorf("archive deleted = %v, want %s", deleted, at.Format(time.RFC3339Nano))
	}
	if doc == nil || !strings.Contains(doc.Value, "ada@example.com") {
		t.Errorf("archive doc = %v", doc)
	}
	if grp == nil || !slices.Equal(grp.Value, []string{g.ID}) {
		t.Errorf("archive keeps the groups the user was in: got %v, want [%s]", grp, g.ID)
	}
	// The group's member partition is empty again.
	members, err := e.client.Query(ctx, &dynamodb.QueryInput{
		TableName: aws.String(e.table), KeyConditionExpression: aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: "M#acme#okta#" + g.ID}},
	})
	if err != nil || members.Count != 0 {
		t.Errorf("member items left: %v %v", members.Count, err)
	}
}

// TestLargeGroupCreate covers a group whose members do not fit into the
// create transaction.
func TestLargeGroupCreate(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	users := e.users(t, 120)

	bad := e.resource(scim.GroupResource, "Too many", "")
	unknown := "99999999-0000-4000-8000-000000000000"
	bad.Members = append(asMembers(users), scim.Member{Value: unknown})
	err := e.store.Create(ctx, bad)
	wantCode(t, err, scim.EInvalidValue)
	if !strings.Contains(scim.ErrorDetailOf(err), unknown) {
		t.Errorf("detail %q does not name %s", scim.ErrorDetailOf(err), unknown)
	}
	_, err = e.store.FindByName(ctx, e.conn, scim.GroupResource, "Too many", false)
	wantCode(t, err, scim.ENotFound)

	g := e.resource(scim.GroupResource, "Everyone", "")
	g.Members = asMembers(users)
	e.mustCreate(t, g)
	got, err := e.store.Get(ctx, e.conn, scim.GroupResource, g.ID, true)
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	if len(got.Members) != len(users) {
		t.Fatalf("%d members, want %d", len(got.Members), len(users))
	}
	u, err := e.store.Get(ctx, e.conn, scim.UserResource, users[119].ID, false)
	if err != nil || !slices.Equal(u.Groups, []string{g.ID}) {
		t.Fatalf("last user's groups = %v, %v", u.Groups, err)
	}
}

// TestGroupReadIsBounded: a group read stops after the member read limit,
// with the queries that needs and no more, however large the group.
func TestGroupReadIsBounded(t *testing.T) {
	e := newEnv(t, dynamostore.WithMemberReadLimit(5))
	ctx := context.Background()
	g := e.resource(scim.GroupResource, "Everyone", "")
	g.Members = asMembers(e.users(t, 12))
	e.mustCreate(t, g)
	e.counter.Reset()
	got, err := e.store.Get(ctx, e.conn, scim.GroupResource, g.ID, true)
	if err != nil || len(got.Members) != 5 {
		t.Fatalf("get: %d members, %v; want 5", len(got.Members), err)
	}
	if calls := e.counter.Snapshot(); calls["Query"] != 1 || calls["BatchGetItem"] != 1 || len(calls) != 2 {
		t.Fatalf("calls %v, want one BatchGetItem (group and pending set) and one Query", calls)
	}
	list, err := e.store.List(ctx, e.conn, scim.GroupResource, scim.ListOptions{Limit: 10, WithMembers: true})
	if err != nil || len(list.Resources) != 1 || len(list.Resources[0].Members) != 5 {
		t.Fatalf("list: %+v %v", list, err)
	}
}

// TestModifyMembersMovesKeys: a PATCH may rename a group and change its
// members at once; the displayName guard must move with it.
func TestModifyMembersMovesKeys(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	u := e.users(t, 1)[0]
	g := e.mustCreate(t, e.resource(scim.GroupResource, "Engineering", "g1"))
	other := e.mustCreate(t, e.resource(scim.GroupResource, "Sales", "g2"))

	taken := next(e, g)
	taken.Name = "SALES"
	wantCode(t, e.store.ModifyMembers(ctx, taken, 1, asMembers([]*scim.Resource{u}), nil), scim.EUniqueness)
	if got, _ := e.store.Get(ctx, e.conn, scim.UserResource, u.ID, false); len(got.Groups) != 0 {
		t.Fatalf("refused change added a membership: %v", got.Groups)
	}

	renamed := next(e, g)
	renamed.Name, renamed.ExternalID = "Platform", ""
	if err := e.store.ModifyMembers(ctx, renamed, 1, asMembers([]*scim.Resource{u}), nil); err != nil {
		t.Fatalf("rename with members: %v", err)
	}
	if got, err := e.store.FindByName(ctx, e.conn, scim.GroupResource, "platform", true); err != nil || got.ID != g.ID || len(got.Members) != 1 {
		t.Fatalf("find renamed = %+v, %v", got, err)
	}
	_, err := e.store.FindByExternalID(ctx, e.conn, scim.GroupResource, "g1", false)
	wantCode(t, err, scim.ENotFound)
	e.mustCreate(t, e.resource(scim.GroupResource, "Engineering", "g1"))
	if _, err := e.store.FindByName(ctx, e.conn, scim.GroupResource, "Sales", false); err != nil {
		t.Fatalf("other group's key lost: %v (%s)", err, other)
	}
}

func TestModifyMembersEdgeCases(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	users := e.users(t, 3)
	g := e.mustCreate(t, e.resource(scim.GroupResource, "Engineering", ""))
	// The same user twice, and one both added and removed: removal wins.
	n := next(e, g)
	add := []scim.Member{{Value: users[0].ID, Display: "first"}, {Value: users[0].ID, Display: "last"}, {Value: users[1].ID}}
	if err := e.store.ModifyMembers(ctx, n, 1, add, []string{users[1].ID, users[1].ID, ""}); err != nil {
		t.Fatalf("modify: %v", err)
	}
	got, err := e.store.Get(ctx, e.conn, scim.GroupResource, g.ID, true)
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	if want := []scim.Member{{Value: users[0].ID, Display: "last"}}; !slices.Equal(got.Members, want) {
		t.Fatalf("members %+v, want %+v", got.Members, want)
	}
	// An id that cannot be a key is an unknown member, not an internal error.
	n2 := next(e, n)
	wantCode(t, e.store.ModifyMembers(ctx, n2, n.Version, []scim.Member{{Value: strings.Repeat("x", 2000)}}, nil), scim.EInvalidValue)
	wantCode(t, e.store.ModifyMembers(ctx, n2, n.Version, []scim.Member{{Value: ""}}, nil), scim.EInvalidValue)
	// A deleted group is not found.
	if err := e.store.Delete(ctx, e.conn, scim.GroupResource, g.ID, n.Version, e.tick()); err != nil {
		t.Fatalf("delete: %v", err)
	}
	wantCode(t, e.store.ModifyMembers(ctx, n2, n.Version, asMembers(users[2:]), nil), scim.ENotFound)
	if u, _ := e.store.Get(ctx, e.conn, scim.UserResource, users[0].ID, false); len(u.Groups) != 0 {
		t.Fatalf("deleted group left in grp: %v", u.Groups)
	}
}

func TestKeysTooLongForDynamoDB(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	long := strings.Repeat("a", 1100) + "@example.com"
	wantCode(t, e.store.Create(ctx, e.resource(scim.UserResource, long, "")), scim.EInvalidValue)
	wantCode(t, e.store.Create(ctx, e.resource(scim.UserResource, "ok@example.com", long)), scim.EInvalidValue)
	_, err := e.store.FindByName(ctx, e.conn, scim.UserResource, long, false)
	wantCode(t, err, scim.ENotFound)
	_, err = e.store.FindByExternalID(ctx, e.conn, scim.UserResource, long, false)
	wantCode(t, err, scim.ENotFound)
	_, err = e.store.Get(ctx, e.conn, scim.UserResource, long, false)
	wantCode(t, err, scim.ENotFound)
	_, err = e.store.Get(ctx, scim.Connection{Tenant: "Bad#Tenant", SSO: "okta"}, scim.UserResource, "x", false)
	wantCode(t, err, scim.EInvalidValue)
}

func TestListCursorAfterDeletedResource(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	users := e.users(t, 4)
	if err := e.store.Delete(ctx, e.conn, scim.UserResource, users[1].ID, 1, e.tick()); err != nil {
		t.Fatalf("delete: %v", err)
	}
	res, err := e.store.List(ctx, e.conn, scim.UserResource, scim.ListOptions{After: users[1].ID, Limit: 1})
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	if len(res.Resources) != 1 || res.Resources[0].ID != users[2].ID || !res.More || res.Total != 3 {
		t.Fatalf("page after deleted id = %v more=%v total=%d", res.Resources, res.More, res.Total)
	}
	res, err = e.store.List(ctx, e.conn, scim.UserResource, scim.ListOptions{After: users[2].ID, Limit: 0})
	if err != nil || !res.More || len(res.Resources) != 0 {
		t.Fatalf("limit 0 after = %+v, %v", res, err)
	}
	res, err = e.store.List(ctx, e.conn, scim.UserResource, scim.ListOptions{After: users[3].ID, Limit: 0})
	if err != nil || res.More {
		t.Fatalf("limit 0 after last = %+v, %v", res, err)
	}
}

// conflicting makes the first n TransactWriteItems calls fail the way
// DynamoDB reports two transactions colliding on an item, which moto never does.
type conflicting struct {
	dynamostore.API
	n int
}

func (c *conflicting) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, optFns ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	if c.n > 0 {
		c.n--
		reasons := make([]types.CancellationReason, len(in.TransactItems))
		for i := range reasons {
			reasons[i].Code = aws.String("None")
		}
		reasons[len(reasons)-1].Code = aws.String("TransactionConflict")
		return nil, &types.TransactionCanceledException{Message: aws.String("Transaction cancelled"), CancellationReasons: reasons}
	}
	return c.API.TransactWriteItems(ctx, in, optFns...)
}

func (c *conflicting) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	if c.n > 0 {
		c.n--
		return nil, &types.TransactionConflictException{Message: aws.String("Transaction is ongoing for the item")}
	}
	return c.API.UpdateItem(ctx, in, optFns...)
}

func TestTransactionConflictIsRetried(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	tests := []struct {
		name      string
		conflicts int
		wantErr   bool
	}{
		{"recovers", 3, false},
		{"gives up", 4, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db := &conflicting{API: e.client, n: tc.conflicts}
			s := dynamostore.New(db, e.table, dynamostore.WithConflictRetry(4, time.Millisecond))
			u := e.resource(scim.UserResource, "u-"+tc.name+"@example.com", "")
			err := s.Create(ctx, u)
			if !tc.wantErr && err == nil {
				db.n = tc.conflicts
				u = next(e, u)
				err = s.Replace(ctx, u, u.Version-1)
			}
			if tc.wantErr {
				var canceled *types.TransactionCanceledException
				if !errors.As(err, &canceled) || scim.ErrorCodeOf(err) != scim.EUnavailable {
					t.Fatalf("got %v, want the wrapped cancellation as unavailable (503, retry later)", err)
				}
				u.Version++
				db.n = tc.conflicts
				err = s.Replace(ctx, u, u.Version-1)
				var conflict *types.TransactionConflictException
				if !errors.As(err, &conflict) || scim.ErrorCodeOf(err) != scim.EUnavailable {
					t.Fatalf("got %v, want the wrapped conflict as unavailable (503, retry later)", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("create and replace: %v", err)
			}
			if got, err := s.Get(ctx, e.conn, scim.UserResource, u.ID, false); err != nil || got.Version != 2 {
				t.Fatalf("get = %+v, %v", got, err)
			}
		})
	}
}

func TestCallCounter(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	u := e.users(t, 1)[0]
	e.counter.Reset()
	for range 3 {
		if _, err := e.store.Get(ctx, e.conn, scim.UserResource, u.ID, false); err != nil {
			t.Fatalf("get: %v", err)
		}
	}
	if _, err := e.store.List(ctx, e.conn, scim.UserResource, scim.ListOptions{Limit: 5}); err != nil {
		t.Fatalf("list: %v", err)
	}
	snap := e.counter.Snapshot()
	if want := map[string]int{"BatchGetItem": 3, "Query": 2}; !mapsEqual(snap, want) || e.counter.Total() != 5 {
		t.Fatalf("snapshot %v total %d, want %v total 5", snap, e.counter.Total(), want)
	}
	snap["BatchGetItem"] = 100 // a snapshot is a copy
	e.counter.Reset()
	if got := e.counter.Snapshot(); e.counter.Total() != 0 || len(got) != 0 {
		t.Fatalf("after reset: %v", got)
	}
}

// TestCounterShards: creates and deletes count in the shard of their id,
// and the total sums every shard.
func TestCounterShards(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	users := e.users(t, 40)
	for _, u := range users[:7] {
		if err := e.store.Delete(ctx, e.conn, scim.UserResource, u.ID, 1, e.tick()); err != nil {
			t.Fatalf("delete: %v", err)
		}
	}
	res, err := e.store.List(ctx, e.conn, scim.UserResource, scim.ListOptions{})
	if err != nil || res.Total != 33 {
		t.Fatalf("total = %d, %v; want 33", res.Total, err)
	}
	out, err := e.client.Query(ctx, &dynamodb.QueryInput{
		TableName:                 aws.String(e.table),
		KeyConditionExpression:    aws.String("pk = :pk AND begins_with(sk, :p)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: "C#acme#okta"}, ":p": &types.AttributeValueMemberS{Value: "N#U#"}},
	})
	if err != nil || len(out.Items) < 10 {
		t.Fatalf("counter shards: %d items, %v; want the count spread over many", len(out.Items), err)
	}
}

// TestLostRacesEndIn503: an Update that loses the version race every time
// (another writer always gets in between its read and its write) is
// retried with backoff until the retry bound, then answered EUnavailable
// (503 with Retry-After), not EConflict (409), and wrote nothing of its own.
func TestLostRacesEndIn503(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	s := dynamostore.New(e.client, e.table, dynamostore.WithRetryBound(200*time.Millisecond))
	u := e.mustCreate(t, e.resource(scim.UserResource, "raced@example.com", ""))
	attempts := 0
	start := time.Now()
	_, err := s.Update(ctx, e.conn, scim.UserResource, u.ID, false, func(cur *scim.Resource) (*scim.Change, error) {
		attempts++
		other := *cur
		other.Version = cur.Version + 1
		other.Attributes = map[string]any{"userName": cur.Name, "title": fmt.Sprint("other ", attempts)}
		if err := e.store.Replace(ctx, &other, cur.Version); err != nil {
			return nil, err
		}
		mine := *cur
		mine.Version = cur.Version + 1
		mine.Attributes = map[string]any{"userName": cur.Name, "title": "mine"}
		return &scim.Change{Next: &mine}, nil
	})
	wantCode(t, err, scim.EUnavailable)
	if attempts < 2 || time.Since(start) > 5*time.Second {
		t.Fatalf("%d attempts in %v", attempts, time.Since(start))
	}
	got, err := e.store.Get(ctx, e.conn, scim.UserResource, u.ID, false)
	if err != nil || got.Attributes["title"] == "mine" {
		t.Fatalf("after giving up: %+v, %v", got, err)
	}
}

func TestIdPLinkContract(t *testing.T) {
	srv := moto.Server(t)
	client := srv.Client(t)
	storetest.RunIdPLinks(t, func(t *testing.T) storetest.LinkStores {
		s := dynamostore.New(client, srv.NewTable(t, client))
		return storetest.LinkStores{Connections: s, Links: s}
	})
}
