package scim

import (
	"context"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	filter "github.com/scim2/filter-parser/v2"
)

// The fuzz targets check that nothing a client sends as a filter or a PATCH
// path can panic or surface as an internal error: it is either accepted or
// refused with a SCIM error the client can act on. `make test` runs each
// briefly; seeds are the RFC 7644 examples and the forms IdPs send.

var filterSeeds = []string{
	`userName eq "bjensen"`,
	`name.familyName co "O'Malley"`,
	`userName sw "J"`,
	`urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J"`,
	`title pr`,
	`meta.lastModified gt "2011-05-13T04:42:34Z"`,
	`title pr and userType eq "Employee"`,
	`userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")`,
	`userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")`,
	`emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]`,
	`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "42"`,
	`userName eq Test_User_1`,
	`members[value eq "2819c223"]`,
	`active eq True`,
}

var sampleDoc = map[string]any{
	"userName": "bjensen", "active": true, "title": "Tour Guide",
	"name":   map[string]any{"familyName": "Jensen"},
	"emails": []any{map[string]any{"value": "b@example.com", "type": "work", "primary": true}},
	"meta":   map[string]any{"lastModified": "2026-01-01T00:00:00Z"},
}

func FuzzCompileFilter(f *testing.F) {
	for _, s := range filterSeeds {
		f.Add(s)
	}
	svc := NewService(nil)
	f.Fuzz(func(t *testing.T, raw string) {
		for _, typ := range []ResourceType{UserResource, GroupResource} {
			flt, err := svc.CompileFilter(context.Background(), typ, raw)
			if err != nil {
				// tooMany: beyond the filter limits (length, comparisons, nesting).
				if code := ErrorCodeOf(err); code != EInvalidFilter && code != ETooMany {
					t.Fatalf("filter %q: error code %s, want %s or %s: %v", raw, code, EInvalidFilter, ETooMany, err)
				}
				continue
			}
			flt.Matches(sampleDoc)
		}
	})
}

var patchSeeds = []struct{ op, path, value string }{
	{"replace", "", `{"active":false}`},
	{"add", "emails", `[{"value":"babs@jensen.org","type":"home"}]`},
	{"replace", `emails[type eq "work"].value`, `"new@example.com"`},
	{"remove", `emails[type eq "work" and value ew "example.com"]`, ``},
	{"replace", "name.familyName", `"Byron"`},
	{"add", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", `{"value":"boss"}`},
	{"Replace", "", `{"name.givenName":"Ada","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department":"R&D"}`},
	{"remove", `members[value eq "2819c223"]`, ``},
	{"Remove", "members", `[{"value":"2819c223"}]`},
}

func FuzzPatchOperation(f *testing.F) {
	for _, s := range patchSeeds {
		f.Add(s.op, s.path, s.value)
	}
	svc := NewService(nil)
	f.Fuzz(func(t *testing.T, op, path, value string) {
		ops := []map[string]any{{"op": op}}
		if path != "" {
			ops[0]["path"] = path
		}
		if value != "" {
			var v any
			if json.Unmarshal([]byte(value), &v) != nil {
				return
			}
			ops[0]["value"] = v
		}
		body, err := json.Marshal(map[string]any{"schemas": []string{PatchOpSchema}, "Operations": ops})
		if err != nil {
			return
		}
		parsed, err := parsePatch(body)
		if err != nil {
			if ErrorCodeOf(err) == EInternal {
				t.Fatalf("parse %s: internal error %v", body, err)
			}
			return
		}
		for _, typ := range []ResourceType{UserResource, GroupResource} {
			doc := deepCopyMap(sampleDoc)
			delete(doc, "meta")
			if typ == GroupResource {
				doc = map[string]any{"displayName": "Eng"}
			}
			p := patcher{s: svc, typ: typ, doc: doc, members: newMemberSet(true, []Member{{Value: "2819c223"}})}
			for _, o := range parsed {
				if err = p.apply(o); err != nil {
					break
				}
			}
			if err == nil {
				_, err = svc.schemas.normalizeResource(typ, doc, ExtensionsStore)
			}
			if err != nil && ErrorCodeOf(err) == EInternal {
				t.Fatalf("%s on %s: internal error %v", body, typ, err)
			}
		}
	})
}

func TestMemberIDsFromPath(t *testing.T) {
	tests := []struct {
		path string
		ids  []string
		ok   bool
	}{
		{`members[value eq "2819c223"]`, []string{"2819c223"}, true},
		{`Members[ Value EQ "a-b" ]`, []string{"a-b"}, true},
		{`members[value eq "a" or value eq "b"]`, []string{"a", "b"}, true},
		{`members[value eq "a\"b"]`, []string{`a\"b`}, true},
		{`members[display eq "a"]`, nil, false},
		{`members[value eq "a" and display eq "x"]`, nil, false},
		{`members[value co "a"]`, nil, false},
		{`members`, nil, false},
	}
	for _, tc := range tests {
		ids, ok := memberIDsFromPath(tc.path)
		if ok != tc.ok || (ok && !slices.Equal(ids, tc.ids)) {
			t.Errorf("%s: %v %v, want %v %v", tc.path, ids, ok, tc.ids, tc.ok)
		}
	}
}

// BenchmarkParse measures the per-request CPU of parsing what IdPs send most.
func BenchmarkParse(b *testing.B) {
	svc := NewService(nil)
	b.Run("FilterUserNameEq", func(b *testing.B) {
		for b.Loop() {
			if _, err := svc.CompileFilter(context.Background(), UserResource, `userName eq "bjensen@example.com"`); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("PatchRemoveMember", func(b *testing.B) {
		body := []byte(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"remove","path":"members[value eq \"2819c223-7f76-453a-919d-413861904646\"]"}]}`)
		for b.Loop() {
			ops, err := parsePatch(body)
			if err != nil || needsAllMembers(ops) {
				b.Fatal(err)
			}
			if _, ok := memberIDsFromPath(ops[0].path); !ok {
				b.Fatal("not a member path")
			}
		}
	})
}

// TestSimpleExpressionMatchesParser: the fast path for `attr op "value"`
// must build exactly the expression the general parser builds.
func TestSimpleExpressionMatchesParser(t *testing.T) {
	for _, raw := range []string{
		`userName eq "bjensen@example.com"`,
		`externalId EQ "00u1"`,
		`emails.value co "@example.com"`,
		`name.familyName sw "O'Malley"`,
		`displayName ne ""`,
		`meta.lastModified gt "2011-05-13T04:42:34Z"`,
		`userName eq "with spaces and (parens) and [brackets]"`,
	} {
		checkSimpleExpression(t, raw)
	}
}

func checkSimpleExpression(t *testing.T, raw string) {
	t.Helper()
	fast, ok := simpleExpression(raw)
	if !ok {
		t.Fatalf("%q: fast path did not apply", raw)
	}
	parsed, err := filter.ParseFilter([]byte(raw))
	if err != nil {
		t.Fatalf("%q: parser refused what the fast path accepted: %v", raw, err)
	}
	p, ok := parsed.(*filter.AttributeExpression)
	if !ok {
		t.Fatalf("%q: parser built %T", raw, parsed)
	}
	p.Operator = filter.CompareOperator(strings.ToLower(string(p.Operator)))
	if !reflect.DeepEqual(fast, p) {
		t.Fatalf("%q:\nfast   %#v\nparser %#v", raw, fast, p)
	}
}

func FuzzSimpleExpression(f *testing.F) {
	f.Add("userName", "", "eq", "bjensen")
	f.Add("emails", "value", "co", "@x")
	f.Fuzz(func(t *testing.T, attr, sub, op, value string) {
		raw := attr
		if sub != "" {
			raw += "." + sub
		}
		raw += " " + op + ` "` + value + `"`
		if _, ok := simpleExpression(raw); ok {
			checkSimpleExpression(t, raw)
		}
	})
}
