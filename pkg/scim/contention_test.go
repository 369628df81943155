package scim_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/scimgate/scimgate/pkg/dynamostore"
	"github.com/scimgate/scimgate/pkg/scim"
)

// conflictInjector cancels every nth transaction and refuses every nth
// single-item update the way DynamoDB does when two transactions touch one
// item at the same instant. moto never reports TransactionConflict.
type conflictInjector struct {
	dynamostore.API
	every        int64
	transactions atomic.Int64
	updates      atomic.Int64
	injected     atomic.Int64
}

func (c *conflictInjector) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, optFns ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	if c.transactions.Add(1)%c.every == 0 {
		c.injected.Add(1)
		reasons := make([]types.CancellationReason, len(in.TransactItems))
		for i := range reasons {
			reasons[i].Code = aws.String("None")
		}
		reasons[0].Code = aws.String("TransactionConflict")
		return nil, &types.TransactionCanceledException{Message: aws.String("Transaction cancelled"), CancellationReasons: reasons}
	}
	return c.API.TransactWriteItems(ctx, in, optFns...)
}

func (c *conflictInjector) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	if c.updates.Add(1)%c.every == 0 {
		c.injected.Add(1)
		return nil, &types.TransactionConflictException{Message: aws.String("Transaction is ongoing for the item")}
	}
	return c.API.UpdateItem(ctx, in, optFns...)
}

// onAllStores is onBothStores plus DynamoDB with injected transaction
// conflicts on every fifth write.
func onAllStores(t *testing.T, test func(t *testing.T, newHarness harnessFactory)) {
	onBothStores(t, test)
	t.Run("dynamodb-conflicts", func(t *testing.T) {
		var injector *conflictInjector
		test(t, func(t *testing.T, opts ...scim.Option) *harness {
			t.Helper()
			srv := moto.Server(t)
			client := srv.Client(t)
			injector = &conflictInjector{API: client, every: 5}
			return newHarnessOn(t, dynamostore.New(injector, srv.NewTable(t, client)), opts...)
		})
		if injector.injected.Load() == 0 {
			t.Fatalf("no conflict was injected")
		}
	})
}

// concurrently runs n calls of do at once and counts their outcomes by error code ("" for success).
func concurrently(n int, do func(i int) error) map[scim.ErrorCode]int {
	var wg sync.WaitGroup
	var mu sync.Mutex
	outcomes := map[scim.ErrorCode]int{}
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			err := do(i)
			code := scim.ErrorCode("")
			if err != nil {
				code = scim.ErrorCodeOf(err)
			}
			mu.Lock()
			outcomes[code]++
			mu.Unlock()
		}()
	}
	close(start)
	wg.Wait()
	return outcomes
}

func patchBody(ops string) []byte {
	return []byte(fmt.Sprintf(`{"schemas":[%q],"Operations":%s}`, scim.PatchOpSchema, ops))
}

// TestConcurrentMemberAddsAllApply: IdPs push one member per PATCH, in
// parallel. Without If-Match every one applies (issue: 37 of 100 did on the
// embedded store, 6 of 100 on DynamoDB).
func TestConcurrentMemberAddsAllApply(t *testing.T) { onAllStores(t, testConcurrentMemberAdds) }

func testConcurrentMemberAdds(t *testing.T, newHarness harnessFactory) {
	h := newHarness(t)
	const n = 100
	var users []string
	for i := range n {
		users = append(users, h.user(fmt.Sprintf("member%03d@example.com", i)).ID)
	}
	g := h.create(scim.GroupResource, `{"displayName":"Everyone"}`)
	outcomes := concurrently(n, func(i int) error {
		_, err := h.svc.Patch(context.Background(), conn, scim.GroupResource, g.ID,
			patchBody(fmt.Sprintf(`[{"op":"add","path":"members","value":[{"value":%q}]}]`, users[i])), scim.Precondition{})
		return err
	})
	if outcomes[""] != n {
		t.Fatalf("outcomes %v, want %d successes", outcomes, n)
	}
	doc := h.doc(scim.GroupResource, g.ID)
	members, _ := doc["members"].([]any)
	if len(members) != n {
		t.Fatalf("%d members, want %d", len(members), n)
	}
	// One version step per change that changed something.
	if got := at(doc, "meta.version"); got != fmt.Sprintf(`W/"%d"`, n+1) {
		t.Fatalf("version %v after %d adds, want W/\"%d\"", got, n, n+1)
	}
	for _, id := range users {
		u := h.doc(scim.UserResource, id)
		if groups, _ := u["groups"].([]any); len(groups) != 1 {
			t.Fatalf("user %s has groups %v, want the one group", id, groups)
		}
	}
}

// TestConcurrentEmailAddsAllApply: PATCHes of one user's other attributes
// without If-Match all apply in some serial order (20 of 50 did on the
// embedded store, 4 of 50 on DynamoDB).
func TestConcurrentEmailAddsAllApply(t *testing.T) { onAllStores(t, testConcurrentEmailAdds) }

func testConcurrentEmailAdds(t *testing.T, newHarness harnessFactory) {
	h := newHarness(t)
	const n = 50
	u := h.user("ada@example.com")
	outcomes := concurrently(n, func(i int) error {
		_, err := h.svc.Patch(context.Background(), conn, scim.UserResource, u.ID,
			patchBody(fmt.Sprintf(`[{"op":"add","path":"emails","value":[{"value":"ada%02d@example.com","type":"other"}]}]`, i)), scim.Precondition{})
		return err
	})
	if outcomes[""] != n {
		t.Fatalf("outcomes %v, want %d successes", outcomes, n)
	}
	doc := h.doc(scim.UserResource, u.ID)
	emails, _ := doc["emails"].([]any)
	if len(emails) != n+1 { // the work email it was created with, plus n
		t.Fatalf("%d emails, want %d", len(emails), n+1)
	}
	seen := map[string]bool{}
	for _, e := range emails {
		seen[fmt.Sprint(e.(map[string]any)["value"])] = true
	}
	for i := range n {
		if !seen[fmt.Sprintf("ada%02d@example.com", i)] {
			t.Fatalf("email %d lost: %v", i, emails)
		}
	}
	if got := at(doc, "meta.version"); got != fmt.Sprintf(`W/"%d"`, n+1) {
		t.Fatalf("version %v, want W/\"%d\"", got, n+1)
	}
}

// TestConcurrentIfMatchExactlyOneWins pins RFC 7644 §3.14 under contention:
// of 50 PATCHes that carry the same current ETag, exactly one applies and
// the other 49 answer 412, for a user and for a group's members alike.
func TestConcurrentIfMatchExactlyOneWins(t *testing.T) { onAllStores(t, testConcurrentIfMatch) }

func testConcurrentIfMatch(t *testing.T, newHarness harnessFactory) {
	h := newHarness(t)
	const n = 50
	u := h.user("ada@example.com")
	var users []string
	for i := range n {
		users = append(users, h.user(fmt.Sprintf("m%02d@example.com", i)).ID)
	}
	g := h.create(scim.GroupResource, `{"displayName":"Pinned"}`)
	cases := []struct {
		typ scim.ResourceType
		id  string
		ops func(i int) string
	}{
		{scim.UserResource, u.ID, func(i int) string {
			return fmt.Sprintf(`[{"op":"replace","path":"title","value":"title %d"}]`, i)
		}},
		{scim.GroupResource, g.ID, func(i int) string {
			return fmt.Sprintf(`[{"op":"add","path":"members","value":[{"value":%q}]}]`, users[i])
		}},
	}
	for _, tc := range cases {
		outcomes := concurrently(n, func(i int) error {
			_, err := h.svc.Patch(context.Background(), conn, tc.typ, tc.id, patchBody(tc.ops(i)), scim.IfMatch(1))
			return err
		})
		if outcomes[""] != 1 || outcomes[scim.EPreconditionFailed] != n-1 {
			t.Fatalf("%s: outcomes %v, want 1 success and %d precondition failures", tc.typ, outcomes, n-1)
		}
		doc := h.doc(tc.typ, tc.id)
		if got := at(doc, "meta.version"); got != `W/"2"` {
			t.Fatalf("%s: version %v, want W/\"2\"", tc.typ, got)
		}
		if tc.typ == scim.GroupResource {
			if members, _ := doc["members"].([]any); len(members) != 1 {
				t.Fatalf("group has %d members, want the one that won", len(members))
			}
		}
	}
}

// TestNoOpChangesKeepVersion: a change that changes nothing leaves
// meta.version (and so the ETag) as it was, so that an IdP holding the ETag
// does not get 412 for nothing. The same member add delivered three times
// leaves the group at W/"2" (it was W/"4").
func TestNoOpChangesKeepVersion(t *testing.T) { onBothStores(t, testNoOpChangesKeepVersion) }

func testNoOpChangesKeepVersion(t *testing.T, newHarness harnessFactory) {
	h := newHarness(t)
	ctx := context.Background()
	u := h.user("ada@example.com")
	other := h.user("bob@example.com")
	g := h.create(scim.GroupResource, `{"displayName":"Team"}`)
	version := func(typ scim.ResourceType, id string) any { return at(h.doc(typ, id), "meta.version") }
	addAda := fmt.Sprintf(`[{"op":"add","path":"members","value":[{"value":%q}]}]`, u.ID)
	for range 3 {
		if _, err := h.patch(scim.GroupResource, g.ID, addAda); err != nil {
			t.Fatalf("add member: %v", err)
		}
	}
	if got := version(scim.GroupResource, g.ID); got != `W/"2"` {
		t.Fatalf("after the same add three times: %v, want W/\"2\"", got)
	}
	steps := []struct {
		name string
		typ  scim.ResourceType
		id   string
		do   func(id string) error
	}{
		{"add member again with If-Match", scim.GroupResource, g.ID, func(id string) error {
			_, err := h.svc.Patch(ctx, conn, scim.GroupResource, id, patchBody(addAda), scim.IfMatch(2))
			return err
		}},
		{"remove a non-member", scim.GroupResource, g.ID, func(id string) error {
			_, err := h.patch(scim.GroupResource, id, fmt.Sprintf(`[{"op":"remove","path":"members[value eq \"%s\"]"}]`, other.ID))
			return err
		}},
		{"remove a non-member with If-Match", scim.GroupResource, g.ID, func(id string) error {
			_, err := h.svc.Patch(ctx, conn, scim.GroupResource, id, patchBody(fmt.Sprintf(`[{"op":"remove","path":"members[value eq \"%s\"]"}]`, other.ID)), scim.IfMatch(2))
			return err
		}},
		{"replace displayName with itself", scim.GroupResource, g.ID, func(id string) error {
			_, err := h.patch(scim.GroupResource, id, `[{"op":"replace","path":"displayName","value":"Team"}]`)
			return err
		}},
		{"PUT the same group", scim.GroupResource, g.ID, func(id string) error {
			_, err := h.svc.Replace(ctx, conn, scim.GroupResource, id, []byte(fmt.Sprintf(`{"displayName":"Team","members":[{"value":%q}]}`, u.ID)), scim.Precondition{})
			return err
		}},
		{"replace a user value with itself", scim.UserResource, u.ID, func(id string) error {
			_, err := h.patch(scim.UserResource, id, `[{"op":"replace","path":"name.givenName","value":"Ada"}]`)
			return err
		}},
		{"PUT the same user", scim.UserResource, u.ID, func(id string) error {
			body := fmt.Sprintf(`{"schemas":[%q],"userName":"ada@example.com","name":{"givenName":"Ada","familyName":"Lovelace"},"emails":[{"value":"ada@example.com","type":"work","primary":true}],"active":true}`, scim.UserSchema)
			_, err := h.svc.Replace(ctx, conn, scim.UserResource, id, []byte(body), scim.Precondition{})
			return err
		}},
	}
	for _, st := range steps {
		before := version(st.typ, st.id)
		if err := st.do(st.id); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if got := version(st.typ, st.id); got != before {
			t.Fatalf("%s moved the version from %v to %v", st.name, before, got)
		}
	}
	// And a real change still moves it, once.
	if _, err := h.patch(scim.GroupResource, g.ID, fmt.Sprintf(`[{"op":"add","path":"members","value":[{"value":%q}]}]`, other.ID)); err != nil {
		t.Fatal(err)
	}
	if got := version(scim.GroupResource, g.ID); got != `W/"3"` {
		t.Fatalf("after a real add: %v, want W/\"3\"", got)
	}
	if !strings.Contains(fmt.Sprint(h.doc(scim.UserResource, other.ID)["groups"]), g.ID) {
		t.Fatalf("the added member does not show the group")
	}
}

// TestMembershipOnlyPatchAppliesOpsInOrder: a membership-only PATCH is
// reduced to its net effect in operation order, as the general path
// applies it: add then remove is no change, remove then add is an add.
func TestMembershipOnlyPatchAppliesOpsInOrder(t *testing.T) {
	onBothStores(t, func(t *testing.T, newHarness harnessFactory) {
		h := newHarness(t)
		a, b := h.user("a@example.com"), h.user("b@example.com")
		g := h.create(scim.GroupResource, `{"displayName":"Ordered"}`)
		ops := fmt.Sprintf(`[{"op":"add","path":"members","value":[{"value":%q}]},{"op":"remove","path":"members[value eq \"%s\"]"},`+
			`{"op":"remove","path":"members","value":[{"value":%q}]},{"op":"add","path":"members","value":[{"value":%q}]}]`, a.ID, a.ID, b.ID, b.ID)
		if _, err := h.patch(scim.GroupResource, g.ID, ops); err != nil {
			t.Fatal(err)
		}
		doc := h.doc(scim.GroupResource, g.ID)
		members, _ := doc["members"].([]any)
		if len(members) != 1 || members[0].(map[string]any)["value"] != b.ID || at(doc, "meta.version") != `W/"2"` {
			t.Fatalf("members %v at %v, want only b at W/\"2\"", members, at(doc, "meta.version"))
		}
		_, err := h.patch(scim.GroupResource, "00000000-0000-4000-8000-00000000dead", ops)
		wantCode(t, err, scim.ENotFound)
		_, err = h.patch(scim.GroupResource, g.ID, `[{"op":"add","path":"members","value":[{"value":"00000000-0000-4000-8000-00000000beef"}]}]`)
		wantCode(t, err, scim.EInvalidValue)
	})
}
