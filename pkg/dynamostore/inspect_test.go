package dynamostore_test

import (
	"context"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/scimgate/scimgate/pkg/auth"
	"github.com/scimgate/scimgate/pkg/reconcile"
	"github.com/scimgate/scimgate/pkg/scim"
)

func violationKinds(rep *reconcile.Report) []string {
	var out []string
	for _, v := range rep.Violations {
		out = append(out, string(v.Kind)+" "+v.Key+" "+strings.Join(v.IDs, ","))
	}
	sort.Strings(out)
	return out
}

func s(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }

func (e *env) rawPut(t *testing.T, item map[string]types.AttributeValue) {
	t.Helper()
	if _, err := e.client.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: aws.String(e.table), Item: item}); err != nil {
		t.Fatalf("put %v: %v", item, err)
	}
}

func (e *env) rawDelete(t *testing.T, pk, sk string) {
	t.Helper()
	if _, err := e.client.DeleteItem(context.Background(), &dynamodb.DeleteItemInput{TableName: aws.String(e.table),
		Key: map[string]types.AttributeValue{"pk": s(pk), "sk": s(sk)}}); err != nil {
		t.Fatalf("delete %s %s: %v", pk, sk, err)
	}
}

// TestCheckFindsAndRepairsSeededCorruption writes every kind of
// corruption straight into the table, then checks, repairs and checks again.
func TestCheckFindsAndRepairsSeededCorruption(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	pk := "C#" + e.conn.Tenant + "#" + e.conn.SSO
	mpk := func(gid string) string { return "M#" + e.conn.Tenant + "#" + e.conn.SSO + "#" + gid }
	users := e.users(t, 4)
	a, b, c, d := users[0], users[1], users[2], users[3]
	g := e.resource(scim.GroupResource, "Team", "team-ext")
	g.Members = asMembers([]*scim.Resource{a, b})
	e.mustCreate(t, g)
	h := e.resource(scim.GroupResource, "Gone", "")
	e.mustCreate(t, h)

	clean, err := reconcile.Check(ctx, e.store, e.conn, false)
	if err != nil || len(clean.Violations) != 0 {
		t.Fatalf("a consistent table: %v, %+v", err, clean)
	}

	// 1. A guard whose owner does not exist.
	e.rawPut(t, map[string]types.AttributeValue{"pk": s(pk), "sk": s("UN#ghost@example.com"), "owner": s("ghost-id")})
	// 2. A live user without its userName guard.
	e.rawDelete(t, pk, "UN#"+scim.NameKey(scim.UserResource, c.Name))
	// 3. A member item without the reverse entry on the user.
	e.rawPut(t, map[string]types.AttributeValue{"pk": s(mpk(g.ID)), "sk": s(c.ID)})
	// 4. A reverse entry without its member item (b still lists g).
	e.rawDelete(t, mpk(g.ID), b.ID)
	// 5. A member item of a deleted user.
	if err := e.store.Delete(ctx, e.conn, scim.UserResource, d.ID, d.Version, e.tick()); err != nil {
		t.Fatal(err)
	}
	e.rawPut(t, map[string]types.AttributeValue{"pk": s(mpk(g.ID)), "sk": s(d.ID)})
	// 6. A member item of a deleted group.
	if err := e.store.Delete(ctx, e.conn, scim.GroupResource, h.ID, h.Version, e.tick()); err != nil {
		t.Fatal(err)
	}
	e.rawPut(t, map[string]types.AttributeValue{"pk": s(mpk(h.ID)), "sk": s(a.ID)})
	// 7. A counter that drifted.
	if _, err := e.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(e.table),
		Key:              map[string]types.AttributeValue{"pk": s(pk), "sk": s("N#U#0")},
		UpdateExpression: aws.String("ADD n :five"), ExpressionAttributeValues: map[string]types.AttributeValue{":five": &types.AttributeValueMemberN{Value: "5"}},
	}); err != nil {
		t.Fatal(err)
	}

	rep, err := reconcile.Check(ctx, e.store, e.conn, false)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"counter-drift  ",
		"member-of-deleted-group  " + h.ID + "," + a.ID,
		"member-of-deleted-user  " + g.ID + "," + d.ID,
		"member-without-reverse  " + g.ID + "," + c.ID,
		"missing-guard " + scim.NameKey(scim.UserResource, c.Name) + " " + c.ID,
		"orphan-guard ghost@example.com ghost-id",
		"reverse-without-member  " + g.ID + "," + b.ID,
	}
	if got := violationKinds(rep); !slices.Equal(got, want) {
		t.Fatalf("violations\n%q\nwant\n%q", got, want)
	}

	repaired, err := reconcile.Check(ctx, e.store, e.conn, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range repaired.Violations {
		if !v.Repaired || v.RepairError != "" {
			t.Errorf("not repaired: %+v", v)
		}
	}
	for range 2 { // a second check is clean, and a repair of a clean table changes nothing
		again, err := reconcile.Check(ctx, e.store, e.conn, true)
		if err != nil || len(again.Violations) != 0 {
			t.Fatalf("after repair: %v, %+v", err, again)
		}
	}
	// The repaired table serves what the member items said.
	got, err := e.store.Get(ctx, e.conn, scim.GroupResource, g.ID, true)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range got.Members {
		ids = append(ids, m.Value)
	}
	sort.Strings(ids)
	if wantIDs := []string{a.ID, c.ID}; !slices.Equal(ids, wantIDs) {
		t.Errorf("members after repair %v, want %v", ids, wantIDs)
	}
	if u, err := e.store.Get(ctx, e.conn, scim.UserResource, b.ID, false); err != nil || len(u.Groups) != 0 {
		t.Errorf("b after repair: %+v, %v", u, err)
	}
	if u, err := e.store.FindByName(ctx, e.conn, scim.UserResource, c.Name, false); err != nil || !slices.Equal(u.Groups, []string{g.ID}) {
		t.Errorf("c after repair: %+v, %v", u, err)
	}
	list, err := e.store.List(ctx, e.conn, scim.UserResource, scim.ListOptions{Limit: 10})
	if err != nil || list.Total != 3 {
		t.Errorf("user total after repair: %v, %v", list, err)
	}
}

// TestRepairRefusesWhatChanged: a repair conditional on the checked state
// does nothing once that state has moved.
func TestRepairRefusesWhatChanged(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	u := e.users(t, 1)[0]
	// The check saw a guard owned by a ghost; meanwhile a real user took it.
	err := e.store.Apply(ctx, e.conn, reconcile.Repair{Action: reconcile.DeleteGuard, Type: scim.UserResource,
		Guard: &reconcile.Guard{Type: scim.UserResource, Kind: reconcile.NameGuard, Key: scim.NameKey(scim.UserResource, u.Name), Owner: "ghost-id"}})
	if scim.ErrorCodeOf(err) != scim.EConflict {
		t.Fatalf("got %v, want a conflict", err)
	}
	if found, err := e.store.FindByName(ctx, e.conn, scim.UserResource, u.Name, false); err != nil || found.ID != u.ID {
		t.Fatalf("the guard was deleted: %v, %v", found, err)
	}
}

// TestConnectionsScan: every connection with a CONN item (made with its
// first token) is listed once, across pages.
func TestConnectionsScan(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	want := []scim.Connection{{Tenant: "a", SSO: "entra"}, {Tenant: "a", SSO: "okta"}, {Tenant: "b", SSO: "okta"}}
	for _, c := range want {
		if _, err := auth.Issue(ctx, e.store, c, e.tick()); err != nil {
			t.Fatal(err)
		}
		e.conn = c
		e.mustCreate(t, e.resource(scim.UserResource, "x@example.com", ""))
	}
	var got []scim.Connection
	cursor := ""
	for {
		page, next, err := e.store.Connections(ctx, cursor, 1)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, page...)
		if next == "" {
			break
		}
		cursor = next
	}
	sort.Slice(got, func(i, j int) bool { return got[i].String() < got[j].String() })
	if !slices.Equal(got, want) {
		t.Fatalf("connections %v, want %v", got, want)
	}
}
