package scim

import (
	"sort"
	"strings"
	"time"
)

// sortKey orders resources by one attribute (RFC 7644 §3.4.2.3).
type sortKey struct {
	path       attrPath
	def        *Attribute
	descending bool
}

func (s *Service) compileSort(typ ResourceType, sortBy string, descending bool) (*sortKey, error) {
	ref, def, err := s.resolvePath(typ, strings.TrimSpace(sortBy))
	if err != nil {
		return nil, Errorf(EInvalidValue, "sortBy: %s", detailOf{err})
	}
	if def.Type == TypeComplex {
		if v := def.Sub("value"); v != nil && def.MultiValued && ref.sub == "" {
			ref.sub, def = v.Name, v // emails sorts by emails.value
		} else {
			return nil, Errorf(EInvalidValue, "sortBy: %q is a complex attribute; sort by one of its sub-attributes", sortBy)
		}
	}
	path := attrPath{name: ref.name, sub: ref.sub}
	if ref.schema != s.schemas.core(typ).ID {
		path.container = ref.schema
	}
	return &sortKey{path: path, def: def, descending: descending}, nil
}

// value picks the sort value of a document: for a multi-valued attribute the
// primary value, else the first (RFC 7644 §3.4.2.3).
func (k *sortKey) value(doc map[string]any) (any, bool) {
	if k.path.sub != "" {
		parent := attrPath{container: k.path.container, name: k.path.name}
		items := parent.values(doc)
		for _, it := range items {
			if obj, ok := it.(map[string]any); ok && obj["primary"] == true {
				if v, ok := obj[k.path.sub]; ok && v != nil {
					return v, true
				}
			}
		}
	}
	vals := k.path.values(doc)
	if len(vals) == 0 {
		return nil, false
	}
	return vals[0], true
}

// sort orders resources in place; resources without a value sort last in
// ascending order, and ties keep the stable store order (by id).
func (k *sortKey) sort(s *Service, resources []*Resource, baseURL string) {
	type keyed struct {
		r       *Resource
		v       any
		present bool
	}
	items := make([]keyed, len(resources))
	for i, r := range resources {
		v, ok := k.value(s.document(r, baseURL))
		items[i] = keyed{r, v, ok}
	}
	sort.SliceStable(items, func(i, j int) bool {
		a, b := items[i], items[j]
		if a.present != b.present {
			return a.present != k.descending
		}
		if !a.present {
			return false
		}
		c := k.compare(a.v, b.v)
		if k.descending {
			return c > 0
		}
		return c < 0
	})
	for i := range items {
		resources[i] = items[i].r
	}
}

func (k *sortKey) compare(a, b any) int {
	switch k.def.Type {
	case TypeBoolean:
		ab, _ := a.(bool)
		bb, _ := b.(bool)
		switch {
		case ab == bb:
			return 0
		case !ab:
			return -1
		}
		return 1
	case TypeInteger, TypeDecimal:
		af, _ := toFloat(a)
		bf, _ := toFloat(b)
		return cmpFloat(af, bf)
	case TypeDateTime:
		as, _ := a.(string)
		bs, _ := b.(string)
		at, err1 := time.Parse(time.RFC3339Nano, as)
		bt, err2 := time.Parse(time.RFC3339Nano, bs)
		if err1 == nil && err2 == nil {
			return at.Compare(bt)
		}
		return strings.Compare(as, bs)
	}
	as, _ := a.(string)
	bs, _ := b.(string)
	if !k.def.CaseExact {
		as, bs = strings.ToLower(as), strings.ToLower(bs)
	}
	return strings.Compare(as, bs)
}
