package scim

import "context"

// Discovery documents (RFC 7644 §4, RFC 7643 §5–§7). They state only what
// scimgate really does: IdPs read them to decide which requests to send.

// ServiceProviderConfig returns the /ServiceProviderConfig document.
func (s *Service) ServiceProviderConfig(baseURL string) map[string]any {
	return map[string]any{
		"schemas":          []any{SPConfigSchema},
		"documentationUri": "https://github.com/scimgate/scimgate#readme",
		"patch":            map[string]any{"supported": true},
		"bulk":             map[string]any{"supported": true, "maxOperations": MaxBulkOperations, "maxPayloadSize": MaxBulkPayloadBytes},
		"filter":           map[string]any{"supported": true, "maxResults": s.maxPageSize},
		// Passwords are never stored: the platform signs users in through SSO.
		"changePassword": map[string]any{"supported": false},
		"sort":           map[string]any{"supported": true},
		"etag":           map[string]any{"supported": true},
		// RFC 9865 §4: both pagination methods; cursors do not expire
		// because they name a position in a stable order, not server state.
		"pagination": map[string]any{
			"cursor":                  true,
			"index":                   true,
			"defaultPaginationMethod": "index",
			"defaultPageSize":         s.maxPageSize,
			"maxPageSize":             s.maxPageSize,
		},
		"authenticationSchemes": []any{map[string]any{
			"type":        "oauthbearertoken",
			"name":        "Bearer token",
			"description": "A per-connection token created with `scimgate token create`, sent as Authorization: Bearer <token>.",
			"primary":     true,
		}},
		"meta": map[string]any{
			"resourceType": "ServiceProviderConfig",
			"location":     baseURL + "/ServiceProviderConfig",
		},
	}
}

// ResourceTypes returns the /ResourceTypes documents.
func (s *Service) ResourceTypes(ctx context.Context, baseURL string) []map[string]any {
	s = s.view(ctx)
	user := map[string]any{
		"schemas":          []any{ResourceTypeSchema},
		"id":               "User",
		"name":             "User",
		"endpoint":         "/Users",
		"description":      "User Account",
		"schema":           UserSchema,
		"schemaExtensions": s.schemaExtensions(UserResource),
		"meta":             map[string]any{"resourceType": "ResourceType", "location": baseURL + "/ResourceTypes/User"},
	}
	group := map[string]any{
		"schemas":     []any{ResourceTypeSchema},
		"id":          "Group",
		"name":        "Group",
		"endpoint":    "/Groups",
		"description": "Group",
		"schema":      GroupSchema,
		"meta":        map[string]any{"resourceType": "ResourceType", "location": baseURL + "/ResourceTypes/Group"},
	}
	if ext := s.schemaExtensions(GroupResource); len(ext) > 0 {
		group["schemaExtensions"] = ext
	}
	return []map[string]any{user, group}
}

// schemaExtensions lists typ's extensions for /ResourceTypes. None is
// required: an IdP that sends none of a declared schema's attributes must
// still be able to create the resource (RFC 7643 §6).
func (s *Service) schemaExtensions(typ ResourceType) []any {
	var out []any
	for _, ext := range s.schemas.extensions(typ) {
		out = append(out, map[string]any{"schema": ext.ID, "required": false})
	}
	return out
}

// SchemaDocuments returns the /Schemas documents, generated from the same
// definitions that validate requests.
func (s *Service) SchemaDocuments(ctx context.Context, baseURL string) []map[string]any {
	s = s.view(ctx)
	var out []map[string]any
	for _, sc := range s.schemas.All() {
		doc := schemaDocument(sc)
		doc["meta"] = map[string]any{"resourceType": "Schema", "location": baseURL + "/Schemas/" + sc.ID}
		out = append(out, doc)
	}
	return out
}

func attributeDocuments(attrs []*Attribute) []any {
	out := make([]any, 0, len(attrs))
	for _, a := range attrs {
		doc := map[string]any{
			"name":        a.Name,
			"type":        string(a.Type),
			"multiValued": a.MultiValued,
			"description": a.Description,
			"required":    a.Required,
			"caseExact":   a.CaseExact,
			"mutability":  a.Mutability,
			"returned":    a.Returned,
			"uniqueness":  a.Uniqueness,
		}
		if len(a.CanonicalValues) > 0 {
			doc["canonicalValues"] = a.CanonicalValues
		}
		if len(a.ReferenceTypes) > 0 {
			doc["referenceTypes"] = a.ReferenceTypes
		}
		if len(a.SubAttributes) > 0 {
			doc["subAttributes"] = attributeDocuments(a.SubAttributes)
		}
		out = append(out, doc)
	}
	return out
}
