package dynamostore

import (
	"context"

	"github.com/scimgate/scimgate/pkg/auth"
	"github.com/scimgate/scimgate/pkg/changes"
	"github.com/scimgate/scimgate/pkg/scim"
)

var _ auth.ExtensionPolicyStore = (*Store)(nil)

// attrUnknownExtensions holds a connection's scim.ExtensionPolicy on the
// connection item, which FindToken's BatchGetItem already reads: the policy
// adds no request and, at a few bytes, no read capacity to a SCIM request.
const attrUnknownExtensions = "unknown_extensions"

// SetUnknownExtensions implements auth.ExtensionPolicyStore: one
// TransactWriteItems of the connection item and its directory entry, as
// for the connection's state. No change record: the policy configures the
// connection and changes none of its resources.
func (s *Store) SetUnknownExtensions(ctx context.Context, conn scim.Connection, policy scim.ExtensionPolicy) error {
	if !policy.Valid() {
		return scim.Errorf(scim.EInvalidValue, "unknown_extensions must be %q, %q or %q", scim.ExtensionsStore, scim.ExtensionsReject, scim.ExtensionsIgnore)
	}
	if policy == "" {
		policy = scim.ExtensionsStore
	}
	return s.updateLiveConnection(ctx, conn, "set unknown_extensions", attrUnknownExtensions, string(policy),
		func(*auth.Journal, auth.ConnectionRecord) ([]changes.Record, error) { return nil, nil })
}
