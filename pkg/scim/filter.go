package scim

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	filter "github.com/scim2/filter-parser/v2"
)

// The filter grammar (RFC 7644 §3.4.2.2) is parsed by
// github.com/scim2/filter-parser, the parser elimity-com/scim uses: a
// maintained, complete ABNF implementation beats a hand-written one. This
// file resolves its AST against the schemas once ("compile"), so unknown
// attributes are refused up front, and evaluates the result in memory, the
// one place both stores share.

// condition is a compiled filter node.
type condition interface {
	eval(scope map[string]any) bool
}

type andCond struct{ left, right condition }
type orCond struct{ left, right condition }
type notCond struct{ inner condition }

// compareCond compares the values at path with value using op.
type compareCond struct {
	path  attrPath
	def   *Attribute
	op    filter.CompareOperator
	value any
	// nameOf is set when path is the unique name of that resource type
	// (userName, a group's displayName): eq then compares by NameKey, the
	// rule under which the stores keep the name unique.
	nameOf  ResourceType
	nameKey string // NameKey of the literal, when nameOf is set
	// lowerValue is the literal lowercased, for case-insensitive attributes.
	lowerValue string
	// lower caches lowercased stored values for the evaluation of one
	// document, shared by every comparison of a compiled filter: without
	// it, n co/sw/ew terms lowercased a long value n times. nil in PATCH
	// paths, which evaluate few short values.
	lower *lowerCache
}

// lowerCache maps stored strings to their lowercase during one Matches.
type lowerCache struct{ m map[string]string }

func (c *lowerCache) get(s string) string {
	if c == nil {
		return strings.ToLower(s)
	}
	if l, ok := c.m[s]; ok {
		return l
	}
	l := strings.ToLower(s)
	c.m[s] = l
	return l
}

// valuePathCond is true when some element of a multi-valued complex
// attribute satisfies inner, e.g. emails[type eq "work"].
type valuePathCond struct {
	path  attrPath
	inner condition
}

func (c andCond) eval(s map[string]any) bool { return c.left.eval(s) && c.right.eval(s) }
func (c orCond) eval(s map[string]any) bool  { return c.left.eval(s) || c.right.eval(s) }
func (c notCond) eval(s map[string]any) bool { return !c.inner.eval(s) }

// attrPath locates a value within a scope: an optional extension container,
// an attribute and an optional sub-attribute.
type attrPath struct {
	container string // extension URN holding the attribute, or "" for core
	name      string
	sub       string
}

// values returns every value at p in scope, flattening multi-valued attributes.
func (p attrPath) values(scope map[string]any) []any {
	if p.container != "" {
		ext, _ := scope[p.container].(map[string]any)
		if ext == nil {
			return nil
		}
		scope = ext
	}
	v, ok := scope[p.name]
	if !ok || v == nil {
		return nil
	}
	items, isList := v.([]any)
	if !isList {
		items = []any{v}
	}
	if p.sub == "" {
		return items
	}
	var out []any
	for _, item := range items {
		if obj, ok := item.(map[string]any); ok {
			if sv, ok := obj[p.sub]; ok && sv != nil {
				out = append(out, sv)
			}
		}
	}
	return out
}

// Filter is a compiled filter for one resource type.
type Filter struct {
	cond condition
	// lookup, when set, names a unique attribute compared with eq in a
	// top-level conjunct: the filter can be answered by one key lookup.
	lookup *keyLookup
	// needsMembers: the filter names group members, so they must be loaded.
	needsMembers bool
	lower        *lowerCache
}

type keyLookup struct {
	attr  string // "id", "externalId", or the type's unique name attribute
	value string
}

// Matches evaluates the filter against a resource document (see Document).
// A Filter is evaluated by one goroutine at a time.
func (f *Filter) Matches(doc map[string]any) bool {
	if f.lower != nil {
		clear(f.lower.m)
	}
	return f.cond.eval(doc)
}

// CompileFilter parses and resolves a filter expression for typ.
func (s *Service) CompileFilter(ctx context.Context, typ ResourceType, raw string) (*Filter, error) {
	s, err := s.scoped(ctx)
	if err != nil {
		return nil, err
	}
	return s.compileFilter(typ, raw, false)
}

// compileFilter: with unknownIsFalse, a comparison on an attribute typ does
// not have is false instead of an error, as a search across resource types
// needs (RFC 7644 §3.4.3: userName simply matches no group).
func (s *Service) compileFilter(typ ResourceType, raw string, unknownIsFalse bool) (*Filter, error) {
	// A filter is UTF-8 text (RFC 7644 §3.4.2.2 compares strings; RFC 3986
	// §2.5 percent-encodes UTF-8). Bytes that are not UTF-8 can equal no
	// stored value, and matching nothing would tell the IdP the user does
	// not exist: refuse them, as invalid UTF-8 in a body is refused.
	if !utf8.ValidString(raw) {
		return nil, Errorf(EInvalidFilter, "the filter is not valid UTF-8 (first bad byte at offset %d); percent-encode the UTF-8 bytes of each character", firstInvalidUTF8([]byte(raw)))
	}
	if err := checkFilterShape(raw, "filter"); err != nil {
		return nil, err
	}
	expr, simple := simpleExpression(raw)
	if !simple {
		var err error
		if expr, err = parseExpression(raw); err != nil {
			return nil, err
		}
	}
	lower := &lowerCache{m: map[string]string{}}
	c := compiler{s: s, typ: typ, unknownIsFalse: unknownIsFalse, lower: lower}
	cond, err := c.compile(expr, nil)
	if err != nil {
		return nil, err
	}
	return &Filter{cond: cond, lookup: findKeyLookup(cond, typ), needsMembers: typ == GroupResource && namesMembers(cond), lower: lower}, nil
}

// parseExpression parses a filter with the full grammar, tolerating what
// Entra ID sends that the grammar lacks: unquoted values (userName eq
// Test_User) and a comparison after a value filter (emails[type eq
// "work"].value eq "x"), which are rewritten and parsed again.
func parseExpression(raw string) (filter.Expression, error) {
	expr, err := filter.ParseFilter([]byte(raw))
	if err == nil {
		return expr, nil
	}
	rewritten, rewroteValuePath := rewriteValuePathComparison(raw)
	quoted, changed := quoteBareValues(rewritten)
	if !changed && !rewroteValuePath {
		return nil, filterSyntaxError(raw, err)
	}
	expr, retryErr := filter.ParseFilter([]byte(quoted))
	if retryErr != nil {
		return nil, filterSyntaxError(raw, err)
	}
	return expr, nil
}

// simpleComparison is `attr op "value"` and `attr.sub op "value"` with a
// value free of escapes: nearly every filter Okta and Entra send
// (userName eq "..."). Building its expression directly spares the general
// parser's two thousand allocations per request; the result is the very
// expression the parser would build (TestSimpleExpressionMatchesParser).
var simpleComparison = lazyRegexp(`^([A-Za-z][A-Za-z0-9_-]*)(?:\.([A-Za-z][A-Za-z0-9_-]*))? ((?i:eq|ne|co|sw|ew|gt|ge|lt|le)) "([\x20\x21\x23-\x5b\x5d-\x{10FFFF}]*)"$`)

func simpleExpression(raw string) (filter.Expression, bool) {
	m := simpleComparison().FindStringSubmatch(raw)
	if m == nil {
		return nil, false
	}
	path := filter.AttributePath{AttributeName: m[1]}
	if m[2] != "" {
		sub := m[2]
		path.SubAttribute = &sub
	}
	return &filter.AttributeExpression{AttributePath: path, Operator: filter.CompareOperator(strings.ToLower(m[3])), CompareValue: m[4]}, true
}

type compiler struct {
	s              *Service
	typ            ResourceType
	unknownIsFalse bool
	lower          *lowerCache // see compareCond.lower
}

// falseCond matches nothing.
type falseCond struct{}

func (falseCond) eval(map[string]any) bool { return false }

// compile resolves expr; within a value path, parent is the complex attribute
// whose sub-attributes the inner expression names.
func (c compiler) compile(expr filter.Expression, parent *Attribute) (condition, error) {
	switch x := expr.(type) {
	case *filter.LogicalExpression:
		l, err := c.compile(x.Left, parent)
		if err != nil {
			return nil, err
		}
		r, err := c.compile(x.Right, parent)
		if err != nil {
			return nil, err
		}
		if strings.EqualFold(string(x.Operator), "or") {
			return orCond{l, r}, nil
		}
		return andCond{l, r}, nil
	case *filter.NotExpression:
		inner, err := c.compile(x.Expression, parent)
		if err != nil {
			return nil, err
		}
		return notCond{inner}, nil
	case *filter.ValuePath:
		if parent != nil {
			return nil, Errorf(EInvalidFilter, "filter %q nests a value filter inside another", x.String())
		}
		path, def, err := c.resolve(x.AttributePath, nil, true)
		if err != nil && c.unknownIsFalse {
			return falseCond{}, nil
		}
		if err != nil {
			return nil, err
		}
		if def.Type != TypeComplex || path.sub != "" {
			return nil, Errorf(EInvalidFilter, "%q is not a complex attribute and cannot take a [filter]", x.AttributePath.String())
		}
		inner, err := c.compile(x.ValueFilter, def)
		if err != nil {
			return nil, err
		}
		return valuePathCond{path: path, inner: inner}, nil
	case *filter.AttributeExpression:
		path, def, err := c.resolve(x.AttributePath, parent, false)
		if err != nil && c.unknownIsFalse && parent == nil {
			return falseCond{}, nil
		}
		if err != nil {
			return nil, err
		}
		op := filter.CompareOperator(strings.ToLower(string(x.Operator)))
		value := x.CompareValue
		if s, ok := value.(string); ok && strings.Contains(s, `\`) {
			// The parser keeps JSON escapes in string literals; undo them.
			var unquoted string
			if json.Unmarshal([]byte(`"`+s+`"`), &unquoted) == nil {
				value = unquoted
			}
		}
		if err := checkComparable(def, op, value, x.AttributePath.String()); err != nil {
			return nil, err
		}
		cond := compareCond{path: path, def: def, op: op, value: value, lower: c.lower}
		if l, ok := value.(string); ok && !def.CaseExact {
			cond.lowerValue = strings.ToLower(l)
		}
		if parent == nil && path.container == "" && path.sub == "" && path.name == UniqueAttrName(c.typ) {
			cond.nameOf = c.typ
			if s, ok := value.(string); ok {
				cond.nameKey = NameKey(c.typ, s)
			}
		}
		return cond, nil
	}
	return nil, Errorf(EInvalidFilter, "unsupported filter expression")
}

func (c compiler) resolve(p filter.AttributePath, parent *Attribute, valuePath bool) (attrPath, *Attribute, error) {
	if parent != nil {
		// Inside emails[...]: names are sub-attributes of emails.
		if p.URIPrefix != nil || p.SubAttribute != nil {
			return attrPath{}, nil, Errorf(EInvalidFilter, "%q: inside a value filter only sub-attributes of %q may be named", p.String(), parent.Name)
		}
		sub := parent.Sub(p.AttributeName)
		if sub == nil {
			return attrPath{}, nil, Errorf(EInvalidFilter, "%q has no sub-attribute %q", parent.Name, p.AttributeName)
		}
		return attrPath{name: sub.Name}, sub, nil
	}
	full := p.AttributeName
	if p.SubAttribute != nil {
		full += "." + *p.SubAttribute
	}
	if p.URIPrefix != nil {
		full = *p.URIPrefix + ":" + full
	}
	ref, def, err := c.s.resolvePath(c.typ, full)
	if err != nil {
		return attrPath{}, nil, Errorf(EInvalidFilter, "%s", detailOf{err})
	}
	if def.Type == TypeComplex && def.MultiValued && ref.sub == "" && !valuePath {
		// RFC 7644 §3.4.2.2: a multi-valued complex attribute compared
		// directly (emails co "example.com") means its "value" sub-attribute.
		if v := def.Sub("value"); v != nil {
			ref.sub, def = v.Name, v
		}
	}
	path := attrPath{name: ref.name, sub: ref.sub}
	if ref.schema != c.s.schemas.core(c.typ).ID {
		path.container = ref.schema
	}
	return path, def, nil
}

// checkComparable rejects comparisons RFC 7644 §3.4.2.2 leaves undefined
// rather than silently matching nothing.
func checkComparable(def *Attribute, op filter.CompareOperator, value any, path string) error {
	switch op {
	case filter.PR:
		return nil
	case filter.EQ, filter.NE, filter.CO, filter.SW, filter.EW, filter.GT, filter.GE, filter.LT, filter.LE:
	default:
		return Errorf(EInvalidFilter, "unknown comparison operator %q", op)
	}
	if def.Type == TypeComplex {
		return Errorf(EInvalidFilter, "%q is a complex attribute; compare one of its sub-attributes instead", path)
	}
	if value == nil {
		if op != filter.EQ && op != filter.NE {
			return Errorf(EInvalidFilter, "%q: null can only be compared with eq or ne", path)
		}
		return nil
	}
	switch def.Type {
	case TypeBoolean:
		if _, ok := value.(bool); !ok {
			return Errorf(EInvalidFilter, "%q is boolean; compare it with true or false", path)
		}
		if op != filter.EQ && op != filter.NE {
			return Errorf(EInvalidFilter, "%q is boolean; only eq and ne apply", path)
		}
	case TypeInteger, TypeDecimal:
		if _, ok := toFloat(value); !ok {
			return Errorf(EInvalidFilter, "%q is a number; compare it with a number", path)
		}
	case TypeBinary:
		if op != filter.EQ && op != filter.NE {
			return Errorf(EInvalidFilter, "%q is binary; only eq and ne apply", path)
		}
	case TypeDateTime:
		s, ok := value.(string)
		if !ok {
			return Errorf(EInvalidFilter, "%q is a dateTime; compare it with a quoted xsd:dateTime", path)
		}
		if op != filter.CO && op != filter.SW && op != filter.EW {
			if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
				return Errorf(EInvalidFilter, "%q is a dateTime; %q is not an xsd:dateTime such as 2026-11-02T10:00:00Z", path, s)
			}
		}
	default:
		if _, ok := value.(string); !ok {
			return Errorf(EInvalidFilter, "%q is a string; compare it with a quoted string", path)
		}
	}
	return nil
}

func (c compareCond) eval(scope map[string]any) bool {
	values := c.path.values(scope)
	switch c.op {
	case filter.PR:
		for _, v := range values {
			if !isEmpty(v) {
				return true
			}
		}
		return false
	case filter.NE:
		return !c.anyMatch(values, filter.EQ)
	}
	if c.value == nil {
		return len(values) == 0 // "eq null": unassigned
	}
	return c.anyMatch(values, c.op)
}

func (c compareCond) anyMatch(values []any, op filter.CompareOperator) bool {
	if c.value == nil {
		return len(values) == 0
	}
	for _, v := range values {
		if c.nameOf != "" && op == filter.EQ {
			if s, ok := v.(string); ok && sameName(c.nameOf, s, c.nameKey) {
				return true
			}
			continue
		}
		if s, ok := v.(string); ok && c.lowerValue != "" && (op == filter.CO || op == filter.SW || op == filter.EW) && c.def.Type != TypeDateTime {
			if stringCompare(op, c.lower.get(s), c.lowerValue, true) {
				return true
			}
			continue
		}
		if compare(c.def, op, v, c.value) {
			return true
		}
	}
	return false
}

func (c valuePathCond) eval(scope map[string]any) bool {
	for _, item := range c.path.values(scope) {
		if obj, ok := item.(map[string]any); ok && c.inner.eval(obj) {
			return true
		}
	}
	return false
}

func isEmpty(v any) bool {
	switch t := v.(type) {
	case nil:
		return true
	case string:
		return t == ""
	case []any:
		return len(t) == 0
	case map[string]any:
		return len(t) == 0
	}
	return false
}

// compare applies op to a stored value and a filter literal, by the attribute's type.
func compare(def *Attribute, op filter.CompareOperator, stored, literal any) bool {
	switch def.Type {
	case TypeBoolean:
		b, ok := stored.(bool)
		return ok && op == filter.EQ && b == literal.(bool)
	case TypeInteger, TypeDecimal:
		a, ok1 := toFloat(stored)
		b, ok2 := toFloat(literal)
		if !ok1 || !ok2 {
			return false
		}
		return orderedCompare(op, cmpFloat(a, b))
	case TypeDateTime:
		s, _ := stored.(string)
		l, _ := literal.(string)
		if op == filter.CO || op == filter.SW || op == filter.EW {
			return stringCompare(op, s, l, true)
		}
		a, err1 := time.Parse(time.RFC3339Nano, s)
		b, err2 := time.Parse(time.RFC3339Nano, l)
		if err1 != nil || err2 != nil {
			return false
		}
		return orderedCompare(op, a.Compare(b))
	default:
		s, ok := stored.(string)
		l, _ := literal.(string)
		if !ok {
			return false
		}
		return stringCompare(op, s, l, def.CaseExact)
	}
}

func stringCompare(op filter.CompareOperator, s, l string, exact bool) bool {
	if !exact && op == filter.EQ {
		// Compared in place: lowercasing a long stored value once per term
		// made a filter's cost terms x value length.
		return strings.EqualFold(s, l)
	}
	if !exact {
		s, l = strings.ToLower(s), strings.ToLower(l)
	}
	switch op {
	case filter.EQ:
		return s == l
	case filter.CO:
		return strings.Contains(s, l)
	case filter.SW:
		return strings.HasPrefix(s, l)
	case filter.EW:
		return strings.HasSuffix(s, l)
	}
	return orderedCompare(op, strings.Compare(s, l))
}

func orderedCompare(op filter.CompareOperator, c int) bool {
	switch op {
	case filter.EQ:
		return c == 0
	case filter.GT:
		return c > 0
	case filter.GE:
		return c >= 0
	case filter.LT:
		return c < 0
	case filter.LE:
		return c <= 0
	}
	return false
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func toFloat(v any) (float64, bool) {
	switch n := v.(type) {
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	case float64:
		return n, true
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	}
	return 0, false
}

// findKeyLookup finds, among the top-level conjuncts of cond, an eq on an
// attribute the stores index uniquely; the filter is then answered by a key
// lookup and evaluated in full on at most one resource.
func findKeyLookup(cond condition, typ ResourceType) *keyLookup {
	switch c := cond.(type) {
	case andCond:
		if l := findKeyLookup(c.left, typ); l != nil {
			return l
		}
		return findKeyLookup(c.right, typ)
	case compareCond:
		value, ok := c.value.(string)
		if c.op != filter.EQ || !ok || c.path.container != "" || c.path.sub != "" {
			return nil
		}
		switch c.path.name {
		case "id", "externalId", UniqueAttrName(typ):
			return &keyLookup{attr: c.path.name, value: value}
		}
	}
	return nil
}

func namesMembers(cond condition) bool {
	switch c := cond.(type) {
	case andCond:
		return namesMembers(c.left) || namesMembers(c.right)
	case orCond:
		return namesMembers(c.left) || namesMembers(c.right)
	case notCond:
		return namesMembers(c.inner)
	case compareCond:
		return c.path.name == "members"
	case valuePathCond:
		return c.path.name == "members"
	}
	return false
}

// parserPosition finds "[line:column]" in the parser's error message.
var parserPosition = lazyRegexp(`\[\d+:(\d+)\]`)

// filterSyntaxError points at where parsing stopped instead of repeating
// the parser's internal wording.
func filterSyntaxError(raw string, err error) error {
	if m := parserPosition().FindStringSubmatch(err.Error()); m != nil {
		if pos, convErr := strconv.Atoi(m[1]); convErr == nil && pos <= len(raw) {
			rest := raw[pos:]
			if len(rest) > 30 {
				rest = rest[:30] + "…"
			}
			return Errorf(EInvalidFilter, "filter %q is not valid SCIM filter syntax (RFC 7644 §3.4.2.2): it cannot be read from character %d on (%q); quote string values and check operators and parentheses", raw, pos, rest)
		}
	}
	return Errorf(EInvalidFilter, "filter %q is not valid SCIM filter syntax (RFC 7644 §3.4.2.2)", raw)
}

var comparisonOperators = map[string]bool{"eq": true, "ne": true, "co": true, "sw": true, "ew": true, "gt": true, "ge": true, "lt": true, "le": true}

// quoteBareValues quotes a bare word that follows a comparison operator and
// is not true, false, null or a number. It reports whether it changed anything.
func quoteBareValues(raw string) (string, bool) {
	var b strings.Builder
	changed := false
	prevWord := ""
	for i := 0; i < len(raw); {
		c := raw[i]
		switch {
		case c == '"':
			j := i + 1
			for j < len(raw) && raw[j] != '"' {
				if raw[j] == '\\' {
					j++
				}
				j++
			}
			j = min(j+1, len(raw))
			b.WriteString(raw[i:j])
			i, prevWord = j, ""
		case c == ' ' || c == '(' || c == ')' || c == '[' || c == ']':
			b.WriteByte(c)
			i++
			if c != ' ' {
				prevWord = ""
			}
		default:
			j := i
			for j < len(raw) && !strings.ContainsRune(` ()[]"`, rune(raw[j])) {
				j++
			}
			word := raw[i:j]
			lower := strings.ToLower(word)
			_, numErr := strconv.ParseFloat(word, 64)
			if comparisonOperators[strings.ToLower(prevWord)] && lower != "true" && lower != "false" && lower != "null" && numErr != nil {
				b.WriteString(strconv.Quote(word))
				changed = true
			} else {
				b.WriteString(word)
			}
			i, prevWord = j, word
		}
	}
	return b.String(), changed
}

// valuePathComparison matches attr[filter].sub op value, which Entra sends to
// match on a work email, and which RFC 7644's grammar writes attr[filter and sub op value].
var valuePathComparison = lazyRegexp(`([A-Za-z0-9:._$-]+)\[([^\[\]]*)\]\.([A-Za-z0-9_$]+)(\s+(?i:pr)\b|\s+(?i:eq|ne|co|sw|ew|gt|ge|lt|le)\s+("(?:[^"\\]|\\.)*"|[^\s()\[\]]+))`)

func rewriteValuePathComparison(raw string) (string, bool) {
	changed := false
	out := valuePathComparison().ReplaceAllStringFunc(raw, func(m string) string {
		sub := valuePathComparison().FindStringSubmatch(m)
		if strings.Contains(strings.ToLower(sub[2]), " or ") {
			return m // "a or b and c" would change meaning; leave it to fail
		}
		changed = true
		return sub[1] + "[" + sub[2] + " and " + sub[3] + sub[4] + "]"
	})
	return out, changed
}

// sameName reports whether stored has the name key key. An ASCII name
// without leading, trailing or doubled spaces keys as its lowercase under
// both profiles (and under the strings.ToLower fallback), so a filter that
// scans many resources compares it in place instead of running PRECIS.
func sameName(typ ResourceType, stored, key string) bool {
	if isPlainASCII(stored) {
		return strings.EqualFold(stored, key)
	}
	return NameKey(typ, stored) == key
}

func isPlainASCII(s string) bool {
	if s == "" || s[0] == ' ' || s[len(s)-1] == ' ' || strings.Contains(s, "  ") {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
