package auth

import (
	"context"
	"time"

	"github.com/scimgate/scimgate/pkg/scim"
)

// ConnectionState is whether a connection's tokens open its SCIM base URL.
type ConnectionState string

const (
	// StateActive: the connection's valid tokens are accepted.
	StateActive ConnectionState = "active"
	// StateDisabled: every SCIM request answers 401, exactly as for an
	// unknown token, so a caller learns nothing; the data is kept.
	StateDisabled ConnectionState = "disabled"
)

// Valid reports whether s is one of the two states.
func (s ConnectionState) Valid() bool { return s == StateActive || s == StateDisabled }

// ConnectionRecord is one tenant's SSO connection as the platform manages it.
type ConnectionRecord struct {
	Conn    scim.Connection
	Name    string // optional display name ("Acme Okta")
	State   ConnectionState
	Created time.Time
	// Deleted is set by DeleteConnection: the connection and all its
	// resources are gone from every API, the data is retained for audit
	// until PurgeConnection erases it. Zero while live.
	Deleted time.Time
	// UnknownExtensions is what the connection does with an undeclared
	// schema extension (docs/custom-attributes.md); "" is the default, store.
	// It lives on the connection record so that authentication, which reads
	// the record with the token, brings it at no extra read.
	UnknownExtensions scim.ExtensionPolicy
	// DeclaredSchemas is the connection's own declaration of extension
	// schemas in canonical JSON (scim.Declaration.JSON); "" declares none.
	// It is on the record for the same reason as UnknownExtensions: the
	// token lookup brings it, so applying it costs no read per request
	// (only read units: docs/custom-attributes.md gives them).
	DeclaredSchemas string
}

// Live reports whether the connection has not been deleted.
func (c ConnectionRecord) Live() bool { return c.Deleted.IsZero() }

// TokenInfo is everything known about a token except its secret. The
// token's public ID is safe to log and show; Hash never leaves the store
// layer and the admin surfaces never print it.
type TokenInfo struct {
	ID          string // public id: TokenID(Hash)
	Hash        string // hex SHA-256 of the secret
	Conn        scim.Connection
	Created     time.Time
	Expires     time.Time // zero: never expires
	Description string
	LastUsed    time.Time // zero: never used (tracked coarsely, see TouchToken)
	Revoked     time.Time // zero: not revoked
}

// Usable reports whether the token may authenticate a request at now.
func (t TokenInfo) Usable(now time.Time) bool {
	return t.Revoked.IsZero() && (t.Expires.IsZero() || now.Before(t.Expires))
}

// Credential is what authenticating a request needs to know about a
// presented token: the token and the connection the request names, read
// together (on DynamoDB in one BatchGetItem).
type Credential struct {
	Token TokenInfo
	// Connection is the stored record of the connection the request names;
	// nil when none is stored.
	Connection *ConnectionRecord
}

// PurgeProgress reports one bounded step of PurgeConnection.
type PurgeProgress struct {
	Deleted int         // items (rows) erased by this step: Erased.Total()
	Erased  PurgeCounts // the same, by kind
	Done    bool        // nothing of the connection is left
}

// PurgeCounts tells what a purge erased, by kind, for the report a
// data-deletion request asks for. A store counts its own units (DynamoDB
// items, SQLite rows), so the totals of the two stores differ.
type PurgeCounts struct {
	Users   int `json:"users"`   // live and archived users
	Groups  int `json:"groups"`  // live and archived groups
	Members int `json:"members"` // memberships
	Tokens  int `json:"tokens"`
	Other   int `json:"other"` // uniqueness guards, counters, the connection itself
}

// Total is the number of items counted.
func (c PurgeCounts) Total() int { return c.Users + c.Groups + c.Members + c.Tokens + c.Other }

// Add adds o to c.
func (c *PurgeCounts) Add(o PurgeCounts) {
	c.Users += o.Users
	c.Groups += o.Groups
	c.Members += o.Members
	c.Tokens += o.Tokens
	c.Other += o.Other
}

// LastUsedGranularity is how precisely a token's last use is recorded: at
// most one write per token per this interval, so that SCIM traffic does
// not turn every request into a write (docs/dynamodb.md gives the cost).
const LastUsedGranularity = 5 * time.Minute

// TokenStore is what issuing and checking tokens needs.
type TokenStore interface {
	// AddToken stores t for t.Conn, creating the connection (active, created
	// at t.Created) if none is stored, in one atomic step: what `scimgate
	// token create` has always done. EUniqueness if the connection was
	// deleted (it must be purged before its name is reused).
	AddToken(ctx context.Context, t TokenInfo) error
	// FindToken returns the token with this hash if it belongs to conn,
	// together with conn's record; ENotFound otherwise. It never filters by
	// state or expiry: Authenticate decides.
	FindToken(ctx context.Context, conn scim.Connection, hash string) (*Credential, error)
	// TouchToken records a use at at, but only if the stored last-used
	// time is older than at-granularity: a conditional write, so that at
	// most one request per token per granularity becomes a write however
	// many servers check the token. A token that is already fresh, or gone,
	// is not an error.
	TouchToken(ctx context.Context, conn scim.Connection, hash string, at time.Time, granularity time.Duration) error
}

// ConnectionStore persists connections and tokens for the admin operations.
// Both stores implement it; pkg/storetest holds its contract. Errors are
// *scim.Error where the caller caused them: ENotFound for an unknown (or
// deleted) connection or token, EUniqueness for a connection that exists.
type ConnectionStore interface {
	TokenStore

	// CreateConnection stores a new live connection and its first token in
	// one atomic step; EUniqueness if the connection exists (live or deleted).
	CreateConnection(ctx context.Context, c ConnectionRecord, first TokenInfo) error
	// GetConnection returns a live connection.
	GetConnection(ctx context.Context, conn scim.Connection) (*ConnectionRecord, error)
	// LookupConnection returns the connection live or deleted (Deleted set):
	// ENotFound only when nothing of it is stored any more.
	LookupConnection(ctx context.Context, conn scim.Connection) (*ConnectionRecord, error)
	// ListConnections returns live connections ordered by tenant then sso;
	// tenant "" lists all.
	ListConnections(ctx context.Context, tenant string) ([]ConnectionRecord, error)
	// SetConnectionState disables or enables a live connection.
	SetConnectionState(ctx context.Context, conn scim.Connection, state ConnectionState) error
	// DeleteConnection marks a live connection deleted at at: from then on
	// its tokens never authenticate and its resources are unreachable.
	DeleteConnection(ctx context.Context, conn scim.Connection, at time.Time) error
	// PurgeConnection erases at most batch items of the connection
	// (resources, guards, members, archives, counters, tokens, and finally
	// the connection itself), live or deleted. Safe to call again after a
	// crash at any point; call until Done. A connection of which nothing is
	// stored is Done at once.
	PurgeConnection(ctx context.Context, conn scim.Connection, batch int) (PurgeProgress, error)
	// CountResources counts the connection's live users and groups.
	CountResources(ctx context.Context, conn scim.Connection) (users, groups int, err error)

	// ListTokens lists the connection's tokens (revoked and expired ones
	// too), oldest first.
	ListTokens(ctx context.Context, conn scim.Connection) ([]TokenInfo, error)
	// GetTokenByID returns one token of the connection by public id.
	GetTokenByID(ctx context.Context, conn scim.Connection, id string) (*TokenInfo, error)
	// RotateToken adds next and sets the old token's expiry to expires (if
	// it has none or a later one), in one atomic step, and returns the old
	// token's expiry as it now stands. EInvalidValue if the old token is
	// revoked; ENotFound if it or the live connection is unknown.
	RotateToken(ctx context.Context, conn scim.Connection, oldID string, expires time.Time, next TokenInfo) (time.Time, error)
	// RevokeToken sets the token's revoked time and returns the token;
	// revoking again keeps the first time.
	RevokeToken(ctx context.Context, conn scim.Connection, id string, at time.Time) (*TokenInfo, error)
}
