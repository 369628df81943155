// Package admin is what the platform's backend does with connections and
// tokens: the operations behind the `scimgate connection|token` commands and
// the /admin/v1 HTTP API. It knows nothing of HTTP, flags or AWS; it works on
// any auth.ConnectionStore.
package admin

import (
	"time"

	"github.com/scimgate/scimgate/pkg/auth"
	"github.com/scimgate/scimgate/pkg/changes"
	"github.com/scimgate/scimgate/pkg/scim"
)

// DefaultRotationOverlap is how long a rotated token keeps working, so the
// IdP admin can paste the new one without a provisioning gap.
const DefaultRotationOverlap = 24 * time.Hour

// Connection is a connection as the admin surfaces show it.
type Connection struct {
	Tenant  string               `json:"tenant"`
	SSO     string               `json:"sso"`
	Name    string               `json:"name,omitempty"`
	State   auth.ConnectionState `json:"state"`
	Created time.Time            `json:"created"`
	BaseURL string               `json:"base_url"`
}

// ConnectionDetail is `connection show`: the connection, its resource
// counts and its tokens.
type ConnectionDetail struct {
	Connection
	Users  int     `json:"users"`
	Groups int     `json:"groups"`
	Tokens []Token `json:"tokens"`
}

// Token is a token as the admin surfaces show it: never its secret or hash.
type Token struct {
	ID          string     `json:"id"`
	Created     time.Time  `json:"created"`
	Expires     *time.Time `json:"expires"`   // null: never expires
	LastUsed    *time.Time `json:"last_used"` // null: never used
	Revoked     *time.Time `json:"revoked"`   // null: not revoked
	Description string     `json:"description,omitempty"`
}

// NewToken is a token just created: the only time its secret is shown.
type NewToken struct {
	Token
	Secret string `json:"secret"`
}

// CreatedConnection is the answer to creating a connection: the
// connection, its base URL and its first token with the secret.
type CreatedConnection struct {
	Connection
	TokenID string `json:"token_id"`
	Token   string `json:"token"` // the secret, shown once
}

// Rotated is the answer to a rotation.
type Rotated struct {
	New NewToken `json:"new"`
	// OldID and OldExpires: the rotated token keeps working until then.
	OldID      string    `json:"old_id"`
	OldExpires time.Time `json:"old_expires"`
}

// TokenOptions are the optional attributes of a new token.
type TokenOptions struct {
	Expires     time.Time // zero: never
	Description string
	Secret      string // a caller-chosen secret (local fixtures only); empty: random
}

// Config is what the Service needs.
type Config struct {
	Store auth.ConnectionStore
	// PublicURL is the scheme and host the IdP reaches scimgate on
	// ("https://scim.example.com"); base URLs are PublicURL + /scim/v2/{tenant}/{sso}.
	PublicURL string
	Clock     scim.Clock
	// Actor is the admin identity the change records name when the context
	// carries no origin (changes.WithOrigin, set by the admin API): "cli"
	// when empty.
	Actor string
	// NewChangeID returns change record ids; nil: a process-wide ULID generator.
	NewChangeID changes.IDGenerator
}
