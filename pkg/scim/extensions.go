package scim

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// Undeclared schema extensions.
//
// Identity providers send custom attributes under schema URNs the service
// provider never published: Microsoft Entra ID sends the object keyed by
// "urn:ietf:params:scim:schemas:extension:<Name>:2.0:User" and does not list
// that URN in "schemas" (entra-docs, customize-application-attributes.md);
// Okta sends its profile editor's attributes under their external namespace
// in POST and PUT. One refused attribute stops every create and update of a
// connection, so by default such an object is kept as sent.

// ExtensionPolicy says what a connection does with an undeclared extension:
// a top-level "urn:" key other than the core schema and the known
// extensions.
type ExtensionPolicy string

const (
	// ExtensionsStore keeps the object as sent, returns it, lets PATCH
	// paths into it work (the default).
	ExtensionsStore ExtensionPolicy = "store"
	// ExtensionsReject answers 400 invalidValue naming the URN.
	ExtensionsReject ExtensionPolicy = "reject"
	// ExtensionsIgnore drops it and keeps nothing.
	ExtensionsIgnore ExtensionPolicy = "ignore"
)

// Valid reports whether p is one of the three policies ("" is the default, store).
func (p ExtensionPolicy) Valid() bool {
	return p == "" || p == ExtensionsStore || p == ExtensionsReject || p == ExtensionsIgnore
}

// ParseExtensionPolicy reads a policy name; "" is store.
func ParseExtensionPolicy(s string) (ExtensionPolicy, error) {
	p := ExtensionPolicy(strings.ToLower(strings.TrimSpace(s)))
	if !p.Valid() {
		return "", Errorf(EInvalidValue, "unknown_extensions must be \"store\", \"reject\" or \"ignore\"; got %q", s)
	}
	if p == "" {
		p = ExtensionsStore
	}
	return p, nil
}

type extensionPolicyKey struct{}

// WithExtensionPolicy returns ctx carrying the policy of the connection a
// request is for; the HTTP adapter sets it from the connection record it
// read with the token, so the policy costs no extra store read.
func WithExtensionPolicy(ctx context.Context, p ExtensionPolicy) context.Context {
	return context.WithValue(ctx, extensionPolicyKey{}, p)
}

// ExtensionPolicyFrom returns the policy on ctx; store when none.
func ExtensionPolicyFrom(ctx context.Context) ExtensionPolicy {
	if p, _ := ctx.Value(extensionPolicyKey{}).(ExtensionPolicy); p != "" {
		return p
	}
	return ExtensionsStore
}

// isUndeclaredURN reports whether key is a schema URN that is neither typ's
// core schema nor one of its extensions.
func (s *Schemas) isUndeclaredURN(typ ResourceType, key string) bool {
	lower := strings.ToLower(key)
	if !strings.HasPrefix(lower, "urn:") || strings.Count(key, ":") < 2 || // RFC 8141: urn:NID:NSS
		strings.HasPrefix(lower, "urn:ietf:params:scim:schemas:core:") ||
		strings.HasPrefix(lower, "urn:ietf:params:scim:api:") {
		// Another resource type's core schema or a message schema is a
		// mistake to report, never a custom extension.
		return false
	}
	if strings.EqualFold(key, EnterpriseUserSchema) {
		return false // built in, for users only
	}
	return s.extension(typ, key) == nil
}

// startsWithUndeclaredURN reports whether path ("urn:X:attr", "urn:X")
// lies in an undeclared extension: it is a URN and no schema of typ is its
// prefix.
func (s *Schemas) startsWithUndeclaredURN(typ ResourceType, path string) bool {
	lower := strings.ToLower(path)
	if !strings.HasPrefix(lower, "urn:") {
		return false
	}
	for _, sc := range append([]*Schema{s.core(typ)}, s.extensions(typ)...) {
		id := strings.ToLower(sc.ID)
		if lower == id || strings.HasPrefix(lower, id+":") {
			return false
		}
	}
	if strings.HasPrefix(lower, "urn:ietf:params:scim:schemas:core:") || strings.HasPrefix(lower, "urn:ietf:params:scim:api:") ||
		strings.HasPrefix(lower, strings.ToLower(EnterpriseUserSchema)) {
		return false
	}
	return strings.Count(path, ":") >= 2
}

// declareHint is the detail's advice on what to do with an undeclared URN.
func declareHint(urn string) string {
	return fmt.Sprintf("declare schema %s for this connection (scimgate connection schema set), or set its unknown_extensions policy to \"store\"", urn)
}

// normalizeUndeclared checks an undeclared extension object under policy
// and stores it in attrs under its URN as sent. Its values may be strings,
// numbers, booleans, arrays of these, or objects one level deep (of such
// scalars or arrays of them): enough for any attribute an IdP's mapping
// produces, and small enough to bound what it costs. Strings obey the
// same rules as declared ones, arrays the same value bound; the whole
// resource stays inside maxResourceBytes (checkResourceSize).
func normalizeUndeclared(typ ResourceType, key string, raw any, attrs map[string]any, policy ExtensionPolicy) error {
	switch policy {
	case ExtensionsReject:
		return Errorf(EInvalidValue, "schema extension %q is not supported for %s resources: %s", key, typ, declareHint(key))
	case ExtensionsIgnore:
		return nil
	}
	if raw == nil {
		return nil
	}
	obj, ok := raw.(map[string]any)
	if !ok {
		return Errorf(EInvalidValue, "%q must be a JSON object of its attributes, like {\"costCenter\": \"701984\"}", key)
	}
	out := make(map[string]any, len(obj))
	for k, v := range obj {
		if strings.TrimSpace(k) == "" {
			return Errorf(EInvalidValue, "schema extension %q holds an attribute with an empty name", key)
		}
		nv, err := undeclaredValue(key+":"+k, v, 1)
		if err != nil {
			return err
		}
		if nv != nil {
			out[k] = nv
		}
	}
	if len(out) == 0 {
		return nil
	}
	if prev, ok := attrs[key].(map[string]any); ok {
		for k, v := range out {
			prev[k] = v
		}
		return nil
	}
	attrs[key] = out
	return nil
}

// undeclaredValue checks one value of an undeclared attribute; depth 1 is
// an attribute of the extension object, 2 a sub-attribute.
func undeclaredValue(path string, v any, depth int) (any, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case string:
		if err := checkString(path, x); err != nil {
			return nil, err
		}
		return x, nil
	case bool, json.Number, float64, int64:
		return x, nil
	case []any:
		if len(x) > MaxValuesPerAttribute {
			return nil, tooMany("maxValuesPerAttribute", MaxValuesPerAttribute, len(x), fmt.Sprintf("values of attribute %q", path), "keep the values a platform needs")
		}
		out := make([]any, 0, len(x))
		for i, item := range x {
			if _, isList := item.([]any); isList {
				return nil, Errorf(EInvalidValue, "attribute %q: an undeclared attribute may not hold arrays of arrays; declare its schema", path)
			}
			if _, isObj := item.(map[string]any); isObj && depth > 1 {
				return nil, Errorf(EInvalidValue, "attribute %q: undeclared attributes may be objects one level deep only; declare its schema", path)
			}
			nv, err := undeclaredValue(fmt.Sprintf("%s[%d]", path, i), item, depth+1)
			if err != nil {
				return nil, err
			}
			if nv != nil {
				out = append(out, nv)
			}
		}
		if len(out) == 0 {
			return nil, nil
		}
		return out, nil
	case map[string]any:
		if depth > 1 {
			return nil, Errorf(EInvalidValue, "attribute %q: undeclared attributes may be objects one level deep only; declare its schema", path)
		}
		out := make(map[string]any, len(x))
		for k, sv := range x {
			nv, err := undeclaredValue(path+"."+k, sv, depth+1)
			if err != nil {
				return nil, err
			}
			if nv != nil {
				out[k] = nv
			}
		}
		if len(out) == 0 {
			return nil, nil
		}
		return out, nil
	}
	return nil, Errorf(EInvalidValue, "attribute %q has a value of unsupported type %T", path, v)
}

// splitUndeclaredPath splits a PATCH path or a path-less key that starts
// with an undeclared URN into the extension URN and the attribute path in
// it ("" when path is the URN itself). The URN is, in order: a key of doc
// the path starts with (what is stored decides), the path itself when it
// ends with the resource type's name (Entra's ":2.0:User"), the part up to
// the last ":User:" or ":Group:" (RFC 7643 §8.7's URN shape), or else the
// part before the last colon.
func splitUndeclaredPath(typ ResourceType, doc map[string]any, path string) (urn, rest string) {
	for k := range doc {
		if strings.EqualFold(k, path) {
			return k, ""
		}
		if len(path) > len(k) && path[len(k)] == ':' && strings.EqualFold(path[:len(k)], k) {
			return k, path[len(k)+1:]
		}
	}
	lower := strings.ToLower(path)
	suffix := ":" + strings.ToLower(string(typ))
	if strings.HasSuffix(lower, suffix) {
		return path, ""
	}
	if i := strings.LastIndex(lower, suffix+":"); i >= 0 {
		return path[:i+len(suffix)], path[i+len(suffix)+1:]
	}
	i := strings.LastIndex(path, ":")
	return path[:i], path[i+1:]
}

// applyUndeclared applies one PATCH operation whose path (or path-less key)
// starts with an undeclared URN, under the connection's policy. Only plain
// "urn:X:attr" and "urn:X:attr.sub" paths are taken: an undeclared
// attribute has no definition to evaluate a [filter] against.
func (p *patcher) applyUndeclared(op patchOp, path string, value any) error {
	switch p.policy {
	case ExtensionsReject:
		return Errorf(EInvalidPath, "operation %d: path %q is in schema extension that is not supported for %s resources: %s", op.index, path, p.typ, declareHint(path))
	case ExtensionsIgnore:
		return nil
	}
	urn, rest := splitUndeclaredPath(p.typ, p.doc, path)
	if strings.ContainsAny(rest, "[]") {
		return Errorf(EInvalidPath, "operation %d: path %q filters an undeclared attribute; declare its schema to use value filters", op.index, path)
	}
	ext, _ := p.doc[urn].(map[string]any)
	if rest == "" {
		// The extension URN itself: remove drops it, add and replace merge
		// its attributes (as for the enterprise extension, applyExtension).
		if op.op == "remove" || value == nil {
			delete(p.doc, urn)
			return nil
		}
		obj, ok := value.(map[string]any)
		if !ok {
			return Errorf(EInvalidValue, "operation %d: the value for path %q must be an object of its attributes", op.index, urn)
		}
		if ext == nil {
			ext = map[string]any{}
			p.doc[urn] = ext
		}
		for k, v := range obj {
			setFolded(ext, k, v)
		}
		return nil
	}
	name, sub, _ := strings.Cut(rest, ".")
	if ext == nil {
		if op.op == "remove" {
			return nil
		}
		ext = map[string]any{}
		p.doc[urn] = ext
	}
	name = foldedKey(ext, name)
	if sub == "" {
		switch {
		case op.op == "remove" || value == nil:
			delete(ext, name)
		case op.op == "add":
			if list, isList := ext[name].([]any); isList {
				ext[name] = append(list, asList(value)...)
			} else {
				ext[name] = value
			}
		default:
			ext[name] = value
		}
	} else {
		obj, _ := ext[name].(map[string]any)
		if op.op == "remove" || value == nil {
			if obj != nil {
				delete(obj, foldedKey(obj, sub))
				if len(obj) == 0 {
					delete(ext, name)
				}
			}
		} else {
			if obj == nil {
				obj = map[string]any{}
				ext[name] = obj
			}
			obj[foldedKey(obj, sub)] = value
		}
	}
	if len(ext) == 0 {
		delete(p.doc, urn)
	}
	return nil
}

// foldedKey returns the key of obj equal to name case-insensitively (RFC
// 7643 §2.1), or name: a PATCH of "customattribute" changes the stored
// "CustomAttribute" rather than adding a second one.
func foldedKey(obj map[string]any, name string) string {
	for k := range obj {
		if strings.EqualFold(k, name) {
			return k
		}
	}
	return name
}

func setFolded(obj map[string]any, name string, v any) { obj[foldedKey(obj, name)] = v }

// undeclaredURNs lists the undeclared extension URNs attrs holds, sorted,
// for the "schemas" of the representation (RFC 7643 §3: the schemas the
// resource uses).
func (s *Schemas) undeclaredURNs(typ ResourceType, attrs map[string]any) []string {
	var out []string
	for k := range attrs {
		if s.isUndeclaredURN(typ, k) {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// expandExtensionChanges turns each changed extension URN of a change
// record into the "urn:X:attr" names of the attributes that changed in it,
// so that a consumer sees which custom attribute changed.
func expandExtensionChanges(changed []string, before, after map[string]any) []string {
	out := make([]string, 0, len(changed))
	for _, name := range changed {
		if !strings.HasPrefix(strings.ToLower(name), "urn:") {
			out = append(out, name)
			continue
		}
		b, _ := lookupFolded(before, name).(map[string]any)
		a, _ := lookupFolded(after, name).(map[string]any)
		inner := changedInner(b, a)
		if len(inner) == 0 {
			out = append(out, name)
			continue
		}
		for _, k := range inner {
			out = append(out, name+":"+k)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func lookupPresent(m map[string]any, name string) (any, bool) {
	if m == nil {
		return nil, false
	}
	v, ok := m[foldedKey(m, name)]
	return v, ok
}

func lookupFolded(m map[string]any, name string) any {
	if m == nil {
		return nil
	}
	return m[foldedKey(m, name)]
}

// changedInner lists the keys whose values differ between two extension objects.
func changedInner(before, after map[string]any) []string {
	var out []string
	for k, v := range after {
		if pv, ok := before[foldedKey(before, k)]; !ok || !jsonEqual(pv, v) {
			out = append(out, k)
		}
	}
	for k := range before {
		if _, ok := lookupPresent(after, k); !ok {
			out = append(out, k)
		}
	}
	return out
}

// undeclaredAccepted is what checkResourceSchemas accepts besides the
// built-in schemas: the connection's declared extensions, and undeclared
// extension URNs unless the policy rejects them.
func (s *Service) undeclaredAccepted(typ ResourceType, policy ExtensionPolicy) func(string) bool {
	return func(urn string) bool {
		if ext := s.schemas.extension(typ, urn); ext != nil {
			return s.schemas.isDeclared(ext)
		}
		return policy != ExtensionsReject && s.schemas.isUndeclaredURN(typ, urn)
	}
}
