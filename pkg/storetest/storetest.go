// Package storetest is the contract every scim.Store implementation must
// honour. The DynamoDB and embedded stores both run it, so the semantics the
// product promises (uniqueness under concurrency, soft delete, membership,
// optimistic concurrency, stable pagination, connection isolation) are pinned
// once and hold on both.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scimgate/scimgate/pkg/auth"
	"github.com/scimgate/scimgate/pkg/scim"
)

// Stores is what a factory hands the suite. Both interfaces are usually one value.
type Stores struct {
	Resources scim.Store
	Tokens    auth.TokenStore
}

// Run runs the whole contract. newStores may return the same store every time:
// each test works in a connection of its own.
func Run(t *testing.T, newStores func(t *testing.T) Stores) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s Stores, conn scim.Connection)
	}{
		{"CreateGetRoundTrip", testCreateGetRoundTrip},
		{"GetUnknownIsNotFound", testGetUnknown},
		{"UniqueNameAndExternalID", testUniqueness},
		{"ConcurrentCreatesYieldOne", testConcurrentCreates},
		{"FindByNameIsCaseInsensitive", testFindByName},
		{"FindByExternalID", testFindByExternalID},
		{"ReplaceIsVersioned", testReplaceVersioned},
		{"ReplaceMovesUniqueKeys", testReplaceMovesUniqueKeys},
		{"ReplaceOntoTakenNameChangesNothing", testReplaceOntoTakenName},
		{"SoftDeleteFreesKeys", testSoftDelete},
		{"DeleteIsVersioned", testDeleteVersioned},
		{"MembershipFollowsModifyMembers", testMembership},
		{"UnknownMemberChangesNothing", testUnknownMember},
		{"CreateGroupWithMembers", testCreateGroupWithMembers},
		{"DeactivatedUserStaysMember", testDeactivatedUserStaysMember},
		{"DeletingUserRemovesMemberships", testDeleteUserRemovesMemberships},
		{"DeletingGroupRemovesMemberships", testDeleteGroupRemovesMemberships},
		{"LargeMembershipChange", testLargeMembershipChange},
		{"PaginationIsStable", testPagination},
		{"ConnectionsAreIsolated", testIsolation},
		{"Tokens", testTokens},
	}
	var seq atomic.Int64
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStores(t)
			conn := scim.Connection{Tenant: fmt.Sprintf("t%d-%d", time.Now().UnixNano()%1e9, seq.Add(1)), SSO: "okta"}
			tc.fn(t, s, conn)
		})
	}
}

// fixture builds resources with deterministic ids and times.
type fixture struct {
	conn scim.Connection
	n    int
	now  time.Time
}

func newFixture(conn scim.Connection) *fixture {
	return &fixture{conn: conn, now: time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)}
}

// id returns fixed-length ids in ascending order of creation.
func (f *fixture) id() string {
	f.n++
	return fmt.Sprintf("%08d-0000-4000-8000-%012d", f.n, f.n)
}

func (f *fixture) tick() time.Time {
	f.now = f.now.Add(1500 * time.Millisecond)
	return f.now
}

func (f *fixture) user(userName, externalID string) *scim.Resource {
	at := f.tick()
	attrs := map[string]any{
		"userName": userName,
		"active":   true,
		"name":     map[string]any{"givenName": "Ada", "familyName": "Lovelace"},
		"emails":   []any{map[string]any{"value": userName, "type": "work", "primary": true}},
	}
	if externalID != "" {
		attrs["externalId"] = externalID
	}
	return &scim.Resource{
		Conn: f.conn, Type: scim.UserResource, ID: f.id(), Version: 1,
		Created: at, LastModified: at,
		Name: userName, ExternalID: externalID, Active: true, Attributes: attrs,
	}
}

func (f *fixture) group(displayName, externalID string, members ...scim.Member) *scim.Resource {
	at := f.tick()
	attrs := map[string]any{"displayName": displayName}
	if externalID != "" {
		attrs["externalId"] = externalID
	}
	return &scim.Resource{
		Conn: f.conn, Type: scim.GroupResource, ID: f.id(), Version: 1,
		Created: at, LastModified: at,
		Name: displayName, ExternalID: externalID, Active: true, Attributes: attrs,
		Members: members,
	}
}

func mustCreate(t *testing.T, s scim.Store, r *scim.Resource) {
	t.Helper()
	if err := s.Create(context.Background(), r); err != nil {
		t.Fatalf("create %s: %v", r, err)
	}
}

func mustGet(t *testing.T, s scim.Store, r *scim.Resource, withMembers bool) *scim.Resource {
	t.Helper()
	got, err := s.Get(context.Background(), r.Conn, r.Type, r.ID, withMembers)
	if err != nil {
		t.Fatalf("get %s: %v", r, err)
	}
	return got
}

func wantCode(t *testing.T, err error, code scim.ErrorCode) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %s", code)
	}
	var se *scim.Error
	if !errors.As(err, &se) {
		t.Fatalf("got %v (%T), want *scim.Error with code %s", err, err, code)
	}
	if se.Code != code {
		t.Fatalf("got code %s (%v), want %s", se.Code, err, code)
	}
}

func total(t *testing.T, s scim.Store, conn scim.Connection, typ scim.ResourceType) int {
	t.Helper()
	res, err := s.List(context.Background(), conn, typ, scim.ListOptions{Limit: 0})
	if err != nil {
		t.Fatalf("list %s: %v", typ, err)
	}
	if len(res.Resources) != 0 {
		t.Fatalf("list with limit 0 returned %d resources", len(res.Resources))
	}
	return res.Total
}

func memberIDs(r *scim.Resource) []string {
	ids := make([]string, 0, len(r.Members))
	for _, m := range r.Members {
		ids = append(ids, m.Value)
	}
	sort.Strings(ids)
	return ids
}

func sorted(ids []string) []string {
	out := slices.Clone(ids)
	sort.Strings(out)
	if out == nil {
		out = []string{}
	}
	return out
}

func equalIDs(t *testing.T, what string, got, want []string) {
	t.Helper()
	g, w := sorted(got), sorted(want)
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("%s = %v, want %v", what, g, w)
	}
}

func testCreateGetRoundTrip(t *testing.T, s Stores, conn scim.Connection) {
	f := newFixture(conn)
	u := f.user("ada@example.com", "00u1")
	u.Attributes["title"] = "Engineer"
	u.Attributes["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"] = map[string]any{
		"employeeNumber": "42", "manager": map[string]any{"value": "boss"},
	}
	mustCreate(t, s.Resources, u)
	got := mustGet(t, s.Resources, u, false)
	if got.ID != u.ID || got.Type != scim.UserResource || got.Conn != conn || got.Version != 1 {
		t.Fatalf("identity: got %+v", got)
	}
	if !got.Created.Equal(u.Created) || !got.LastModified.Equal(u.LastModified) {
		t.Fatalf("times: got %v/%v want %v/%v", got.Created, got.LastModified, u.Created, u.LastModified)
	}
	if got.Name != u.Name || got.ExternalID != u.ExternalID || !got.Active {
		t.Fatalf("keys: got name=%q ext=%q active=%v", got.Name, got.ExternalID, got.Active)
	}
	if !reflect.DeepEqual(got.Attributes, u.Attributes) {
		t.Fatalf("attributes:\n got %#v\nwant %#v", got.Attributes, u.Attributes)
	}
	if len(got.Groups) != 0 {
		t.Fatalf("new user has groups %v", got.Groups)
	}

	g := f.group("Engineering", "grp1")
	mustCreate(t, s.Resources, g)
	gotGroup := mustGet(t, s.Resources, g, true)
	if gotGroup.Name != "Engineering" || len(gotGroup.Members) != 0 {
		t.Fatalf("group: got %+v", gotGroup)
	}
}

func testGetUnknown(t *testing.T, s Stores, conn scim.Connection) {
	ctx := context.Background()
	for _, typ := range []scim.ResourceType{scim.UserResource, scim.GroupResource} {
		_, err := s.Resources.Get(ctx, conn, typ, "99999999-0000-4000-8000-000000000000", true)
		wantCode(t, err, scim.ENotFound)
		_, err = s.Resources.FindByName(ctx, conn, typ, "nobody", false)
		wantCode(t, err, scim.ENotFound)
		_, err = s.Resources.FindByExternalID(ctx, conn, typ, "nobody", false)
		wantCode(t, err, scim.ENotFound)
	}
}

func testUniqueness(t *testing.T, s Stores, conn scim.Connection) {
	f := newFixture(conn)
	mustCreate(t, s.Resources, f.user("ada@example.com", "00u1"))
	tests := []struct {
		name string
		r    *scim.Resource
	}{
		{"same userName other case", f.user("ADA@Example.com", "00u2")},
		{"same externalId", f.user("grace@example.com", "00u1")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantCode(t, s.Resources.Create(context.Background(), tc.r), scim.EUniqueness)
			_, err := s.Resources.Get(context.Background(), conn, scim.UserResource, tc.r.ID, false)
			wantCode(t, err, scim.ENotFound)
		})
	}
	if n := total(t, s.Resources, conn, scim.UserResource); n != 1 {
		t.Fatalf("total users = %d after refused creates, want 1", n)
	}
	// Users and groups have separate namespaces; empty externalIds never collide.
	mustCreate(t, s.Resources, f.group("ada@example.com", "00u1"))
	mustCreate(t, s.Resources, f.user("grace@example.com", ""))
	mustCreate(t, s.Resources, f.user("linus@example.com", ""))
	wantCode(t, s.Resources.Create(context.Background(), f.group("ADA@example.com", "")), scim.EUniqueness)
}

func testConcurrentCreates(t *testing.T, s Stores, conn scim.Connection) {
	f := newFixture(conn)
	const attempts = 8
	users := make([]*scim.Resource, attempts)
	for i := range users {
		users[i] = f.user("race@example.com", "00u-race")
	}
	var wg sync.WaitGroup
	errs := make([]error, attempts)
	for i := range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.Resources.Create(context.Background(), users[i])
		}()
	}
	wg.Wait()
	created := 0
	for _, err := range errs {
		switch {
		case err == nil:
			created++
		default:
			wantCode(t, err, scim.EUniqueness)
		}
	}
	if created != 1 {
		t.Fatalf("%d concurrent creates succeeded, want exactly 1", created)
	}
	if n := total(t, s.Resources, conn, scim.UserResource); n != 1 {
		t.Fatalf("total = %d, want 1", n)
	}
}

func testFindByName(t *testing.T, s Stores, conn scim.Connection) {
	f := newFixture(conn)
	u := f.user("Ada.Lovelace@Example.com", "")
	mustCreate(t, s.Resources, u)
	g := f.group("Engineering", "")
	mustCreate(t, s.Resources, g)
	for _, q := range []string{"Ada.Lovelace@Example.com", "ada.lovelace@example.com", "ADA.LOVELACE@EXAMPLE.COM"} {
		got, err := s.Resources.FindByName(context.Background(), conn, scim.UserResource, q, false)
		if err != nil || got.ID != u.ID {
			t.Fatalf("FindByName(%q) = %v, %v; want %s", q, got, err, u.ID)
		}
		if got.Name != u.Name {
			t.Fatalf("name not preserved: %q", got.Name)
		}
	}
	got, err := s.Resources.FindByName(context.Background(), conn, scim.GroupResource, "engineering", false)
	if err != nil || got.ID != g.ID {
		t.Fatalf("group FindByName = %v, %v", got, err)
	}
}

func testFindByExternalID(t *testing.T, s Stores, conn scim.Connection) {
	f := newFixture(conn)
	u := f.user("ada@example.com", "00uAbC")
	mustCreate(t, s.Resources, u)
	got, err := s.Resources.FindByExternalID(context.Background(), conn, scim.UserResource, "00uAbC", false)
	if err != nil || got.ID != u.ID {
		t.Fatalf("FindByExternalID = %v, %v", got, err)
	}
	// externalId is caseExact (RFC 7643 §3.1).
	_, err = s.Resources.FindByExternalID(context.Background(), conn, scim.UserResource, "00uabc", false)
	wantCode(t, err, scim.ENotFound)
}

func testReplaceVersioned(t *testing.T, s Stores, conn scim.Connection) {
	ctx := context.Background()
	f := newFixture(conn)
	u := f.user("ada@example.com", "00u1")
	mustCreate(t, s.Resources, u)

	next := *u
	next.Version = 2
	next.LastModified = f.tick()
	next.Active = false
	next.Attributes = map[string]any{"userName": "ada@example.com", "active": false, "externalId": "00u1"}
	if err := s.Resources.Replace(ctx, &next, 1); err != nil {
		t.Fatalf("replace: %v", err)
	}
	got := mustGet(t, s.Resources, u, false)
	if got.Version != 2 || got.Active || !got.LastModified.Equal(next.LastModified) || !got.Created.Equal(u.Created) {
		t.Fatalf("after replace: %+v", got)
	}
	if !reflect.DeepEqual(got.Attributes, next.Attributes) {
		t.Fatalf("attributes = %#v", got.Attributes)
	}

	stale := next
	stale.Version = 3
	stale.Attributes = map[string]any{"userName": "ada@example.com", "title": "stale"}
	wantCode(t, s.Resources.Replace(ctx, &stale, 1), scim.EConflict)
	if got := mustGet(t, s.Resources, u, false); got.Version != 2 || got.Attributes["title"] != nil {
		t.Fatalf("stale replace changed the user: %+v", got)
	}

	missing := f.user("nobody@example.com", "")
	missing.Version = 2
	err := s.Resources.Replace(ctx, missing, 1)
	if code := scim.ErrorCodeOf(err); code != scim.ENotFound && code != scim.EConflict {
		t.Fatalf("replace of missing resource: %v", err)
	}
}

func testReplaceMovesUniqueKeys(t *testing.T, s Stores, conn scim.Connection) {
	ctx := context.Background()
	f := newFixture(conn)
	u := f.user("ada@example.com", "00u1")
	mustCreate(t, s.Resources, u)
	next := *u
	next.Version = 2
	next.Name, next.ExternalID = "ada.l@example.com", "00u1-new"
	next.Attributes = map[string]any{"userName": next.Name, "externalId": next.ExternalID}
	if err := s.Resources.Replace(ctx, &next, 1); err != nil {
		t.Fatalf("replace: %v", err)
	}
	if _, err := s.Resources.FindByName(ctx, conn, scim.UserResource, "ada@example.com", false); scim.ErrorCodeOf(err) != scim.ENotFound {
		t.Fatalf("old userName still found: %v", err)
	}
	if _, err := s.Resources.FindByExternalID(ctx, conn, scim.UserResource, "00u1", false); scim.ErrorCodeOf(err) != scim.ENotFound {
		t.Fatalf("old externalId still found: %v", err)
	}
	got, err := s.Resources.FindByName(ctx, conn, scim.UserResource, "ADA.L@example.com", false)
	if err != nil || got.ID != u.ID {
		t.Fatalf("new userName: %v, %v", got, err)
	}
	// Old keys are free for others now.
	mustCreate(t, s.Resources, f.user("ada@example.com", "00u1"))
	// A case-only rename keeps the key and must not conflict with itself.
	again := next
	again.Version = 3
	again.Name = "Ada.L@Example.com"
	if err := s.Resources.Replace(ctx, &again, 2); err != nil {
		t.Fatalf("case-only rename: %v", err)
	}
	if got := mustGet(t, s.Resources, u, false); got.Name != "Ada.L@Example.com" {
		t.Fatalf("case-only rename not stored: %q", got.Name)
	}
}

func testReplaceOntoTakenName(t *testing.T, s Stores, conn scim.Connection) {
	ctx := context.Background()
	f := newFixture(conn)
	a := f.user("ada@example.com", "00u1")
	b := f.user("grace@example.com", "00u2")
	mustCreate(t, s.Resources, a)
	mustCreate(t, s.Resources, b)
	for _, tc := range []struct{ name, ext string }{{"ADA@example.com", "00u2"}, {"grace@example.com", "00u1"}} {
		next := *b
		next.Version = 2
		next.Name, next.ExternalID = tc.name, tc.ext
		wantCode(t, s.Resources.Replace(ctx, &next, 1), scim.EUniqueness)
	}
	got := mustGet(t, s.Resources, b, false)
	if got.Version != 1 || got.Name != "grace@example.com" || got.ExternalID != "00u2" {
		t.Fatalf("refused replace changed b: %+v", got)
	}
	if r, err := s.Resources.FindByExternalID(ctx, conn, scim.UserResource, "00u2", false); err != nil || r.ID != b.ID {
		t.Fatalf("b's externalId key lost: %v %v", r, err)
	}
}

func testSoftDelete(t *testing.T, s Stores, conn scim.Connection) {
	ctx := context.Background()
	f := newFixture(conn)
	u := f.user("ada@example.com", "00u1")
	mustCreate(t, s.Resources, u)
	g := f.group("Engineering", "g1")
	mustCreate(t, s.Resources, g)
	if err := s.Resources.Delete(ctx, conn, scim.UserResource, u.ID, 1, f.tick()); err != nil {
		t.Fatalf("delete user: %v", err)
	}
	if err := s.Resources.Delete(ctx, conn, scim.GroupResource, g.ID, 1, f.tick()); err != nil {
		t.Fatalf("delete group: %v", err)
	}
	for _, r := range []*scim.Resource{u, g} {
		_, err := s.Resources.Get(ctx, conn, r.Type, r.ID, false)
		wantCode(t, err, scim.ENotFound)
		_, err = s.Resources.FindByName(ctx, conn, r.Type, r.Name, false)
		wantCode(t, err, scim.ENotFound)
		_, err = s.Resources.FindByExternalID(ctx, conn, r.Type, r.ExternalID, false)
		wantCode(t, err, scim.ENotFound)
		wantCode(t, s.Resources.Delete(ctx, conn, r.Type, r.ID, 1, f.tick()), scim.ENotFound)
		if n := total(t, s.Resources, conn, r.Type); n != 0 {
			t.Fatalf("%s total after delete = %d", r.Type, n)
		}
	}
	// Keys are reusable by a new resource with a new id.
	mustCreate(t, s.Resources, f.user("ada@example.com", "00u1"))
	mustCreate(t, s.Resources, f.group("Engineering", "g1"))
}

func testDeleteVersioned(t *testing.T, s Stores, conn scim.Connection) {
	ctx := context.Background()
	f := newFixture(conn)
	u := f.user("ada@example.com", "")
	mustCreate(t, s.Resources, u)
	wantCode(t, s.Resources.Delete(ctx, conn, scim.UserResource, u.ID, 7, f.tick()), scim.EConflict)
	mustGet(t, s.Resources, u, false)
}

func testMembership(t *testing.T, s Stores, conn scim.Connection) {
	ctx := context.Background()
	f := newFixture(conn)
	a, b, c := f.user("a@example.com", ""), f.user("b@example.com", ""), f.user("c@example.com", "")
	for _, u := range []*scim.Resource{a, b, c} {
		mustCreate(t, s.Resources, u)
	}
	g := f.group("Engineering", "")
	mustCreate(t, s.Resources, g)

	step := func(t *testing.T, prev int64, add []scim.Member, remove []string) {
		t.Helper()
		next := mustGet(t, s.Resources, g, false)
		next.Version = prev + 1
		next.LastModified = f.tick()
		if err := s.Resources.ModifyMembers(ctx, next, prev, add, remove); err != nil {
			t.Fatalf("modify members: %v", err)
		}
	}
	step(t, 1, []scim.Member{{Value: a.ID, Display: "A"}, {Value: b.ID}}, nil)
	got := mustGet(t, s.Resources, g, true)
	equalIDs(t, "members", memberIDs(got), []string{a.ID, b.ID})
	if got.Version != 2 {
		t.Fatalf("version = %d, want 2", got.Version)
	}
	for _, m := range got.Members {
		if m.Value == a.ID && m.Display != "A" {
			t.Fatalf("display not kept: %+v", m)
		}
	}
	equalIDs(t, "a.groups", mustGet(t, s.Resources, a, false).Groups, []string{g.ID})
	equalIDs(t, "c.groups", mustGet(t, s.Resources, c, false).Groups, nil)

	// Adding an existing member and removing a non-member are no-ops, in one step.
	step(t, 2, []scim.Member{{Value: a.ID}, {Value: c.ID}}, []string{b.ID, "99999999-0000-4000-8000-000000000000"})
	got = mustGet(t, s.Resources, g, true)
	equalIDs(t, "members", memberIDs(got), []string{a.ID, c.ID})
	equalIDs(t, "b.groups", mustGet(t, s.Resources, b, false).Groups, nil)

	// Members are not loaded unless asked for.
	if lean := mustGet(t, s.Resources, g, false); len(lean.Members) != 0 {
		t.Fatalf("members loaded without being asked: %v", lean.Members)
	}

	// Replacing a user keeps its memberships: groups is derived, not user data.
	next := mustGet(t, s.Resources, a, false)
	next.Version = 2
	next.Attributes = map[string]any{"userName": "a@example.com", "title": "Boss"}
	if err := s.Resources.Replace(ctx, next, 1); err != nil {
		t.Fatalf("replace user: %v", err)
	}
	equalIDs(t, "a.groups after replace", mustGet(t, s.Resources, a, false).Groups, []string{g.ID})

	// Stale group version changes nothing.
	stale := mustGet(t, s.Resources, g, false)
	stale.Version = 9
	wantCode(t, s.Resources.ModifyMembers(ctx, stale, 1, []scim.Member{{Value: b.ID}}, nil), scim.EConflict)
	equalIDs(t, "members after stale modify", memberIDs(mustGet(t, s.Resources, g, true)), []string{a.ID, c.ID})

	// Listing groups with members carries them.
	list, err := s.Resources.List(ctx, conn, scim.GroupResource, scim.ListOptions{Limit: 10, WithMembers: true})
	if err != nil || len(list.Resources) != 1 {
		t.Fatalf("list groups: %v %v", list, err)
	}
	equalIDs(t, "listed members", memberIDs(list.Resources[0]), []string{a.ID, c.ID})
	// Listing users carries their groups.
	users, err := s.Resources.List(ctx, conn, scim.UserResource, scim.ListOptions{Limit: 10})
	if err != nil || len(users.Resources) != 3 {
		t.Fatalf("list users: %v %v", users, err)
	}
	for _, u := range users.Resources {
		want := []string{g.ID}
		if u.ID == b.ID {
			want = nil
		}
		equalIDs(t, "listed groups of "+u.Name, u.Groups, want)
	}
}

func testUnknownMember(t *testing.T, s Stores, conn scim.Connection) {
	ctx := context.Background()
	f := newFixture(conn)
	a := f.user("a@example.com", "")
	mustCreate(t, s.Resources, a)
	g := f.group("Engineering", "")
	mustCreate(t, s.Resources, g)
	other := newFixture(scim.Connection{Tenant: conn.Tenant, SSO: "other"})
	foreign := other.user("a@example.com", "")
	foreign.ID = "77777777-0000-4000-8000-000000000077"
	mustCreate(t, s.Resources, foreign)

	for _, unknown := range []string{"99999999-0000-4000-8000-000000000000", foreign.ID, g.ID} {
		next := mustGet(t, s.Resources, g, false)
		next.Version = 2
		err := s.Resources.ModifyMembers(ctx, next, 1, []scim.Member{{Value: a.ID}, {Value: unknown}}, nil)
		wantCode(t, err, scim.EInvalidValue)
		var se *scim.Error
		errors.As(err, &se)
		if !strings.Contains(se.Detail, unknown) {
			t.Fatalf("detail %q does not name %s", se.Detail, unknown)
		}
		got := mustGet(t, s.Resources, g, true)
		if got.Version != 1 || len(got.Members) != 0 {
			t.Fatalf("refused modify applied something: version %d members %v", got.Version, got.Members)
		}
		equalIDs(t, "a.groups", mustGet(t, s.Resources, a, false).Groups, nil)
	}
	bad := f.group("Bad", "", scim.Member{Value: a.ID}, scim.Member{Value: "99999999-0000-4000-8000-000000000000"})
	wantCode(t, s.Resources.Create(ctx, bad), scim.EInvalidValue)
	_, err := s.Resources.FindByName(ctx, conn, scim.GroupResource, "Bad", false)
	wantCode(t, err, scim.ENotFound)
}

func testCreateGroupWithMembers(t *testing.T, s Stores, conn scim.Connection) {
	f := newFixture(conn)
	a, b := f.user("a@example.com", ""), f.user("b@example.com", "")
	mustCreate(t, s.Resources, a)
	mustCreate(t, s.Resources, b)
	g := f.group("Engineering", "", scim.Member{Value: a.ID, Display: "a"}, scim.Member{Value: b.ID})
	mustCreate(t, s.Resources, g)
	equalIDs(t, "members", memberIDs(mustGet(t, s.Resources, g, true)), []string{a.ID, b.ID})
	equalIDs(t, "b.groups", mustGet(t, s.Resources, b, false).Groups, []string{g.ID})
}

func testDeactivatedUserStaysMember(t *testing.T, s Stores, conn scim.Connection) {
	f := newFixture(conn)
	a := f.user("a@example.com", "")
	mustCreate(t, s.Resources, a)
	g := f.group("Engineering", "", scim.Member{Value: a.ID})
	mustCreate(t, s.Resources, g)
	next := mustGet(t, s.Resources, a, false)
	next.Version, next.Active = 2, false
	next.Attributes = map[string]any{"userName": "a@example.com", "active": false}
	if err := s.Resources.Replace(context.Background(), next, 1); err != nil {
		t.Fatalf("deactivate: %v", err)
	}
	equalIDs(t, "members", memberIDs(mustGet(t, s.Resources, g, true)), []string{a.ID})
	got := mustGet(t, s.Resources, a, false)
	if got.Active {
		t.Fatalf("user still active")
	}
	equalIDs(t, "groups", got.Groups, []string{g.ID})
}

func testDeleteUserRemovesMemberships(t *testing.T, s Stores, conn scim.Connection) {
	ctx := context.Background()
	f := newFixture(conn)
	a, b := f.user("a@example.com", ""), f.user("b@example.com", "")
	mustCreate(t, s.Resources, a)
	mustCreate(t, s.Resources, b)
	g1 := f.group("One", "", scim.Member{Value: a.ID}, scim.Member{Value: b.ID})
	g2 := f.group("Two", "", scim.Member{Value: a.ID})
	mustCreate(t, s.Resources, g1)
	mustCreate(t, s.Resources, g2)
	if err := s.Resources.Delete(ctx, conn, scim.UserResource, a.ID, 1, f.tick()); err != nil {
		t.Fatalf("delete: %v", err)
	}
	equalIDs(t, "g1 members", memberIDs(mustGet(t, s.Resources, g1, true)), []string{b.ID})
	equalIDs(t, "g2 members", memberIDs(mustGet(t, s.Resources, g2, true)), nil)
	// The user is gone, so adding it again is an unknown member.
	next := mustGet(t, s.Resources, g2, false)
	next.Version++
	wantCode(t, s.Resources.ModifyMembers(ctx, next, next.Version-1, []scim.Member{{Value: a.ID}}, nil), scim.EInvalidValue)
}

func testDeleteGroupRemovesMemberships(t *testing.T, s Stores, conn scim.Connection) {
	f := newFixture(conn)
	a := f.user("a@example.com", "")
	mustCreate(t, s.Resources, a)
	g1 := f.group("One", "", scim.Member{Value: a.ID})
	g2 := f.group("Two", "", scim.Member{Value: a.ID})
	mustCreate(t, s.Resources, g1)
	mustCreate(t, s.Resources, g2)
	if err := s.Resources.Delete(context.Background(), conn, scim.GroupResource, g1.ID, 1, f.tick()); err != nil {
		t.Fatalf("delete: %v", err)
	}
	equalIDs(t, "a.groups", mustGet(t, s.Resources, a, false).Groups, []string{g2.ID})
}

// testLargeMembershipChange adds and removes more members in one call than a
// DynamoDB transaction holds (100 items), so chunking is exercised.
func testLargeMembershipChange(t *testing.T, s Stores, conn scim.Connection) {
	ctx := context.Background()
	f := newFixture(conn)
	const n = 130
	var add []scim.Member
	var ids []string
	for i := range n {
		u := f.user(fmt.Sprintf("user%03d@example.com", i), "")
		mustCreate(t, s.Resources, u)
		add = append(add, scim.Member{Value: u.ID})
		ids = append(ids, u.ID)
	}
	g := f.group("Everyone", "")
	mustCreate(t, s.Resources, g)
	next := mustGet(t, s.Resources, g, false)
	next.Version = 2
	if err := s.Resources.ModifyMembers(ctx, next, 1, add, nil); err != nil {
		t.Fatalf("add %d: %v", n, err)
	}
	equalIDs(t, "members", memberIDs(mustGet(t, s.Resources, g, true)), ids)
	// Retrying the same change is harmless.
	next.Version = 3
	if err := s.Resources.ModifyMembers(ctx, next, 2, add, nil); err != nil {
		t.Fatalf("retry add: %v", err)
	}
	equalIDs(t, "members after retry", memberIDs(mustGet(t, s.Resources, g, true)), ids)
	next.Version = 4
	if err := s.Resources.ModifyMembers(ctx, next, 3, nil, ids[:120]); err != nil {
		t.Fatalf("remove 120: %v", err)
	}
	equalIDs(t, "members after remove", memberIDs(mustGet(t, s.Resources, g, true)), ids[120:])
	equalIDs(t, "groups of removed", mustGet(t, s.Resources, &scim.Resource{Conn: conn, Type: scim.UserResource, ID: ids[0]}, false).Groups, nil)
}

func testPagination(t *testing.T, s Stores, conn scim.Connection) {
	ctx := context.Background()
	f := newFixture(conn)
	var ids []string
	for i := range 7 {
		u := f.user(fmt.Sprintf("u%d@example.com", i), "")
		mustCreate(t, s.Resources, u)
		ids = append(ids, u.ID)
	}
	sort.Strings(ids)
	tests := []struct {
		offset, limit int
		want          []string
		more          bool
	}{
		{0, 3, ids[0:3], true},
		{3, 3, ids[3:6], true},
		{6, 3, ids[6:7], false},
		{7, 3, nil, false},
		{50, 3, nil, false},
		{0, 100, ids, false},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("offset%d_limit%d", tc.offset, tc.limit), func(t *testing.T) {
			res, err := s.Resources.List(ctx, conn, scim.UserResource, scim.ListOptions{Offset: tc.offset, Limit: tc.limit})
			if err != nil {
				t.Fatalf("list: %v", err)
			}
			var got []string
			for _, r := range res.Resources {
				got = append(got, r.ID)
			}
			if !slices.Equal(got, tc.want) || res.Total != 7 || res.More != tc.more {
				t.Fatalf("got %v total %d more %v; want %v total 7 more %v", got, res.Total, res.More, tc.want, tc.more)
			}
		})
	}
	// Cursor pagination walks the same order.
	var walked []string
	after := ""
	for range 10 {
		res, err := s.Resources.List(ctx, conn, scim.UserResource, scim.ListOptions{After: after, Limit: 2})
		if err != nil {
			t.Fatalf("list after %q: %v", after, err)
		}
		for _, r := range res.Resources {
			walked = append(walked, r.ID)
		}
		if !res.More {
			break
		}
		after = res.Resources[len(res.Resources)-1].ID
	}
	if !slices.Equal(walked, ids) {
		t.Fatalf("cursor walk = %v, want %v", walked, ids)
	}
	if n := total(t, s.Resources, conn, scim.UserResource); n != 7 {
		t.Fatalf("total = %d", n)
	}
}

func testIsolation(t *testing.T, s Stores, conn scim.Connection) {
	ctx := context.Background()
	other := scim.Connection{Tenant: conn.Tenant, SSO: "entra"}
	f, g := newFixture(conn), newFixture(other)
	u := f.user("ada@example.com", "00u1")
	mustCreate(t, s.Resources, u)
	// The same keys are free in another connection of the same tenant.
	v := g.user("ada@example.com", "00u1")
	v.ID = "88888888-0000-4000-8000-000000000088"
	mustCreate(t, s.Resources, v)
	_, err := s.Resources.Get(ctx, other, scim.UserResource, u.ID, false)
	wantCode(t, err, scim.ENotFound)
	r, err := s.Resources.FindByName(ctx, other, scim.UserResource, "ada@example.com", false)
	if err != nil || r.ID != v.ID {
		t.Fatalf("FindByName in other connection = %v, %v", r, err)
	}
	list, err := s.Resources.List(ctx, other, scim.UserResource, scim.ListOptions{Limit: 10})
	if err != nil || list.Total != 1 || len(list.Resources) != 1 || list.Resources[0].ID != v.ID {
		t.Fatalf("list in other connection = %+v, %v", list, err)
	}
	wantCode(t, s.Resources.Delete(ctx, other, scim.UserResource, u.ID, 1, f.tick()), scim.ENotFound)
}

func testTokens(t *testing.T, s Stores, conn scim.Connection) {
	ctx := context.Background()
	hash := auth.HashSecret(fmt.Sprint(time.Now().UnixNano()))
	tok := auth.TokenInfo{ID: auth.TokenID(hash), Hash: hash, Conn: conn, Created: time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)}
	if err := s.Tokens.AddToken(ctx, tok); err != nil {
		t.Fatalf("create token: %v", err)
	}
	second := tok
	second.Hash = auth.HashSecret(fmt.Sprint(time.Now().UnixNano() + 1))
	second.ID = auth.TokenID(second.Hash)
	if err := s.Tokens.AddToken(ctx, second); err != nil {
		t.Fatalf("second token for the same connection: %v", err)
	}
	got, err := s.Tokens.FindToken(ctx, conn, tok.Hash)
	if err != nil || got.Token.Conn != conn || got.Token.Hash != tok.Hash || !got.Token.Created.Equal(tok.Created) ||
		got.Connection == nil || got.Connection.State != auth.StateActive {
		t.Fatalf("find token = %+v, %v", got, err)
	}
	_, err = s.Tokens.FindToken(ctx, conn, fmt.Sprintf("%064x", 1))
	wantCode(t, err, scim.ENotFound)
	_, err = s.Tokens.FindToken(ctx, scim.Connection{Tenant: conn.Tenant, SSO: "other"}, tok.Hash)
	wantCode(t, err, scim.ENotFound)
}
