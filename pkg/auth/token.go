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

// Token is the stored form of a bearer token: never the secret itself.
type Token struct {
	// Hash is the hex SHA-256 of the full secret. A fast hash is right here:
	// the secret has 256 bits of entropy, so there is nothing to brute-force,
	// and every request must look it up.
	Hash    string
	Conn    scim.Connection
	Created time.Time
}

// TokenStore persists connections and token hashes.
type TokenStore interface {
	// CreateToken stores t, creating t.Conn if it does not exist yet.
	CreateToken(ctx context.Context, t Token) error
	// FindToken returns the token with this hash, or an ENotFound *scim.Error.
	FindToken(ctx context.Context, hash string) (*Token, error)
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
	if err := store.CreateToken(ctx, Token{Hash: HashSecret(secret), Conn: conn, Created: now}); err != nil {
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
	if !strings.HasPrefix(secret, TokenPrefix) || len(secret) < minSecretLength {
		return scim.Errorf(scim.EInvalidValue, "a token must start with %q and be at least %d characters long", TokenPrefix, minSecretLength)
	}
	if err := store.CreateToken(ctx, Token{Hash: HashSecret(secret), Conn: conn, Created: now}); err != nil {
		return fmt.Errorf("create token: %w", err)
	}
	return nil
}

// Authenticate checks an Authorization header value against conn, the
// connection named by the request path. Every failure is the same EUnauthorized
// so that a caller cannot learn whether another tenant or connection exists.
func Authenticate(ctx context.Context, store TokenStore, authorization string, conn scim.Connection) error {
	unauthorized := scim.Errorf(scim.EUnauthorized, "missing or invalid bearer token for this SCIM base URL")
	scheme, secret, ok := strings.Cut(strings.TrimSpace(authorization), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return unauthorized
	}
	secret = strings.TrimSpace(secret)
	if !strings.HasPrefix(secret, TokenPrefix) {
		return unauthorized
	}
	hash := HashSecret(secret)
	tok, err := store.FindToken(ctx, hash)
	if scim.IsNotFound(err) {
		return unauthorized
	}
	if err != nil {
		return fmt.Errorf("find token: %w", err)
	}
	// The lookup was by hash; compare again in constant time so that a store
	// with a case-folding or prefix-matching index cannot accept a near miss.
	if subtle.ConstantTimeCompare([]byte(tok.Hash), []byte(hash)) != 1 || tok.Conn != conn {
		return unauthorized
	}
	return nil
}
