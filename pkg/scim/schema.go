package scim

import (
	"slices"
	"strings"
)

// Schema URNs (RFC 7643 §8.7, RFC 7644 §3.1).
const (
	UserSchema           = "urn:ietf:params:scim:schemas:core:2.0:User"
	GroupSchema          = "urn:ietf:params:scim:schemas:core:2.0:Group"
	EnterpriseUserSchema = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	ListResponseSchema   = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
	PatchOpSchema        = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
	ErrorSchema          = "urn:ietf:params:scim:api:messages:2.0:Error"
	SearchRequestSchema  = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
	SPConfigSchema       = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
	ResourceTypeSchema   = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
	SchemaSchema         = "urn:ietf:params:scim:schemas:core:2.0:Schema"
)

// AttrType is a SCIM attribute data type (RFC 7643 §2.3).
type AttrType string

const (
	TypeString    AttrType = "string"
	TypeBoolean   AttrType = "boolean"
	TypeDecimal   AttrType = "decimal"
	TypeInteger   AttrType = "integer"
	TypeDateTime  AttrType = "dateTime"
	TypeBinary    AttrType = "binary"
	TypeReference AttrType = "reference"
	TypeComplex   AttrType = "complex"
)

// Mutability, Returned and Uniqueness characteristics (RFC 7643 §2.2).
const (
	ReadOnly  = "readOnly"
	ReadWrite = "readWrite"
	Immutable = "immutable"
	WriteOnly = "writeOnly"

	ReturnedAlways  = "always"
	ReturnedNever   = "never"
	ReturnedDefault = "default"
	ReturnedRequest = "request"
)

// Attribute is one attribute definition. The same definitions drive input
// validation, filtering (caseExact), projection (returned) and /Schemas, so
// what scimgate publishes is what it enforces.
type Attribute struct {
	Name            string
	Type            AttrType
	MultiValued     bool
	Description     string
	Required        bool
	CaseExact       bool
	Mutability      string
	Returned        string
	Uniqueness      string
	CanonicalValues []string
	ReferenceTypes  []string
	SubAttributes   []*Attribute
}

// Sub returns the sub-attribute named name (case-insensitively), or nil.
func (a *Attribute) Sub(name string) *Attribute { return findAttr(a.SubAttributes, name) }

// Schema is a resource schema or extension (RFC 7643 §7).
type Schema struct {
	ID          string
	Name        string
	Description string
	Attributes  []*Attribute
}

// Attr returns the attribute named name (case-insensitively), or nil.
func (s *Schema) Attr(name string) *Attribute { return findAttr(s.Attributes, name) }

func findAttr(attrs []*Attribute, name string) *Attribute {
	for _, a := range attrs {
		if strings.EqualFold(a.Name, name) {
			return a
		}
	}
	return nil
}

// attribute builders keep the tables below readable; defaults follow RFC 7643 §2.2
// (readWrite, returned default, uniqueness none, caseExact false).
func attr(name string, t AttrType, opts ...func(*Attribute)) *Attribute {
	a := &Attribute{Name: name, Type: t, Mutability: ReadWrite, Returned: ReturnedDefault, Uniqueness: "none"}
	for _, o := range opts {
		o(a)
	}
	return a
}

func str(name string, opts ...func(*Attribute)) *Attribute { return attr(name, TypeString, opts...) }

func multi(a *Attribute)     { a.MultiValued = true }
func required(a *Attribute)  { a.Required = true }
func caseExact(a *Attribute) { a.CaseExact = true }
func readOnly(a *Attribute)  { a.Mutability = ReadOnly }
func immutable(a *Attribute) { a.Mutability = Immutable }
func writeOnlyNever(a *Attribute) {
	a.Mutability = WriteOnly
	a.Returned = ReturnedNever
}
func uniqueServer(a *Attribute)      { a.Uniqueness = "server" }
func desc(d string) func(*Attribute) { return func(a *Attribute) { a.Description = d } }
func canonical(v ...string) func(*Attribute) {
	return func(a *Attribute) { a.CanonicalValues = v }
}
func refTypes(v ...string) func(*Attribute) { return func(a *Attribute) { a.ReferenceTypes = v } }
func subs(s ...*Attribute) func(*Attribute) { return func(a *Attribute) { a.SubAttributes = s } }

// multiValuedStrings builds the common {value, display, type, primary}
// shape used by emails, phoneNumbers, ims, photos, entitlements, roles and
// x509Certificates (RFC 7643 §2.4, §4.1.2).
func multiValued(name string, valueType AttrType, types ...string) *Attribute {
	typ := str("type")
	if len(types) > 0 {
		typ.CanonicalValues = types
	}
	value := attr("value", valueType)
	if valueType == TypeReference {
		value.ReferenceTypes = []string{"external"}
	}
	return attr(name, TypeComplex, multi, subs(
		value,
		str("display"),
		typ,
		attr("primary", TypeBoolean),
	))
}

// commonAttributes are id, externalId and meta (RFC 7643 §3.1).
func commonAttributes() []*Attribute {
	return []*Attribute{
		str("id", caseExact, readOnly, func(a *Attribute) { a.Returned = ReturnedAlways; a.Uniqueness = "server" },
			desc("Unique identifier for the resource, assigned by the service provider.")),
		str("externalId", caseExact, desc("Identifier of the resource as defined by the provisioning client.")),
		attr("meta", TypeComplex, readOnly, subs(
			str("resourceType", caseExact, readOnly),
			attr("created", TypeDateTime, readOnly),
			attr("lastModified", TypeDateTime, readOnly),
			attr("location", TypeReference, readOnly, refTypes("uri")),
			str("version", caseExact, readOnly),
		)),
	}
}

// NewUserSchema is the core User schema (RFC 7643 §4.1), with the
// attributes that scimgate stores and returns.
func NewUserSchema() *Schema {
	return &Schema{
		ID: UserSchema, Name: "User", Description: "User Account",
		Attributes: append(commonAttributes(),
			str("userName", required, uniqueServer, desc("Unique identifier for the User, typically used to sign in; unique per SSO connection, case-insensitively.")),
			attr("name", TypeComplex, subs(
				str("formatted"), str("familyName"), str("givenName"), str("middleName"),
				str("honorificPrefix"), str("honorificSuffix"),
			)),
			str("displayName"),
			str("nickName"),
			attr("profileUrl", TypeReference, refTypes("external")),
			str("title"),
			str("userType"),
			str("preferredLanguage"),
			str("locale"),
			str("timezone"),
			attr("active", TypeBoolean, desc("Whether the user may use the platform. false when unassigned in the IdP; the record is kept.")),
			str("password", writeOnlyNever, desc("Accepted and discarded: scimgate never stores or returns passwords.")),
			multiValued("emails", TypeString, "work", "home", "other"),
			multiValued("phoneNumbers", TypeString, "work", "home", "mobile", "fax", "pager", "other"),
			multiValued("ims", TypeString, "aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo"),
			multiValued("photos", TypeReference, "photo", "thumbnail"),
			attr("addresses", TypeComplex, multi, subs(
				str("formatted"), str("streetAddress"), str("locality"), str("region"),
				str("postalCode"), str("country"),
				str("type", canonical("work", "home", "other")),
				attr("primary", TypeBoolean),
			)),
			attr("groups", TypeComplex, multi, readOnly, desc("Groups the user is a direct member of; managed through /Groups."), subs(
				str("value", readOnly),
				attr("$ref", TypeReference, readOnly, refTypes("User", "Group")),
				str("display", readOnly),
				str("type", readOnly, canonical("direct", "indirect")),
			)),
			multiValued("entitlements", TypeString),
			multiValued("roles", TypeString),
			multiValued("x509Certificates", TypeBinary),
		),
	}
}

// NewEnterpriseUserSchema is the enterprise extension (RFC 7643 §4.3).
func NewEnterpriseUserSchema() *Schema {
	return &Schema{
		ID: EnterpriseUserSchema, Name: "EnterpriseUser", Description: "Enterprise User",
		Attributes: []*Attribute{
			str("employeeNumber"), str("costCenter"), str("organization"), str("division"), str("department"),
			attr("manager", TypeComplex, subs(
				attr("value", TypeString),
				attr("$ref", TypeReference, refTypes("User")),
				str("displayName", readOnly),
			)),
		},
	}
}

// NewGroupSchema is the core Group schema (RFC 7643 §4.2).
func NewGroupSchema() *Schema {
	return &Schema{
		ID: GroupSchema, Name: "Group", Description: "Group; a Team on the platform",
		Attributes: append(commonAttributes(),
			str("displayName", required, uniqueServer, desc("Human-readable name of the group; unique per SSO connection, case-insensitively.")),
			attr("members", TypeComplex, multi, desc("Users of the same SSO connection."), subs(
				str("value", immutable, caseExact),
				attr("$ref", TypeReference, immutable, refTypes("User")),
				str("display", immutable),
				str("type", immutable, canonical("User")),
			)),
		),
	}
}

// Schemas holds every schema scimgate serves, looked up by resource type:
// the built-in ones, and on a request for a connection that declares
// extensions (declared.go), those too.
type Schemas struct {
	User, EnterpriseUser, Group *Schema
	// ext lists the extensions of each resource type, the enterprise
	// extension first; built once, since every path resolution reads it.
	ext map[ResourceType][]*Schema
}

// NewSchemas builds the schema set.
func NewSchemas() *Schemas {
	s := &Schemas{User: NewUserSchema(), EnterpriseUser: NewEnterpriseUserSchema(), Group: NewGroupSchema()}
	s.ext = map[ResourceType][]*Schema{UserResource: {s.EnterpriseUser}}
	return s
}

// withDeclaration returns the set with d's schemas added as extensions of
// their resource types; s itself is not changed.
func (s *Schemas) withDeclaration(d *Declaration) *Schemas {
	out := &Schemas{User: s.User, EnterpriseUser: s.EnterpriseUser, Group: s.Group, ext: map[ResourceType][]*Schema{}}
	for _, typ := range []ResourceType{UserResource, GroupResource} {
		out.ext[typ] = append(slices.Clone(s.ext[typ]), d.extending(typ)...)
	}
	return out
}

// core returns the core schema of typ.
func (s *Schemas) core(typ ResourceType) *Schema {
	if typ == GroupResource {
		return s.Group
	}
	return s.User
}

// extensions returns the schema extensions allowed on typ.
func (s *Schemas) extensions(typ ResourceType) []*Schema { return s.ext[typ] }

// isDeclared reports whether ext is one of the connection's declared
// schemas rather than a built-in one.
func (s *Schemas) isDeclared(ext *Schema) bool { return ext != s.EnterpriseUser }

// extension returns the extension of typ with this URN (case-insensitively), or nil.
func (s *Schemas) extension(typ ResourceType, urn string) *Schema {
	for _, e := range s.extensions(typ) {
		if strings.EqualFold(e.ID, urn) {
			return e
		}
	}
	return nil
}

// All lists every schema in the order /Schemas returns them: the built-in
// ones, then the declared ones of User and of Group.
func (s *Schemas) All() []*Schema {
	all := []*Schema{s.User, s.Group, s.EnterpriseUser}
	for _, typ := range []ResourceType{UserResource, GroupResource} {
		for _, e := range s.ext[typ] {
			if s.isDeclared(e) {
				all = append(all, e)
			}
		}
	}
	return all
}

// unqualified finds an extension attribute of typ by its bare name, when
// exactly one extension defines it and the core schema does not.
func (s *Schemas) unqualified(typ ResourceType, name string) (*Schema, *Attribute) {
	var schema *Schema
	var found *Attribute
	for _, ext := range s.extensions(typ) {
		if a := ext.Attr(name); a != nil {
			if found != nil {
				return nil, nil
			}
			schema, found = ext, a
		}
	}
	return schema, found
}
