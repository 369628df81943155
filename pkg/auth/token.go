// Package auth issues and checks the bearer tokens an IdP presents. A token
// authorises exactly one tenant's SSO connection; only its hash is stored.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/scimgate/scimgate/pkg/scim"
)

// TokenPrefix makes leaked tokens recognisable to secret scanners
// (GitHub secret scanning, trufflehog, gitleaks custom rules).
const TokenPrefix = "scimgate_"

// tokenEntropyBytes: 256 bits of randomness.
const tokenEntropyBytes = 32

// TokenIDLength is the length of a token's public id: the first hex
// characters of its hash. 48 bits tell a connection's tokens apart with
// certainty, and since the secret has 256 bits of entropy the prefix of its
// hash reveals nothing about it, so the id is safe to log and show.
const TokenIDLength = 12

// TokenID is the public id of the token whose hash is hash.
func TokenID(hash string) string {
	if len(hash) < TokenIDLength {
		return hash
	}
	return hash[:TokenIDLength]
}

// ValidTokenID reports whether id has the form of a public token id, so
// that a store can use it as a key prefix without matching more than one
// token's worth of keys.
func ValidTokenID(id string) bool {
	if len(id) != TokenIDLength {
		return false
	}
	for _, c := range id {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// NewTokenInfo is the stored form of a new token with secret for conn.
func NewTokenInfo(conn scim.Connection, secret string, created time.Time) TokenInfo {
	hash := HashSecret(secret)
	return TokenInfo{ID: TokenID(hash), Hash: hash, Conn: conn, Created: created}
}

// NewSecret returns a fresh random token secret.
func NewSecret() (string, error) {
	b := make([]byte, tokenEntropyBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("read random: %w", err)
	}
	return TokenPrefix + base64.RawURLEncoding.EncodeToString(b), nil
}

// HashSecret returns the lookup hash of a secret.
func HashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// Issue creates a token for conn, stores its hash, and returns the secret:
// the only time it is ever seen.
func Issue(ctx context.Context, store TokenStore, conn scim.Connection, now time.Time) (string, error) {
	if err := conn.Validate(); err != nil {
		return "", err
	}
	secret, err := NewSecret()
	if err != nil {
		return "", err
	}
	if err := store.AddToken(ctx, NewTokenInfo(conn, secret, now)); err != nil {
		return "", fmt.Errorf("create token: %w", err)
	}
	return secret, nil
}

// minSecretLength keeps a registered secret at the strength of a generated one
// (prefix plus 43 base64url characters for 256 bits).
const minSecretLength = len(TokenPrefix) + 43

// Register stores a caller-chosen secret for conn. It exists for local
// fixtures (the events replayed against the Lambda functions carry a fixed
// demo token); production tokens come from Issue.
func Register(ctx context.Context, store TokenStore, conn scim.Connection, secret string, now time.Time) error {
	if err := conn.Validate(); err != nil {
		return err
	}
	if err := CheckSecret(secret); err != nil {
		return err
	}
	if err := store.AddToken(ctx, NewTokenInfo(conn, secret, now)); err != nil {
		return fmt.Errorf("create token: %w", err)
	}
	return nil
}

// CheckSecret refuses a caller-chosen secret weaker than a generated one.
func CheckSecret(secret string) error {
	if !strings.HasPrefix(secret, TokenPrefix) || len(secret) < minSecretLength {
		return scim.Errorf(scim.EInvalidValue, "a token must start with %q and be at least %d characters long", TokenPrefix, minSecretLength)
	}
	return nil
}

// Authenticate checks an Authorization header value against conn, the
// connection named by the request path, at now. It returns the token, whose
// public ID the access log carries. Every failure is the same EUnauthorized
// (unknown, revoked or expired token; token of another connection; disabled,
// deleted or unknown connection) so that a caller cannot learn whether
// another tenant or connection exists or what became of a token. Nothing is
// cached: a revocation or a disable applies to the very next request.
func Authenticate(ctx context.Context, store TokenStore, authorization string, conn scim.Connection, now time.Time) (*TokenInfo, error) {
	tok, _, err := authenticate(ctx, store, authorization, conn, now)
	return tok, err
}

func authenticate(ctx context.Context, store TokenStore, authorization string, conn scim.Connection, now time.Time) (*TokenInfo, *ConnectionRecord, error) {
	unauthorized := scim.Errorf(scim.EUnauthorized, "missing or invalid bearer token for this SCIM base URL")
	scheme, secret, ok := strings.Cut(strings.TrimSpace(authorization), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return nil, nil, unauthorized
	}
	secret = strings.TrimSpace(secret)
	if !strings.HasPrefix(secret, TokenPrefix) || conn.Validate() != nil {
		return nil, nil, unauthorized
	}
	hash := HashSecret(secret)
	cred, err := store.FindToken(ctx, conn, hash)
	if scim.IsNotFound(err) {
		return nil, nil, unauthorized
	}
	if err != nil {
		return nil, nil, fmt.Errorf("find token: %w", err)
	}
	tok := cred.Token
	// The lookup was by hash; compare again in constant time so that a store
	// with a case-folding or prefix-matching index cannot accept a near miss.
	if subtle.ConstantTimeCompare([]byte(tok.Hash), []byte(hash)) != 1 || tok.Conn != conn || !tok.Usable(now) {
		return nil, nil, unauthorized
	}
	if c := cred.Connection; c == nil || c.Conn != conn || !c.Live() || c.State != StateActive {
		return nil, nil, unauthorized
	}
	return &tok, cred.Connection, nil
}

// RecordUse stores that tok was used at now, unless its stored last use is
// less than LastUsedGranularity old: then there is nothing to write. The
// caller should not fail the request when it returns an error; it only
// means the last-used time lags.
func RecordUse(ctx context.Context, store TokenStore, tok *TokenInfo, now time.Time) error {
	if tok == nil || (!tok.LastUsed.IsZero() && now.Sub(tok.LastUsed) < LastUsedGranularity) {
		return nil
	}
	if err := store.TouchToken(ctx, tok.Conn, tok.Hash, now, LastUsedGranularity); err != nil {
		return fmt.Errorf("record use of token %s: %w", tok.ID, err)
	}
	return nil
}
