package scim

import (
	"strings"
	"testing"
)

// TestNameKey pins what RFC 8265's UsernameCaseMapped profile (userName) and
// RFC 8266's Nickname profile (group displayName) make of the names issue
// reports found to be different accounts or wrongly equal.
func TestNameKey(t *testing.T) {
	tests := []struct {
		name     string
		typ      ResourceType
		a, b     string
		same     bool
		refusedB bool // b is refused as a new name
	}{
		{"case", UserResource, "ada@x.com", "ADA@X.COM", true, false},
		{"zero-width space", UserResource, "ada@x.com", "ada@x.com\u200b", false, true},
		{"fullwidth", UserResource, "ada@x.com", "ａｄａ@x.com", true, false},
		{"trailing space", UserResource, "ada@x.com", "ada@x.com ", false, true},
		{"leading space", UserResource, "ada@x.com", " ada@x.com", false, true},
		{"Kelvin sign", UserResource, "kelvin@x.com", "\u212aelvin@x.com", true, false},
		{"sharp s is not ss", UserResource, "strasse@x.com", "straße@x.com", false, false},
		{"capital sharp s is sharp s", UserResource, "straße@x.com", "STRAẞE@x.com", true, false},
		{"Turkish dotted capital I is not i", UserResource, "istanbul@x.com", "İstanbul@x.com", false, false},
		{"Turkish dotless i is not i", UserResource, "istanbul@x.com", "ıstanbul@x.com", false, false},
		{"Turkish dotless i and I", UserResource, "ıstanbul@x.com", "Istanbul@x.com", false, false},
		{"composed and decomposed", UserResource, "jos\u00e9@x.com", "jose\u0301@x.com", true, false},
		{"userparts separated by a space", UserResource, "Ada Lovelace", "ada lovelace", true, false},
		{"two spaces", UserResource, "ada lovelace", "ada  lovelace", false, true},
		{"NUL", UserResource, "ada", "ada\x00", false, true},
		{"symbol", UserResource, "ada", "ada✓", false, true},
		{"group: spaces collapse and trim", GroupResource, "Sales Team", " sales  TEAM ", true, false},
		{"group: symbols are fine", GroupResource, "R&D ✓", "r&d ✓", true, false},
		{"group: fullwidth", GroupResource, "Ops", "ＯＰＳ", true, false},
		{"group: zero-width space", GroupResource, "Ops", "O\u200bps", false, true},
		{"group: control character", GroupResource, "Ops", "Ops\u0007", false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := checkName(tc.typ, nil, tc.a); err != nil {
				t.Fatalf("checkName(%q) = %v, want accepted", tc.a, err)
			}
			err := checkName(tc.typ, nil, tc.b)
			if tc.refusedB != (err != nil) {
				t.Fatalf("checkName(%q) = %v, refused want %v", tc.b, err, tc.refusedB)
			}
			if err != nil && (ErrorCodeOf(err) != EInvalidValue || !strings.Contains(ErrorDetailOf(err), UniqueAttrName(tc.typ))) {
				t.Errorf("refusal %v is not an invalidValue naming %s", err, UniqueAttrName(tc.typ))
			}
			if got := NameKey(tc.typ, tc.a) == NameKey(tc.typ, tc.b); got != tc.same {
				t.Errorf("NameKey(%q) = %q, NameKey(%q) = %q: same %v, want %v", tc.a, NameKey(tc.typ, tc.a), tc.b, NameKey(tc.typ, tc.b), got, tc.same)
			}
		})
	}
}

// TestNameRefusalSaysWhy: the detail names the character and its place.
func TestNameRefusalSaysWhy(t *testing.T) {
	for name, want := range map[string]string{
		"ada@x.com\u200b": "U+200B at character 10",
		"ada@x.com ":      "space",
		"ada\tx":          "U+0009",
	} {
		if err := checkName(UserResource, nil, name); err == nil || !strings.Contains(ErrorDetailOf(err), want) {
			t.Errorf("checkName(%q) = %v, want a detail with %q", name, err, want)
		}
	}
}
