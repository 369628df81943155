package scim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// Declared extension schemas.
//
// A connection may declare the extension schemas its IdP sends (Okta's
// profile-editor namespaces, Entra's CustomExtensionName URNs) in RFC 7643
// §7's Schema representation. A declared attribute is validated by type,
// published on that connection's /Schemas and /ResourceTypes, and can be
// filtered, sorted, projected and PATCHed like the enterprise extension's.
// The declaration rides on the request context, as stored layers, so the
// protocol code stays free of any store or transport.

// MaxDeclarationBytes bounds a declaration's canonical JSON. It lives on
// the connection record that authentication reads with every request, so
// its size is paid in read units per request (docs/custom-attributes.md).
const MaxDeclarationBytes = 16 << 10

// Bounds on one declaration, so that resolving a path or validating a body
// stays a short loop.
const (
	maxDeclaredSchemas    = 20
	maxDeclaredAttributes = 100 // per schema
	maxSubAttributes      = 20
	maxCanonicalValues    = 100
)

// resourceTypeKey names what a declared schema extends ("User" or "Group");
// RFC 7643 §7 has no such member, the link lives in /ResourceTypes.
const resourceTypeKey = "x-resourceType"

// Declaration is a validated set of extension schemas, each extending User
// or Group. The zero value and nil are the empty declaration.
type Declaration struct {
	schemas []declaredSchema
}

type declaredSchema struct {
	schema *Schema
	typ    ResourceType
}

// Len is the number of declared schemas.
func (d *Declaration) Len() int {
	if d == nil {
		return 0
	}
	return len(d.schemas)
}

// Has reports whether attribute attr of schema urn is declared for typ
// (case-insensitively, RFC 7643 §2.1).
func (d *Declaration) Has(typ ResourceType, urn, attr string) bool {
	if d == nil {
		return false
	}
	for _, ds := range d.schemas {
		if ds.typ == typ && strings.EqualFold(ds.schema.ID, urn) {
			return ds.schema.Attr(attr) != nil
		}
	}
	return false
}

// extending returns the declared schemas that extend typ.
func (d *Declaration) extending(typ ResourceType) []*Schema {
	if d == nil {
		return nil
	}
	var out []*Schema
	for _, ds := range d.schemas {
		if ds.typ == typ {
			out = append(out, ds.schema)
		}
	}
	return out
}

// merge returns d with over's schemas added; one of over's replaces a
// schema of d with the same id (the connection's own overrides a
// platform-wide default).
func (d *Declaration) merge(over *Declaration) *Declaration {
	if over.Len() == 0 {
		return d
	}
	if d.Len() == 0 {
		return over
	}
	out := &Declaration{}
	for _, ds := range d.schemas {
		if !slices.ContainsFunc(over.schemas, func(o declaredSchema) bool { return strings.EqualFold(o.schema.ID, ds.schema.ID) }) {
			out.schemas = append(out.schemas, ds)
		}
	}
	out.schemas = append(out.schemas, over.schemas...)
	return out
}

// JSON is the canonical form to store: a compact JSON array of Schema
// resources, each with "x-resourceType"; "[]" when empty.
func (d *Declaration) JSON() string {
	var b bytes.Buffer
	b.WriteByte('[')
	for i, r := range d.Resources() {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(r)
	}
	b.WriteByte(']')
	return b.String()
}

// Resources returns each declared schema as its RFC 7643 §7 Schema
// resource, with "x-resourceType" (what /Schemas serves, without meta).
func (d *Declaration) Resources() []json.RawMessage {
	out := []json.RawMessage{}
	if d == nil {
		return out
	}
	for _, ds := range d.schemas {
		doc := schemaDocument(ds.schema)
		doc[resourceTypeKey] = string(ds.typ)
		b, err := json.Marshal(doc)
		if err != nil {
			panic(fmt.Sprintf("marshal declared schema %s: %v", ds.schema.ID, err)) // maps of strings, bools and slices always marshal
		}
		out = append(out, b)
	}
	return out
}

// ParseDeclaration reads a declaration: a JSON array of RFC 7643 §7 Schema
// resources, or one Schema object. "", "null" and "[]" are the empty
// declaration. An error is invalidValue with a detail naming the schema and
// attribute at fault.
func ParseDeclaration(data []byte) (*Declaration, error) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 || string(trimmed) == "null" {
		return &Declaration{}, nil
	}
	if len(trimmed) > 4*MaxDeclarationBytes {
		return nil, Errorf(EInvalidValue, "the declaration is %d bytes; at most %d are kept (declare the attributes the platform uses)", len(trimmed), MaxDeclarationBytes)
	}
	raw, err := decodeJSON(trimmed)
	if err != nil {
		return nil, Errorf(EInvalidValue, "the declaration is not valid JSON: %s", detailOf{err})
	}
	var items []any
	switch v := raw.(type) {
	case []any:
		items = v
	case map[string]any:
		items = []any{v}
	default:
		return nil, Errorf(EInvalidValue, "the declaration must be a JSON array of Schema resources (RFC 7643 §7) or one Schema object")
	}
	if len(items) > maxDeclaredSchemas {
		return nil, Errorf(EInvalidValue, "the declaration has %d schemas; at most %d may be declared", len(items), maxDeclaredSchemas)
	}
	d := &Declaration{}
	for i, item := range items {
		obj, ok := item.(map[string]any)
		if !ok {
			return nil, Errorf(EInvalidValue, "schema %d of the declaration must be a JSON object", i)
		}
		ds, err := parseDeclaredSchema(obj, i)
		if err != nil {
			return nil, err
		}
		for _, prev := range d.schemas {
			a, b := strings.ToLower(prev.schema.ID), strings.ToLower(ds.schema.ID)
			if a == b {
				return nil, Errorf(EInvalidValue, "schema %s is declared twice; declare each id once", ds.schema.ID)
			}
			if strings.HasPrefix(a, b+":") || strings.HasPrefix(b, a+":") {
				// "urn:a:x:y" would be read as attribute y of "urn:a:x".
				return nil, Errorf(EInvalidValue, "schema ids %s and %s overlap: one is a prefix of the other, so a path such as %s:attr would be ambiguous", prev.schema.ID, ds.schema.ID, prev.schema.ID)
			}
		}
		d.schemas = append(d.schemas, ds)
	}
	if n := len(d.JSON()); n > MaxDeclarationBytes {
		return nil, Errorf(EInvalidValue, "the declaration is %d bytes once stored; at most %d are kept (shorten descriptions or declare fewer attributes)", n, MaxDeclarationBytes)
	}
	return d, nil
}

// parseDeclaredSchema reads the i-th Schema resource of a declaration.
func parseDeclaredSchema(obj map[string]any, i int) (declaredSchema, error) {
	var ds declaredSchema
	id, _ := lookupFolded(obj, "id").(string)
	id = strings.TrimSpace(id)
	where := fmt.Sprintf("schema %d", i)
	if id != "" {
		where = "schema " + id
	}
	for k := range obj {
		switch strings.ToLower(k) {
		case "id", "name", "description", "attributes", strings.ToLower(resourceTypeKey), "schemas", "meta":
		default:
			return ds, Errorf(EInvalidValue, "%s: member %q is not part of a Schema resource (RFC 7643 §7: id, name, description, attributes; plus %q)", where, k, resourceTypeKey)
		}
	}
	if err := checkDeclaredID(id, where); err != nil {
		return ds, err
	}
	s := &Schema{ID: id}
	var err error
	if s.Name, err = optionalString(obj, "name", where); err != nil {
		return ds, err
	}
	if s.Description, err = optionalString(obj, "description", where); err != nil {
		return ds, err
	}
	ds.typ = UserResource
	if v := lookupFolded(obj, resourceTypeKey); v != nil {
		t, _ := v.(string)
		switch {
		case strings.EqualFold(t, "User"):
		case strings.EqualFold(t, "Group"):
			ds.typ = GroupResource
		default:
			return ds, Errorf(EInvalidValue, "%s: %q must be \"User\" or \"Group\"; got %v", where, resourceTypeKey, v)
		}
	}
	attrs, ok := lookupFolded(obj, "attributes").([]any)
	if !ok || len(attrs) == 0 {
		return ds, Errorf(EInvalidValue, "%s: \"attributes\" must be a non-empty array of attribute definitions", where)
	}
	if len(attrs) > maxDeclaredAttributes {
		return ds, Errorf(EInvalidValue, "%s declares %d attributes; at most %d may be declared in one schema", id, len(attrs), maxDeclaredAttributes)
	}
	if s.Attributes, err = parseDeclaredAttributes(attrs, id, false); err != nil {
		return ds, err
	}
	ds.schema = s
	return ds, nil
}

// checkDeclaredID: an extension id is a URN (RFC 7643 §3.3) that none of
// the schemas scimgate defines itself already is.
func checkDeclaredID(id, where string) error {
	lower := strings.ToLower(id)
	switch {
	case id == "":
		return Errorf(EInvalidValue, "%s: \"id\" is required: the schema's URN, like urn:ietf:params:scim:schemas:extension:acme:2.0:User", where)
	case !strings.HasPrefix(lower, "urn:") || strings.Count(id, ":") < 2:
		return Errorf(EInvalidValue, "%s: \"id\" must be a URN (urn:<nid>:<nss>), like urn:ietf:params:scim:schemas:extension:acme:2.0:User", where)
	case strings.HasPrefix(lower, "urn:ietf:params:scim:schemas:core:"), strings.HasPrefix(lower, "urn:ietf:params:scim:api:"):
		return Errorf(EInvalidValue, "%s: core and message schemas are defined by RFC 7643 and 7644 and cannot be declared", where)
	case lower == strings.ToLower(EnterpriseUserSchema) || strings.HasPrefix(lower, strings.ToLower(EnterpriseUserSchema)+":"):
		return Errorf(EInvalidValue, "%s: the enterprise extension is built in and cannot be redeclared", where)
	case len(id) > 256 || !isPlainASCII(id) || strings.ContainsAny(id, " \"[]") || strings.HasSuffix(id, ":"):
		return Errorf(EInvalidValue, "%s: \"id\" must be a URN of at most 256 printable ASCII characters without spaces, quotes or brackets, not ending in a colon", where)
	}
	return nil
}

func optionalString(obj map[string]any, key, where string) (string, error) {
	v := lookupFolded(obj, key)
	if v == nil {
		return "", nil
	}
	s, ok := v.(string)
	if !ok {
		return "", Errorf(EInvalidValue, "%s: %q must be a string", where, key)
	}
	if err := checkString(where+"."+key, s); err != nil {
		return "", err
	}
	return s, nil
}

// declaredTypes are the attribute types a declaration may use. binary is
// left out: an IdP's custom attribute is never raw bytes worth keeping.
var declaredTypes = []AttrType{TypeString, TypeBoolean, TypeInteger, TypeDecimal, TypeDateTime, TypeReference, TypeComplex}

func parseDeclaredAttributes(items []any, parent string, sub bool) ([]*Attribute, error) {
	out := make([]*Attribute, 0, len(items))
	for i, item := range items {
		obj, ok := item.(map[string]any)
		if !ok {
			return nil, Errorf(EInvalidValue, "%s: attribute %d must be a JSON object", parent, i)
		}
		a, err := parseDeclaredAttribute(obj, parent, i, sub)
		if err != nil {
			return nil, err
		}
		if findAttr(out, a.Name) != nil {
			return nil, Errorf(EInvalidValue, "attribute %s:%s is declared twice (names are case-insensitive, RFC 7643 §2.1)", parent, a.Name)
		}
		out = append(out, a)
	}
	return out, nil
}

func parseDeclaredAttribute(obj map[string]any, parent string, i int, sub bool) (*Attribute, error) {
	name, _ := lookupFolded(obj, "name").(string)
	if !validAttrName(name) {
		return nil, Errorf(EInvalidValue, "%s: attribute %d: \"name\" must start with a letter and hold only letters, digits, '-' and '_' (RFC 7643 §2.1); got %q", parent, i, name)
	}
	path := parent + ":" + name
	if sub {
		path = parent + "." + name
	}
	a := &Attribute{Name: name, Mutability: ReadWrite, Returned: ReturnedDefault, Uniqueness: "none"}
	for k, v := range obj {
		var err error
		switch strings.ToLower(k) {
		case "name":
		case "type":
			t, _ := v.(string)
			a.Type = AttrType(t)
			if !slices.Contains(declaredTypes, a.Type) {
				return nil, Errorf(EInvalidValue, "attribute %s: type must be one of string, boolean, integer, decimal, dateTime, reference, complex; got %v", path, v)
			}
		case "multivalued":
			a.MultiValued, err = boolMember(v, path, k)
		case "required":
			a.Required, err = boolMember(v, path, k)
		case "caseexact":
			a.CaseExact, err = boolMember(v, path, k)
		case "description":
			a.Description, _ = v.(string)
			if _, isString := v.(string); !isString {
				err = Errorf(EInvalidValue, "attribute %s: description must be a string", path)
			} else {
				err = checkString(path+".description", a.Description)
			}
		case "mutability":
			a.Mutability, err = oneOf(v, path, k, ReadWrite, Immutable, ReadOnly, WriteOnly)
		case "returned":
			a.Returned, err = oneOf(v, path, k, ReturnedDefault, ReturnedAlways, ReturnedNever, ReturnedRequest)
		case "uniqueness":
			// Only "none" is published because only "none" is enforced:
			// uniqueness of custom data would need an index per attribute.
			a.Uniqueness, err = oneOf(v, path, k, "none")
		case "canonicalvalues":
			a.CanonicalValues, err = stringList(v, path, k, maxCanonicalValues)
		case "referencetypes":
			a.ReferenceTypes, err = stringList(v, path, k, 10)
		case "subattributes":
			list, ok := v.([]any)
			switch {
			case !ok:
				err = Errorf(EInvalidValue, "attribute %s: subAttributes must be an array of attribute definitions", path)
			case sub:
				err = Errorf(EInvalidValue, "attribute %s: a sub-attribute cannot have sub-attributes (complex attributes are one level deep, RFC 7643 §2.3.8)", path)
			case len(list) > maxSubAttributes:
				err = Errorf(EInvalidValue, "attribute %s declares %d sub-attributes; at most %d", path, len(list), maxSubAttributes)
			default:
				a.SubAttributes, err = parseDeclaredAttributes(list, path, true)
			}
		default:
			err = Errorf(EInvalidValue, "attribute %s: member %q is not part of an attribute definition (RFC 7643 §7)", path, k)
		}
		if err != nil {
			return nil, err
		}
	}
	switch {
	case a.Type == "":
		return nil, Errorf(EInvalidValue, "attribute %s: \"type\" is required (string, boolean, integer, decimal, dateTime, reference or complex)", path)
	case a.Type == TypeComplex && sub:
		return nil, Errorf(EInvalidValue, "attribute %s: a sub-attribute must be of a simple type (complex attributes are one level deep, RFC 7643 §2.3.8)", path)
	case a.Type == TypeComplex && len(a.SubAttributes) == 0:
		return nil, Errorf(EInvalidValue, "attribute %s: a complex attribute needs subAttributes", path)
	case a.Type != TypeComplex && len(a.SubAttributes) > 0:
		return nil, Errorf(EInvalidValue, "attribute %s: only a complex attribute may have subAttributes", path)
	case len(a.CanonicalValues) > 0 && a.Type != TypeString && a.Type != TypeReference:
		return nil, Errorf(EInvalidValue, "attribute %s: canonicalValues apply to string attributes only", path)
	case a.Type == TypeReference && len(a.ReferenceTypes) == 0:
		a.ReferenceTypes = []string{"external"}
	case a.Mutability == WriteOnly && a.Returned != ReturnedNever:
		// RFC 7643 §7: a writeOnly attribute "is never returned".
		return nil, Errorf(EInvalidValue, "attribute %s: a writeOnly attribute must have returned \"never\" (RFC 7643 §7)", path)
	}
	return a, nil
}

// validAttrName is RFC 7643 §2.1's ATTRNAME = ALPHA *(nameChar).
// isAttrName (patchpath.go) also takes the "$ref" form, which only the
// RFC's own sub-attributes use.
func validAttrName(name string) bool {
	return len(name) <= 128 && !strings.HasPrefix(name, "$") && isAttrName(name)
}

func boolMember(v any, path, key string) (bool, error) {
	b, ok := v.(bool)
	if !ok {
		return false, Errorf(EInvalidValue, "attribute %s: %s must be true or false", path, key)
	}
	return b, nil
}

func oneOf(v any, path, key string, allowed ...string) (string, error) {
	s, _ := v.(string)
	for _, a := range allowed {
		if strings.EqualFold(s, a) {
			return a, nil
		}
	}
	return "", Errorf(EInvalidValue, "attribute %s: %s must be %s; got %v", path, key, quotedList(allowed), v)
}

func quotedList(values []string) string {
	q := make([]string, len(values))
	for i, v := range values {
		q[i] = fmt.Sprintf("%q", v)
	}
	if len(q) == 1 {
		return q[0]
	}
	return strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
}

func stringList(v any, path, key string, max int) ([]string, error) {
	list, ok := v.([]any)
	if !ok || len(list) > max {
		return nil, Errorf(EInvalidValue, "attribute %s: %s must be an array of at most %d strings", path, key, max)
	}
	out := make([]string, 0, len(list))
	for _, item := range list {
		s, ok := item.(string)
		if !ok {
			return nil, Errorf(EInvalidValue, "attribute %s: %s must be an array of strings", path, key)
		}
		if err := checkString(path+"."+key, s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// schemaDocument is a schema's RFC 7643 §7 representation without meta.
func schemaDocument(sc *Schema) map[string]any {
	return map[string]any{
		"schemas":     []any{SchemaSchema},
		"id":          sc.ID,
		"name":        sc.Name,
		"description": sc.Description,
		"attributes":  attributeDocuments(sc.Attributes),
	}
}

type declarationKey struct{}

// WithDeclaration returns ctx carrying the declared schemas of the
// connection a request is for, as stored layers (Declaration.JSON; ""
// none): the platform's default set first, then the connection's own. A
// later layer's schema replaces an earlier one with the same id. The
// Service parses and caches them, so the HTTP adapter passes the stored
// strings it read with the token on every request at no cost.
func WithDeclaration(ctx context.Context, layers ...string) context.Context {
	key := ""
	for _, l := range layers {
		if l = strings.TrimSpace(l); l != "" && l != "[]" {
			key += l + "\x00"
		}
	}
	if key == "" {
		return ctx
	}
	return context.WithValue(ctx, declarationKey{}, key)
}

// declarationCache holds the schema sets built from the declaration layers
// seen on requests, keyed by the layers: most deployments have a handful of
// distinct declarations, so each is parsed once per process.
type declarationCache struct {
	mu  sync.Mutex
	set map[string]*Schemas
}

const maxCachedDeclarations = 512

// scoped returns the Service the request on ctx sees: s itself when the
// connection declares nothing, else a copy whose schemas include the
// declared extensions. A stored declaration that no longer parses (it was
// valid when stored) is an internal error, never the client's.
func (s *Service) scoped(ctx context.Context) (*Service, error) {
	key, _ := ctx.Value(declarationKey{}).(string)
	if key == "" {
		return s, nil
	}
	set, err := s.declared.get(s.schemas, key)
	if err != nil {
		return nil, err
	}
	c := *s
	c.schemas = set
	return &c, nil
}

// view is scoped for the methods that cannot fail: with a stored
// declaration that no longer parses, the built-in schemas (declared values
// are then rendered as undeclared ones, never lost).
func (s *Service) view(ctx context.Context) *Service {
	if v, err := s.scoped(ctx); err == nil {
		return v
	}
	return s
}

func (c *declarationCache) get(base *Schemas, key string) (*Schemas, error) {
	c.mu.Lock()
	set, ok := c.set[key]
	c.mu.Unlock()
	if ok {
		return set, nil
	}
	var decl *Declaration
	for _, layer := range strings.Split(strings.TrimSuffix(key, "\x00"), "\x00") {
		d, err := ParseDeclaration([]byte(layer))
		if err != nil {
			// Validated when stored: a failure now is scimgate's, never the client's.
			return nil, &Error{Code: EInternal, Detail: "internal error", Err: fmt.Errorf("parse stored schema declaration: %v", err)}
		}
		decl = decl.merge(d)
	}
	set = base.withDeclaration(decl)
	c.mu.Lock()
	if len(c.set) >= maxCachedDeclarations {
		clear(c.set)
	}
	c.set[key] = set
	c.mu.Unlock()
	return set, nil
}
