package scim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// TestDecodeJSONRefusesDuplicateKeys: two keys equal case-insensitively, at
// any depth, make a body mean two things; it is refused naming the key.
func TestDecodeJSONRefusesDuplicateKeys(t *testing.T) {
	many := make([]string, 40)
	for i := range many {
		many[i] = fmt.Sprintf(`"k%d":1`, i)
	}
	tests := []struct {
		name, body, wantKey string
	}{
		{"top level", `{"userName":"a","USERNAME":"b"}`, `"USERNAME"`},
		{"complex attribute", `{"name":{"givenName":"a","givenname":"b"}}`, `"givenname"`},
		{"in a list", `{"emails":[{"value":"a"},{"value":"b","VALUE":"c"}]}`, `"VALUE"`},
		{"extension", `{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"a","Department":"b"}}`, `"Department"`},
		{"extension URN itself", `{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{},"URN:IETF:params:scim:schemas:extension:enterprise:2.0:User":{}}`, `"URN:IETF`},
		{"large object", `{` + strings.Join(many, ",") + `,"K7":2}`, `"K7"`},
		{"Kelvin sign folds like k", "{\"k\":1,\"\u212a\":2}", strconv.Quote("\u212a")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decodeJSON([]byte(tc.body))
			if ErrorCodeOf(err) != EInvalidSyntax || !strings.Contains(ErrorDetailOf(err), tc.wantKey) {
				t.Fatalf("decodeJSON(%s) = %v, want invalidSyntax naming %s", tc.body, err, tc.wantKey)
			}
		})
	}
}

// TestDecodeJSONMatchesEncodingJSON: apart from the refusals, the strict
// reader builds exactly what encoding/json with UseNumber builds.
func TestDecodeJSONMatchesEncodingJSON(t *testing.T) {
	for _, body := range []string{
		`{"a":1,"b":[1,2.5,"x",true,null,{"c":{}}],"d":{"e":[]},"f":-0.5e10}`,
		`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"ada","emails":[{"value":"a@x.com","primary":true}]}`,
		`[1,{"a":"\u00e9\n"}]`,
		`"s"`,
	} {
		got, err := decodeJSON([]byte(body))
		if err != nil {
			t.Fatalf("decodeJSON(%s): %v", body, err)
		}
		dec := json.NewDecoder(strings.NewReader(body))
		dec.UseNumber()
		var want any
		if err := dec.Decode(&want); err != nil {
			t.Fatal(err)
		}
		if fmt.Sprintf("%#v", got) != fmt.Sprintf("%#v", want) {
			t.Errorf("decodeJSON(%s) = %#v, want %#v", body, got, want)
		}
	}
}

func TestDecodeJSONRefusesMalformed(t *testing.T) {
	for _, body := range []string{"{\"userName\":\"a\xffb\"}", `{"a":1}{"b":2}`, `{"a":`, `{"a" 1}`, `{"a":1,}`, `]`, ``} {
		if _, err := decodeJSON([]byte(body)); ErrorCodeOf(err) != EInvalidSyntax {
			t.Errorf("decodeJSON(%q) = %v, want invalidSyntax", body, err)
		}
	}
}

// largeBody is a MaxRequestBodyBytes-sized user-like body.
func largeBody() []byte {
	var b bytes.Buffer
	b.WriteString(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"ada","emails":[`)
	for i := 0; b.Len() < MaxRequestBodyBytes-100; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"value":"user%d@example.com","type":"work","primary":false}`, i)
	}
	b.WriteString(`]}`)
	return b.Bytes()
}

// BenchmarkDecodeJSON: the strict reader against encoding/json alone on a
// MaxRequestBodyBytes body; the difference is the duplicate-key scan.
func BenchmarkDecodeJSON(b *testing.B) {
	body := largeBody()
	b.Run("strict", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			if _, err := decodeJSON(body); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("duplicate-key-scan-only", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			if err := checkDuplicateKeys(body); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			dec := json.NewDecoder(bytes.NewReader(body))
			dec.UseNumber()
			var v any
			if err := dec.Decode(&v); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestFilterShapeCountsOutsideLiterals: operators and brackets inside a
// quoted value are data, not structure.
func TestFilterShapeCountsOutsideLiterals(t *testing.T) {
	inside := `title eq "` + strings.Repeat("(eq [", MaxFilterTerms) + `\" or"`
	if err := checkFilterShape(inside, "filter"); err != nil {
		t.Errorf("checkFilterShape(%q) = %v, want accepted", inside, err)
	}
	for raw, limit := range map[string]string{
		strings.Repeat(`a eq "x" or `, MaxFilterTerms) + `a pr`:                                                      "maxFilterTerms",
		strings.Repeat("not (", MaxFilterDepth+1) + `a pr` + strings.Repeat(")", MaxFilterDepth+1):                   "maxFilterDepth",
		`emails[` + strings.Repeat("(", MaxFilterDepth) + `value eq "x"` + strings.Repeat(")", MaxFilterDepth) + `]`: "maxFilterDepth",
		`userName eq "` + strings.Repeat("x", MaxFilterBytes) + `"`:                                                  "maxFilterBytes",
	} {
		err := checkFilterShape(raw, "filter")
		if ErrorCodeOf(err) != ETooMany || !strings.Contains(ErrorDetailOf(err), limit) {
			t.Errorf("checkFilterShape(%.60q...) = %v, want tooMany naming %s", raw, err, limit)
		}
	}
}
