package sqlitestore

import (
	"context"
	"path/filepath"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/scimgate/scimgate/pkg/reconcile"
	"github.com/scimgate/scimgate/pkg/scim"
)

func violationKinds(rep *reconcile.Report) []string {
	var out []string
	for _, v := range rep.Violations {
		out = append(out, string(v.Kind)+" "+v.Key+" "+joinIDs(v.IDs))
	}
	sort.Strings(out)
	return out
}

func joinIDs(ids []string) string {
	s := ""
	for i, id := range ids {
		if i > 0 {
			s += ","
		}
		s += id
	}
	return s
}

// TestCheckFindsAndRepairsSeededCorruption writes each kind of corruption
// this store can hold straight into its tables, then checks, repairs and
// checks again.
func TestCheckFindsAndRepairsSeededCorruption(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, filepath.Join(t.TempDir(), "scimgate.db"))
	at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	a, c, d := testUser(1, at), testUser(3, at), testUser(4, at)
	for _, u := range []*scim.Resource{a, c, d} {
		if err := s.Create(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	group := func(id, name string, members ...*scim.Resource) *scim.Resource {
		g := &scim.Resource{Conn: testConn, Type: scim.GroupResource, ID: id, Version: 1, Created: at, LastModified: at,
			Name: name, Attributes: map[string]any{"displayName": name}}
		for _, m := range members {
			g.Members = append(g.Members, scim.Member{Value: m.ID})
		}
		if err := s.Create(ctx, g); err != nil {
			t.Fatal(err)
		}
		return g
	}
	g := group("00000010-0000-4000-8000-000000000000", "Team", a)
	h := group("00000011-0000-4000-8000-000000000000", "Gone", a)

	clean, err := reconcile.Check(ctx, s, testConn, false)
	if err != nil || len(clean.Violations) != 0 {
		t.Fatalf("a consistent store: %v, %+v", err, clean)
	}

	// 1. A name key that is not NameKey(name): the uniqueness guard of c is wrong.
	mustExec(t, s, `UPDATE resources SET name_key = 'stale@example.com' WHERE id = ?`, c.ID)
	// 2. A member row left pointing at a soft-deleted user.
	if err := s.Delete(ctx, testConn, scim.UserResource, d.ID, 1, at); err != nil {
		t.Fatal(err)
	}
	mustExec(t, s, `INSERT INTO members (tenant, sso, group_id, user_id) VALUES (?, ?, ?, ?)`, testConn.Tenant, testConn.SSO, g.ID, d.ID)
	// 3. A member row of a soft-deleted group.
	if err := s.Delete(ctx, testConn, scim.GroupResource, h.ID, 1, at); err != nil {
		t.Fatal(err)
	}
	mustExec(t, s, `INSERT INTO members (tenant, sso, group_id, user_id) VALUES (?, ?, ?, ?)`, testConn.Tenant, testConn.SSO, h.ID, a.ID)

	rep, err := reconcile.Check(ctx, s, testConn, false)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"member-of-deleted-group  " + h.ID + "," + a.ID,
		"member-of-deleted-user  " + g.ID + "," + d.ID,
		"missing-guard " + scim.NameKey(scim.UserResource, c.Name) + " " + c.ID,
		"orphan-guard stale@example.com " + c.ID,
	}
	if got := violationKinds(rep); !slices.Equal(got, want) {
		t.Fatalf("violations\n%q\nwant\n%q", got, want)
	}

	repaired, err := reconcile.Check(ctx, s, testConn, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range repaired.Violations {
		if !v.Repaired || v.RepairError != "" {
			t.Errorf("not repaired: %+v", v)
		}
	}
	for range 2 { // a second check is clean, and so is a repair of a clean store
		again, err := reconcile.Check(ctx, s, testConn, true)
		if err != nil || len(again.Violations) != 0 {
			t.Fatalf("after repair: %v, %+v", err, again)
		}
	}
	// The repaired state serves: c is found by name, g has only a.
	if got, err := s.FindByName(ctx, testConn, scim.UserResource, c.Name, false); err != nil || got.ID != c.ID {
		t.Errorf("find c by name after repair: %v, %v", got, err)
	}
	if got, err := s.Get(ctx, testConn, scim.GroupResource, g.ID, true); err != nil || len(got.Members) != 1 || got.Members[0].Value != a.ID {
		t.Errorf("group after repair: %+v, %v", got, err)
	}
}

func TestConnectionsPages(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, filepath.Join(t.TempDir(), "scimgate.db"))
	at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	var want []scim.Connection
	for _, c := range []scim.Connection{{Tenant: "b", SSO: "okta"}, {Tenant: "a", SSO: "entra"}, {Tenant: "a", SSO: "okta"}} {
		u := testUser(1, at)
		u.Conn = c
		if err := s.Create(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	want = []scim.Connection{{Tenant: "a", SSO: "entra"}, {Tenant: "a", SSO: "okta"}, {Tenant: "b", SSO: "okta"}}
	var got []scim.Connection
	cursor, pages := "", 0
	for {
		page, next, err := s.Connections(ctx, cursor, 2)
		if err != nil {
			t.Fatal(err)
		}
		got, pages = append(got, page...), pages+1
		if next == "" {
			break
		}
		cursor = next
	}
	if !slices.Equal(got, want) || pages != 2 {
		t.Fatalf("connections %v in %d pages, want %v in 2", got, pages, want)
	}
}

func mustExec(t *testing.T, s *Store, query string, args ...any) {
	t.Helper()
	if _, err := s.writer.Exec(query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}
