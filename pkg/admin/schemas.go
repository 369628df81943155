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
	declared, err := declaredResources(rec.DeclaredSchemas)
	if err != nil {
		return nil, fmt.Errorf("show schemas of connection %s: %w", conn, err)
	}
	seen, _, err := s.observedOf(ctx, conn)
	if err != nil {
		return nil, err
	}
	return &SchemaSettings{Declared: declared, Observed: seen, UnknownExtensions: string(policy)}, nil
}

// declaredResources renders a stored declaration as its Schema resources,
// as /Schemas serves them; [] when none is stored.
func declaredResources(canonical string) ([]json.RawMessage, error) {
	d, err := scim.ParseDeclaration([]byte(canonical))
	if err != nil {
		// Stored only after ParseDeclaration accepted it: a failure here is
		// ours (a stored value this version cannot read), never the caller's.
		return nil, fmt.Errorf("read the stored declaration: %v", scim.ErrorDetailOf(err))
	}
	if res := d.Resources(); res != nil {
		return res, nil
	}
	return []json.RawMessage{}, nil
}

// parseDeclared validates a declared set given as a list of Schema
// resources and returns its canonical JSON. The error is
// scim.ParseDeclaration's: 400 invalidValue naming the schema and the
// attribute at fault.
func parseDeclared(list []json.RawMessage) (string, error) {
	if list == nil {
		list = []json.RawMessage{}
	}
	data, err := json.Marshal(list)
	if err != nil {
		return "", scim.Errorf(scim.EInvalidValue, "declared: not a JSON array of Schema resources: %v", err)
	}
	d, err := scim.ParseDeclaration(data)
	if err != nil {
		return "", err
	}
	return d.JSON(), nil
}

// SetSchemas changes the connection's declared extension schemas and/or
// its policy for undeclared extensions. Both are validated before either
// is written, so a PUT with one bad part changes nothing. declared: []
// clears the declared set.
func (s *Service) SetSchemas(ctx context.Context, conn scim.Connection, u SchemaUpdate) (*SchemaSettings, error) {
	var notes []string
	if u.FromObserved {
		var err error
		if notes, err = s.withObserved(ctx, conn, &u); err != nil {
			return nil, err
		}
	}
	var canonical string
	if u.Declared != nil {
		var err error
		if canonical, err = parseDeclared(*u.Declared); err != nil {
			return nil, err
		}
	}
	var policy scim.ExtensionPolicy
	if u.UnknownExtensions != nil {
		var err error
		if policy, err = scim.ParseExtensionPolicy(*u.UnknownExtensions); err != nil {
			return nil, err
		}
	}
	if u.Declared != nil {
		ds, ok := s.cfg.Store.(auth.DeclaredSchemaStore)
		if !ok {
			return nil, fmt.Errorf("set declared schemas of connection %s: the store cannot keep them", conn)
		}
		if err := ds.SetDeclaredSchemas(ctx, conn, canonical); err != nil {
			return nil, fmt.Errorf("set declared schemas of connection %s: %w", conn, err)
		}
	}
	if u.UnknownExtensions != nil {
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
