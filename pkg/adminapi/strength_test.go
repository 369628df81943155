package adminapi_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/scimgate/scimgate/pkg/adminapi"
	"github.com/scimgate/scimgate/pkg/ratelimit"
)

// TestCheckAdminToken: an admin token must be long and varied enough to
// hold 128 bits, as `openssl rand -hex 16` (32 characters) does.
func TestCheckAdminToken(t *testing.T) {
	for token, ok := range map[string]bool{
		"x": false, "": false, "correct horse battery": false,
		strings.Repeat("a", 64):            false,
		strings.Repeat("ab", 32):           false,
		"3f9c2a7b1d04e5f60718293a4b5c6d7e": true, // openssl rand -hex 16
		adminToken:                         true,
	} {
		if err := adminapi.CheckAdminToken(token); (err == nil) != ok {
			t.Errorf("CheckAdminToken(%q): %v, want ok %v", token, err, ok)
		}
	}
}

// TestFailedAdminTokensAreRateLimited: after a burst of wrong tokens from
// one address, that address gets 429 with Retry-After, even with the right
// token (else guessing would go on, just slower), until the bucket refills;
// another address is not affected.
func TestFailedAdminTokensAreRateLimited(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	failures := ratelimit.NewKeyed(adminapi.FailedAuthPerSecond, adminapi.FailedAuthBurst, clock)
	h := adminapi.New(adminapi.Config{Store: nil, Authorize: adminapi.BearerToken(adminToken), FailedAuth: failures, Clock: clock})
	do := func(addr, token string) *httptest.ResponseRecorder {
		t.Helper()
		r := httptest.NewRequest("GET", "/admin/v1/nothing", nil)
		r.RemoteAddr = addr
		r.Header.Set("Authorization", "Bearer "+token)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	const attacker, admin = "192.0.2.7:40000", "198.51.100.1:50000"
	for i := range adminapi.FailedAuthBurst {
		if w := do(attacker, "guess"); w.Code != http.StatusUnauthorized {
			t.Fatalf("wrong token %d: %d, want 401", i+1, w.Code)
		}
	}
	for _, token := range []string{"guess", adminToken} {
		w := do(attacker, token)
		if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") == "" {
			t.Fatalf("after %d wrong tokens, token %q: %d Retry-After %q, want 429 with Retry-After", adminapi.FailedAuthBurst, token, w.Code, w.Header().Get("Retry-After"))
		}
	}
	if w := do(admin, adminToken); w.Code != http.StatusNotFound {
		t.Fatalf("another address with the right token: %d, want 404 (authorised, no such route)", w.Code)
	}
	now = now.Add(time.Duration(float64(time.Second) / adminapi.FailedAuthPerSecond))
	if w := do(attacker, adminToken); w.Code != http.StatusNotFound {
		t.Fatalf("after the bucket refilled one token, the right token: %d, want 404", w.Code)
	}
}
