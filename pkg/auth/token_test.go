package auth_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/scimgate/scimgate/pkg/auth"
	"github.com/scimgate/scimgate/pkg/scim"
	"github.com/scimgate/scimgate/pkg/sqlitestore"
)

func openStore(t *testing.T) *sqlitestore.Store {
	t.Helper()
	st, err := sqlitestore.Open(context.Background(), filepath.Join(t.TempDir(), "tokens.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

var now = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)

func issue(t *testing.T, st auth.TokenStore, conn scim.Connection, at time.Time) string {
	t.Helper()
	secret, err := auth.Issue(context.Background(), st, conn, at)
	if err != nil {
		t.Fatal(err)
	}
	return secret
}

func TestSecretsAreRandomPrefixedAndStrong(t *testing.T) {
	format := regexp.MustCompile(`^scimgate_[A-Za-z0-9_-]{43}$`) // 32 bytes, base64url without padding
	seen := map[string]bool{}
	for range 100 {
		s, err := auth.NewSecret()
		if err != nil {
			t.Fatal(err)
		}
		if !format.MatchString(s) {
			t.Fatalf("secret %q does not have the scanner-friendly format", s)
		}
		if seen[s] {
			t.Fatalf("secret repeated")
		}
		seen[s] = true
	}
	if h := auth.HashSecret("scimgate_x"); len(h) != 64 || strings.Contains(h, "scimgate") {
		t.Fatalf("hash %q", h)
	}
}

func TestAuthenticate(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	acme := scim.Connection{Tenant: "acme", SSO: "okta"}
	secret, err := auth.Issue(ctx, st, acme, now)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := st.FindToken(ctx, acme, auth.HashSecret(secret))
	if err != nil || stored.Token.Conn != acme || stored.Token.ID != auth.TokenID(auth.HashSecret(secret)) {
		t.Fatalf("stored token: %+v %v", stored, err)
	}
	// One token per state that must be refused, each in a connection of its own where the state is the connection's.
	revoked := issue(t, st, acme, now)
	if _, err := st.RevokeToken(ctx, acme, auth.TokenID(auth.HashSecret(revoked)), now); err != nil {
		t.Fatal(err)
	}
	expiring, err := auth.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	exp := auth.NewTokenInfo(acme, expiring, now)
	exp.Expires = now.Add(time.Hour)
	if err := st.AddToken(ctx, exp); err != nil {
		t.Fatal(err)
	}
	disabledConn := scim.Connection{Tenant: "acme", SSO: "disabled"}
	disabled := issue(t, st, disabledConn, now)
	if err := st.SetConnectionState(ctx, disabledConn, auth.StateDisabled); err != nil {
		t.Fatal(err)
	}
	deletedConn := scim.Connection{Tenant: "acme", SSO: "deleted"}
	deleted := issue(t, st, deletedConn, now)
	if err := st.DeleteConnection(ctx, deletedConn, now); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		header string
		conn   scim.Connection
		ok     bool
		at     time.Duration // after now
	}{
		{"valid", "Bearer " + secret, acme, true, 0},
		{"scheme is case-insensitive", "bearer " + secret, acme, true, 0},
		{"extra spaces", "  Bearer   " + secret + " ", acme, true, 0},
		{"missing", "", acme, false, 0},
		{"basic scheme", "Basic " + secret, acme, false, 0},
		{"no scheme", secret, acme, false, 0},
		{"other connection of the tenant", "Bearer " + secret, scim.Connection{Tenant: "acme", SSO: "entra"}, false, 0},
		{"other tenant", "Bearer " + secret, scim.Connection{Tenant: "globex", SSO: "okta"}, false, 0},
		{"truncated", "Bearer " + secret[:len(secret)-1], acme, false, 0},
		{"without prefix", "Bearer " + strings.TrimPrefix(secret, auth.TokenPrefix), acme, false, 0},
		{"the hash itself", "Bearer " + auth.HashSecret(secret), acme, false, 0},
		{"revoked", "Bearer " + revoked, acme, false, 0},
		{"before expiry", "Bearer " + expiring, acme, true, time.Hour - time.Nanosecond},
		{"at expiry", "Bearer " + expiring, acme, false, time.Hour},
		{"disabled connection", "Bearer " + disabled, disabledConn, false, 0},
		{"deleted connection", "Bearer " + deleted, deletedConn, false, 0},
	}
	var details []string
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := auth.Authenticate(ctx, st, tc.header, tc.conn, now.Add(tc.at))
			if tc.ok {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if secret := strings.Fields(tc.header)[1]; tok.ID != auth.TokenID(auth.HashSecret(secret)) || tok.Conn != tc.conn {
					t.Fatalf("authenticated as %+v", tok)
				}
				return
			}
			if tok != nil {
				t.Fatalf("refusal returned token %+v", tok)
			}
			if scim.ErrorCodeOf(err) != scim.EUnauthorized {
				t.Fatalf("got %v, want unauthorized", err)
			}
			details = append(details, scim.ErrorDetailOf(err))
		})
	}
	for _, d := range details {
		if d != details[0] {
			t.Fatalf("refusals differ (%q vs %q): a caller could tell them apart", d, details[0])
		}
	}
}

func TestRegisterAndIssueValidate(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	_, err := auth.Issue(ctx, st, scim.Connection{Tenant: "Acme_Corp", SSO: "okta"}, now)
	if scim.ErrorCodeOf(err) != scim.EInvalidValue {
		t.Fatalf("invalid tenant: %v", err)
	}
	for _, weak := range []string{"hunter2", "scimgate_short", strings.Repeat("a", 60)} {
		if err := auth.Register(ctx, st, scim.Connection{Tenant: "acme", SSO: "okta"}, weak, now); scim.ErrorCodeOf(err) != scim.EInvalidValue {
			t.Fatalf("weak secret %q accepted: %v", weak, err)
		}
	}
	fixture := "scimgate_local-demo-token-0000000000000000000000000000"
	conn := scim.Connection{Tenant: "demo", SSO: "okta"}
	if err := auth.Register(ctx, st, conn, fixture, now); err != nil {
		t.Fatal(err)
	}
	if _, err := auth.Authenticate(ctx, st, "Bearer "+fixture, conn, now); err != nil {
		t.Fatalf("registered secret refused: %v", err)
	}
}

// touchCounter is a TokenStore that counts the last-used writes asked of it.
type touchCounter struct {
	auth.TokenStore
	touches []time.Time
	fail    error
}

func (c *touchCounter) TouchToken(_ context.Context, _ scim.Connection, _ string, at time.Time, granularity time.Duration) error {
	if granularity != auth.LastUsedGranularity {
		return fmt.Errorf("granularity %v", granularity)
	}
	c.touches = append(c.touches, at)
	return c.fail
}

func TestRecordUseWritesOncePerGranularity(t *testing.T) {
	ctx := context.Background()
	st := &touchCounter{}
	tok := &auth.TokenInfo{ID: "0123456789ab", Conn: scim.Connection{Tenant: "acme", SSO: "okta"}}
	steps := []struct {
		at     time.Duration
		writes int
	}{
		{0, 1}, // never used: recorded
		{time.Minute, 1},
		{auth.LastUsedGranularity - time.Nanosecond, 1},
		{auth.LastUsedGranularity, 2},
		{auth.LastUsedGranularity + time.Minute, 2},
	}
	for _, step := range steps {
		at := now.Add(step.at)
		if err := auth.RecordUse(ctx, st, tok, at); err != nil {
			t.Fatal(err)
		}
		if len(st.touches) != step.writes {
			t.Fatalf("at +%v: %d writes, want %d", step.at, len(st.touches), step.writes)
		}
		if len(st.touches) > 0 {
			tok.LastUsed = st.touches[len(st.touches)-1] // what the store now holds
		}
	}
	st.fail = errors.New("throttled")
	if err := auth.RecordUse(ctx, st, tok, now.Add(time.Hour)); err == nil || !strings.Contains(err.Error(), tok.ID) {
		t.Fatalf("a failed write is reported with the token id: %v", err)
	}
}
