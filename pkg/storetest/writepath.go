package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scimgate/scimgate/pkg/scim"
)

// RunWritePath is the contract of Store.Update and Store.PatchMembers:
// atomic read-modify-write, version-free membership changes, and versions
// that move only when something changes.
func RunWritePath(t *testing.T, newStores func(t *testing.T) Stores) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s Stores, conn scim.Connection)
	}{
		{"UpdateWritesTheChange", testUpdateWrites},
		{"UpdateWithoutChangeWritesNothing", testUpdateNoChange},
		{"UpdateIsAtomicUnderConcurrency", testUpdateConcurrent},
		{"UpdateMembersNoOpKeepsVersion", testUpdateMembersNoOp},
		{"PatchMembersIgnoresVersion", testPatchMembers},
		{"PatchMembersConcurrentAddsAllApply", testPatchMembersConcurrent},
	}
	var seq atomic.Int64
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStores(t)
			conn := scim.Connection{Tenant: fmt.Sprintf("w%d-%d", time.Now().UnixNano()%1e9, seq.Add(1)), SSO: "okta"}
			tc.fn(t, s, conn)
		})
	}
}

// bump is a modify function that sets attribute title to value, one version on.
func bump(value string, calls *atomic.Int64) func(cur *scim.Resource) (*scim.Change, error) {
	return func(cur *scim.Resource) (*scim.Change, error) {
		if calls != nil {
			calls.Add(1)
		}
		next := *cur
		next.Attributes = map[string]any{}
		for k, v := range cur.Attributes {
			next.Attributes[k] = v
		}
		next.Attributes["title"] = value
		next.Version = cur.Version + 1
		next.LastModified = cur.LastModified.Add(time.Second)
		return &scim.Change{Next: &next}, nil
	}
}

func testUpdateWrites(t *testing.T, s Stores, conn scim.Connection) {
	ctx := context.Background()
	f := newFixture(conn)
	u := f.user("ada@example.com", "")
	mustCreate(t, s.Resources, u)
	got, err := s.Resources.Update(ctx, conn, scim.UserResource, u.ID, false, bump("Boss", nil))
	if err != nil || got.Version != 2 || got.Attributes["title"] != "Boss" {
		t.Fatalf("update = %+v, %v", got, err)
	}
	if stored := mustGet(t, s.Resources, u, false); stored.Version != 2 || stored.Attributes["title"] != "Boss" {
		t.Fatalf("stored %+v", stored)
	}
	_, err = s.Resources.Update(ctx, conn, scim.UserResource, "00000000-0000-4000-8000-999999999999", false, bump("x", nil))
	wantCode(t, err, scim.ENotFound)
	refuse := scim.Errorf(scim.EInvalidValue, "no")
	_, err = s.Resources.Update(ctx, conn, scim.UserResource, u.ID, false, func(*scim.Resource) (*scim.Change, error) { return nil, refuse })
	if !errors.Is(err, refuse) {
		t.Fatalf("modify's error came back as %v", err)
	}
}

func testUpdateNoChange(t *testing.T, s Stores, conn scim.Connection) {
	ctx := context.Background()
	f := newFixture(conn)
	u := f.user("ada@example.com", "")
	mustCreate(t, s.Resources, u)
	got, err := s.Resources.Update(ctx, conn, scim.UserResource, u.ID, false, func(*scim.Resource) (*scim.Change, error) { return nil, nil })
	if err != nil || got.Version != 1 {
		t.Fatalf("nil change: %+v, %v", got, err)
	}
	// The same attributes, one version on: nothing is stored.
	same := func(cur *scim.Resource) (*scim.Change, error) {
		next := *cur
		next.Version++
		return &scim.Change{Next: &next}, nil
	}
	if _, err := s.Resources.Update(ctx, conn, scim.UserResource, u.ID, false, same); err != nil {
		t.Fatal(err)
	}
	if stored := mustGet(t, s.Resources, u, false); stored.Version != 1 {
		t.Fatalf("an unchanged resource moved to version %d", stored.Version)
	}
}

// testUpdateConcurrent: concurrent read-modify-writes without any
// precondition all apply, none overwrites another.
func testUpdateConcurrent(t *testing.T, s Stores, conn scim.Connection) {
	ctx := context.Background()
	f := newFixture(conn)
	u := f.user("ada@example.com", "")
	mustCreate(t, s.Resources, u)
	const n = 20
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = s.Resources.Update(ctx, conn, scim.UserResource, u.ID, false, func(cur *scim.Resource) (*scim.Change, error) {
				next := *cur
				next.Attributes = map[string]any{}
				for k, v := range cur.Attributes {
					next.Attributes[k] = v
				}
				roles, _ := cur.Attributes["roles"].([]any)
				next.Attributes["roles"] = append(append([]any{}, roles...), map[string]any{"value": fmt.Sprint(i)})
				next.Version = cur.Version + 1
				return &scim.Change{Next: &next}, nil
			})
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatalf("concurrent update: %v", err)
		}
	}
	stored := mustGet(t, s.Resources, u, false)
	roles, _ := stored.Attributes["roles"].([]any)
	if len(roles) != n || stored.Version != n+1 {
		t.Fatalf("%d roles at version %d, want %d at %d", len(roles), stored.Version, n, n+1)
	}
}

func testUpdateMembersNoOp(t *testing.T, s Stores, conn scim.Connection) {
	ctx := context.Background()
	f := newFixture(conn)
	a, b := f.user("a@example.com", ""), f.user("b@example.com", "")
	mustCreate(t, s.Resources, a)
	mustCreate(t, s.Resources, b)
	g := f.group("Team", "", scim.Member{Value: a.ID})
	mustCreate(t, s.Resources, g)
	members := func(add []scim.Member, remove []string) func(cur *scim.Resource) (*scim.Change, error) {
		return func(cur *scim.Resource) (*scim.Change, error) {
			next := *cur
			next.Version = cur.Version + 1
			return &scim.Change{Next: &next, Members: true, Add: add, Remove: remove}, nil
		}
	}
	if _, err := s.Resources.Update(ctx, conn, scim.GroupResource, g.ID, false, members([]scim.Member{{Value: a.ID}}, []string{b.ID})); err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, s.Resources, g, true); got.Version != 1 || len(got.Members) != 1 {
		t.Fatalf("a no-op member change: version %d, members %v", got.Version, got.Members)
	}
	got, err := s.Resources.Update(ctx, conn, scim.GroupResource, g.ID, true, members([]scim.Member{{Value: b.ID}}, nil))
	if err != nil || got.Version != 2 || len(got.Members) != 2 {
		t.Fatalf("a real member change: %+v, %v", got, err)
	}
	equalIDs(t, "groups of b", mustGet(t, s.Resources, b, false).Groups, []string{g.ID})
}

func testPatchMembers(t *testing.T, s Stores, conn scim.Connection) {
	ctx := context.Background()
	f := newFixture(conn)
	a, b := f.user("a@example.com", ""), f.user("b@example.com", "")
	mustCreate(t, s.Resources, a)
	mustCreate(t, s.Resources, b)
	g := f.group("Team", "")
	mustCreate(t, s.Resources, g)
	at := f.tick()
	v, err := s.Resources.PatchMembers(ctx, conn, g.ID, []scim.Member{{Value: a.ID, Display: "A"}}, nil, at)
	if err != nil || v != 2 {
		t.Fatalf("add: version %d, %v", v, err)
	}
	got := mustGet(t, s.Resources, g, true)
	if got.Version != 2 || !got.LastModified.Equal(at) || len(got.Members) != 1 || got.Members[0].Display != "A" {
		t.Fatalf("after add: %+v", got)
	}
	// No-ops: the same add (with the same display or none), removing a non-member.
	for _, change := range []struct {
		add    []scim.Member
		remove []string
	}{
		{[]scim.Member{{Value: a.ID, Display: "A"}}, nil},
		{[]scim.Member{{Value: a.ID}}, nil},
		{nil, []string{b.ID}},
		{nil, nil},
	} {
		v, err := s.Resources.PatchMembers(ctx, conn, g.ID, change.add, change.remove, f.tick())
		if err != nil || v != 2 {
			t.Fatalf("no-op %+v: version %d, %v", change, v, err)
		}
	}
	if got := mustGet(t, s.Resources, g, false); got.Version != 2 || !got.LastModified.Equal(at) {
		t.Fatalf("no-ops changed the group: version %d, modified %v", got.Version, got.LastModified)
	}
	// An unknown member fails the whole change.
	_, err = s.Resources.PatchMembers(ctx, conn, g.ID, []scim.Member{{Value: b.ID}, {Value: "00000000-0000-4000-8000-999999999999"}}, nil, f.tick())
	wantCode(t, err, scim.EInvalidValue)
	if got := mustGet(t, s.Resources, g, true); got.Version != 2 || len(got.Members) != 1 {
		t.Fatalf("a failed change changed the group: %+v", got)
	}
	// A change that does something: one version step, whatever the stored version was.
	if v, err := s.Resources.PatchMembers(ctx, conn, g.ID, []scim.Member{{Value: b.ID}}, []string{a.ID}, f.tick()); err != nil || v != 3 {
		t.Fatalf("swap: version %d, %v", v, err)
	}
	equalIDs(t, "members", memberIDs(mustGet(t, s.Resources, g, true)), []string{b.ID})
	equalIDs(t, "groups of a", mustGet(t, s.Resources, a, false).Groups, nil)
	// A display where there was none is a change.
	if v, err := s.Resources.PatchMembers(ctx, conn, g.ID, []scim.Member{{Value: b.ID, Display: "Bee"}}, nil, f.tick()); err != nil || v != 4 {
		t.Fatalf("new display: version %d, %v", v, err)
	}
	if got := mustGet(t, s.Resources, g, true); len(got.Members) != 1 || got.Members[0].Display != "Bee" {
		t.Fatalf("display not updated: %+v", got.Members)
	}
	_, err = s.Resources.PatchMembers(ctx, conn, "00000000-0000-4000-8000-999999999998", []scim.Member{{Value: a.ID}}, nil, f.tick())
	wantCode(t, err, scim.ENotFound)
}

func testPatchMembersConcurrent(t *testing.T, s Stores, conn scim.Connection) {
	ctx := context.Background()
	f := newFixture(conn)
	const n = 30
	var users []*scim.Resource
	for i := range n {
		u := f.user(fmt.Sprintf("u%02d@example.com", i), "")
		mustCreate(t, s.Resources, u)
		users = append(users, u)
	}
	g := f.group("Everyone", "")
	mustCreate(t, s.Resources, g)
	at := f.tick()
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i, u := range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = s.Resources.PatchMembers(ctx, conn, g.ID, []scim.Member{{Value: u.ID}}, nil, at)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatalf("concurrent add: %v", err)
		}
	}
	got := mustGet(t, s.Resources, g, true)
	if len(got.Members) != n || got.Version != n+1 {
		t.Fatalf("%d members at version %d, want %d at %d", len(got.Members), got.Version, n, n+1)
	}
}
