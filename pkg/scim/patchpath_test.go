package scim

import (
	"math/rand/v2"
	"reflect"
	"testing"

	filter "github.com/scim2/filter-parser/v2"
)

// TestParsePatchPathAgreesWithParser: whatever the shortcut accepts, the
// filter parser parses to the same Path; what the shortcut declines is the
// parser's answer, error included.
func TestParsePatchPathAgreesWithParser(t *testing.T) {
	paths := []string{
		"active", "userName", "name.familyName", "emails", "emails.value", "$ref", "members.$ref", "x-1_a.B2",
		"", ".", "a.", ".a", "a..b", "a.b.c", "1a", "-a", "_a", "$", "$$ref", "a$b", "a b", "ä", "name.famïly",
		`emails[type eq "work"].value`, `members[value eq "u1"]`, "urn:ietf:params:scim:schemas:core:2.0:User:name.givenName",
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
	}
	// Random short strings over the characters that matter to the grammar.
	const alphabet = `aZz09$.-_:[] "`
	r := rand.New(rand.NewPCG(1, 2))
	for range 1500 {
		b := make([]byte, 1+r.IntN(6))
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		paths = append(paths, string(b))
	}
	shortcuts := 0
	for _, path := range paths {
		got, gotErr := parsePatchPath(path)
		want, wantErr := filter.ParsePath([]byte(path))
		if (gotErr != nil) != (wantErr != nil) || !reflect.DeepEqual(got, want) {
			t.Errorf("%q: got %+v, %v; the parser: %+v, %v", path, got, gotErr, want, wantErr)
		}
		name, sub, dotted := cutPath(path)
		if isAttrName(name) && (!dotted || isAttrName(sub)) {
			shortcuts++
		}
	}
	if shortcuts < 50 {
		t.Errorf("only %d of %d paths took the shortcut: the comparison proves little", shortcuts, len(paths))
	}
}

func cutPath(path string) (name, sub string, dotted bool) {
	for i := range len(path) {
		if path[i] == '.' {
			return path[:i], path[i+1:], true
		}
	}
	return path, "", false
}

func BenchmarkParsePatchPath(b *testing.B) {
	for _, path := range []string{"active", "name.familyName"} {
		b.Run(path, func(b *testing.B) {
			for b.Loop() {
				if _, err := parsePatchPath(path); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
