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

// DeclaredSchemaStore sets a live connection's declared extension schemas
// (ConnectionRecord.DeclaredSchemas), like ExtensionPolicyStore sets its
// policy: on the connection record that FindToken already reads. canonical
// is scim.Declaration.JSON of a parsed declaration ("" or "[]" declares
// none); the store keeps it as given and does not parse it.
type DeclaredSchemaStore interface {
	SetDeclaredSchemas(ctx context.Context, conn scim.Connection, canonical string) error
}

// DefaultSchemaStore keeps the platform's default declaration: one set of
// extension schemas for the whole deployment, applied beneath every
// connection's own (docs/custom-attributes.md, "The platform's default
// set"). It is stored once, so that a change reaches every connection, new
// and existing, without rewriting any of them.
type DefaultSchemaStore interface {
	// DefaultSchemas returns the canonical JSON of the default declaration;
	// "" when none was ever set.
	DefaultSchemas(ctx context.Context) (string, error)
	// SetDefaultSchemas replaces it; "" or "[]" clears it.
	SetDefaultSchemas(ctx context.Context, canonical string) error
}
