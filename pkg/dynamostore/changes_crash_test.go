package dynamostore_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/scimgate/scimgate/pkg/changes"
	"github.com/scimgate/scimgate/pkg/dynamostore"
	"github.com/scimgate/scimgate/pkg/scim"
)

// TestChunkedMembershipChangeRecordsOnce: a membership PATCH too large for
// one transaction (an intent) is crashed after every call; after the
// recovery (the next read, then Sweep) the feed holds the members_added
// records of every added member exactly once when the change became
// visible, and none when it did not. The roll-forward of another request
// writes no records of its own.
func TestChunkedMembershipChangeRecordsOnce(t *testing.T) {
	opts := []dynamostore.Option{dynamostore.WithMaxTransactItems(10), dynamostore.WithChangeSettle(0)}
	srv := moto.Server(t)
	ctx := context.Background()
	for n := int64(0); ; n++ {
		if n > 40 {
			t.Fatalf("still not complete after %d calls", n)
		}
		e := newEnv(t, opts...)
		users := e.users(t, 15)
		group := e.mustCreate(t, e.resource(scim.GroupResource, "Eng", ""))
		var values []string
		var want []string
		for _, u := range users {
			values = append(values, fmt.Sprintf(`{"value":%q}`, u.ID))
			want = append(want, u.ID)
		}
		body := `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"members","value":[` + strings.Join(values, ",") + `]}]}`
		crash := &crashAfter{n: n}
		crashing := dynamostore.New(srv.Client(t, crash.option()), e.table, opts...)
		_, patchErr := scim.NewService(crashing).Patch(ctx, e.conn, scim.GroupResource, group.ID, []byte(body), scim.Precondition{})
		if patchErr != nil && !errors.Is(patchErr, errCrash) {
			t.Fatalf("crash after %d calls: %v", n, patchErr)
		}
		full := patchErr == nil || crash.committed.Load()
		if _, err := e.store.Get(ctx, e.conn, scim.GroupResource, group.ID, true); err != nil {
			t.Fatalf("read after a crash after %d calls: %v", n, err)
		}
		if err := e.store.Sweep(ctx, e.conn); err != nil {
			t.Fatalf("sweep after a crash after %d calls: %v", n, err)
		}
		page, err := e.store.ListChanges(ctx, changes.Query{Tenant: e.conn.Tenant, SSO: e.conn.SSO, Types: []changes.Type{changes.GroupMembersAdded}, Limit: changes.MaxPage})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, rec := range page.Records {
			var data changes.MembersData
			if err := json.Unmarshal(rec.Data, &data); err != nil {
				t.Fatal(err)
			}
			got = append(got, data.MemberIDs...)
		}
		slices.Sort(got)
		slices.Sort(want)
		switch {
		case full && !slices.Equal(got, want):
			t.Fatalf("crash after %d calls, change visible: records name %v, want each of %v once", n, got, want)
		case !full && len(got) > 0:
			t.Fatalf("crash after %d calls, change not made: records name %v, want none", n, got)
		}
		if patchErr == nil {
			t.Logf("complete after %d calls; crashed and recovered at each of them", n)
			return
		}
	}
}
