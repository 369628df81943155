package scim

import (
	"context"
	"fmt"
	"maps"
	"sort"
	"strings"
	"time"
)

// ETag returns the entity tag of a resource version (RFC 7644 §3.14). It is
// weak because the representation varies with attribute projection.
func ETag(version int64) string { return fmt.Sprintf(`W/"%d"`, version) }

// ParseETag returns the version an ETag names, or false when it is not one of ours.
func ParseETag(tag string) (int64, bool) {
	var v int64
	tag = strings.TrimSpace(tag)
	if _, err := fmt.Sscanf(tag, `W/"%d"`, &v); err == nil {
		return v, true
	}
	if _, err := fmt.Sscanf(tag, `"%d"`, &v); err == nil {
		return v, true
	}
	return 0, false
}

// formatTime renders meta timestamps as xsd:dateTime with millisecond precision.
func formatTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z07:00") }

// endpoint is the collection path of a resource type, relative to a connection's base URL.
func endpoint(typ ResourceType) string {
	if typ == GroupResource {
		return "/Groups"
	}
	return "/Users"
}

// Document returns the full JSON representation of r (RFC 7643 §3) for the
// connection whose base URL is baseURL, before any attribute projection.
func (s *Service) Document(ctx context.Context, r *Resource, baseURL string) map[string]any {
	return s.view(ctx).document(r, baseURL)
}

func (s *Service) document(r *Resource, baseURL string) map[string]any {
	doc := make(map[string]any, len(r.Attributes)+6)
	for k, v := range r.Attributes {
		// Only an extension URN has a colon: core names skip the lookup.
		if strings.Contains(k, ":") {
			if ext := s.schemas.extension(r.Type, k); ext != nil && k != ext.ID {
				// Stored under another spelling while undeclared: rendered
				// under the declared id, which filters and paths name.
				if _, both := r.Attributes[ext.ID]; !both {
					k = ext.ID
				}
			}
		}
		doc[k] = v
	}
	schemas := []any{s.schemas.core(r.Type).ID}
	for _, ext := range s.schemas.extensions(r.Type) {
		if _, ok := doc[ext.ID]; ok {
			schemas = append(schemas, ext.ID)
		}
	}
	for _, urn := range s.schemas.undeclaredURNs(r.Type, r.Attributes) {
		schemas = append(schemas, urn)
	}
	doc["schemas"] = schemas
	doc["id"] = r.ID
	if r.ExternalID != "" {
		doc["externalId"] = r.ExternalID
	}
	location := baseURL + endpoint(r.Type) + "/" + r.ID
	doc["meta"] = map[string]any{
		"resourceType": string(r.Type),
		"created":      formatTime(r.Created),
		"lastModified": formatTime(r.LastModified),
		"location":     location,
		"version":      ETag(r.Version),
	}
	switch r.Type {
	case UserResource:
		doc["userName"] = r.Name
		doc["active"] = r.Active
		// RFC 7643 §2.5: an empty multi-valued attribute is unassigned, and
		// unassigned attributes are not returned; neither "groups": [] here
		// nor "members": [] below.
		if len(r.Groups) == 0 {
			break
		}
		groups := make([]any, 0, len(r.Groups))
		ids := append([]string(nil), r.Groups...)
		sort.Strings(ids)
		for _, gid := range ids {
			groups = append(groups, map[string]any{
				"value": gid,
				"$ref":  baseURL + "/Groups/" + gid,
				"type":  "direct",
			})
		}
		doc["groups"] = groups
	case GroupResource:
		doc["displayName"] = r.Name
		if len(r.Members) == 0 {
			break
		}
		members := make([]any, 0, len(r.Members))
		for _, m := range r.Members {
			member := map[string]any{"value": m.Value, "$ref": baseURL + "/Users/" + m.Value, "type": "User"}
			if m.Display != "" {
				member["display"] = m.Display
			}
			members = append(members, member)
		}
		doc["members"] = members
	}
	return doc
}

// Projection is the attributes / excludedAttributes selection of a request (RFC 7644 §3.4.2.5).
type Projection struct {
	include []attrRef
	exclude []attrRef
}

type attrRef struct {
	schema string // schema URN the attribute belongs to
	name   string // canonical attribute name
	sub    string // canonical sub-attribute name, or ""
}

// ParseProjection validates the attributes and excludedAttributes parameters
// (comma-separated attribute paths, optionally URN-qualified) for typ.
func (s *Service) ParseProjection(ctx context.Context, typ ResourceType, attributes, excludedAttributes string) (Projection, error) {
	s = s.view(ctx)
	var p Projection
	var err error
	if p.include, err = s.parseAttrList(typ, attributes, "attributes"); err != nil {
		return p, err
	}
	if p.exclude, err = s.parseAttrList(typ, excludedAttributes, "excludedAttributes"); err != nil {
		return p, err
	}
	return p, nil
}

func (s *Service) parseAttrList(typ ResourceType, list, param string) ([]attrRef, error) {
	var refs []attrRef
	for _, item := range strings.Split(list, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if name, _, isFilter := strings.Cut(item, "["); isFilter {
			// RFC 7644 §3.4.2.5: attribute names only. A value filter
			// selects resources (filter=), not the parts of one returned.
			return nil, Errorf(EInvalidValue, `%s: %q is a value filter, which %s does not take (RFC 7644 §3.4.2.5); give comma-separated attribute names such as %s or %s.value, optionally URN-qualified, and select resources with filter=%s`,
				param, item, param, name, name, item[:strings.LastIndex(item, "]")+1])
		}
		ref, _, err := s.resolvePath(typ, item)
		if err != nil {
			return nil, Errorf(EInvalidValue, "%s: %s", param, detailOf{err})
		}
		refs = append(refs, ref)
	}
	return refs, nil
}

// resolvePath resolves "name", "name.sub", "urn:...:name" or "urn:...:name.sub"
// to a canonical attribute reference and its definition.
func (s *Service) resolvePath(typ ResourceType, path string) (attrRef, *Attribute, error) {
	schema := s.schemas.core(typ)
	rest := path
	if strings.HasPrefix(strings.ToLower(path), "urn:") {
		matched := false
		for _, sc := range append([]*Schema{schema}, s.schemas.extensions(typ)...) {
			if len(path) > len(sc.ID) && strings.EqualFold(path[:len(sc.ID)], sc.ID) && path[len(sc.ID)] == ':' {
				schema, rest, matched = sc, path[len(sc.ID)+1:], true
				break
			}
		}
		if !matched && s.schemas.startsWithUndeclaredURN(typ, path) {
			return attrRef{}, nil, Errorf(EInvalidPath, "%q is in a schema extension not declared for this connection: its values are stored and returned, but filtering, sorting or selecting on them needs the schema declared (scimgate connection schema set)", path)
		}
		if !matched {
			return attrRef{}, nil, Errorf(EInvalidPath, "%q does not name an attribute of a schema of %s resources", path, typ)
		}
	}
	name, sub, _ := strings.Cut(rest, ".")
	a := schema.Attr(name)
	if a == nil && rest == path {
		// RFC 7644 §3.10: clients SHOULD, not MUST, qualify extension
		// attributes; Entra's tutorial sends a bare "manager".
		schema, a = s.schemas.unqualified(typ, name)
	}
	if a == nil {
		return attrRef{}, nil, Errorf(EInvalidPath, "attribute %q is not defined for %s resources", path, typ)
	}
	ref := attrRef{schema: schema.ID, name: a.Name}
	if sub != "" {
		sa := a.Sub(sub)
		if sa == nil {
			return attrRef{}, nil, Errorf(EInvalidPath, "attribute %q has no sub-attribute %q", a.Name, sub)
		}
		ref.sub = sa.Name
		return ref, sa, nil
	}
	return ref, a, nil
}

// Wants reports whether the projection returns the named top-level core
// attribute; the service uses it to skip loading group members.
func (p Projection) Wants(name string) bool {
	for _, r := range p.exclude {
		if r.name == name && r.sub == "" {
			return false
		}
	}
	if len(p.include) == 0 {
		return true
	}
	for _, r := range p.include {
		if r.name == name {
			return true
		}
	}
	return false
}

// Apply projects doc in place (RFC 7644 §3.4.2.5, RFC 7643 §2.2 "returned"):
// returned=always attributes (id, schemas) survive, returned=never never appear.
func (s *Service) Apply(ctx context.Context, typ ResourceType, doc map[string]any, p Projection) map[string]any {
	s = s.view(ctx)
	core := s.schemas.core(typ)
	if len(p.include) > 0 {
		out := map[string]any{"schemas": doc["schemas"], "id": doc["id"]}
		for _, r := range p.include {
			container, key := doc, r.name
			target := out
			if r.schema != core.ID {
				ext, _ := doc[r.schema].(map[string]any)
				if ext == nil {
					continue
				}
				container = ext
				sub, _ := out[r.schema].(map[string]any)
				if sub == nil {
					sub = map[string]any{}
					out[r.schema] = sub
				}
				target = sub
			}
			v, ok := container[key]
			if !ok {
				continue
			}
			if r.sub == "" {
				target[key] = v
				continue
			}
			target[key] = mergeSub(target[key], v, r.sub)
		}
		doc = out
	}
	for _, r := range p.exclude {
		if a := core.Attr(r.name); r.schema == core.ID && a != nil && a.Returned == ReturnedAlways {
			continue
		}
		container := doc
		if r.schema != core.ID {
			ext, _ := doc[r.schema].(map[string]any)
			if ext == nil {
				continue
			}
			// doc shares the resource's own maps below the top level
			// (document copies only that): change a copy.
			container = maps.Clone(ext)
			doc[r.schema] = container
		}
		if r.sub == "" {
			delete(container, r.name)
		} else {
			container[r.name] = dropSub(container[r.name], r.sub)
		}
		if r.schema != core.ID && len(container) == 0 {
			delete(doc, r.schema)
		}
	}
	s.applyReturned(typ, doc, p)
	return doc
}

// applyReturned drops the extension attributes whose "returned" keeps them
// out (RFC 7643 §7): never, or request unless the attributes parameter
// names them. The built-in extension has none; a declared one may.
func (s *Service) applyReturned(typ ResourceType, doc map[string]any, p Projection) {
	for _, ext := range s.schemas.extensions(typ) {
		obj, _ := doc[ext.ID].(map[string]any)
		if obj == nil {
			continue
		}
		var trimmed map[string]any
		for _, a := range ext.Attributes {
			if a.Returned != ReturnedNever && (a.Returned != ReturnedRequest || p.names(ext.ID, a.Name)) {
				continue
			}
			if _, ok := obj[a.Name]; !ok {
				continue
			}
			if trimmed == nil {
				// doc shares the stored maps (document copies only the top level).
				trimmed = maps.Clone(obj)
			}
			delete(trimmed, a.Name)
		}
		switch {
		case trimmed == nil:
		case len(trimmed) == 0:
			delete(doc, ext.ID)
		default:
			doc[ext.ID] = trimmed
		}
	}
}

// names reports whether the attributes parameter named attribute name of schema.
func (p Projection) names(schema, name string) bool {
	for _, r := range p.include {
		if r.schema == schema && r.name == name {
			return true
		}
	}
	return false
}

// mergeSub copies only sub-attribute sub of v (complex or multi-valued complex) into have.
func mergeSub(have, v any, sub string) any {
	switch t := v.(type) {
	case map[string]any:
		m, _ := have.(map[string]any)
		if m == nil {
			m = map[string]any{}
		}
		if sv, ok := t[sub]; ok {
			m[sub] = sv
		}
		return m
	case []any:
		prev, _ := have.([]any)
		out := make([]any, len(t))
		for i, item := range t {
			var h any
			if i < len(prev) {
				h = prev[i]
			}
			out[i] = mergeSub(h, item, sub)
		}
		return out
	}
	return have
}

func dropSub(v any, sub string) any {
	switch t := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(t))
		for k, x := range t {
			if k != sub {
				m[k] = x
			}
		}
		return m
	case []any:
		out := make([]any, len(t))
		for i, item := range t {
			out[i] = dropSub(item, sub)
		}
		return out
	}
	return v
}
