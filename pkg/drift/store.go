package drift

import (
	"context"

	"github.com/scimgate/scimgate/pkg/idp"
	"github.com/scimgate/scimgate/pkg/scim"
)

// LinkStore keeps each connection's IdP link and its last reconcile report.
// Both stores implement it; pkg/storetest holds its contract. ENotFound for
// a connection that is not live, or has no link (or no report yet); a purge
// of the connection erases both.
type LinkStore interface {
	PutIdPLink(ctx context.Context, conn scim.Connection, l idp.Link) error
	GetIdPLink(ctx context.Context, conn scim.Connection) (*idp.Link, error)
	// DeleteIdPLink removes the link and the last report.
	DeleteIdPLink(ctx context.Context, conn scim.Connection) error
	// PutReconcileReport replaces the last report (its JSON); the
	// connection must be linked.
	PutReconcileReport(ctx context.Context, conn scim.Connection, report []byte) error
	GetReconcileReport(ctx context.Context, conn scim.Connection) ([]byte, error)
}
