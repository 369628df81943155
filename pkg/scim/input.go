package scim

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// Strict input: one rule per kind of value, the same on both stores,
// checked before anything is applied or written.

// acceptedSchemas are the URNs a resource's "schemas" may list, per type.
// Besides the core schema and its extensions, what Microsoft Entra ID
// sends: the group schema URN of its provisioning service and the enterprise
// URN without its last colon, as its SCIM tutorial's user example has it.
var acceptedSchemas = map[ResourceType][]string{
	UserResource:  {UserSchema, EnterpriseUserSchema, "urn:ietf:params:scim:schemas:extension:enterprise:2.0User"},
	GroupResource: {GroupSchema, "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"},
}

// AcceptedSchemas lists the URNs a typ resource's "schemas" may hold; the
// first is its core schema, which it must hold.
func AcceptedSchemas(typ ResourceType) []string { return slices.Clone(acceptedSchemas[typ]) }

// checkResourceSchemas judges the "schemas" of a POST or PUT body (RFC 7643
// §3: the URNs of the schemas the resource uses): when present it must name
// the type's core schema and nothing scimgate does not know. A body without
// "schemas" is read as the endpoint's core schema, the one meaning it can
// have; a list that names another resource type's schema, an unknown one or
// none at all is refused rather than guessed at.
//
// undeclared, when not nil, accepts a URN it reports true for: an
// undeclared extension the connection's policy does not reject, which
// means the same listed or not (Entra does not list it).
func checkResourceSchemas(typ ResourceType, body map[string]any, undeclared func(string) bool) error {
	urns, err := schemasOf(body)
	if err != nil || urns == nil {
		return err
	}
	accepted := acceptedSchemas[typ]
	hasCore := false
	for _, urn := range urns {
		i := slices.IndexFunc(accepted, func(a string) bool { return strings.EqualFold(a, urn) })
		if i < 0 && undeclared != nil && undeclared(urn) {
			continue
		}
		if i < 0 {
			return Errorf(EInvalidValue, `"schemas" holds %q, which is not a schema of %s resources; accepted: %s`, urn, typ, strings.Join(accepted, ", "))
		}
		hasCore = hasCore || i == 0
	}
	if !hasCore {
		return Errorf(EInvalidValue, `"schemas" must hold %q, the core schema of %s resources (RFC 7643 §3)`, accepted[0], typ)
	}
	return nil
}

// checkMessageSchemas judges the "schemas" of a PATCH body, which must
// hold the PatchOp message schema (RFC 7644 §3.5.2).
func checkMessageSchemas(body map[string]any, want, what string) error {
	urns, err := schemasOf(body)
	if err != nil {
		return err
	}
	return CheckMessageSchemas(urns, want, what)
}

// CheckMessageSchemas requires the message schema want among urns (RFC
// 7644 §3.5.2, §3.4.3, §3.7: PatchOp, SearchRequest, BulkRequest bodies
// carry it), so that a body meant for another endpoint is not applied.
func CheckMessageSchemas(urns []string, want, what string) error {
	for _, urn := range urns {
		if strings.EqualFold(urn, want) {
			return nil
		}
	}
	return Errorf(EInvalidSyntax, `a %s body needs "schemas": [%q] (RFC 7644); got %q`, what, want, urns)
}

func schemasOf(body map[string]any) ([]string, error) {
	notList := Errorf(EInvalidSyntax, `"schemas" must be an array of schema URNs`)
	for key, raw := range body {
		if !strings.EqualFold(key, "schemas") {
			continue
		}
		list, ok := raw.([]any)
		if !ok {
			return nil, notList
		}
		urns := make([]string, 0, len(list)) // present, even if empty
		for _, v := range list {
			s, ok := v.(string)
			if !ok {
				return nil, notList
			}
			urns = append(urns, s)
		}
		return urns, nil
	}
	return nil, nil
}

// checkString bounds a string value and refuses control characters:
// Unicode's Cc category (C0, DEL and C1; NUL included), except tab, line
// feed and carriage return, which RFC 7643 §4.1.2 shows in a formatted
// address. path names the attribute in the error.
func checkString(path, s string) error {
	if len(s) > MaxStringBytes {
		return tooLong(path, len(s), MaxStringBytes, "maxStringBytes")
	}
	if i, r, ok := controlChar(s, true); ok {
		return Errorf(EInvalidValue, "attribute %q holds the control character U+%04X at byte %d; control characters other than tab and line breaks are not accepted", path, r, i)
	}
	return nil
}

// controlChar finds the first Cc character of s (sparing tab, LF and CR
// when spareLineBreaks), scanning bytes: C0 and DEL are single bytes, C1 is
// 0xC2 followed by 0x80-0x9F.
func controlChar(s string, spareLineBreaks bool) (int, rune, bool) {
	for i := 0; i < len(s); i++ {
		b := s[i]
		switch {
		case b < 0x20:
			if spareLineBreaks && (b == '\t' || b == '\n' || b == '\r') {
				continue
			}
			return i, rune(b), true
		case b == 0x7f:
			return i, rune(b), true
		case b == 0xc2 && i+1 < len(s) && s[i+1] >= 0x80 && s[i+1] <= 0x9f:
			r, _ := utf8.DecodeRuneInString(s[i:])
			return i, r, true
		}
	}
	return 0, 0, false
}

// checkKeyAttributes bounds the values both stores key on (userName or a
// group's displayName, and externalId), and the key NameKey derives, by
// MaxKeyBytes, and refuses any control character in them. Which
// characters a name may hold beyond that is checkName's (PRECIS) rule.
func checkKeyAttributes(typ ResourceType, attrs map[string]any) error {
	name, _ := attrs[UniqueAttrName(typ)].(string)
	ext, _ := attrs["externalId"].(string)
	for _, kv := range [][2]string{{UniqueAttrName(typ), name}, {"externalId", ext}} {
		if len(kv[1]) > MaxKeyBytes {
			return tooLong(kv[0], len(kv[1]), MaxKeyBytes, "maxKeyBytes")
		}
		if i, r, ok := controlChar(kv[1], false); ok {
			return Errorf(EInvalidValue, "attribute %q holds the control character U+%04X at byte %d; it is an identifier and may hold none", kv[0], r, i)
		}
	}
	if key := NameKey(typ, name); len(key) > MaxKeyBytes {
		return Errorf(EInvalidValue, "attribute %q takes %d bytes once normalised for comparison; at most %d are accepted (limit maxKeyBytes)", UniqueAttrName(typ), len(key), MaxKeyBytes)
	}
	return nil
}

// checkResourceSize bounds what a store keeps of a resource: the JSON of
// its attributes (both stores store exactly that), so that no store can
// refuse it later (DynamoDB's item limit) and no read of it is costly.
func checkResourceSize(typ ResourceType, attrs map[string]any) error {
	b, err := json.Marshal(attrs)
	if err != nil {
		return fmt.Errorf("measure %s: %w", typ, err)
	}
	if len(b) <= MaxResourceBytes {
		return nil
	}
	largest, largestSize := "", 0
	for name, v := range attrs {
		if vb, err := json.Marshal(v); err == nil && len(vb) > largestSize {
			largest, largestSize = name, len(vb)
		}
	}
	return Errorf(ETooLarge, "the %s would be stored as %d bytes of attributes; at most %d are accepted (limit maxResourceBytes); its largest attribute is %q (%d bytes)", strings.ToLower(string(typ)), len(b), MaxResourceBytes, largest, largestSize)
}

// checkPatchLimits bounds a PATCH before any operation is applied: the
// operations, the values and members they carry, and the filters in their
// paths, so that applying it costs at most operations x (stored + carried
// values) x filter terms (BenchmarkWorstCasePatch).
func checkPatchLimits(ops []patchOp) error {
	if len(ops) > MaxPatchOperations {
		return tooMany("maxPatchOperations", MaxPatchOperations, len(ops), "operations in one PATCH", "split the change into several PATCH requests")
	}
	values, members, pathBytes := 0, 0, 0
	for _, op := range ops {
		if len(op.path) > MaxPatchPathBytes {
			return tooMany("maxPatchPathBytes", MaxPatchPathBytes, len(op.path), fmt.Sprintf("operation %d: path length in bytes", op.index), "use a shorter path")
		}
		if !singleMemberPath().MatchString(op.path) {
			pathBytes += len(op.path)
		}
		if op.path != "" {
			if err := checkFilterShape(op.path, fmt.Sprintf("operation %d: path", op.index)); err != nil {
				return err
			}
		}
		if op.path != "" && isMembersPath(op.path) {
			members += len(asList(op.value))
			continue
		}
		if obj, ok := op.value.(map[string]any); ok && op.path == "" {
			for k, v := range obj {
				// Each key of a path-less value is read as a path
				// ("name.givenName"), and so is each key of an extension
				// object in it.
				if len(k) > MaxPatchPathBytes {
					return tooMany("maxPatchPathBytes", MaxPatchPathBytes, len(k), fmt.Sprintf("operation %d: attribute name length in bytes", op.index), "use a shorter path")
				}
				pathBytes += len(k)
				if ext, isObj := v.(map[string]any); isObj && strings.Contains(k, ":") {
					for sk := range ext {
						pathBytes += len(k) + 1 + len(sk)
					}
				}
				if isMembersPath(k) {
					members += len(asList(v))
				} else if list, isList := v.([]any); isList {
					values += len(list)
				}
			}
			continue
		}
		values += len(asList(op.value))
	}
	if pathBytes > MaxPatchPathsBytes {
		return tooMany("maxPatchPathsBytes", MaxPatchPathsBytes, pathBytes, "bytes of the paths of one PATCH", "split the change into several PATCH requests")
	}
	if values > MaxPatchValues {
		return tooMany("maxPatchValues", MaxPatchValues, values, "values carried by the operations of one PATCH", "split the change into several PATCH requests")
	}
	if members > MaxMembersPerRequest {
		return tooMany("maxMembersPerRequest", MaxMembersPerRequest, members, "members named by one PATCH", "add or remove members in several PATCH requests")
	}
	return nil
}

// checkFilterShape bounds a filter (or a PATCH path, whose [filter] is one)
// by its length, its comparisons and its nesting, before it is parsed. It
// counts outside string literals: comparison operators (RFC 7644
// §3.4.2.2's eq ... pr) as words, nesting as unclosed "(" and "[" (a "not"
// always opens a parenthesis).
func checkFilterShape(raw, what string) error {
	if len(raw) > MaxFilterBytes {
		return tooMany("maxFilterBytes", MaxFilterBytes, len(raw), what+" length in bytes", "filter on userName, externalId or id, or split the request")
	}
	terms, depth, maxDepth := 0, 0, 0
	for i := 0; i < len(raw); {
		c := raw[i]
		switch {
		case c == '"':
			i++
			for i < len(raw) && raw[i] != '"' {
				if raw[i] == '\\' {
					i++
				}
				i++
			}
			i++
		case c == '(' || c == '[':
			depth++
			maxDepth = max(maxDepth, depth)
			i++
		case c == ')' || c == ']':
			depth--
			i++
		case c == ' ':
			i++
		default:
			j := i
			for j < len(raw) && !strings.ContainsRune(` ()[]"`, rune(raw[j])) {
				j++
			}
			if comparisonOperators[strings.ToLower(raw[i:j])] || strings.EqualFold(raw[i:j], "pr") {
				terms++
			}
			i = j
		}
	}
	if terms > MaxFilterTerms {
		return tooMany("maxFilterTerms", MaxFilterTerms, terms, what+" comparisons", "filter on userName, externalId or id, or split the request")
	}
	if maxDepth > MaxFilterDepth {
		return tooMany("maxFilterDepth", MaxFilterDepth, maxDepth, what+" nesting depth", "flatten the filter")
	}
	return nil
}
