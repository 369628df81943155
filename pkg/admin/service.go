package admin

import (
	"context"
	"errors"
	"time"

	"github.com/scimgate/scimgate/pkg/auth"
	"github.com/scimgate/scimgate/pkg/scim"
)

// errUnbuilt marks the operations whose store side is still being built.
var errUnbuilt = errors.New("admin: not built yet")

// Service runs the admin operations.
type Service struct{ cfg Config }

// New returns a Service on cfg.Store.
func New(cfg Config) *Service { return &Service{cfg: cfg} }

// BaseURL is the SCIM base URL the IdP admin pastes for conn, on publicURL
// (scheme and host, no trailing slash).
func BaseURL(publicURL string, conn scim.Connection) string {
	return publicURL + "/scim/v2/" + conn.Tenant + "/" + conn.SSO
}

// CreateConnection creates a live connection with its first token.
func (s *Service) CreateConnection(ctx context.Context, conn scim.Connection, name string, opts TokenOptions) (*CreatedConnection, error) {
	return nil, errUnbuilt
}

// ListConnections lists live connections, of one tenant or ("") all.
func (s *Service) ListConnections(ctx context.Context, tenant string) ([]Connection, error) {
	return nil, errUnbuilt
}

// GetConnection returns one live connection.
func (s *Service) GetConnection(ctx context.Context, conn scim.Connection) (*Connection, error) {
	return nil, errUnbuilt
}

// ShowConnection returns a connection with its counts and tokens.
func (s *Service) ShowConnection(ctx context.Context, conn scim.Connection) (*ConnectionDetail, error) {
	return nil, errUnbuilt
}

// SetState disables or enables a connection and returns it.
func (s *Service) SetState(ctx context.Context, conn scim.Connection, state auth.ConnectionState) (*Connection, error) {
	return nil, errUnbuilt
}

// DeleteConnection removes a connection and all its resources from every API.
func (s *Service) DeleteConnection(ctx context.Context, conn scim.Connection) error {
	return errUnbuilt
}

// PurgeConnection erases every item of the connection in bounded batches,
// reporting each step to progress (may be nil); it returns the total erased.
func (s *Service) PurgeConnection(ctx context.Context, conn scim.Connection, progress func(auth.PurgeProgress)) (int, error) {
	return 0, errUnbuilt
}

// CreateToken adds a token to conn, creating the connection if it does not
// exist yet (what `scimgate token create` has always done).
func (s *Service) CreateToken(ctx context.Context, conn scim.Connection, opts TokenOptions) (*NewToken, error) {
	return nil, errUnbuilt
}

// ListTokens lists conn's tokens, oldest first.
func (s *Service) ListTokens(ctx context.Context, conn scim.Connection) ([]Token, error) {
	return nil, errUnbuilt
}

// RotateToken creates a new token and lets the old one expire after overlap
// (DefaultRotationOverlap when zero).
func (s *Service) RotateToken(ctx context.Context, conn scim.Connection, id string, overlap time.Duration, opts TokenOptions) (*Rotated, error) {
	return nil, errUnbuilt
}

// RevokeToken revokes a token at once and returns it.
func (s *Service) RevokeToken(ctx context.Context, conn scim.Connection, id string) (*Token, error) {
	return nil, errUnbuilt
}
