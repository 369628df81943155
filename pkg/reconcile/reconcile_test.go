package reconcile_test

import (
	"context"
	"errors"
	"testing"

	"github.com/scimgate/scimgate/pkg/reconcile"
	"github.com/scimgate/scimgate/pkg/scim"
)

// fakeStore is an inventory and a log of the repairs asked of it.
type fakeStore struct {
	inv     reconcile.Inventory
	applied []reconcile.Action
	fail    reconcile.Action
}

func (f *fakeStore) Inventory(context.Context, scim.Connection) (*reconcile.Inventory, error) {
	inv := f.inv
	return &inv, nil
}

func (f *fakeStore) Connections(_ context.Context, cursor string, _ int) ([]scim.Connection, string, error) {
	if cursor == "" {
		return []scim.Connection{{Tenant: "a", SSO: "okta"}}, "next", nil
	}
	return []scim.Connection{{Tenant: "b", SSO: "okta"}}, "", nil
}

func (f *fakeStore) Apply(_ context.Context, _ scim.Connection, r reconcile.Repair) error {
	if r.Action == f.fail {
		return errors.New("boom")
	}
	f.applied = append(f.applied, r.Action)
	return nil
}

func TestDuplicateKeyIsReportedNotRepaired(t *testing.T) {
	f := &fakeStore{inv: reconcile.Inventory{
		Live: []reconcile.Resource{
			{Type: scim.UserResource, ID: "u1", Name: "Ada@example.com", Groups: []string{}},
			{Type: scim.UserResource, ID: "u2", Name: "ada@example.com", Groups: []string{}},
		},
		Guards: []reconcile.Guard{{Type: scim.UserResource, Kind: reconcile.NameGuard, Key: "ada@example.com", Owner: "u1"}},
	}}
	rep, err := reconcile.Check(context.Background(), f, scim.Connection{Tenant: "a", SSO: "okta"}, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Violations) != 1 || rep.Violations[0].Kind != reconcile.DuplicateKey || rep.Violations[0].Repair != nil || rep.Violations[0].Repaired {
		t.Fatalf("got %+v, want one unrepaired duplicate-key", rep.Violations)
	}
	if len(f.applied) != 0 {
		t.Fatalf("applied %v", f.applied)
	}
}

func TestRepairsRunInOrderAndFailuresAreRecorded(t *testing.T) {
	f := &fakeStore{fail: reconcile.AddReverse, inv: reconcile.Inventory{
		Live: []reconcile.Resource{
			{Type: scim.UserResource, ID: "u1", Name: "u1", Groups: []string{"gone"}},
			{Type: scim.UserResource, ID: "u2", Name: "u2", Groups: []string{}},
			{Type: scim.GroupResource, ID: "g1", Name: "G"},
		},
		Guards: []reconcile.Guard{
			{Type: scim.UserResource, Kind: reconcile.NameGuard, Key: "u1", Owner: "u1"},
			{Type: scim.UserResource, Kind: reconcile.NameGuard, Key: "old", Owner: "u2"},
			{Type: scim.GroupResource, Kind: reconcile.NameGuard, Key: "g", Owner: "g1"},
		},
		Members: []reconcile.Membership{{GroupID: "g1", UserID: "u2"}},
		Counts:  map[scim.ResourceType]int{scim.UserResource: 2, scim.GroupResource: 0},
	}}
	rep, err := reconcile.Check(context.Background(), f, scim.Connection{Tenant: "a", SSO: "okta"}, true)
	if err != nil {
		t.Fatal(err)
	}
	wantOrder := []reconcile.Action{reconcile.DeleteGuard, reconcile.PutGuard, reconcile.RemoveReverse, reconcile.SetCount}
	if len(f.applied) != len(wantOrder) {
		t.Fatalf("applied %v, want %v", f.applied, wantOrder)
	}
	for i := range wantOrder {
		if f.applied[i] != wantOrder[i] {
			t.Fatalf("applied %v, want %v", f.applied, wantOrder)
		}
	}
	for _, v := range rep.Violations {
		if v.Kind == reconcile.MemberWithoutReverse && (v.Repaired || v.RepairError == "") {
			t.Errorf("the failed repair is not recorded: %+v", v)
		}
	}
}

func TestCheckAllPages(t *testing.T) {
	f := &fakeStore{}
	var seen []string
	if err := reconcile.CheckAll(context.Background(), f, 1, false, func(r *reconcile.Report) error {
		seen = append(seen, r.Conn().String())
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 2 || seen[0] != "a/okta" || seen[1] != "b/okta" {
		t.Fatalf("checked %v", seen)
	}
}
