package auth

import (
	"context"
	"time"

	"github.com/scimgate/scimgate/pkg/scim"
)

// ExtensionPolicyStore sets a live connection's policy for undeclared
// schema extensions (ConnectionRecord.UnknownExtensions). Both stores
// implement it on the connection record itself, which FindToken already
// reads: the policy costs no read on the SCIM request path.
type ExtensionPolicyStore interface {
	SetUnknownExtensions(ctx context.Context, conn scim.Connection, policy scim.ExtensionPolicy) error
}

// AuthenticateConnection is Authenticate that also returns the connection
// record read with the token (for its UnknownExtensions policy).
func AuthenticateConnection(ctx context.Context, store TokenStore, authorization string, conn scim.Connection, now time.Time) (*TokenInfo, *ConnectionRecord, error) {
	return authenticate(ctx, store, authorization, conn, now)
}
