package adminapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"strings"

	"github.com/scimgate/scimgate/pkg/scim"
)

// BearerToken authorises requests carrying "Authorization: Bearer <token>".
// The comparison is of SHA-256 digests in constant time, so neither the
// token's content nor its length leaks through timing. The admin token is
// never stored in the token store, so it cannot open a SCIM route, and a
// SCIM token is not it, so it cannot open an admin route.
func BearerToken(token string) Authorizer {
	want := sha256.Sum256([]byte(token))
	return func(r *http.Request) (string, error) {
		// Exactly one Authorization header (RFC 9110 §11.6.2 allows one
		// credential): with two, which one a proxy or a handler reads is
		// not the client's to choose.
		if len(r.Header.Values("Authorization")) != 1 {
			return "", errUnauthorized
		}
		scheme, secret, ok := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
			return "", errUnauthorized
		}
		got := sha256.Sum256([]byte(strings.TrimSpace(secret)))
		if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			return "", errUnauthorized
		}
		return "admin-token", nil
	}
}

// SCIMAuthenticator adapts an Authorizer to httpapi.Config.Authenticate, so
// that the SCIM view handler checks the same credentials itself and cannot
// be mounted open by mistake.
func (a Authorizer) SCIMAuthenticator() func(*http.Request, scim.Connection) error {
	return func(r *http.Request, _ scim.Connection) error {
		if _, err := a(r); err != nil {
			return scim.Errorf(scim.EUnauthorized, "missing or invalid admin credentials")
		}
		return nil
	}
}

// MinAdminTokenLength is the shortest admin token accepted: 32 characters
// hold 128 bits even as hex (`openssl rand -hex 16`), the strength NIST SP
// 800-131A asks of a symmetric secret and beyond any online or offline
// guessing; base64 from `openssl rand -base64 32` holds 256. A length floor
// cannot measure randomness, so a token of few distinct characters
// ("aaaa…", "abab…") is refused too.
const (
	MinAdminTokenLength   = 32
	minAdminTokenDistinct = 8
)

// CheckAdminToken refuses an admin token too weak to guard the admin API.
func CheckAdminToken(token string) error {
	distinct := map[rune]bool{}
	for _, r := range token {
		distinct[r] = true
	}
	if n := len([]rune(token)); n < MinAdminTokenLength {
		return fmt.Errorf("the admin token is %d characters; use at least %d random ones (128 bits), e.g. `openssl rand -hex 32`", n, MinAdminTokenLength)
	}
	if len(distinct) < minAdminTokenDistinct {
		return fmt.Errorf("the admin token has only %d distinct characters; use a random one, e.g. `openssl rand -hex 32`", len(distinct))
	}
	return nil
}

// Failed admin-token attempts allowed per client address: a burst of
// FailedAuthBurst (a person mistyping, a script with a stale token), then
// one every 6 seconds. Beyond that the address gets 429 until its bucket
// refills, whatever token it sends, so that guessing cannot go on.
const (
	FailedAuthPerSecond = 1.0 / 6
	FailedAuthBurst     = 10
)
