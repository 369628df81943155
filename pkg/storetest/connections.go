package storetest

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scimgate/scimgate/pkg/auth"
	"github.com/scimgate/scimgate/pkg/scim"
)

// ConnectionStores is what the connection and token lifecycle contract
// needs: a store behind both interfaces (resources are created to be purged).
type ConnectionStores struct {
	Resources   scim.Store
	Connections auth.ConnectionStore
}

// RunConnections runs the contract of auth.ConnectionStore. Each test works
// in a tenant of its own, so newStores may return the same store every time.
func RunConnections(t *testing.T, newStores func(t *testing.T) ConnectionStores) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s ConnectionStores, tenant string)
	}{
		{"ConnectionLifecycle", testConnectionLifecycle},
		{"ListConnectionsByTenant", testListConnections},
		{"TokenLifecycle", testTokenLifecycle},
		{"TokenOfUnknownConnectionCreatesIt", testAddTokenCreatesConnection},
		{"RotationOverlap", testRotation},
		{"LastUsedIsThrottled", testTouchToken},
		{"AuthenticationFollowsLifecycle", testAuthentication},
		{"DeleteHidesAndKeeps", testDeleteConnection},
		{"PurgeErasesEverything", testPurge},
		{"PurgeInterruptedAndResumed", testPurgeResumed},
	}
	var seq atomic.Int64
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStores(t)
			tenant := fmt.Sprintf("c%d-%d", time.Now().UnixNano()%1e9, seq.Add(1))
			tc.fn(t, s, tenant)
		})
	}
}

var lifecycleStart = time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)

// newTokenFor returns a token of conn with a fresh random secret.
func newTokenFor(t *testing.T, conn scim.Connection, created time.Time) auth.TokenInfo {
	t.Helper()
	secret, err := auth.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	return auth.NewTokenInfo(conn, secret, created)
}

func mustCreateConnection(t *testing.T, s auth.ConnectionStore, conn scim.Connection, name string, at time.Time) auth.TokenInfo {
	t.Helper()
	first := newTokenFor(t, conn, at)
	if err := s.CreateConnection(context.Background(), auth.ConnectionRecord{Conn: conn, Name: name, State: auth.StateActive, Created: at}, first); err != nil {
		t.Fatalf("create connection %s: %v", conn, err)
	}
	return first
}

func mustConnection(t *testing.T, s auth.ConnectionStore, conn scim.Connection) *auth.ConnectionRecord {
	t.Helper()
	c, err := s.GetConnection(context.Background(), conn)
	if err != nil {
		t.Fatalf("get connection %s: %v", conn, err)
	}
	return c
}

func mustToken(t *testing.T, s auth.ConnectionStore, conn scim.Connection, id string) *auth.TokenInfo {
	t.Helper()
	tok, err := s.GetTokenByID(context.Background(), conn, id)
	if err != nil {
		t.Fatalf("get token %s of %s: %v", id, conn, err)
	}
	return tok
}

func connsOf(recs []auth.ConnectionRecord) []scim.Connection {
	out := []scim.Connection{}
	for _, r := range recs {
		out = append(out, r.Conn)
	}
	return out
}

func testConnectionLifecycle(t *testing.T, s ConnectionStores, tenant string) {
	ctx := context.Background()
	st := s.Connections
	conn := scim.Connection{Tenant: tenant, SSO: "okta"}
	first := mustCreateConnection(t, st, conn, "Acme Okta", lifecycleStart)

	c := mustConnection(t, st, conn)
	if c.Conn != conn || c.Name != "Acme Okta" || c.State != auth.StateActive || !c.Created.Equal(lifecycleStart) || !c.Live() {
		t.Fatalf("stored connection = %+v", c)
	}
	toks, err := st.ListTokens(ctx, conn)
	if err != nil || len(toks) != 1 || toks[0].ID != first.ID || toks[0].Hash != first.Hash {
		t.Fatalf("first token: %+v, %v", toks, err)
	}
	err = st.CreateConnection(ctx, auth.ConnectionRecord{Conn: conn, State: auth.StateActive, Created: lifecycleStart}, newTokenFor(t, conn, lifecycleStart))
	wantCode(t, err, scim.EUniqueness)
	if toks, _ := st.ListTokens(ctx, conn); len(toks) != 1 {
		t.Fatalf("a refused create stored a token: %+v", toks)
	}

	for _, state := range []auth.ConnectionState{auth.StateDisabled, auth.StateDisabled, auth.StateActive} {
		if err := st.SetConnectionState(ctx, conn, state); err != nil {
			t.Fatalf("set state %s: %v", state, err)
		}
		if got := mustConnection(t, st, conn); got.State != state || got.Name != "Acme Okta" || !got.Created.Equal(lifecycleStart) {
			t.Fatalf("after set state %s: %+v", state, got)
		}
		listed, err := st.ListConnections(ctx, tenant)
		if err != nil || len(listed) != 1 || listed[0].State != state {
			t.Fatalf("listed after set state %s: %+v, %v", state, listed, err)
		}
		cred, err := st.FindToken(ctx, conn, first.Hash)
		if err != nil || cred.Connection == nil || cred.Connection.State != state {
			t.Fatalf("authentication sees %+v, %v; want state %s", cred, err, state)
		}
	}
	wantCode(t, st.SetConnectionState(ctx, conn, "paused"), scim.EInvalidValue)
	unknown := scim.Connection{Tenant: tenant, SSO: "unknown"}
	wantCode(t, st.SetConnectionState(ctx, unknown, auth.StateDisabled), scim.ENotFound)
	_, err = st.GetConnection(ctx, unknown)
	wantCode(t, err, scim.ENotFound)
	_, err = st.LookupConnection(ctx, unknown)
	wantCode(t, err, scim.ENotFound)
}

func testListConnections(t *testing.T, s ConnectionStores, tenant string) {
	ctx := context.Background()
	st := s.Connections
	// "<tenant>-x" shares the tenant's prefix: listing the tenant must not pick it up.
	want := []scim.Connection{{Tenant: tenant, SSO: "a"}, {Tenant: tenant, SSO: "b"}, {Tenant: tenant, SSO: "b-2"}}
	neighbour := scim.Connection{Tenant: tenant + "-x", SSO: "a"}
	for _, c := range []scim.Connection{want[2], neighbour, want[0], want[1]} {
		mustCreateConnection(t, st, c, "", lifecycleStart)
	}
	got, err := st.ListConnections(ctx, tenant)
	if err != nil || !slices.Equal(connsOf(got), want) {
		t.Fatalf("list %s = %v, %v; want %v", tenant, connsOf(got), err, want)
	}
	all, err := st.ListConnections(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	var ours []scim.Connection
	for _, c := range connsOf(all) {
		if c.Tenant == tenant || c.Tenant == neighbour.Tenant {
			ours = append(ours, c)
		}
	}
	if wantAll := append(slices.Clone(want), neighbour); !slices.Equal(ours, wantAll) {
		t.Fatalf("list all has %v of ours, want %v in tenant, then sso order", ours, wantAll)
	}
	none, err := st.ListConnections(ctx, tenant+"-none")
	if err != nil || none == nil || len(none) != 0 {
		t.Fatalf("list of a tenant without connections = %#v, %v; want an empty list", none, err)
	}
	_, err = st.ListConnections(ctx, "Not A Tenant")
	wantCode(t, err, scim.EInvalidValue)
}

func testTokenLifecycle(t *testing.T, s ConnectionStores, tenant string) {
	ctx := context.Background()
	st := s.Connections
	conn := scim.Connection{Tenant: tenant, SSO: "okta"}
	first := mustCreateConnection(t, st, conn, "", lifecycleStart)

	second := newTokenFor(t, conn, lifecycleStart.Add(time.Minute))
	second.Expires = lifecycleStart.Add(90 * 24 * time.Hour)
	second.Description = "Okta production"
	if err := st.AddToken(ctx, second); err != nil {
		t.Fatal(err)
	}
	got := mustToken(t, st, conn, second.ID)
	if got.Hash != second.Hash || got.Conn != conn || !got.Created.Equal(second.Created) || !got.Expires.Equal(second.Expires) ||
		got.Description != "Okta production" || !got.LastUsed.IsZero() || !got.Revoked.IsZero() {
		t.Fatalf("stored token = %+v, want %+v", got, second)
	}
	if err := st.AddToken(ctx, second); scim.ErrorCodeOf(err) != scim.EUniqueness {
		t.Fatalf("storing the same token twice: %v", err)
	}
	toks, err := st.ListTokens(ctx, conn)
	if err != nil || len(toks) != 2 || toks[0].ID != first.ID || toks[1].ID != second.ID {
		t.Fatalf("tokens oldest first = %+v, %v", toks, err)
	}
	for _, id := range []string{"000000000000", first.ID[:6], "", first.Hash, "ZZZZZZZZZZZZ"} {
		_, err := st.GetTokenByID(ctx, conn, id)
		wantCode(t, err, scim.ENotFound)
	}
	other := scim.Connection{Tenant: tenant, SSO: "entra"}
	_, err = st.GetTokenByID(ctx, other, first.ID)
	wantCode(t, err, scim.ENotFound)
	_, err = st.FindToken(ctx, other, first.Hash)
	wantCode(t, err, scim.ENotFound)

	revokedAt := lifecycleStart.Add(time.Hour)
	rev, err := st.RevokeToken(ctx, conn, first.ID, revokedAt)
	if err != nil || rev.ID != first.ID || !rev.Revoked.Equal(revokedAt) {
		t.Fatalf("revoke = %+v, %v", rev, err)
	}
	if rev, err := st.RevokeToken(ctx, conn, first.ID, revokedAt.Add(time.Hour)); err != nil || !rev.Revoked.Equal(revokedAt) {
		t.Fatalf("revoking again must keep the first time: %+v, %v", rev, err)
	}
	cred, err := st.FindToken(ctx, conn, first.Hash)
	if err != nil || !cred.Token.Revoked.Equal(revokedAt) || cred.Token.Usable(revokedAt) {
		t.Fatalf("authentication sees the revoked token as %+v, %v", cred, err)
	}
	if !mustToken(t, st, conn, second.ID).Revoked.IsZero() {
		t.Fatal("revoking one token revoked another")
	}
	_, err = st.RevokeToken(ctx, conn, "0123456789ab", revokedAt)
	wantCode(t, err, scim.ENotFound)
}

func testAddTokenCreatesConnection(t *testing.T, s ConnectionStores, tenant string) {
	ctx := context.Background()
	st := s.Connections
	conn := scim.Connection{Tenant: tenant, SSO: "okta"}
	tok := newTokenFor(t, conn, lifecycleStart)
	if err := st.AddToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	c := mustConnection(t, st, conn)
	if c.State != auth.StateActive || !c.Created.Equal(lifecycleStart) {
		t.Fatalf("connection created by its first token = %+v", c)
	}
	if listed, err := st.ListConnections(ctx, tenant); err != nil || !slices.Equal(connsOf(listed), []scim.Connection{conn}) {
		t.Fatalf("listed: %+v, %v", listed, err)
	}
	// A later token keeps the connection as it is.
	if err := st.SetConnectionState(ctx, conn, auth.StateDisabled); err != nil {
		t.Fatal(err)
	}
	if err := st.AddToken(ctx, newTokenFor(t, conn, lifecycleStart.Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	if c := mustConnection(t, st, conn); c.State != auth.StateDisabled || !c.Created.Equal(lifecycleStart) {
		t.Fatalf("a second token changed the connection: %+v", c)
	}
}

func testRotation(t *testing.T, s ConnectionStores, tenant string) {
	ctx := context.Background()
	st := s.Connections
	conn := scim.Connection{Tenant: tenant, SSO: "okta"}
	old := mustCreateConnection(t, st, conn, "", lifecycleStart)
	at := lifecycleStart.Add(24 * time.Hour)

	next := newTokenFor(t, conn, at)
	expires, err := st.RotateToken(ctx, conn, old.ID, at.Add(24*time.Hour), next)
	if err != nil || !expires.Equal(at.Add(24*time.Hour)) {
		t.Fatalf("rotate = %v, %v", expires, err)
	}
	if got := mustToken(t, st, conn, old.ID); !got.Expires.Equal(expires) || !got.Usable(expires.Add(-time.Nanosecond)) || got.Usable(expires) {
		t.Fatalf("old token after rotation = %+v: it works until %v and not after", got, expires)
	}
	if got := mustToken(t, st, conn, next.ID); got.Hash != next.Hash || !got.Expires.IsZero() {
		t.Fatalf("new token = %+v", got)
	}

	// A token that expires sooner than the overlap keeps its expiry.
	third := newTokenFor(t, conn, at)
	expires2, err := st.RotateToken(ctx, conn, old.ID, at.Add(7*24*time.Hour), third)
	if err != nil || !expires2.Equal(expires) || !mustToken(t, st, conn, old.ID).Expires.Equal(expires) {
		t.Fatalf("rotating again moved the expiry to %v (%v), want %v", expires2, err, expires)
	}

	if _, err := st.RevokeToken(ctx, conn, next.ID, at); err != nil {
		t.Fatal(err)
	}
	fourth := newTokenFor(t, conn, at)
	_, err = st.RotateToken(ctx, conn, next.ID, at.Add(time.Hour), fourth)
	wantCode(t, err, scim.EInvalidValue)
	_, err = st.RotateToken(ctx, conn, "0123456789ab", at.Add(time.Hour), fourth)
	wantCode(t, err, scim.ENotFound)
	_, err = st.GetTokenByID(ctx, conn, fourth.ID)
	wantCode(t, err, scim.ENotFound) // nothing of a refused rotation is stored
	if toks, err := st.ListTokens(ctx, conn); err != nil || len(toks) != 3 {
		t.Fatalf("tokens after rotations: %d, %v; want 3", len(toks), err)
	}
}

func testTouchToken(t *testing.T, s ConnectionStores, tenant string) {
	ctx := context.Background()
	st := s.Connections
	conn := scim.Connection{Tenant: tenant, SSO: "okta"}
	tok := mustCreateConnection(t, st, conn, "", lifecycleStart)
	const granularity = 5 * time.Minute
	steps := []struct {
		at   time.Duration
		want time.Duration // the stored last use afterwards, from lifecycleStart
	}{
		{time.Minute, time.Minute}, // never used: recorded
		{2 * time.Minute, time.Minute},
		{time.Minute + granularity - time.Nanosecond, time.Minute},
		{time.Minute + granularity + time.Nanosecond, time.Minute + granularity + time.Nanosecond},
		{time.Minute, time.Minute + granularity + time.Nanosecond}, // a late writer never moves it back
	}
	for _, step := range steps {
		if err := st.TouchToken(ctx, conn, tok.Hash, lifecycleStart.Add(step.at), granularity); err != nil {
			t.Fatalf("touch at +%v: %v", step.at, err)
		}
		cred, err := st.FindToken(ctx, conn, tok.Hash)
		if err != nil || !cred.Token.LastUsed.Equal(lifecycleStart.Add(step.want)) {
			t.Fatalf("after touch at +%v: last used %v (%v), want +%v", step.at, cred.Token.LastUsed.Sub(lifecycleStart), err, step.want)
		}
	}
	if err := st.TouchToken(ctx, conn, auth.HashSecret("unknown"), lifecycleStart, granularity); err != nil {
		t.Fatalf("touching an unknown token: %v", err)
	}
	if _, err := st.GetTokenByID(ctx, conn, auth.TokenID(auth.HashSecret("unknown"))); !scim.IsNotFound(err) {
		t.Fatalf("touching an unknown token created it: %v", err)
	}
}

func testDeleteConnection(t *testing.T, s ConnectionStores, tenant string) {
	ctx := context.Background()
	st := s.Connections
	conn := scim.Connection{Tenant: tenant, SSO: "okta"}
	tok := mustCreateConnection(t, st, conn, "Acme", lifecycleStart)
	f := newFixture(conn)
	u := f.user("ada@example.com", "")
	mustCreate(t, s.Resources, u)

	deletedAt := lifecycleStart.Add(time.Hour)
	if err := st.DeleteConnection(ctx, conn, deletedAt); err != nil {
		t.Fatal(err)
	}
	_, err := st.GetConnection(ctx, conn)
	wantCode(t, err, scim.ENotFound)
	if listed, err := st.ListConnections(ctx, tenant); err != nil || len(listed) != 0 {
		t.Fatalf("a deleted connection is listed: %+v, %v", listed, err)
	}
	c, err := st.LookupConnection(ctx, conn)
	if err != nil || c.Live() || !c.Deleted.Equal(deletedAt) || c.Name != "Acme" {
		t.Fatalf("lookup of the deleted connection = %+v, %v", c, err)
	}
	cred, err := st.FindToken(ctx, conn, tok.Hash)
	if err != nil || cred.Connection == nil || cred.Connection.Live() {
		t.Fatalf("authentication must see the deletion: %+v, %v", cred, err)
	}
	wantCode(t, st.DeleteConnection(ctx, conn, deletedAt), scim.ENotFound)
	wantCode(t, st.SetConnectionState(ctx, conn, auth.StateActive), scim.ENotFound)
	wantCode(t, st.AddToken(ctx, newTokenFor(t, conn, deletedAt)), scim.EUniqueness)
	_, err = st.RotateToken(ctx, conn, tok.ID, deletedAt, newTokenFor(t, conn, deletedAt))
	wantCode(t, err, scim.ENotFound)
	err = st.CreateConnection(ctx, auth.ConnectionRecord{Conn: conn, State: auth.StateActive, Created: deletedAt}, newTokenFor(t, conn, deletedAt))
	wantCode(t, err, scim.EUniqueness)
	// Retained for audit until purged.
	if got := mustGet(t, s.Resources, u, false); got.Name != u.Name {
		t.Fatalf("resource after delete = %+v", got)
	}
	if toks, err := st.ListTokens(ctx, conn); err != nil || len(toks) != 1 {
		t.Fatalf("tokens after delete: %+v, %v", toks, err)
	}
}

// populate fills conn with every kind of item a connection has: users,
// guards, groups with members, archived resources, counters and tokens.
func populate(t *testing.T, s ConnectionStores, conn scim.Connection) []*scim.Resource {
	t.Helper()
	ctx := context.Background()
	f := newFixture(conn)
	var users []*scim.Resource
	for i := range 6 {
		u := f.user(fmt.Sprintf("user%d@example.com", i), fmt.Sprintf("00u%d", i))
		mustCreate(t, s.Resources, u)
		users = append(users, u)
	}
	g := f.group("Engineering", "g-eng", scim.Member{Value: users[0].ID}, scim.Member{Value: users[1].ID}, scim.Member{Value: users[2].ID})
	mustCreate(t, s.Resources, g)
	h := f.group("Sales", "", scim.Member{Value: users[3].ID})
	mustCreate(t, s.Resources, h)
	if err := s.Resources.Delete(ctx, conn, scim.UserResource, users[5].ID, 1, f.tick()); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := s.Connections.AddToken(ctx, newTokenFor(t, conn, f.tick())); err != nil {
			t.Fatal(err)
		}
	}
	return append(users[:5], g, h)
}

// wantPurged checks that nothing of conn is left, through every method.
func wantPurged(t *testing.T, s ConnectionStores, conn scim.Connection, resources []*scim.Resource) {
	t.Helper()
	ctx := context.Background()
	if _, err := s.Connections.LookupConnection(ctx, conn); !scim.IsNotFound(err) {
		t.Fatalf("connection still stored after purge: %v", err)
	}
	if toks, err := s.Connections.ListTokens(ctx, conn); err != nil || len(toks) != 0 {
		t.Fatalf("tokens after purge: %+v, %v", toks, err)
	}
	if users, groups, err := s.Connections.CountResources(ctx, conn); err != nil || users != 0 || groups != 0 {
		t.Fatalf("counts after purge: %d users, %d groups, %v", users, groups, err)
	}
	for _, r := range resources {
		_, err := s.Resources.Get(ctx, conn, r.Type, r.ID, true)
		wantCode(t, err, scim.ENotFound)
		_, err = s.Resources.FindByName(ctx, conn, r.Type, r.Name, false)
		wantCode(t, err, scim.ENotFound)
	}
	for _, typ := range []scim.ResourceType{scim.UserResource, scim.GroupResource} {
		if n := total(t, s.Resources, conn, typ); n != 0 {
			t.Fatalf("%d %ss after purge", n, typ)
		}
	}
	if listed, err := s.Connections.ListConnections(ctx, conn.Tenant); err != nil || slices.Contains(connsOf(listed), conn) {
		t.Fatalf("listed after purge: %+v, %v", listed, err)
	}
	// The name is free again, and nothing of the old data comes back with it:
	// no guard refuses the old userNames, no counter counts the old users.
	mustCreateConnection(t, s.Connections, conn, "", lifecycleStart)
	f := newFixture(conn)
	f.n = 1000
	mustCreate(t, s.Resources, f.user(resources[0].Name, resources[0].ExternalID))
	if n := total(t, s.Resources, conn, scim.UserResource); n != 1 {
		t.Fatalf("after re-creating one user: %d users", n)
	}
}

// wantErased checks a purge's counts of what populate stored: each item
// counted once, however the purge was split.
func wantErased(t *testing.T, got auth.PurgeCounts) {
	t.Helper()
	want := auth.PurgeCounts{Users: 6, Groups: 2, Members: 4, Tokens: 3, Other: got.Other}
	if got != want || got.Other < 1 {
		t.Fatalf("purge counted %+v, want %+v and the connection among the others", got, want)
	}
}

// wantIntact checks that a neighbouring connection lost nothing.
func wantIntact(t *testing.T, s ConnectionStores, conn scim.Connection, resources []*scim.Resource) {
	t.Helper()
	ctx := context.Background()
	mustConnection(t, s.Connections, conn)
	if toks, err := s.Connections.ListTokens(ctx, conn); err != nil || len(toks) != 3 {
		t.Fatalf("neighbour's tokens: %d, %v", len(toks), err)
	}
	for _, r := range resources {
		got := mustGet(t, s.Resources, r, true)
		if r.Type == scim.GroupResource && len(got.Members) != len(r.Members) {
			t.Fatalf("neighbour's group %s has %d members, want %d", r.Name, len(got.Members), len(r.Members))
		}
	}
	if users, groups, err := s.Connections.CountResources(ctx, conn); err != nil || users != 5 || groups != 2 {
		t.Fatalf("neighbour's counts: %d users, %d groups, %v", users, groups, err)
	}
}

func testPurge(t *testing.T, s ConnectionStores, tenant string) {
	ctx := context.Background()
	conn := scim.Connection{Tenant: tenant, SSO: "okta"}
	neighbour := scim.Connection{Tenant: tenant, SSO: "okta-2"}
	mustCreateConnection(t, s.Connections, conn, "", lifecycleStart)
	mustCreateConnection(t, s.Connections, neighbour, "", lifecycleStart)
	resources := populate(t, s, conn)
	kept := populate(t, s, neighbour)
	if users, groups, err := s.Connections.CountResources(ctx, conn); err != nil || users != 5 || groups != 2 {
		t.Fatalf("counts before purge: %d users, %d groups, %v", users, groups, err)
	}

	const batch = 4
	total, steps := 0, 0
	var erased auth.PurgeCounts
	for {
		p, err := s.Connections.PurgeConnection(ctx, conn, batch)
		if err != nil {
			t.Fatalf("purge step %d: %v", steps+1, err)
		}
		if p.Deleted > batch || p.Deleted != p.Erased.Total() {
			t.Fatalf("purge step %d erased %d items (%+v), with a batch of %d", steps+1, p.Deleted, p.Erased, batch)
		}
		total += p.Deleted
		erased.Add(p.Erased)
		steps++
		if p.Done {
			break
		}
		if steps > 100 {
			t.Fatal("purge does not finish")
		}
	}
	// 7 resources, 1 archived user, 4 memberships, 3 tokens and the connection at the least.
	if total < 16 || steps < total/batch {
		t.Fatalf("purge erased %d items in %d steps", total, steps)
	}
	wantErased(t, erased)
	again, err := s.Connections.PurgeConnection(ctx, conn, batch)
	if err != nil || !again.Done || again.Deleted != 0 {
		t.Fatalf("purging a purged connection = %+v, %v", again, err)
	}
	wantIntact(t, s, neighbour, kept)
	wantPurged(t, s, conn, resources)
}

func testPurgeResumed(t *testing.T, s ConnectionStores, tenant string) {
	ctx := context.Background()
	conn := scim.Connection{Tenant: tenant, SSO: "okta"}
	neighbour := scim.Connection{Tenant: tenant + "-x", SSO: "okta"}
	mustCreateConnection(t, s.Connections, conn, "", lifecycleStart)
	mustCreateConnection(t, s.Connections, neighbour, "", lifecycleStart)
	resources := populate(t, s, conn)
	kept := populate(t, s, neighbour)
	if err := s.Connections.DeleteConnection(ctx, conn, lifecycleStart.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}

	// Half-way: two small steps, then the purge stops (a crash, a timeout).
	var erased auth.PurgeCounts
	for range 2 {
		p, err := s.Connections.PurgeConnection(ctx, conn, 3)
		if err != nil || p.Done || p.Deleted == 0 {
			t.Fatalf("partial purge step = %+v, %v", p, err)
		}
		erased.Add(p.Erased)
	}
	// Until it is finished, the connection can be found, to resume it.
	if c, err := s.Connections.LookupConnection(ctx, conn); err != nil || c.Live() {
		t.Fatalf("half-purged connection = %+v, %v", c, err)
	}
	// Resumed, with another batch size.
	for steps := 0; ; steps++ {
		p, err := s.Connections.PurgeConnection(ctx, conn, 50)
		if err != nil {
			t.Fatal(err)
		}
		erased.Add(p.Erased)
		if p.Done {
			break
		}
		if steps > 10 {
			t.Fatal("resumed purge does not finish")
		}
	}
	wantErased(t, erased)
	wantIntact(t, s, neighbour, kept)
	wantPurged(t, s, conn, resources)
}

// testAuthentication drives auth.Authenticate on the store: every state
// that must refuse a token refuses it on the very next request, with the
// same error as an unknown token.
func testAuthentication(t *testing.T, s ConnectionStores, tenant string) {
	ctx := context.Background()
	st := s.Connections
	conn := scim.Connection{Tenant: tenant, SSO: "okta"}
	other := scim.Connection{Tenant: tenant, SSO: "entra"}
	secretOf := map[string]string{}
	newSecret := func(c scim.Connection, expires time.Time) auth.TokenInfo {
		t.Helper()
		secret, err := auth.NewSecret()
		if err != nil {
			t.Fatal(err)
		}
		tok := auth.NewTokenInfo(c, secret, lifecycleStart)
		tok.Expires = expires
		if err := st.AddToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
		secretOf[tok.ID] = secret
		return tok
	}
	plain := newSecret(conn, time.Time{})
	expiring := newSecret(conn, lifecycleStart.Add(time.Hour))
	revoked := newSecret(conn, time.Time{})
	otherTok := newSecret(other, time.Time{})
	if _, err := st.RevokeToken(ctx, conn, revoked.ID, lifecycleStart); err != nil {
		t.Fatal(err)
	}
	check := func(step string, tok auth.TokenInfo, c scim.Connection, at time.Time, ok bool) {
		t.Helper()
		got, err := auth.Authenticate(ctx, st, "Bearer "+secretOf[tok.ID], c, at)
		if ok {
			if err != nil || got.ID != tok.ID || got.Conn != c {
				t.Fatalf("%s: token %s refused: %+v, %v", step, tok.ID, got, err)
			}
			return
		}
		if scim.ErrorCodeOf(err) != scim.EUnauthorized || got != nil {
			t.Fatalf("%s: token %s: %+v, %v; want unauthorized", step, tok.ID, got, err)
		}
		_, unknown := auth.Authenticate(ctx, st, "Bearer "+auth.TokenPrefix+"unknown", c, at)
		if scim.ErrorDetailOf(err) != scim.ErrorDetailOf(unknown) {
			t.Fatalf("%s: refusal %q differs from an unknown token's %q", step, scim.ErrorDetailOf(err), scim.ErrorDetailOf(unknown))
		}
	}
	at := lifecycleStart.Add(time.Minute)
	check("active", plain, conn, at, true)
	check("before expiry", expiring, conn, lifecycleStart.Add(time.Hour-time.Nanosecond), true)
	check("at expiry", expiring, conn, lifecycleStart.Add(time.Hour), false)
	check("revoked", revoked, conn, at, false)
	check("other connection's token", otherTok, conn, at, false)
	check("token on another connection", plain, other, at, false)

	if err := st.SetConnectionState(ctx, conn, auth.StateDisabled); err != nil {
		t.Fatal(err)
	}
	check("disabled", plain, conn, at, false)
	check("another connection stays active", otherTok, other, at, true)
	if err := st.SetConnectionState(ctx, conn, auth.StateActive); err != nil {
		t.Fatal(err)
	}
	check("enabled again", plain, conn, at, true)

	if _, err := st.RevokeToken(ctx, conn, plain.ID, at); err != nil {
		t.Fatal(err)
	}
	check("revoked just now", plain, conn, at, false)
	check("expiring, after the other's revocation", expiring, conn, at, true)
	if err := st.DeleteConnection(ctx, conn, at); err != nil {
		t.Fatal(err)
	}
	check("deleted", expiring, conn, at, false)
	if _, err := st.PurgeConnection(ctx, other, 1000); err != nil {
		t.Fatal(err)
	}
	check("purged", otherTok, other, at, false)
}
