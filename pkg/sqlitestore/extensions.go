package sqlitestore

import (
	"context"

	"github.com/scimgate/scimgate/pkg/auth"
	"github.com/scimgate/scimgate/pkg/changes"
	"github.com/scimgate/scimgate/pkg/scim"
)

var _ auth.ExtensionPolicyStore = (*Store)(nil)

// SetUnknownExtensions implements auth.ExtensionPolicyStore: one UPDATE of
// the connection row. No change record: the policy is configuration of the
// connection, not a change of its resources.
func (s *Store) SetUnknownExtensions(ctx context.Context, conn scim.Connection, policy scim.ExtensionPolicy) error {
	if !policy.Valid() {
		return scim.Errorf(scim.EInvalidValue, "unknown_extensions must be %q, %q or %q", scim.ExtensionsStore, scim.ExtensionsReject, scim.ExtensionsIgnore)
	}
	return s.updateLiveConnection(ctx, conn, `unknown_extensions = ?`, string(policy), func(*auth.Journal, *auth.ConnectionRecord, *auth.ConnectionRecord) ([]changes.Record, error) {
		return nil, nil
	})
}
