package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/scimgate/scimgate/pkg/scim"
)

// inputCase is one request that must be refused (or accepted) the same way
// on both stores, and change nothing when refused.
type inputCase struct {
	name         string
	method, path string // path may hold {user} and {group}
	body         string
	status       int
	scimType     string
	detail       string // a substring the error detail must hold
}

const (
	userSchemaJSON  = `"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"]`
	groupSchemaJSON = `"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"]`
	patchSchemaJSON = `"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"]`
	bulkSchemaJSON  = `"schemas":["urn:ietf:params:scim:api:messages:2.0:BulkRequest"]`
)

func patchBody(ops ...string) string {
	return `{` + patchSchemaJSON + `,"Operations":[` + strings.Join(ops, ",") + `]}`
}

// runInputCases sends each case to a server on each store holding one user
// ("alice@acme.test") and one group ("Eng"), checks the answer, and for a
// refusal checks that nothing visible changed. No case may answer 5xx.
func runInputCases(t *testing.T, cases []inputCase) {
	t.Helper()
	forEachStore(t, func(t *testing.T, srv *testServer) {
		c := srv.client(t, testConn)
		user := c.createUser(t, "alice@acme.test")
		group := c.createGroup(t, "Eng", user)
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				before := c.snapshot(t)
				path := strings.NewReplacer("{user}", user, "{group}", group).Replace(tc.path)
				r := c.do(t, tc.method, path, tc.body)
				if r.status >= 500 {
					t.Fatalf("5xx for client input:\n%s", r)
				}
				if r.status != tc.status {
					t.Fatalf("status %d, want %d\n%.600s", r.status, tc.status, r.body)
				}
				if tc.status < 400 {
					return
				}
				body := r.object(t)
				if got, _ := body["scimType"].(string); got != tc.scimType {
					t.Errorf("scimType %q, want %q (%s)", got, tc.scimType, body["detail"])
				}
				if d, _ := body["detail"].(string); !strings.Contains(d, tc.detail) {
					t.Errorf("detail %q does not mention %q", d, tc.detail)
				}
				if after := c.snapshot(t); after != before {
					t.Errorf("a refused request changed the connection:\nbefore %s\nafter %s", before, after)
				}
			})
		}
	})
}

// TestStrictInput: one case per rule of "strict input" (invalid UTF-8,
// control characters, schemas, message schemas, bulkIds), on both stores.
func TestStrictInput(t *testing.T) {
	runInputCases(t, []inputCase{
		{"invalid UTF-8", "POST", "/Users", "{" + userSchemaJSON + ",\"userName\":\"bad\xff@acme.test\"}", 400, "invalidSyntax", "UTF-8"},
		{"invalid UTF-8 in a PATCH", "PATCH", "/Users/{user}", patchBody("{\"op\":\"replace\",\"path\":\"title\",\"value\":\"\xc3\x28\"}"), 400, "invalidSyntax", "UTF-8"},
		{"NUL in userName", "POST", "/Users", `{` + userSchemaJSON + `,"userName":"nul\u0000@acme.test"}`, 400, "invalidValue", "userName"},
		{"NUL in externalId", "POST", "/Users", `{` + userSchemaJSON + `,"userName":"x@acme.test","externalId":"e\u0000"}`, 400, "invalidValue", "externalId"},
		{"NUL in a group displayName", "POST", "/Groups", `{` + groupSchemaJSON + `,"displayName":"Ops\u0000"}`, 400, "invalidValue", "displayName"},
		{"C0 control in a string attribute", "POST", "/Users", `{` + userSchemaJSON + `,"userName":"x@acme.test","title":"a\u0007b"}`, 400, "invalidValue", "title"},
		{"C1 control in a sub-attribute", "POST", "/Users", `{` + userSchemaJSON + `,"userName":"x@acme.test","name":{"givenName":"a\u0085"}}`, 400, "invalidValue", "name.givenName"},
		{"control character put by PATCH", "PATCH", "/Users/{user}", patchBody(`{"op":"replace","path":"nickName","value":"\u001b[31m"}`), 400, "invalidValue", "nickName"},
		{"line breaks in a formatted address are fine", "POST", "/Users", `{` + userSchemaJSON + `,"userName":"addr@acme.test","addresses":[{"formatted":"1 Main St\r\n\tSpringfield"}]}`, 201, "", ""},
		{"schemas of an unknown URN", "POST", "/Users", `{"schemas":["urn:evil"],"userName":"x@acme.test"}`, 400, "invalidValue", "urn:evil"},
		{"schemas empty", "POST", "/Users", `{"schemas":[],"userName":"x@acme.test"}`, 400, "invalidValue", "core schema"},
		{"Group schema on a User", "POST", "/Users", `{` + groupSchemaJSON + `,"userName":"x@acme.test"}`, 400, "invalidValue", scim.GroupSchema},
		{"User schema on a Group", "POST", "/Groups", `{` + userSchemaJSON + `,"displayName":"Ops"}`, 400, "invalidValue", scim.UserSchema},
		{"schemas not an array", "PUT", "/Users/{user}", `{"schemas":"urn:ietf:params:scim:schemas:core:2.0:User","userName":"alice@acme.test"}`, 400, "invalidSyntax", "schemas"},
		{"Entra's group schema URN is known", "POST", "/Groups", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group","http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],"displayName":"Ops"}`, 201, "", ""},
		{"PATCH without schemas", "PATCH", "/Users/{user}", `{"Operations":[{"op":"replace","path":"title","value":"x"}]}`, 400, "invalidSyntax", scim.PatchOpSchema},
		{"PATCH with a resource schema", "PATCH", "/Users/{user}", `{` + userSchemaJSON + `,"Operations":[{"op":"replace","path":"title","value":"x"}]}`, 400, "invalidSyntax", scim.PatchOpSchema},
		{"SearchRequest without schemas", "POST", "/Users/.search", `{"filter":"userName eq \"alice@acme.test\""}`, 400, "invalidSyntax", scim.SearchRequestSchema},
		{"Bulk without schemas", "POST", "/Bulk", `{"Operations":[{"method":"POST","path":"/Users","bulkId":"a","data":{"userName":"b@acme.test"}}]}`, 400, "invalidSyntax", "BulkRequest"},
		{"repeated bulkId", "POST", "/Bulk", `{` + bulkSchemaJSON + `,"Operations":[{"method":"POST","path":"/Users","bulkId":"a","data":{"userName":"b@acme.test"}},{"method":"POST","path":"/Users","bulkId":"a","data":{"userName":"c@acme.test"}}]}`, 400, "invalidValue", `"a"`},
	})
}

// TestDuplicateKeysAtEveryLevel: a body with two keys that SCIM's
// case-insensitive names make one is refused naming the key, wherever it is.
func TestDuplicateKeysAtEveryLevel(t *testing.T) {
	runInputCases(t, []inputCase{
		{"resource", "POST", "/Users", `{` + userSchemaJSON + `,"userName":"a@acme.test","USERNAME":"b@acme.test"}`, 400, "invalidSyntax", "USERNAME"},
		{"schemas", "POST", "/Users", `{` + userSchemaJSON + `,"Schemas":[],"userName":"a@acme.test"}`, 400, "invalidSyntax", "Schemas"},
		{"complex attribute", "PUT", "/Users/{user}", `{` + userSchemaJSON + `,"userName":"alice@acme.test","name":{"givenName":"A","GivenName":"B"}}`, 400, "invalidSyntax", "GivenName"},
		{"multi-valued element", "POST", "/Users", `{` + userSchemaJSON + `,"userName":"a@acme.test","emails":[{"value":"a@x","Value":"b@x"}]}`, 400, "invalidSyntax", "emails[0]"},
		{"extension", "POST", "/Users", `{` + userSchemaJSON + `,"userName":"a@acme.test","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"A","DEPARTMENT":"B"}}`, 400, "invalidSyntax", "DEPARTMENT"},
		{"extension attribute with and without its URN", "POST", "/Users", `{` + userSchemaJSON + `,"userName":"a@acme.test","department":"A","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"B"}}`, 400, "invalidSyntax", "department"},
		{"group members", "POST", "/Groups", `{` + groupSchemaJSON + `,"displayName":"Ops","Members":[],"members":[]}`, 400, "invalidSyntax", "members"},
		{"PATCH message", "PATCH", "/Users/{user}", `{` + patchSchemaJSON + `,"Operations":[],"operations":[{"op":"remove","path":"title"}]}`, 400, "invalidSyntax", "operations"},
		{"PATCH op", "PATCH", "/Users/{user}", patchBody(`{"op":"replace","OP":"remove","path":"title","value":"x"}`), 400, "invalidSyntax", "OP"},
		{"PATCH path", "PATCH", "/Users/{user}", patchBody(`{"op":"replace","path":"title","Path":"nickName","value":"x"}`), 400, "invalidSyntax", "Path"},
		{"PATCH value", "PATCH", "/Users/{user}", patchBody(`{"op":"replace","value":{"title":"x","TITLE":"y"}}`), 400, "invalidSyntax", "TITLE"},
		{"PATCH value, nested", "PATCH", "/Users/{user}", patchBody(`{"op":"add","path":"emails","value":[{"value":"a@x","type":"work","Type":"home"}]}`), 400, "invalidSyntax", "Type"},
		{"PATCH group members value", "PATCH", "/Groups/{group}", patchBody(`{"op":"add","path":"members","value":[{"value":"x","VALUE":"y"}]}`), 400, "invalidSyntax", "VALUE"},
		{"Bulk request", "POST", "/Bulk", `{` + bulkSchemaJSON + `,"Operations":[],"operations":[]}`, 400, "invalidSyntax", "operations"},
		{"Bulk operation", "POST", "/Bulk", `{` + bulkSchemaJSON + `,"Operations":[{"method":"POST","Method":"DELETE","path":"/Users","bulkId":"a","data":{"userName":"b@acme.test"}}]}`, 400, "invalidSyntax", "Method"},
		{"Bulk operation data", "POST", "/Bulk", `{` + bulkSchemaJSON + `,"Operations":[{"method":"POST","path":"/Users","bulkId":"a","data":{"userName":"b@acme.test","UserName":"c@acme.test"}}]}`, 400, "invalidSyntax", "UserName"},
		{"SearchRequest", "POST", "/Users/.search", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],"filter":"userName eq \"alice@acme.test\"","Filter":"userName pr"}`, 400, "invalidSyntax", "Filter"},
		{"SearchRequest at the root", "POST", "/.search", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],"count":1,"COUNT":2}`, 400, "invalidSyntax", "COUNT"},
	})
}

// TestOversizeInput: the oversize corpus. Every limit answers 400 or 413
// naming it, before anything is written, on both stores; no 5xx.
func TestOversizeInput(t *testing.T) {
	long := func(n int) string { return strings.Repeat("x", n) }
	emails := func(n int) string {
		parts := make([]string, n)
		for i := range parts {
			parts[i] = fmt.Sprintf(`{"value":"e%d@acme.test"}`, i)
		}
		return "[" + strings.Join(parts, ",") + "]"
	}
	members := func(n int) string {
		parts := make([]string, n)
		for i := range parts {
			parts[i] = fmt.Sprintf(`{"value":"00000000-0000-4000-9000-%012d"}`, i)
		}
		return "[" + strings.Join(parts, ",") + "]"
	}
	ops := func(n int, op string) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = op
		}
		return out
	}
	terms := func(n int) string {
		parts := make([]string, n)
		for i := range parts {
			parts[i] = fmt.Sprintf(`title eq "t%d"`, i)
		}
		return strings.Join(parts, " or ")
	}
	// Twelve 6,000-byte strings: each within maxStringBytes, together beyond maxResourceBytes.
	var big []string
	for _, a := range []string{"title", "nickName", "displayName", "userType", "locale", "timezone", "profileUrl", "preferredLanguage"} {
		big = append(big, fmt.Sprintf(`%q:%q`, a, long(6000)))
	}
	big = append(big, `"name":{"formatted":"`+long(6000)+`","familyName":"`+long(6000)+`","givenName":"`+long(6000)+`","middleName":"`+long(6000)+`"}`)
	get := func(filter string) string { return "/Users?filter=" + url.QueryEscape(filter) }
	runInputCases(t, []inputCase{
		{"a 1 MiB user", "POST", "/Users", `{` + userSchemaJSON + `,"userName":"big@acme.test","title":"` + long(1<<20) + `"}`, 400, "invalidValue", "maxStringBytes"},
		{"a string one byte too long", "POST", "/Users", `{` + userSchemaJSON + `,"userName":"big@acme.test","title":"` + long(scim.MaxStringBytes+1) + `"}`, 400, "invalidValue", "title"},
		{"a string at the limit", "POST", "/Users", `{` + userSchemaJSON + `,"userName":"big@acme.test","title":"` + long(scim.MaxStringBytes) + `"}`, 201, "", ""},
		{"userName too long", "POST", "/Users", `{` + userSchemaJSON + `,"userName":"` + long(scim.MaxKeyBytes+1) + `"}`, 400, "invalidValue", "maxKeyBytes"},
		{"externalId too long", "POST", "/Users", `{` + userSchemaJSON + `,"userName":"x@acme.test","externalId":"` + long(scim.MaxKeyBytes+1) + `"}`, 400, "invalidValue", "externalId"},
		{"group displayName too long", "POST", "/Groups", `{` + groupSchemaJSON + `,"displayName":"` + long(scim.MaxKeyBytes+1) + `"}`, 400, "invalidValue", "displayName"},
		{"userName at the limit", "POST", "/Users", `{` + userSchemaJSON + `,"userName":"` + long(scim.MaxKeyBytes) + `"}`, 201, "", ""},
		{"key parts at the limit, multi-byte", "POST", "/Groups", `{` + groupSchemaJSON + `,"displayName":"` + strings.Repeat("界", scim.MaxKeyBytes/3) + `","externalId":"` + strings.Repeat("é", scim.MaxKeyBytes/2) + `"}`, 201, "", ""},
		{"too many values", "POST", "/Users", `{` + userSchemaJSON + `,"userName":"x@acme.test","emails":` + emails(scim.MaxValuesPerAttribute+1) + `}`, 400, "tooMany", "maxValuesPerAttribute"},
		{"too many values by PATCH", "PATCH", "/Users/{user}", patchBody(`{"op":"add","path":"emails","value":` + emails(scim.MaxValuesPerAttribute+1) + `}`), 400, "tooMany", "maxValuesPerAttribute"},
		{"resource too large", "POST", "/Users", `{` + userSchemaJSON + `,"userName":"x@acme.test",` + strings.Join(big, ",") + `}`, 413, "", "maxResourceBytes"},
		{"resource too large by PATCH", "PATCH", "/Users/{user}", patchBody(`{"op":"replace","value":{` + strings.Join(big, ",") + `}}`), 413, "", "maxResourceBytes"},
		{"too many PATCH operations", "PATCH", "/Users/{user}", patchBody(ops(scim.MaxPatchOperations+1, `{"op":"replace","path":"title","value":"x"}`)...), 400, "tooMany", "maxPatchOperations"},
		{"too many values in one PATCH", "PATCH", "/Users/{user}", patchBody(ops(11, `{"op":"add","path":"emails","value":`+emails(scim.MaxPatchValues/10)+`}`)...), 400, "tooMany", "maxPatchValues"},
		{"30,000 filtered replaces", "PATCH", "/Users/{user}", patchBody(ops(30000, `{"op":"replace","path":"emails[value eq \"e1@acme.test\"].type","value":"home"}`)...), 400, "tooMany", "maxPatchOperations"},
		{"too many members in a POST", "POST", "/Groups", `{` + groupSchemaJSON + `,"displayName":"Big","members":` + members(scim.MaxMembersPerRequest+1) + `}`, 400, "tooMany", "maxMembersPerRequest"},
		{"too many members in a PATCH", "PATCH", "/Groups/{group}", patchBody(`{"op":"add","path":"members","value":`+members(scim.MaxMembersPerRequest/2)+`}`, `{"op":"add","path":"members","value":`+members(scim.MaxMembersPerRequest/2+1)+`}`), 400, "tooMany", "maxMembersPerRequest"},
		{"filter too long", "GET", get(`userName eq "` + long(scim.MaxFilterBytes) + `"`), "", 400, "tooMany", "maxFilterBytes"},
		{"filter with too many terms", "GET", get(terms(scim.MaxFilterTerms + 1)), "", 400, "tooMany", "maxFilterTerms"},
		{"1,000 title eq terms", "GET", get(terms(1000)), "", 400, "tooMany", "maxFilter"},
		{"filter at the term limit", "GET", get(terms(scim.MaxFilterTerms)), "", 200, "", ""},
		{"filter nested too deep", "GET", get(strings.Repeat("(", scim.MaxFilterDepth+1) + `title eq "x"` + strings.Repeat(")", scim.MaxFilterDepth+1)), "", 400, "tooMany", "maxFilterDepth"},
		{"SearchRequest filter with too many terms", "POST", "/Users/.search", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],"filter":` + mustJSON(t, terms(scim.MaxFilterTerms+1)) + `}`, 400, "tooMany", "maxFilterTerms"},
		{"PATCH path too long", "PATCH", "/Users/{user}", patchBody(`{"op":"replace","path":` + mustJSON(t, `emails[value eq "`+long(scim.MaxPatchPathBytes)+`"].type`) + `,"value":"home"}`), 400, "tooMany", "maxPatchPathBytes"},
		{"PATCH paths too long together", "PATCH", "/Users/{user}", patchBody(ops(scim.MaxPatchPathsBytes/(scim.MaxPatchPathBytes-10)+1, `{"op":"replace","path":`+mustJSON(t, `emails[value eq "`+long(scim.MaxPatchPathBytes-30)+`"].type`)+`,"value":"home"}`)...), 400, "tooMany", "maxPatchPathsBytes"},
		{"PATCH path nested too deep", "PATCH", "/Users/{user}", patchBody(`{"op":"remove","path":` + mustJSON(t, "emails["+strings.Repeat("(", scim.MaxFilterDepth)+`value eq "x"`+strings.Repeat(")", scim.MaxFilterDepth)+"]") + `}`), 400, "tooMany", "maxFilterDepth"},
		{"one member remove per operation is not counted as path bytes", "PATCH", "/Groups/{group}", patchBody(ops(scim.MaxPatchOperations, `{"op":"remove","path":"members[value eq \"00000000-0000-4000-8000-999999999999\"]"}`)...), 204, "", ""},
	})
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestMultipleAuthorizationHeaders: two Authorization headers, even two
// valid ones, are 401: which one counts would depend on the proxy in front.
func TestMultipleAuthorizationHeaders(t *testing.T) {
	forEachStore(t, func(t *testing.T, srv *testServer) {
		good := srv.token(t, testConn)
		for _, values := range [][]string{{"Bearer " + good, "Bearer " + good}, {"Bearer " + good, "Bearer wrong"}, {"Bearer wrong", "Bearer " + good}} {
			r := srv.send(t, "GET", srv.base(testConn)+"/Users", http.Header{"Authorization": values}, nil)
			if r.status != http.StatusUnauthorized || r.header.Get("WWW-Authenticate") == "" {
				t.Errorf("Authorization %d headers: %d, want 401 with WWW-Authenticate\n%s", len(values), r.status, r)
			}
		}
		r := srv.send(t, "GET", srv.base(testConn)+"/Users", http.Header{"Authorization": {"Bearer " + good}}, nil)
		mustStatus(t, r, http.StatusOK)
	})
}

// TestUsernamesAreComparedByPRECIS: names a person reads as one are one
// account on both stores; the name is kept as sent for display.
func TestUsernamesAreComparedByPRECIS(t *testing.T) {
	forEachStore(t, func(t *testing.T, srv *testServer) {
		c := srv.client(t, testConn)
		user := func(name string) string {
			return fmt.Sprintf(`{"schemas":[%q],"userName":%q}`, scim.UserSchema, name)
		}
		id := c.create(t, "/Users", user("ａｄａ@x.com"))
		if got := c.get(t, "/Users/"+id)["userName"]; got != "ａｄａ@x.com" {
			t.Errorf("userName shown as %q, want it as sent", got)
		}
		for _, tc := range []struct {
			name string
			want int
		}{
			{"ada@x.com", http.StatusConflict},
			{"ADA@X.COM", http.StatusConflict},
			{"ada@x.com\u200b", http.StatusBadRequest},
			{"ada@x.com ", http.StatusBadRequest},
			{"kelvin@x.com", http.StatusCreated},
			{"\u212aelvin@x.com", http.StatusConflict},
			{"strasse@x.com", http.StatusCreated},
			{"straße@x.com", http.StatusCreated},
			{"istanbul@x.com", http.StatusCreated},
			{"İstanbul@x.com", http.StatusCreated},
			{"ıstanbul@x.com", http.StatusCreated},
		} {
			if r := c.do(t, "POST", "/Users", user(tc.name)); r.status != tc.want {
				t.Errorf("POST userName %q: %d, want %d\n%.300s", tc.name, r.status, tc.want, r.body)
			}
		}
		list := c.get(t, "/Users?filter="+url.QueryEscape(`userName eq "ADA@x.com"`))
		if ids := resourceIDs(t, list); len(ids) != 1 || ids[0] != id {
			t.Errorf("lookup by another spelling found %v, want [%s]", ids, id)
		}
		c.createGroup(t, "Sales Team")
		r := c.do(t, "POST", "/Groups", fmt.Sprintf(`{"schemas":[%q],"displayName":" sales  TEAM "}`, scim.GroupSchema))
		mustStatus(t, r, http.StatusConflict)
	})
}
