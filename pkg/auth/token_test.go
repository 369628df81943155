package auth_test

import (
	"context"
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
	stored, err := st.FindToken(ctx, auth.HashSecret(secret))
	if err != nil || stored.Conn != acme {
		t.Fatalf("stored token: %+v %v", stored, err)
	}
	tests := []struct {
		name   string
		header string
		conn   scim.Connection
		ok     bool
	}{
		{"valid", "Bearer " + secret, acme, true},
		{"scheme is case-insensitive", "bearer " + secret, acme, true},
		{"extra spaces", "  Bearer   " + secret + " ", acme, true},
		{"missing", "", acme, false},
		{"basic scheme", "Basic " + secret, acme, false},
		{"no scheme", secret, acme, false},
		{"other connection of the tenant", "Bearer " + secret, scim.Connection{Tenant: "acme", SSO: "entra"}, false},
		{"other tenant", "Bearer " + secret, scim.Connection{Tenant: "globex", SSO: "okta"}, false},
		{"truncated", "Bearer " + secret[:len(secret)-1], acme, false},
		{"without prefix", "Bearer " + strings.TrimPrefix(secret, auth.TokenPrefix), acme, false},
		{"the hash itself", "Bearer " + auth.HashSecret(secret), acme, false},
	}
	var details []string
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := auth.Authenticate(ctx, st, tc.header, tc.conn)
			if tc.ok {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
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
	if err := auth.Authenticate(ctx, st, "Bearer "+fixture, conn); err != nil {
		t.Fatalf("registered secret refused: %v", err)
	}
}
