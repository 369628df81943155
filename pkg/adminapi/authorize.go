package adminapi

import (
	"crypto/sha256"
	"crypto/subtle"
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
