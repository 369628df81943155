package admin

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/scimgate/scimgate/pkg/auth"
)

// DefaultSchemaSettings is the platform's default declaration, as
// `scimgate schema default show --json` and GET /admin/v1/schemas/default
// give it: the extension schemas every connection has beneath its own
// (docs/custom-attributes.md, "The platform's default set").
type DefaultSchemaSettings struct {
	// Declared are RFC 7643 §7 Schema resources, each with "x-resourceType".
	Declared []json.RawMessage `json:"declared"`
}

// defaultStore returns the store's default declaration, if it keeps one.
func (s *Service) defaultStore() (auth.DefaultSchemaStore, error) {
	ds, ok := s.cfg.Store.(auth.DefaultSchemaStore)
	if !ok {
		return nil, fmt.Errorf("the store cannot keep a default declaration")
	}
	return ds, nil
}

// ShowDefaultSchemas returns the platform's default declaration.
func (s *Service) ShowDefaultSchemas(ctx context.Context) (*DefaultSchemaSettings, error) {
	ds, err := s.defaultStore()
	if err != nil {
		return nil, fmt.Errorf("show default schemas: %w", err)
	}
	canonical, err := ds.DefaultSchemas(ctx)
	if err != nil {
		return nil, fmt.Errorf("show default schemas: %w", err)
	}
	declared, err := declaredResources(canonical)
	if err != nil {
		return nil, fmt.Errorf("show default schemas: %w", err)
	}
	return &DefaultSchemaSettings{Declared: declared}, nil
}

// SetDefaultSchemas replaces the platform's default declaration (an empty
// list clears it). It is validated as a connection's declaration is. SCIM
// requests apply it within declared.DefaultMaxAge (a minute): each process
// keeps the value it read for that long.
func (s *Service) SetDefaultSchemas(ctx context.Context, declared []json.RawMessage) (*DefaultSchemaSettings, error) {
	canonical, err := parseDeclared(declared)
	if err != nil {
		return nil, err
	}
	ds, err := s.defaultStore()
	if err != nil {
		return nil, fmt.Errorf("set default schemas: %w", err)
	}
	if err := ds.SetDefaultSchemas(ctx, canonical); err != nil {
		return nil, fmt.Errorf("set default schemas: %w", err)
	}
	return s.ShowDefaultSchemas(ctx)
}
