package admin

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/scimgate/scimgate/pkg/auth"
	"github.com/scimgate/scimgate/pkg/scim"
)

// Observed is one undeclared URN and attribute a connection has sent
// (docs/custom-attributes.md).
type Observed struct {
	URN       string `json:"urn"`
	Attribute string `json:"attribute"`
	JSONType  string `json:"json_type"`
	FirstSeen string `json:"first_seen"`
	LastSeen  string `json:"last_seen"`
	Count     int64  `json:"count"`
	// ResourceType is what the attribute was sent on (User or Group): the
	// "x-resourceType" a declaration from it gets.
	ResourceType string `json:"resource_type"`
}

// SchemaSettings is a connection's custom-attribute configuration, as
// `scimgate connection schema show --json` and GET .../schemas give it.
type SchemaSettings struct {
	// Declared are RFC 7643 §7 Schema resources.
	Declared          []json.RawMessage `json:"declared"`
	Observed          []Observed        `json:"observed"`
	UnknownExtensions string            `json:"unknown_extensions"`
	// Notes say what --from-observed left out or chose (absent otherwise).
	Notes []string `json:"notes,omitempty"`
}

// SchemaUpdate is what SetSchemas changes: nil leaves a part as it is.
type SchemaUpdate struct {
	Declared          *[]json.RawMessage
	UnknownExtensions *string
	// FromObserved declares what the connection was observed to send,
	// merged with Declared (whose schemas win per id).
	FromObserved bool
}

// ShowSchemas returns the connection's custom-attribute configuration.
func (s *Service) ShowSchemas(ctx context.Context, conn scim.Connection) (*SchemaSettings, error) {
	rec, err := s.cfg.Store.GetConnection(ctx, conn)
	if err != nil {
		return nil, fmt.Errorf("show schemas of connection %s: %w", conn, err)
	}
	policy := rec.UnknownExtensions
	if policy == "" {
		policy = scim.ExtensionsStore
	}
	seen, _, err := s.observedOf(ctx, conn)
	if err != nil {
		return nil, err
	}
	return &SchemaSettings{Declared: []json.RawMessage{}, Observed: seen, UnknownExtensions: string(policy)}, nil
}

// SetSchemas changes the connection's policy for undeclared extensions.
// Declaring schemas per connection is not available yet: a non-empty
// declared set is refused, saying so, rather than accepted and ignored.
func (s *Service) SetSchemas(ctx context.Context, conn scim.Connection, u SchemaUpdate) (*SchemaSettings, error) {
	var notes []string
	if u.FromObserved {
		var err error
		if notes, err = s.withObserved(ctx, conn, &u); err != nil {
			return nil, err
		}
	}
	if u.Declared != nil && len(*u.Declared) > 0 {
		return nil, scim.Errorf(scim.EInvalidValue, "declared: declaring extension schemas per connection is not available in this version; undeclared extensions are kept, returned and PATCHable under the \"store\" policy (docs/custom-attributes.md)")
	}
	if u.UnknownExtensions != nil {
		policy, err := scim.ParseExtensionPolicy(*u.UnknownExtensions)
		if err != nil {
			return nil, err
		}
		ps, ok := s.cfg.Store.(auth.ExtensionPolicyStore)
		if !ok {
			return nil, fmt.Errorf("set unknown_extensions of connection %s: the store cannot keep it", conn)
		}
		if err := ps.SetUnknownExtensions(ctx, conn, policy); err != nil {
			return nil, fmt.Errorf("set unknown_extensions of connection %s: %w", conn, err)
		}
	}
	settings, err := s.ShowSchemas(ctx, conn)
	if err != nil {
		return nil, err
	}
	settings.Notes = notes
	return settings, nil
}
