package admin_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scimgate/scimgate/pkg/admin"
	"github.com/scimgate/scimgate/pkg/auth"
	"github.com/scimgate/scimgate/pkg/scim"
	"github.com/scimgate/scimgate/pkg/sqlitestore"
)

// clock is a settable clock for the service under test.
type clock struct{ now time.Time }

func (c *clock) Now() time.Time                    { return c.now }
func (c *clock) advance(d time.Duration) time.Time { c.now = c.now.Add(d); return c.now }

type fixture struct {
	svc   *admin.Service
	store *sqlitestore.Store
	clock *clock
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	st, err := sqlitestore.Open(context.Background(), filepath.Join(t.TempDir(), "scimgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	c := &clock{now: time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)}
	return &fixture{svc: admin.New(admin.Config{Store: st, PublicURL: "https://scim.example.com", Clock: c.Now}), store: st, clock: c}
}

// authenticates reports whether secret opens conn's SCIM base URL at the fixture's time.
func (f *fixture) authenticates(t *testing.T, conn scim.Connection, secret string) bool {
	t.Helper()
	tok, err := auth.Authenticate(context.Background(), f.store, "Bearer "+secret, conn, f.clock.now)
	if err != nil && scim.ErrorCodeOf(err) != scim.EUnauthorized {
		t.Fatalf("authenticate: %v", err)
	}
	return err == nil && tok != nil
}

func wantCode(t *testing.T, err error, code scim.ErrorCode) {
	t.Helper()
	if got := scim.ErrorCodeOf(err); err == nil || got != code {
		t.Fatalf("got %v (code %s), want code %s", err, got, code)
	}
}

func jsonKeys(t *testing.T, v any) map[string]any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

var acme = scim.Connection{Tenant: "acme", SSO: "okta"}

func TestCreateConnection(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	created, err := f.svc.CreateConnection(ctx, acme, "Acme Okta", admin.TokenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if created.BaseURL != "https://scim.example.com/scim/v2/acme/okta" || created.State != auth.StateActive ||
		created.Name != "Acme Okta" || !created.Created.Equal(f.clock.now) || created.TokenID != auth.TokenID(auth.HashSecret(created.Token)) {
		t.Fatalf("created = %+v", created)
	}
	m := jsonKeys(t, created)
	for _, k := range []string{"tenant", "sso", "state", "base_url", "token_id", "token", "created"} {
		if _, ok := m[k]; !ok {
			t.Errorf("connection create JSON lacks %q: %v", k, m)
		}
	}
	if !f.authenticates(t, acme, created.Token) {
		t.Fatal("the first token does not open the base URL")
	}
	_, err = f.svc.CreateConnection(ctx, acme, "", admin.TokenOptions{})
	wantCode(t, err, scim.EUniqueness)
	_, err = f.svc.CreateConnection(ctx, scim.Connection{Tenant: "Acme", SSO: "okta"}, "", admin.TokenOptions{})
	wantCode(t, err, scim.EInvalidValue)
	for _, name := range []string{strings.Repeat("n", 201), "Acme\nOkta", "Acme\x1b[31m", "\xff"} {
		_, err = f.svc.CreateConnection(ctx, scim.Connection{Tenant: "globex", SSO: "okta"}, name, admin.TokenOptions{})
		wantCode(t, err, scim.EInvalidValue)
	}
	_, err = f.svc.CreateConnection(ctx, scim.Connection{Tenant: "globex", SSO: "okta"}, "", admin.TokenOptions{Description: "two\nlines"})
	wantCode(t, err, scim.EInvalidValue)
	if _, err := f.svc.GetConnection(ctx, scim.Connection{Tenant: "globex", SSO: "okta"}); scim.ErrorCodeOf(err) != scim.ENotFound {
		t.Fatalf("a refused create stored the connection: %v", err)
	}
	slash := admin.New(admin.Config{Store: f.store, PublicURL: "https://scim.example.com/", Clock: f.clock.Now})
	if c, err := slash.GetConnection(ctx, acme); err != nil || c.BaseURL != created.BaseURL {
		t.Fatalf("public URL with a trailing slash: %+v, %v", c, err)
	}

	list, err := f.svc.ListConnections(ctx, "")
	if err != nil || len(list) != 1 || list[0].Tenant != "acme" || list[0].BaseURL != created.BaseURL {
		t.Fatalf("list = %+v, %v", list, err)
	}
	if m := jsonKeys(t, list[0]); m["state"] != "active" || m["created"] == nil {
		t.Fatalf("listed JSON = %v", m)
	}
	detail, err := f.svc.ShowConnection(ctx, acme)
	if err != nil || detail.Users != 0 || len(detail.Tokens) != 1 || detail.Tokens[0].ID != created.TokenID {
		t.Fatalf("show = %+v, %v", detail, err)
	}
}

func TestCreateTokenCreatesConnectionAndHidesSecrets(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	first, err := f.svc.CreateToken(ctx, acme, admin.TokenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if m := jsonKeys(t, first); m["expires"] != nil || m["secret"] != first.Secret || m["id"] != first.ID {
		t.Fatalf("token create JSON = %v", m)
	}
	c, err := f.svc.GetConnection(ctx, acme)
	if err != nil || c.State != auth.StateActive {
		t.Fatalf("connection made by token create = %+v, %v", c, err)
	}
	f.clock.advance(time.Second) // tokens list oldest first
	expires, err := admin.ParseExpiry("90d", f.clock.now)
	if err != nil {
		t.Fatal(err)
	}
	second, err := f.svc.CreateToken(ctx, acme, admin.TokenOptions{Expires: expires, Description: "Okta prod"})
	if err != nil || second.Expires == nil || !second.Expires.Equal(expires) || second.Description != "Okta prod" {
		t.Fatalf("second = %+v, %v", second, err)
	}
	_, err = f.svc.CreateToken(ctx, acme, admin.TokenOptions{Expires: f.clock.now})
	wantCode(t, err, scim.EInvalidValue)
	_, err = f.svc.CreateToken(ctx, acme, admin.TokenOptions{Secret: "hunter2"})
	wantCode(t, err, scim.EInvalidValue)
	fixture := "scimgate_local-demo-token-0000000000000000000000000000"
	f.clock.advance(time.Second)
	if tok, err := f.svc.CreateToken(ctx, acme, admin.TokenOptions{Secret: fixture}); err != nil || tok.Secret != fixture || !f.authenticates(t, acme, fixture) {
		t.Fatalf("fixture secret: %+v, %v", tok, err)
	}

	toks, err := f.svc.ListTokens(ctx, acme)
	if err != nil || len(toks) != 3 || toks[0].ID != first.ID || toks[1].ID != second.ID || toks[2].Created.Before(toks[1].Created) {
		t.Fatalf("tokens = %+v, %v", toks, err)
	}
	b, err := json.Marshal(toks)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{first.Secret, second.Secret, fixture} {
		if strings.Contains(string(b), secret) || strings.Contains(string(b), auth.HashSecret(secret)) {
			t.Fatalf("token list shows a secret or a hash: %s", b)
		}
	}
	m := jsonKeys(t, toks[0])
	for _, k := range []string{"id", "created", "expires", "last_used", "revoked"} {
		if _, ok := m[k]; !ok {
			t.Errorf("token list JSON lacks %q: %v", k, m)
		}
	}
	_, err = f.svc.ListTokens(ctx, scim.Connection{Tenant: "acme", SSO: "unknown"})
	wantCode(t, err, scim.ENotFound)
}

func TestRotateToken(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	created, err := f.svc.CreateConnection(ctx, acme, "", admin.TokenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	start := f.clock.advance(time.Hour)
	rot, err := f.svc.RotateToken(ctx, acme, created.TokenID, 0, admin.TokenOptions{Description: "rotated"})
	if err != nil {
		t.Fatal(err)
	}
	if rot.OldID != created.TokenID || !rot.OldExpires.Equal(start.Add(admin.DefaultRotationOverlap)) || rot.New.Secret == "" || rot.New.Description != "rotated" {
		t.Fatalf("rotated = %+v", rot)
	}
	if !f.authenticates(t, acme, created.Token) || !f.authenticates(t, acme, rot.New.Secret) {
		t.Fatal("during the overlap both tokens must work")
	}
	f.clock.advance(admin.DefaultRotationOverlap - time.Second)
	if !f.authenticates(t, acme, created.Token) {
		t.Fatal("the old token stopped before the overlap ended")
	}
	f.clock.advance(time.Second)
	if f.authenticates(t, acme, created.Token) || !f.authenticates(t, acme, rot.New.Secret) {
		t.Fatal("after the overlap only the new token works")
	}

	short, err := f.svc.RotateToken(ctx, acme, rot.New.ID, time.Minute, admin.TokenOptions{})
	if err != nil || !short.OldExpires.Equal(f.clock.now.Add(time.Minute)) {
		t.Fatalf("rotation with a 1m overlap = %+v, %v", short, err)
	}
	if _, err := f.svc.RevokeToken(ctx, acme, short.New.ID); err != nil {
		t.Fatal(err)
	}
	_, err = f.svc.RotateToken(ctx, acme, short.New.ID, 0, admin.TokenOptions{})
	wantCode(t, err, scim.EInvalidValue)
	_, err = f.svc.RotateToken(ctx, acme, rot.New.ID, -time.Hour, admin.TokenOptions{})
	wantCode(t, err, scim.EInvalidValue)
	_, err = f.svc.RotateToken(ctx, acme, "0123456789ab", 0, admin.TokenOptions{})
	wantCode(t, err, scim.ENotFound)
	if toks, _ := f.svc.ListTokens(ctx, acme); len(toks) != 3 {
		t.Fatalf("refused rotations stored tokens: %+v", toks)
	}
}

func TestRevokeDisableDeleteTakeEffectAtOnce(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	created, err := f.svc.CreateConnection(ctx, acme, "", admin.TokenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	other, err := f.svc.CreateToken(ctx, acme, admin.TokenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	at := f.clock.advance(time.Minute)
	rev, err := f.svc.RevokeToken(ctx, acme, created.TokenID)
	if err != nil || rev.Revoked == nil || !rev.Revoked.Equal(at) {
		t.Fatalf("revoked = %+v, %v", rev, err)
	}
	if f.authenticates(t, acme, created.Token) || !f.authenticates(t, acme, other.Secret) {
		t.Fatal("revocation must stop exactly the revoked token, on the next request")
	}

	c, err := f.svc.SetState(ctx, acme, auth.StateDisabled)
	if err != nil || c.State != auth.StateDisabled {
		t.Fatalf("disable = %+v, %v", c, err)
	}
	if f.authenticates(t, acme, other.Secret) {
		t.Fatal("a disabled connection's token still works")
	}
	if c, err := f.svc.SetState(ctx, acme, auth.StateActive); err != nil || c.State != auth.StateActive || !f.authenticates(t, acme, other.Secret) {
		t.Fatalf("enable = %+v, %v", c, err)
	}
	_, err = f.svc.SetState(ctx, acme, "paused")
	wantCode(t, err, scim.EInvalidValue)

	if err := f.svc.DeleteConnection(ctx, acme); err != nil {
		t.Fatal(err)
	}
	if f.authenticates(t, acme, other.Secret) {
		t.Fatal("a deleted connection's token still works")
	}
	_, err = f.svc.GetConnection(ctx, acme)
	wantCode(t, err, scim.ENotFound)
	_, err = f.svc.ListTokens(ctx, acme)
	wantCode(t, err, scim.ENotFound)
	_, err = f.svc.RevokeToken(ctx, acme, other.ID)
	wantCode(t, err, scim.ENotFound)
	_, err = f.svc.CreateToken(ctx, acme, admin.TokenOptions{})
	wantCode(t, err, scim.EUniqueness)
	wantCode(t, f.svc.DeleteConnection(ctx, acme), scim.ENotFound)
	if list, err := f.svc.ListConnections(ctx, "acme"); err != nil || len(list) != 0 {
		t.Fatalf("list after delete = %+v, %v", list, err)
	}
}

func TestPurgeConnection(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	created, err := f.svc.CreateConnection(ctx, acme, "", admin.TokenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	svc := scim.NewService(f.store, scim.WithClock(f.clock.Now))
	for _, name := range []string{"ada@example.com", "grace@example.com"} {
		if _, err := svc.Create(ctx, acme, scim.UserResource, []byte(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"`+name+`"}`)); err != nil {
			t.Fatal(err)
		}
	}
	if d, err := f.svc.ShowConnection(ctx, acme); err != nil || d.Users != 2 || d.Groups != 0 {
		t.Fatalf("show = %+v, %v", d, err)
	}
	var steps []auth.PurgeProgress
	total, err := f.svc.PurgeConnection(ctx, acme, func(p auth.PurgeProgress) { steps = append(steps, p) })
	if err != nil || total != 9 || len(steps) == 0 || !steps[len(steps)-1].Done { // 2 users, 1 token, the connection, 5 change records
		t.Fatalf("purge = %d, %v, steps %+v", total, err, steps)
	}
	if f.authenticates(t, acme, created.Token) {
		t.Fatal("a purged connection's token works")
	}
	_, err = f.store.LookupConnection(ctx, acme)
	wantCode(t, err, scim.ENotFound)
	_, err = f.svc.PurgeConnection(ctx, acme, nil)
	wantCode(t, err, scim.ENotFound)
	if list, err := f.svc.ListConnections(ctx, ""); err != nil || slices.ContainsFunc(list, func(c admin.Connection) bool { return c.Tenant == "acme" }) {
		t.Fatalf("list after purge = %+v, %v", list, err)
	}
}

// TestRotatedTokenInheritsLifetimeAndDescription: a rotation that names no
// expiry and no description gives the new token the old one's description
// and lifetime (a 90-day token is replaced by a 90-day token), so that a
// rotation never turns an expiring credential into one that never expires.
func TestRotatedTokenInheritsLifetimeAndDescription(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	created, err := f.svc.CreateConnection(ctx, acme, "", admin.TokenOptions{Expires: f.clock.now.Add(90 * 24 * time.Hour), Description: "Okta production"})
	if err != nil {
		t.Fatal(err)
	}
	now := f.clock.advance(80 * 24 * time.Hour)
	rot, err := f.svc.RotateToken(ctx, acme, created.TokenID, 0, admin.TokenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rot.New.Description != "Okta production" || rot.New.Expires == nil || !rot.New.Expires.Equal(now.Add(90*24*time.Hour)) {
		t.Fatalf("the new token: description %q, expires %v; want the old description and a 90-day lifetime from %v", rot.New.Description, rot.New.Expires, now)
	}
	own, err := f.svc.RotateToken(ctx, acme, rot.New.ID, 0, admin.TokenOptions{Description: "new", Expires: now.Add(time.Hour)})
	if err != nil || own.New.Description != "new" || !own.New.Expires.Equal(now.Add(time.Hour)) {
		t.Fatalf("a rotation with its own options: %+v, %v", own, err)
	}
}

// TestTimesAreUTCMilliseconds: every time the admin surfaces show is UTC to
// the millisecond, as the change records are (RFC 3339), never nanoseconds.
func TestTimesAreUTCMilliseconds(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.clock.now = time.Date(2026, 11, 2, 10, 0, 0, 123456789, time.FixedZone("CET", 3600))
	created, err := f.svc.CreateConnection(ctx, acme, "", admin.TokenOptions{Expires: f.clock.now.Add(time.Hour + time.Nanosecond)})
	if err != nil {
		t.Fatal(err)
	}
	detail, err := f.svc.ShowConnection(ctx, acme)
	if err != nil {
		t.Fatal(err)
	}
	rot, err := f.svc.RotateToken(ctx, acme, created.TokenID, time.Minute+time.Nanosecond, admin.TokenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []any{created, detail, rot} {
		b, _ := json.Marshal(v)
		if strings.Contains(string(b), "123456789") || strings.Contains(string(b), "+01:00") || !strings.Contains(string(b), `09:00:00.123Z"`) {
			t.Errorf("times not in UTC milliseconds: %s", b)
		}
	}
}

// TestCreateAfterDeleteSaysPurgeFirst: a deleted connection keeps its data
// until purged, so its ids cannot be reused yet; the refusal says that and
// what to do, not a bare "already exists".
func TestCreateAfterDeleteSaysPurgeFirst(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	if _, err := f.svc.CreateConnection(ctx, acme, "", admin.TokenOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err := f.svc.CreateConnection(ctx, acme, "", admin.TokenOptions{})
	wantCode(t, err, scim.EUniqueness)
	if detail := scim.ErrorDetailOf(err); !strings.Contains(detail, "already exists") {
		t.Errorf("a live connection: %q", detail)
	}
	if err := f.svc.DeleteConnection(ctx, acme); err != nil {
		t.Fatal(err)
	}
	_, err = f.svc.CreateConnection(ctx, acme, "", admin.TokenOptions{})
	wantCode(t, err, scim.EUniqueness)
	if detail := scim.ErrorDetailOf(err); !strings.Contains(detail, "deleted, not purged") || !strings.Contains(detail, "connection purge --tenant acme --sso okta --yes") {
		t.Errorf("a deleted connection: %q, want it to say deleted, not purged, and how to purge", detail)
	}
}
