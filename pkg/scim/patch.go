package scim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"

	filter "github.com/scim2/filter-parser/v2"
)

// patchOp is one PATCH operation (RFC 7644 §3.5.2).
type patchOp struct {
	op    string // add, replace or remove (lowercased: Entra sends "Replace")
	path  string
	value any
	index int
}

// parsePatch reads a PatchOp message.
func parsePatch(body []byte) ([]patchOp, error) {
	obj, err := decodeObject(body)
	if err != nil {
		return nil, err
	}
	if err := checkMessageSchemas(obj, PatchOpSchema, "PATCH"); err != nil {
		return nil, err
	}
	var rawOps []any
	found := false
	for k, v := range obj {
		switch strings.ToLower(k) {
		case "operations":
			list, ok := v.([]any)
			if !ok {
				return nil, Errorf(EInvalidSyntax, `"Operations" must be an array of operations`)
			}
			rawOps, found = list, true
		}
	}
	if !found {
		return nil, Errorf(EInvalidSyntax, `a PATCH body needs "schemas": ["%s"] and an "Operations" array`, PatchOpSchema)
	}
	ops := make([]patchOp, 0, len(rawOps))
	for i, raw := range rawOps {
		m, ok := raw.(map[string]any)
		if !ok {
			return nil, Errorf(EInvalidSyntax, "operation %d must be a JSON object", i+1)
		}
		op := patchOp{index: i + 1}
		hasValue := false
		for k, v := range m {
			switch strings.ToLower(k) {
			case "op":
				s, _ := v.(string)
				op.op = strings.ToLower(s)
			case "path":
				s, ok := v.(string)
				if !ok {
					return nil, Errorf(EInvalidPath, "operation %d: path must be a string", i+1)
				}
				op.path = strings.TrimSpace(s)
			case "value":
				op.value, hasValue = v, true
			}
		}
		switch op.op {
		case "add", "replace":
			if !hasValue {
				return nil, Errorf(EInvalidValue, "operation %d (%s) needs a value", i+1, op.op)
			}
		case "remove":
		default:
			return nil, Errorf(EInvalidSyntax, `operation %d: op must be "add", "replace" or "remove"; got %q`, i+1, op.op)
		}
		ops = append(ops, op)
	}
	if err := checkPatchLimits(ops); err != nil {
		return nil, err
	}
	return ops, nil
}

// needsAllMembers reports whether ops can only be applied knowing the
// group's whole member list. Adds and removals by id do not need it, so
// that changing k members of a huge group reads one item, not the group.
func needsAllMembers(ops []patchOp) bool {
	for _, op := range ops {
		if op.path == "" {
			if obj, ok := op.value.(map[string]any); ok && op.op == "replace" {
				for k := range obj {
					if strings.EqualFold(k, "members") {
						return true
					}
				}
			}
			continue
		}
		if !isMembersPath(op.path) {
			continue
		}
		switch op.op {
		case "replace":
			return true
		case "remove":
			if strings.EqualFold(op.path, "members") && op.value == nil {
				return true // remove all members
			}
			if _, ok := memberIDsFromPath(op.path); !ok && !strings.EqualFold(op.path, "members") {
				return true
			}
		}
	}
	return false
}

func isMembersPath(path string) bool {
	lower := strings.ToLower(path)
	lower = strings.TrimPrefix(lower, strings.ToLower(GroupSchema)+":")
	return lower == "members" || strings.HasPrefix(lower, "members[") || strings.HasPrefix(lower, "members.")
}

// memberIDsFromPath extracts ids from members[value eq "a"] and
// members[value eq "a" or value eq "b"], the forms Okta and Entra send.
func memberIDsFromPath(path string) ([]string, bool) {
	// The single-id form is what Okta sends once per removed member; matching
	// it directly spares the general parser's thousands of allocations.
	if m := singleMemberPath().FindStringSubmatch(path); m != nil {
		return []string{m[1]}, true
	}
	p, err := filter.ParsePath([]byte(path))
	if err != nil || p.ValueExpression == nil || p.SubAttribute != nil {
		return nil, false
	}
	var ids []string
	var walk func(e filter.Expression) bool
	walk = func(e filter.Expression) bool {
		switch x := e.(type) {
		case *filter.AttributeExpression:
			v, ok := x.CompareValue.(string)
			if !ok || !strings.EqualFold(x.AttributePath.AttributeName, "value") || x.AttributePath.SubAttribute != nil || !strings.EqualFold(string(x.Operator), "eq") {
				return false
			}
			ids = append(ids, v)
			return true
		case *filter.LogicalExpression:
			return strings.EqualFold(string(x.Operator), "or") && walk(x.Left) && walk(x.Right)
		}
		return false
	}
	return ids, walk(p.ValueExpression)
}

// singleMemberPath matches members[value eq "<id>"] with an id free of quotes and escapes.
var singleMemberPath = lazyRegexp(`^(?i:members)\[\s*(?i:value)\s+(?i:eq)\s+"([^"\\]+)"\s*\]$`)

// memberSet tracks a group's membership through a PATCH. When the full list
// is known it is edited directly; otherwise only the changes are recorded.
type memberSet struct {
	full    bool
	current map[string]Member // when full
	order   []string
	adds    map[string]Member // when !full
	removes map[string]bool
	changed bool
}

func newMemberSet(full bool, members []Member) *memberSet {
	ms := &memberSet{full: full, current: map[string]Member{}, adds: map[string]Member{}, removes: map[string]bool{}}
	for _, m := range members {
		ms.current[m.Value] = m
		ms.order = append(ms.order, m.Value)
	}
	return ms
}

func (ms *memberSet) add(m Member) {
	ms.changed = true
	if ms.full {
		if _, ok := ms.current[m.Value]; !ok {
			ms.order = append(ms.order, m.Value)
		}
		ms.current[m.Value] = m
		return
	}
	delete(ms.removes, m.Value)
	ms.adds[m.Value] = m
}

func (ms *memberSet) remove(id string) {
	ms.changed = true
	if ms.full {
		delete(ms.current, id)
		return
	}
	delete(ms.adds, id)
	ms.removes[id] = true
}

func (ms *memberSet) clear() {
	ms.changed = true
	ms.current = map[string]Member{}
	ms.order = nil
}

// diff returns what to add and remove relative to original.
func (ms *memberSet) diff(original []Member) ([]Member, []string) {
	if !ms.changed {
		return nil, nil
	}
	if !ms.full {
		var add []Member
		for _, m := range ms.adds {
			add = append(add, m)
		}
		var remove []string
		for id := range ms.removes {
			remove = append(remove, id)
		}
		return add, remove
	}
	var desired []Member
	for _, id := range ms.order {
		if m, ok := ms.current[id]; ok {
			desired = append(desired, m)
		}
	}
	return diffMembers(original, desired)
}

// Patch handles PATCH (RFC 7644 §3.5.2). All operations apply or none: they
// are applied to a copy, the result is validated against the schema as a
// whole, and the store writes it conditionally on the version read.
func (s *Service) Patch(ctx context.Context, conn Connection, typ ResourceType, id string, body []byte, pre Precondition) (res *Resource, err error) {
	s, err = s.scoped(ctx)
	if err != nil {
		return nil, err
	}
	ops, err := parsePatch(body)
	if err != nil {
		return nil, err
	}
	if typ == GroupResource && !pre.set() {
		if add, remove, ok := membershipOnly(ops); ok {
			return s.patchMembers(ctx, conn, id, add, remove)
		}
	}
	full := typ == GroupResource && needsAllMembers(ops)
	// The undeclared attributes of the attempt that was written (a lost
	// race applies the operations again to the newer state).
	var observed []Observation
	defer s.observeAfter(ctx, conn, &observed, &err)
	return s.readModifyWrite(ctx, conn, typ, id, pre, full, func(cur *Resource) (*change, error) {
		doc := deepCopyMap(cur.Attributes)
		ms := newMemberSet(full, cur.Members)
		p := patcher{s: s, typ: typ, doc: doc, members: ms, policy: ExtensionPolicyFrom(ctx)}
		for _, op := range ops {
			if err := checkDeadline(ctx, typ, id); err != nil {
				return nil, err
			}
			if err := p.apply(op); err != nil {
				return nil, err
			}
		}
		observed = p.observed
		// Undeclared extensions the operations brought in were judged by the
		// policy as they were applied (applyUndeclared); what was stored
		// before is kept whatever the policy is now, never lost.
		n, err := s.schemas.normalizeResource(typ, doc, ExtensionsStore, cur.Attributes)
		if err != nil {
			return nil, err
		}
		next := *cur
		applyNormalized(&next, n)
		ch := &change{next: &next}
		if typ == GroupResource && ms.changed {
			ch.members = true
			ch.add, ch.remove = ms.diff(cur.Members)
		}
		return ch, nil
	})
}

type patcher struct {
	s       *Service
	typ     ResourceType
	doc     map[string]any
	members *memberSet
	policy  ExtensionPolicy
	// observed collects the undeclared attributes the operations set.
	observed []Observation
}

func (p *patcher) apply(op patchOp) error {
	if op.path == "" {
		if op.op == "remove" {
			return Errorf(ENoTarget, "operation %d: remove needs a path (RFC 7644 §3.5.2.2)", op.index)
		}
		obj, ok := op.value.(map[string]any)
		if !ok {
			return Errorf(EInvalidValue, "operation %d: without a path, value must be an object of attributes", op.index)
		}
		for k, v := range obj {
			if p.ignoredWithoutPath(k) {
				continue
			}
			if ext := p.s.schemas.extension(p.typ, k); ext != nil {
				// {"urn:...:enterprise:2.0:User": {"department": "x"}}: each key is a path.
				sub, ok := v.(map[string]any)
				if !ok {
					return Errorf(EInvalidValue, "operation %d: %q must be an object", op.index, k)
				}
				for sk, sv := range sub {
					if isSchemasKey(sk) {
						continue
					}
					if err := p.applyPath(op, ext.ID+":"+sk, sv); err != nil {
						return err
					}
				}
				continue
			}
			if obj, isObj := v.(map[string]any); isObj && p.s.schemas.startsWithUndeclaredURN(p.typ, k) {
				// {"urn:...:CustomExtensionName:2.0:User": {"CustomAttribute": "x"}}
				if p.policy == ExtensionsStore && len(obj) == 0 {
					continue
				}
				for sk, sv := range obj {
					if err := p.applyUndeclared(op, k+":"+sk, sv); err != nil {
						return err
					}
				}
				continue
			}
			// Plain names, Entra's dotted "name.givenName" and URN-prefixed keys alike.
			if err := p.applyPath(op, k, v); err != nil {
				return err
			}
		}
		return nil
	}
	return p.applyPath(op, op.path, op.value)
}

// ignoredWithoutPath: readOnly attributes in a path-less value are ignored,
// as RFC 7643 §2.2 says for client-supplied readOnly values. Okta's group
// rename sends {"id": ..., "displayName": ...}.
func (p *patcher) ignoredWithoutPath(key string) bool {
	if strings.EqualFold(key, "schemas") {
		return true
	}
	if a := p.s.schemas.core(p.typ).Attr(key); a != nil && a.Mutability == ReadOnly {
		return true
	}
	return false
}

func (p *patcher) applyPath(op patchOp, path string, value any) error {
	if p.typ == GroupResource && isMembersPath(path) {
		return p.applyMembers(op, path, value)
	}
	if ext := p.s.schemas.extension(p.typ, path); ext != nil {
		return p.applyExtension(op, ext, value)
	}
	if p.s.schemas.startsWithUndeclaredURN(p.typ, path) {
		return p.applyUndeclared(op, path, value)
	}
	parsed, err := parsePatchPath(path)
	if err != nil {
		return Errorf(EInvalidPath, "operation %d: path %q is not a valid SCIM path (RFC 7644 §3.5.2): %v", op.index, path, err)
	}
	attrName := parsed.AttributePath.AttributeName
	if parsed.AttributePath.SubAttribute != nil {
		attrName += "." + *parsed.AttributePath.SubAttribute
	}
	if parsed.AttributePath.URIPrefix != nil {
		attrName = *parsed.AttributePath.URIPrefix + ":" + attrName
	}
	ref, def, err := p.s.resolvePath(p.typ, attrName)
	if err != nil {
		return Errorf(EInvalidPath, "operation %d: %s", op.index, detailOf{err})
	}
	top := def
	if ref.sub != "" {
		top = p.topAttr(ref)
	}
	if top.Mutability == ReadOnly {
		return Errorf(EMutability, "operation %d: %q is read-only", op.index, top.Name)
	}
	if p.typ == UserResource && top.Name == "active" && ref.sub == "" && (op.op == "remove" || value == nil) {
		// RFC 7643 §4.1.1 leaves an unassigned active to the provider. Here
		// only active users have access, so unassigned means false: store
		// false, which GET then returns, rather than let normalization read
		// the missing value as a new, assigned user's default true.
		p.doc["active"] = false
		return nil
	}
	container := p.doc
	if ref.schema != p.s.schemas.core(p.typ).ID {
		ext, _ := p.doc[ref.schema].(map[string]any)
		if ext == nil {
			if op.op == "remove" {
				return nil
			}
			ext = map[string]any{}
			p.doc[ref.schema] = ext
		}
		container = ext
	}
	sub := ref.sub
	if parsed.SubAttribute != nil {
		if sub != "" {
			return Errorf(EInvalidPath, "operation %d: path %q names two sub-attributes", op.index, path)
		}
		sa := top.Sub(*parsed.SubAttribute)
		if sa == nil {
			return Errorf(EInvalidPath, "operation %d: %q has no sub-attribute %q", op.index, top.Name, *parsed.SubAttribute)
		}
		sub = sa.Name
	}
	if parsed.ValueExpression != nil {
		return p.applyFiltered(op, container, top, parsed, sub, value)
	}
	switch {
	case sub != "" && top.MultiValued:
		return Errorf(EInvalidPath, "operation %d: %q is multi-valued; select values with a filter like %s[type eq \"work\"].%s", op.index, top.Name, top.Name, sub)
	case sub != "":
		obj, _ := container[top.Name].(map[string]any)
		if op.op == "remove" {
			if obj != nil {
				delete(obj, sub)
			}
			return nil
		}
		if obj == nil {
			obj = map[string]any{}
			container[top.Name] = obj
		}
		obj[sub] = value
		return nil
	}
	switch op.op {
	case "remove":
		if value != nil && top.MultiValued {
			return removeListedValues(container, top, value)
		}
		delete(container, top.Name)
	case "add":
		switch {
		case top.MultiValued:
			added := asList(value)
			existing := asList(container[top.Name])
			if hasPrimary(added) {
				// RFC 7644 §3.5.2: a new primary value demotes the previous one.
				demotePrimaries(existing)
			}
			container[top.Name] = append(existing, added...)
		case top.Type == TypeComplex:
			mergeInto(container, top.Name, value)
		default:
			container[top.Name] = value
		}
	case "replace":
		if top.Type == TypeComplex && !top.MultiValued {
			// RFC 7644 §3.5.2.3: sub-attributes not given are left unchanged.
			mergeInto(container, top.Name, value)
		} else {
			container[top.Name] = value
		}
	}
	return nil
}

// applyExtension handles a path that is an extension's schema URN itself,
// such as "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": the
// extension is one complex attribute (RFC 7644 §3.10 attributes are
// URN-qualified by it). add and replace apply each sub-attribute of the
// value with the usual rules (RFC 7644 §3.5.2.1, §3.5.2.3: those not given
// are left unchanged); remove, or a null value, removes the whole extension,
// and with it its URN from "schemas".
func (p *patcher) applyExtension(op patchOp, ext *Schema, value any) error {
	if op.op == "remove" || value == nil {
		delete(p.doc, ext.ID)
		return nil
	}
	obj, ok := value.(map[string]any)
	if !ok {
		return Errorf(EInvalidValue, "operation %d: the value for path %q must be an object of its attributes, like {\"department\": \"R&D\"}", op.index, ext.ID)
	}
	for k, v := range obj {
		if isSchemasKey(k) {
			continue
		}
		if err := p.applyPath(op, ext.ID+":"+k, v); err != nil {
			return err
		}
	}
	return nil
}

// isSchemasKey: a "schemas" member inside an extension's object value
// (scim2-tester sends {"schemas": [the extension's URN], "department": ...})
// can only name the extension the value already is; the extension has no
// such attribute, so it is ignored rather than refused as an unknown path.
func isSchemasKey(key string) bool { return strings.EqualFold(key, "schemas") }

func (p *patcher) topAttr(ref attrRef) *Attribute {
	for _, sc := range append([]*Schema{p.s.schemas.core(p.typ)}, p.s.schemas.extensions(p.typ)...) {
		if sc.ID == ref.schema {
			return sc.Attr(ref.name)
		}
	}
	return nil
}

// applyFiltered handles paths like emails[type eq "work"].value.
func (p *patcher) applyFiltered(op patchOp, container map[string]any, top *Attribute, parsed filter.Path, sub string, value any) error {
	if !top.MultiValued || top.Type != TypeComplex {
		return Errorf(EInvalidPath, "operation %d: a [filter] applies only to multi-valued complex attributes; %q is not one", op.index, top.Name)
	}
	cond, err := compiler{s: p.s, typ: p.typ}.compile(parsed.ValueExpression, top)
	if err != nil {
		return Errorf(EInvalidPath, "operation %d: %s", op.index, detailOf{err})
	}
	items := asList(container[top.Name])
	matched := false
	kept := items[:0:0]
	for _, item := range items {
		obj, ok := item.(map[string]any)
		if !ok || !cond.eval(obj) {
			kept = append(kept, item)
			continue
		}
		matched = true
		switch {
		case op.op == "remove" && sub == "":
			continue // drop the element
		case op.op == "remove":
			delete(obj, sub)
		case sub != "":
			obj[sub] = value
		default:
			v, ok := value.(map[string]any)
			if !ok {
				return Errorf(EInvalidValue, "operation %d: value for %q must be an object", op.index, parsed.String())
			}
			for k, x := range v {
				obj[k] = x
			}
		}
		kept = append(kept, obj)
	}
	if matched && op.op != "remove" {
		var touched, others []any
		for _, item := range kept {
			if obj, ok := item.(map[string]any); ok && cond.eval(obj) {
				touched = append(touched, obj)
			} else {
				others = append(others, item)
			}
		}
		if hasPrimary(touched) {
			demotePrimaries(others)
		}
	}
	if !matched && op.op != "remove" {
		// Entra updates emails[type eq "work"].value on users that have no
		// work email yet and expects it created; we do that when the filter
		// is a conjunction of eq comparisons that determines the new element.
		elem, ok := elementFromFilter(parsed.ValueExpression)
		if !ok {
			return Errorf(ENoTarget, "operation %d: no value of %q matches %s", op.index, top.Name, parsed.String())
		}
		if sub != "" {
			elem[sub] = value
		} else if v, ok := value.(map[string]any); ok {
			for k, x := range v {
				elem[k] = x
			}
		}
		if hasPrimary([]any{elem}) {
			demotePrimaries(kept)
		}
		kept = append(kept, elem)
	}
	if len(kept) == 0 {
		delete(container, top.Name)
	} else {
		container[top.Name] = kept
	}
	return nil
}

// elementFromFilter turns `type eq "work" and primary eq true` into {"type":"work","primary":true}.
func elementFromFilter(e filter.Expression) (map[string]any, bool) {
	out := map[string]any{}
	var walk func(e filter.Expression) bool
	walk = func(e filter.Expression) bool {
		switch x := e.(type) {
		case *filter.AttributeExpression:
			if !strings.EqualFold(string(x.Operator), "eq") || x.AttributePath.SubAttribute != nil || x.CompareValue == nil {
				return false
			}
			out[x.AttributePath.AttributeName] = x.CompareValue
			return true
		case *filter.LogicalExpression:
			return strings.EqualFold(string(x.Operator), "and") && walk(x.Left) && walk(x.Right)
		}
		return false
	}
	return out, walk(e)
}

func (p *patcher) applyMembers(op patchOp, path string, value any) error {
	if strings.EqualFold(strings.TrimPrefix(strings.ToLower(path), strings.ToLower(GroupSchema)+":"), "members") {
		var members []Member
		if value != nil {
			var err error
			if members, err = parseMembers(value); err != nil {
				return Errorf(EInvalidValue, "operation %d: %s", op.index, detailOf{err})
			}
		}
		switch op.op {
		case "add":
			for _, m := range members {
				p.members.add(m)
			}
		case "replace":
			p.members.clear()
			for _, m := range members {
				p.members.add(m)
			}
		case "remove":
			if value == nil {
				p.members.clear()
			}
			// Entra: {"op":"Remove","path":"members","value":[{"value":"id"}]}
			for _, m := range members {
				p.members.remove(m.Value)
			}
		}
		return nil
	}
	if op.op != "remove" {
		return Errorf(EInvalidPath, `operation %d: %s on %q is not supported; use path "members" with a list of {"value": "<user id>"}`, op.index, op.op, path)
	}
	if ids, ok := memberIDsFromPath(path); ok {
		for _, id := range ids {
			p.members.remove(id)
		}
		return nil
	}
	parsed, err := filter.ParsePath([]byte(path))
	if err != nil || parsed.ValueExpression == nil || parsed.SubAttribute != nil {
		return Errorf(EInvalidPath, `operation %d: path %q is not a valid members path; use members[value eq "<user id>"]`, op.index, path)
	}
	membersAttr := p.s.schemas.Group.Attr("members")
	cond, err := compiler{s: p.s, typ: GroupResource}.compile(parsed.ValueExpression, membersAttr)
	if err != nil {
		return Errorf(EInvalidPath, "operation %d: %s", op.index, detailOf{err})
	}
	for id, m := range p.members.current {
		if cond.eval(map[string]any{"value": m.Value, "display": m.Display, "type": "User"}) {
			p.members.remove(id)
		}
	}
	return nil
}

func removeListedValues(container map[string]any, top *Attribute, value any) error {
	drop := asList(value)
	var kept []any
	for _, item := range asList(container[top.Name]) {
		match := false
		for _, d := range drop {
			if sameValue(item, d) {
				match = true
				break
			}
		}
		if !match {
			kept = append(kept, item)
		}
	}
	if len(kept) == 0 {
		delete(container, top.Name)
	} else {
		container[top.Name] = kept
	}
	return nil
}

// sameValue compares multi-valued elements by their "value" sub-attribute, or whole.
func sameValue(a, b any) bool {
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if aok && bok {
		if av, ok := am["value"]; ok {
			return fmt.Sprint(av) == fmt.Sprint(bm["value"])
		}
	}
	return jsonEqual(a, b)
}

func mergeInto(container map[string]any, name string, value any) {
	v, ok := value.(map[string]any)
	if !ok {
		container[name] = value // normalization reports the type error
		return
	}
	obj, _ := container[name].(map[string]any)
	if obj == nil {
		obj = map[string]any{}
	}
	for k, x := range v {
		obj[k] = x
	}
	container[name] = obj
}

func asList(v any) []any {
	switch t := v.(type) {
	case nil:
		return nil
	case []any:
		return t
	}
	return []any{v}
}

func deepCopyMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = deepCopy(v)
	}
	return out
}

func deepCopy(v any) any {
	switch t := v.(type) {
	case map[string]any:
		return deepCopyMap(t)
	case []any:
		out := make([]any, len(t))
		for i, x := range t {
			out[i] = deepCopy(x)
		}
		return out
	}
	return v
}

func jsonEqual(a, b any) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(ja, jb)
}

// attributesEqual reports whether next changes nothing that Replace would store.
func attributesEqual(cur, next *Resource) bool {
	return cur.Name == next.Name && cur.ExternalID == next.ExternalID && cur.Active == next.Active &&
		jsonEqual(cur.Attributes, next.Attributes)
}

func hasPrimary(items []any) bool {
	for _, it := range items {
		if obj, ok := it.(map[string]any); ok && (obj["primary"] == true || strings.EqualFold(fmt.Sprint(obj["primary"]), "true")) {
			return true
		}
	}
	return false
}

func demotePrimaries(items []any) {
	for _, it := range items {
		if obj, ok := it.(map[string]any); ok {
			delete(obj, "primary")
		}
	}
}
