package observed

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/scimgate/scimgate/pkg/scim"
)

// Declaration builds RFC 7643 §7 Schema resources from observed entries:
// one per URN, with "x-resourceType" naming the resource type it was seen
// on, so that `connection schema set --from-observed` declares what the IdP
// sends. Each attribute is readWrite and returned by default, not
// required, not caseExact; its type follows its JSON type:
//
//	string  -> string
//	boolean -> boolean
//	number  -> decimal (the observer sees only "number"; an integral value
//	           is a valid decimal, so no number sent is refused)
//	array   -> multiValued string (the observer does not see element
//	           types; strings are what Entra and Okta send in multi-valued
//	           custom attributes)
//	object  -> complex, which needs sub-attributes the observer does not
//	           see: such a schema is left out (below)
//
// A declared schema refuses an attribute it does not define, so a schema
// that cannot be copied whole is left out (it stays undeclared, and kept
// as sent under the store policy), with a note saying why: an object
// attribute, a name RFC 7643 §2.1 does not allow, an id scim.ParseDeclaration
// refuses, a URN seen on both Users and Groups (a schema id extends one).
// An attribute observed with several JSON types takes the one counted most
// often (the latest seen on a tie), with a note: a declaration has one type
// per attribute. Notes name URNs and attributes, never values. The output
// is ordered (User first, then URN), so it is stable.
func Declaration(entries []Entry) (schemas []json.RawMessage, notes []string) {
	type schemaKey struct {
		typ scim.ResourceType
		urn string // lower case
	}
	type attrChoice struct {
		entry Entry           // the chosen type's entry; Attribute as first listed
		types map[string]bool // JSON types observed
	}
	bySchema := map[schemaKey]map[string]*attrChoice{}
	urnSpelling := map[schemaKey]string{}
	typesOfURN := map[string]map[scim.ResourceType]bool{}
	for _, e := range entries {
		if !ValidJSONType(e.JSONType) || e.URN == "" || e.Attribute == "" {
			continue
		}
		typ := e.ResourceType
		if typ != scim.GroupResource {
			typ = scim.UserResource
		}
		sk := schemaKey{typ, strings.ToLower(e.URN)}
		if _, ok := urnSpelling[sk]; !ok {
			urnSpelling[sk] = e.URN
		}
		if typesOfURN[sk.urn] == nil {
			typesOfURN[sk.urn] = map[scim.ResourceType]bool{}
		}
		typesOfURN[sk.urn][typ] = true
		attrs := bySchema[sk]
		if attrs == nil {
			attrs = map[string]*attrChoice{}
			bySchema[sk] = attrs
		}
		lower := strings.ToLower(e.Attribute)
		c := attrs[lower]
		if c == nil {
			attrs[lower] = &attrChoice{entry: e, types: map[string]bool{e.JSONType: true}}
			continue
		}
		c.types[e.JSONType] = true
		if e.Count > c.entry.Count || (e.Count == c.entry.Count && e.LastSeen.After(c.entry.LastSeen)) {
			c.entry.JSONType, c.entry.Count, c.entry.LastSeen = e.JSONType, e.Count, e.LastSeen
		}
	}

	keys := make([]schemaKey, 0, len(bySchema))
	for k := range bySchema {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].typ != keys[j].typ {
			return keys[i].typ > keys[j].typ // User before Group
		}
		return keys[i].urn < keys[j].urn
	})
	schemas = make([]json.RawMessage, 0, len(keys))
	for _, k := range keys {
		urn := urnSpelling[k]
		if k.typ == scim.GroupResource && typesOfURN[k.urn][scim.UserResource] {
			notes = append(notes, fmt.Sprintf("%s (Group) is not declared: the same URN was sent for Users, and a schema id extends one resource type; declare it with --file", urn))
			continue
		}
		attrs := bySchema[k]
		names := make([]string, 0, len(attrs))
		for n := range attrs {
			names = append(names, n)
		}
		sort.Strings(names)
		list := make([]map[string]any, 0, len(names))
		var attrNotes []string
		leftOut := ""
		for _, n := range names {
			c := attrs[n]
			if c.entry.JSONType == TypeObject {
				leftOut = fmt.Sprintf("its attribute %s is an object, whose sub-attributes are not observed", c.entry.Attribute)
				break
			}
			if len(c.types) > 1 {
				seen := make([]string, 0, len(c.types))
				for t := range c.types {
					seen = append(seen, t)
				}
				sort.Strings(seen)
				attrNotes = append(attrNotes, fmt.Sprintf("%s:%s (%s) was sent as %s; declared as the most frequent, %s: values of the other types will be refused",
					urn, c.entry.Attribute, k.typ, strings.Join(seen, " and "), c.entry.JSONType))
			}
			list = append(list, schemaAttribute(c.entry.Attribute, c.entry.JSONType))
		}
		var b []byte
		if leftOut == "" {
			var err error
			b, err = json.Marshal(map[string]any{
				"id":             urn,
				"name":           schemaName(urn),
				"description":    fmt.Sprintf("Declared from the attributes observed on %s resources", k.typ),
				"attributes":     list,
				"x-resourceType": string(k.typ),
			})
			if err != nil {
				leftOut = err.Error() // maps of strings and bools always encode
			} else if _, err := scim.ParseDeclaration(b); err != nil {
				leftOut = scim.ErrorDetailOf(err)
			}
		}
		if leftOut != "" {
			notes = append(notes, fmt.Sprintf("%s (%s) is not declared: %s; declare it with --file", urn, k.typ, leftOut))
			continue
		}
		notes = append(notes, attrNotes...)
		schemas = append(schemas, b)
	}
	return schemas, notes
}

// schemaAttribute is one attribute definition (RFC 7643 §7 "attributes").
func schemaAttribute(name, jsonType string) map[string]any {
	a := map[string]any{
		"name":        name,
		"multiValued": false,
		"description": "",
		"required":    false,
		"mutability":  "readWrite",
		"returned":    "default",
	}
	switch jsonType {
	case TypeBoolean:
		a["type"] = "boolean"
	case TypeNumber:
		a["type"] = "decimal"
	case TypeArray:
		a["type"] = "string"
		a["multiValued"] = true
		a["caseExact"] = false
	default:
		a["type"] = "string"
		a["caseExact"] = false
	}
	return a
}

// schemaName is a readable name for a URN: its last part that is not a
// resource type or a version ("CustomExtensionName" of
// urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User).
func schemaName(urn string) string {
	parts := strings.Split(urn, ":")
	for i := len(parts) - 1; i >= 0; i-- {
		p := parts[i]
		if p == "" || strings.EqualFold(p, "User") || strings.EqualFold(p, "Group") || strings.Trim(p, "0123456789.") == "" {
			continue
		}
		return p
	}
	return urn
}
