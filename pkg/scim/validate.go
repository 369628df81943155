package scim

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// normalized is a validated resource body.
type normalized struct {
	attrs      map[string]any // canonical names; no readOnly, writeOnly or members
	members    []Member
	hasMembers bool          // the body carried a members attribute (even an empty one)
	observed   []Observation // undeclared attributes kept (observe.go)
}

// normalizeResource validates body against typ's schemas (RFC 7643 §2, §4)
// and returns it with canonical attribute names. Input names are matched
// case-insensitively (RFC 7643 §2.1). readOnly attributes are ignored, as
// RFC 7643 §2.2 says clients' values for them are; password (writeOnly) is
// checked and discarded because scimgate never stores it.
//
// stored, on a PATCH, is the resource's attributes before the operations:
// a value kept there that the connection's declaration no longer fits (it
// was stored before the schema was declared, or retyped) stays as it is,
// so a changed declaration never loses data nor blocks other changes.
func (s *Schemas) normalizeResource(typ ResourceType, body map[string]any, policy ExtensionPolicy, stored map[string]any) (*normalized, error) {
	core := s.core(typ)
	out := &normalized{attrs: map[string]any{}}
	for key, raw := range body {
		if strings.EqualFold(key, "schemas") {
			continue // checkResourceSchemas judges it on POST and PUT
		}
		if strings.Contains(key, ":") {
			if s.isUndeclaredURN(typ, key) {
				if err := normalizeUndeclared(typ, key, raw, out.attrs, policy); err != nil {
					return nil, err
				}
				if kept, ok := out.attrs[key].(map[string]any); ok && policy != ExtensionsIgnore {
					observeObject(&out.observed, typ, key, kept)
				}
				continue
			}
			storedExt, _ := lookupFolded(stored, key).(map[string]any)
			if err := s.normalizeURNKey(typ, key, raw, out.attrs, storedExt); err != nil {
				return nil, err
			}
			continue
		}
		a := core.Attr(key)
		if a == nil {
			if ext, ea := s.unqualified(typ, key); ea != nil {
				// An extension attribute sent without its URN (RFC 7644 §3.10 only says SHOULD qualify).
				storedExt, _ := lookupFolded(stored, ext.ID).(map[string]any)
				if err := s.normalizeURNKey(typ, ext.ID, map[string]any{ea.Name: raw}, out.attrs, storedExt); err != nil {
					return nil, err
				}
				continue
			}
			if raw == nil {
				continue // null is unassigned (RFC 7643 §2.5), whatever the name
			}
			return nil, Errorf(EInvalidValue, "attribute %q is not defined for %s resources (schema %s)", key, typ, core.ID)
		}
		if a.Mutability == ReadOnly {
			// Ignored as RFC 7643 §2.2 says (Okta sends id, meta and a
			// user's groups back in a PUT), so not judged either.
			continue
		}
		if typ == GroupResource && a.Name == "members" {
			members, err := parseMembers(raw)
			if err != nil {
				return nil, err
			}
			out.members, out.hasMembers = members, true
			continue
		}
		v, err := normalizeValue(a, raw, a.Name)
		if err != nil {
			return nil, err
		}
		if a.Mutability == WriteOnly || v == nil {
			continue
		}
		out.attrs[a.Name] = v
	}
	for _, a := range core.Attributes {
		if a.Required && a.Mutability != ReadOnly {
			if v, _ := out.attrs[a.Name].(string); strings.TrimSpace(v) == "" {
				return nil, Errorf(EInvalidValue, "attribute %q is required and must be a non-empty string", a.Name)
			}
		}
	}
	if err := checkKeyAttributes(typ, out.attrs); err != nil {
		return nil, err
	}
	if err := checkResourceSize(typ, out.attrs); err != nil {
		return nil, err
	}
	if typ == UserResource {
		if _, ok := out.attrs["active"]; !ok {
			// An IdP that omits active is creating an assigned user (RFC 7643 §4.1.1 leaves the default to the provider).
			out.attrs["active"] = true
		}
	}
	return out, nil
}

// normalizeURNKey handles a top-level key that is a schema URN: an extension
// object, or the core schema URN wrapping core attributes.
func (s *Schemas) normalizeURNKey(typ ResourceType, key string, raw any, attrs map[string]any, stored map[string]any) error {
	ext := s.extension(typ, key)
	if ext == nil {
		return Errorf(EInvalidValue, "schema extension %q is not supported for %s resources", key, typ)
	}
	if raw == nil {
		return nil
	}
	obj, ok := raw.(map[string]any)
	if !ok {
		return Errorf(EInvalidValue, "%q must be a JSON object", key)
	}
	declared := s.isDeclared(ext)
	normalizedExt := map[string]any{}
	for k, v := range obj {
		a := ext.Attr(k)
		var nv any
		var err error
		if a == nil {
			err = Errorf(EInvalidValue, "attribute %q is not defined in schema %s", k, ext.ID)
			if declared {
				err = Errorf(EInvalidValue, "attribute %q is not defined in schema %s as this connection declares it; add it to the declaration (scimgate connection schema set) or send it under another extension URN", k, ext.ID)
			}
		} else {
			nv, err = normalizeValue(a, v, ext.ID+":"+a.Name)
		}
		if err != nil {
			if declared && stored != nil {
				if sv, had := lookupPresent(stored, k); had && jsonEqual(sv, v) {
					// Kept from before the declaration changed (declared.go).
					normalizedExt[k] = v
					continue
				}
			}
			return err
		}
		if nv != nil && a.Mutability != ReadOnly {
			normalizedExt[a.Name] = nv
		}
	}
	if declared {
		for _, a := range ext.Attributes {
			if _, has := normalizedExt[a.Name]; a.Required && a.Mutability != ReadOnly && !has {
				return Errorf(EInvalidValue, "attribute %q is required by schema %s as this connection declares it; send it, or declare it with \"required\": false", ext.ID+":"+a.Name, ext.ID)
			}
		}
	}
	if len(normalizedExt) > 0 {
		if prev, ok := attrs[ext.ID].(map[string]any); ok {
			for k, v := range normalizedExt {
				if _, twice := prev[k]; twice {
					// Once inside the extension object, once without its URN:
					// which one wins must not depend on map order.
					return Errorf(EInvalidSyntax, "attribute %q of schema %s is given twice (with and without its schema URN); send it once", k, ext.ID)
				}
				prev[k] = v
			}
			return nil
		}
		attrs[ext.ID] = normalizedExt
	}
	return nil
}

// parseMembers reads a Group's members value.
func parseMembers(raw any) ([]Member, error) {
	if raw == nil {
		return []Member{}, nil
	}
	list, ok := raw.([]any)
	if !ok {
		if obj, isObj := raw.(map[string]any); isObj {
			list = []any{obj}
		} else {
			return nil, Errorf(EInvalidValue, `"members" must be an array of {"value": "<user id>"} objects`)
		}
	}
	if len(list) > MaxMembersPerRequest {
		return nil, tooMany("maxMembersPerRequest", MaxMembersPerRequest, len(list), "members in one request", "add or remove members in several PATCH requests")
	}
	members := make([]Member, 0, len(list))
	seen := map[string]bool{}
	for i, item := range list {
		obj, ok := item.(map[string]any)
		if !ok {
			return nil, Errorf(EInvalidValue, `each member must be an object like {"value": "<user id>"}`)
		}
		var m Member
		for k, v := range obj {
			switch strings.ToLower(k) {
			case "value":
				m.Value, _ = v.(string)
			case "display":
				m.Display, _ = v.(string)
			case "type":
				if t, _ := v.(string); t != "" && !strings.EqualFold(t, "User") {
					return nil, Errorf(EInvalidValue, "member type %q is not supported: members must be users", t)
				}
			}
		}
		if m.Value == "" {
			return nil, Errorf(EInvalidValue, `each member needs a non-empty "value" holding a user id`)
		}
		if err := checkString(fmt.Sprintf("members[%d].value", i), m.Value); err != nil {
			return nil, err
		}
		if err := checkString(fmt.Sprintf("members[%d].display", i), m.Display); err != nil {
			return nil, err
		}
		if !seen[m.Value] {
			seen[m.Value] = true
			members = append(members, m)
		}
	}
	return members, nil
}

// normalizeValue checks v against a and returns it in canonical form; nil
// means unassigned (RFC 7643 §2.5: null is equivalent to not present).
func normalizeValue(a *Attribute, v any, path string) (any, error) {
	if v == nil {
		return nil, nil
	}
	if a.MultiValued {
		list, ok := v.([]any)
		if !ok {
			// Some clients send a lone value for a multi-valued attribute; accept it as a list of one.
			list = []any{v}
		}
		if len(list) > MaxValuesPerAttribute {
			return nil, tooMany("maxValuesPerAttribute", MaxValuesPerAttribute, len(list), fmt.Sprintf("values of attribute %q", path), "keep the values a platform needs")
		}
		out := make([]any, 0, len(list))
		primaries := 0
		for i, item := range list {
			nv, err := normalizeSingle(a, item, fmt.Sprintf("%s[%d]", path, i))
			if err != nil {
				return nil, err
			}
			if nv != nil {
				out = append(out, nv)
				if obj, ok := nv.(map[string]any); ok && obj["primary"] == true {
					primaries++
				}
			}
		}
		if primaries > 1 {
			// RFC 7643 §2.4: the primary value "true" MUST appear no more than once.
			return nil, Errorf(EInvalidValue, "attribute %q has %d values marked primary; at most one may be", path, primaries)
		}
		if len(out) == 0 {
			return nil, nil
		}
		return out, nil
	}
	if list, isList := v.([]any); isList {
		// Entra's tutorial sends the manager as a one-element list; take a
		// lone complex value out of its list rather than refuse it.
		if obj, isObj := oneObject(list); isObj && a.Type == TypeComplex {
			return normalizeSingle(a, obj, path)
		}
		return nil, Errorf(EInvalidValue, "attribute %q is single-valued; got an array", path)
	}
	return normalizeSingle(a, v, path)
}

func normalizeSingle(a *Attribute, v any, path string) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch a.Type {
	case TypeString, TypeReference, TypeBinary:
		s, ok := v.(string)
		if !ok {
			return nil, typeError(path, a, v)
		}
		if err := checkString(path, s); err != nil {
			return nil, err
		}
		return s, nil
	case TypeBoolean:
		switch b := v.(type) {
		case bool:
			return b, nil
		case string:
			// Microsoft Entra ID sends booleans as "True"/"False" strings.
			switch strings.ToLower(b) {
			case "true":
				return true, nil
			case "false":
				return false, nil
			}
		}
		return nil, typeError(path, a, v)
	case TypeInteger:
		n, ok := v.(json.Number)
		if str, isString := v.(string); isString && isIntegerText(str) {
			// Okta's and Entra's mappings send a numeric custom attribute
			// as a string when its source attribute is one.
			n, ok = json.Number(str), true
		}
		if !ok {
			if f, isFloat := v.(float64); isFloat && f == math.Trunc(f) {
				return int64(f), nil
			}
			return nil, typeError(path, a, v)
		}
		i, err := n.Int64()
		if err != nil {
			return nil, typeError(path, a, v)
		}
		return i, nil
	case TypeDecimal:
		if str, isString := v.(string); isString {
			if f, err := strconv.ParseFloat(strings.TrimSpace(str), 64); err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
				return f, nil // as for integers: a mapped number sent as a string
			}
		}
		switch n := v.(type) {
		case json.Number:
			f, err := n.Float64()
			if err != nil {
				return nil, typeError(path, a, v)
			}
			return f, nil
		case float64:
			return n, nil
		}
		return nil, typeError(path, a, v)
	case TypeDateTime:
		s, ok := v.(string)
		if !ok {
			return nil, typeError(path, a, v)
		}
		if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
			return nil, Errorf(EInvalidValue, "attribute %q must be an xsd:dateTime such as 2026-11-02T10:00:00Z; got %q", path, s)
		}
		return s, nil
	case TypeComplex:
		obj, ok := v.(map[string]any)
		if s, isString := v.(string); isString && a.Name == "manager" {
			// Entra ID sends the manager as a bare id as well as {"value": id}.
			if s == "" {
				return nil, nil
			}
			obj, ok = map[string]any{"value": s}, true
		}
		if !ok {
			return nil, typeError(path, a, v)
		}
		out := map[string]any{}
		for k, sv := range obj {
			sub := a.Sub(k)
			if sub == nil {
				return nil, Errorf(EInvalidValue, "sub-attribute %q is not defined for %q", k, path)
			}
			nv, err := normalizeValue(sub, sv, path+"."+sub.Name)
			if err != nil {
				return nil, err
			}
			if nv != nil {
				out[sub.Name] = nv
			}
		}
		if len(out) == 0 {
			return nil, nil
		}
		return out, nil
	}
	return nil, Errorf(EInternal, "attribute %q has unknown type %q", path, a.Type)
}

func typeError(path string, a *Attribute, v any) error {
	want := string(a.Type)
	if a.Type == TypeComplex {
		want = "JSON object"
	}
	return Errorf(EInvalidValue, "attribute %q must be of type %s; got %s", path, want, jsonKind(v))
}

func jsonKind(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case json.Number, float64, int64:
		return "a number"
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}

func oneObject(list []any) (map[string]any, bool) {
	if len(list) != 1 {
		return nil, false
	}
	obj, ok := list[0].(map[string]any)
	return obj, ok
}

// isIntegerText reports whether s is an optionally signed run of decimal digits.
func isIntegerText(s string) bool {
	s = strings.TrimPrefix(s, "-")
	if s == "" || len(s) > 19 {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
