package httpapi_test

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/scimgate/scimgate/pkg/auth"
	"github.com/scimgate/scimgate/pkg/httpapi"
	"github.com/scimgate/scimgate/pkg/scim"
)

// checkError requires a SCIM error response (RFC 7644 §3.12): the status,
// the error schema, status as a string, a detail, and scimType exactly
// when one is expected.
func checkError(t *testing.T, r response, status int, scimType string) map[string]any {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d\n%s", r.status, status, r)
	}
	body := r.object(t)
	if !reflect.DeepEqual(body["schemas"], []any{scim.ErrorSchema}) {
		t.Errorf("schemas = %v, want [%s]", body["schemas"], scim.ErrorSchema)
	}
	if body["status"] != strconv.Itoa(status) {
		t.Errorf("status attribute = %#v, want the string %q", body["status"], strconv.Itoa(status))
	}
	if d, _ := body["detail"].(string); d == "" {
		t.Errorf("no detail in %s", r.body)
	}
	got, has := body["scimType"]
	switch {
	case scimType == "" && has:
		t.Errorf("scimType = %v, want none", got)
	case scimType != "" && got != scimType:
		t.Errorf("scimType = %v, want %s", got, scimType)
	}
	return body
}

// requireUnchanged fails when the connection's users or groups differ from before.
func requireUnchanged(t *testing.T, c *client, before string) {
	t.Helper()
	if after := c.snapshot(t); after != before {
		t.Errorf("the request changed stored data\nbefore: %s\nafter: %s", before, after)
	}
}

// TestUnauthorized: every authentication failure is the same 401 with the
// same body (RFC 6750 §3), so that a caller cannot tell a wrong token from
// a tenant or connection that does not exist.
func TestUnauthorized(t *testing.T) {
	srv := newServer(t)
	owner := srv.client(t, testConn)
	otherSSO := srv.token(t, scim.Connection{Tenant: "acme", SSO: "entra"})
	otherTenant := srv.token(t, scim.Connection{Tenant: "globex", SSO: "okta"})
	userID := owner.createUser(t, "alice@acme.test")
	before := owner.snapshot(t)

	tampered := []byte(owner.token)
	tampered[len(tampered)-1] ^= 1
	basic := base64.StdEncoding.EncodeToString([]byte("okta:" + owner.token))

	tests := []struct {
		name          string
		conn          scim.Connection
		authorization string
	}{
		{"no Authorization header", testConn, ""},
		{"Basic scheme with the right secret", testConn, "Basic " + basic},
		{"token without a scheme", testConn, owner.token},
		{"Bearer without a token", testConn, "Bearer"},
		{"Bearer with only blanks", testConn, "Bearer    "},
		{"unknown token", testConn, "Bearer " + auth.TokenPrefix + strings.Repeat("A", 43)},
		{"token without its prefix", testConn, "Bearer " + strings.TrimPrefix(owner.token, auth.TokenPrefix)},
		{"token with one character changed", testConn, "Bearer " + string(tampered)},
		{"token of another connection of the tenant", testConn, "Bearer " + otherSSO},
		{"token of another tenant", testConn, "Bearer " + otherTenant},
		{"valid token on a connection that does not exist", scim.Connection{Tenant: "acme", SSO: "nosuch"}, "Bearer " + owner.token},
		{"valid token on a tenant that does not exist", scim.Connection{Tenant: "nosuch", SSO: "okta"}, "Bearer " + owner.token},
	}
	requests := []struct{ method, path, body string }{
		{"GET", "/Users", ""},
		{"GET", "/Users/" + userID, ""},
		{"POST", "/Users", `{"userName":"mallory@acme.test"}`},
		{"PATCH", "/Users/" + userID, `{"schemas":["` + scim.PatchOpSchema + `"],"Operations":[{"op":"replace","value":{"active":false}}]}`},
		{"DELETE", "/Users/" + userID, ""},
		{"GET", "/ServiceProviderConfig", ""},
	}
	var firstBody []byte
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, rq := range requests {
				header := http.Header{}
				if tt.authorization != "" {
					header.Set("Authorization", tt.authorization)
				}
				var body *strings.Reader
				if rq.body != "" {
					header.Set("Content-Type", "application/scim+json")
				}
				body = strings.NewReader(rq.body)
				r := srv.send(t, rq.method, srv.base(tt.conn)+rq.path, header, body)
				checkError(t, r, http.StatusUnauthorized, "")
				if got := r.header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") {
					t.Errorf("%s %s: WWW-Authenticate = %q, want a Bearer challenge (RFC 6750 §3)", rq.method, rq.path, got)
				}
				if firstBody == nil {
					firstBody = r.body
				} else if !bytes.Equal(r.body, firstBody) {
					t.Errorf("%s %s: body differs between failures, which tells them apart:\n%s\n%s", rq.method, rq.path, r.body, firstBody)
				}
			}
		})
	}
	requireUnchanged(t, owner, before)

	t.Run("the scheme name is case-insensitive", func(t *testing.T) {
		header := http.Header{"Authorization": {"bearer " + owner.token}}
		mustStatus(t, srv.send(t, "GET", srv.base(testConn)+"/Users", header, nil), http.StatusOK)
	})
}

// TestNotFound: an id that names no live resource of that type in the
// connection is a SCIM 404, whatever the method.
func TestNotFound(t *testing.T) {
	srv := newServer(t)
	c := srv.client(t, testConn)
	other := srv.client(t, scim.Connection{Tenant: "acme", SSO: "entra"})
	userID := c.createUser(t, "alice@acme.test")
	groupID := c.createGroup(t, "Eng", userID)
	strangerID := other.createUser(t, "alice@acme.test") // same userName: uniqueness is per connection
	deletedID := c.createUser(t, "gone@acme.test")
	mustStatus(t, c.do(t, "DELETE", "/Users/"+deletedID, ""), http.StatusNoContent)
	before := c.snapshot(t)

	userBody := `{"userName":"alice@acme.test"}`
	groupBody := `{"displayName":"Eng"}`
	patch := `{"schemas":["` + scim.PatchOpSchema + `"],"Operations":[{"op":"replace","value":{"displayName":"x"}}]}`
	tests := []struct{ method, path, body string }{
		{"GET", "/Users/00000000-0000-4000-8000-999999999999", ""},
		{"GET", "/Users/not-even-a-uuid", ""},
		{"PUT", "/Users/00000000-0000-4000-8000-999999999999", userBody},
		{"PATCH", "/Users/00000000-0000-4000-8000-999999999999", patch},
		{"DELETE", "/Users/00000000-0000-4000-8000-999999999999", ""},
		{"GET", "/Groups/00000000-0000-4000-8000-999999999999", ""},
		{"PUT", "/Groups/00000000-0000-4000-8000-999999999999", groupBody},
		{"PATCH", "/Groups/00000000-0000-4000-8000-999999999999", patch},
		{"DELETE", "/Groups/00000000-0000-4000-8000-999999999999", ""},
		{"GET", "/Groups/" + userID, ""},    // a user's id is not a group's
		{"GET", "/Users/" + groupID, ""},    // nor a group's a user's
		{"GET", "/Users/" + strangerID, ""}, // another connection's user
		{"PATCH", "/Users/" + strangerID, patch},
		{"DELETE", "/Users/" + strangerID, ""},
		{"GET", "/Users/" + deletedID, ""},
		{"DELETE", "/Users/" + deletedID, ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			checkError(t, c.do(t, tt.method, tt.path, tt.body), http.StatusNotFound, "")
		})
	}
	requireUnchanged(t, c, before)
	if got := other.get(t, "/Users/"+strangerID); got["userName"] != "alice@acme.test" {
		t.Errorf("the other connection's user changed: %v", got)
	}
	if list := other.get(t, "/Users"); list["totalResults"] != float64(1) {
		t.Errorf("the other connection sees %v users, want only its own", list["totalResults"])
	}
}

// TestUnknownPathsAndConnectionIDs: anything that is not an endpoint, and
// any base URL whose tenant or connection id is not valid (lowercase
// letters, digits, hyphens: Okta refuses "_" in base URLs), is the same
// SCIM 404, before authentication.
func TestUnknownPathsAndConnectionIDs(t *testing.T) {
	srv := newServer(t)
	c := srv.client(t, testConn)
	before := c.snapshot(t)
	paths := []string{
		"/",
		"/scim",
		"/scim/v2",
		"/scim/v2/acme",
		"/scim/v2/acme/okta",
		"/scim/v2/acme/okta/",
		"/scim/v2/acme/okta/Unicorns",
		"/scim/v2/acme/okta/Users/a/b",
		"/scim/v2/acme/okta/extra/Users",
		"/scim/v1/acme/okta/Users",
		"/scim/v2/Acme/okta/Users",
		"/scim/v2/acme/OKTA/Users",
		"/scim/v2/acme_corp/okta/Users",
		"/scim/v2/acme/okta_prod/Users",
		"/scim/v2/acme.corp/okta/Users",
		"/scim/v2/" + strings.Repeat("a", 64) + "/okta/Users",
		"/scim/v2/acme/" + strings.Repeat("o", 64) + "/Users",
		"/scim/v2/acme%20corp/okta/Users",
	}
	for _, path := range paths {
		for _, method := range []string{"GET", "POST"} {
			t.Run(method+" "+path, func(t *testing.T) {
				header := http.Header{"Authorization": {"Bearer " + c.token}, "Content-Type": {"application/scim+json"}}
				r := srv.send(t, method, srv.url+path, header, strings.NewReader(`{"userName":"mallory@acme.test"}`))
				body := checkError(t, r, http.StatusNotFound, "")
				if d, _ := body["detail"].(string); !strings.HasPrefix(d, "no SCIM endpoint at ") {
					t.Errorf("detail %q does not say there is no endpoint", d)
				}
				if r.header.Get("WWW-Authenticate") != "" {
					t.Errorf("a 404 must not challenge for credentials")
				}
			})
		}
	}
	requireUnchanged(t, c, before)
	// The longest valid ids work: the 404s above are about the ids, not the length.
	longest := scim.Connection{Tenant: strings.Repeat("a", 63), SSO: strings.Repeat("o", 63)}
	if got := srv.client(t, longest).get(t, "/Users"); got["totalResults"] != float64(0) {
		t.Errorf("longest ids: %v", got)
	}
}

// TestMethodNotAllowed: a known path with a method it does not serve is a
// SCIM 405 and changes nothing.
func TestMethodNotAllowed(t *testing.T) {
	srv := newServer(t)
	c := srv.client(t, testConn)
	userID := c.createUser(t, "alice@acme.test")
	before := c.snapshot(t)
	tests := []struct{ method, path string }{
		{"DELETE", "/Users"},
		{"PUT", "/Users"},
		{"PATCH", "/Users"},
		{"POST", "/Users/" + userID},
		{"DELETE", "/Groups"},
		{"POST", "/Groups/" + userID},
		{"POST", "/ServiceProviderConfig"},
		{"DELETE", "/Schemas"},
		{"PUT", "/ResourceTypes/User"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			checkError(t, c.do(t, tt.method, tt.path, `{"userName":"mallory@acme.test"}`), http.StatusMethodNotAllowed, "")
		})
	}
	requireUnchanged(t, c, before)
}

// TestMethodNotAllowedListsAllowedMethods: RFC 9110 §15.5.6 says a 405
// response MUST carry an Allow header listing the methods the resource
// supports.
func TestMethodNotAllowedListsAllowedMethods(t *testing.T) {
	srv := newServer(t)
	c := srv.client(t, testConn)
	tests := []struct {
		method, path string
		allow        []string
	}{
		{"DELETE", "/Users", []string{"GET", "POST"}},
		{"POST", "/Users/00000000-0000-4000-8000-000000000001", []string{"DELETE", "GET", "PATCH", "PUT"}},
		{"POST", "/ServiceProviderConfig", []string{"GET"}},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			r := c.do(t, tt.method, tt.path, "")
			checkError(t, r, http.StatusMethodNotAllowed, "")
			var got []string
			for _, v := range r.header.Values("Allow") {
				for _, m := range strings.Split(v, ",") {
					if m = strings.TrimSpace(m); m != "" && m != "HEAD" {
						got = append(got, m)
					}
				}
			}
			slices.Sort(got)
			if !slices.Equal(got, tt.allow) {
				t.Errorf("Allow = %q, want %v", r.header.Values("Allow"), tt.allow)
			}
		})
	}
}

// TestUnsupportedMediaType: bodies must be JSON (RFC 7644 §3.1 names
// application/scim+json; application/json is accepted too).
func TestUnsupportedMediaType(t *testing.T) {
	srv := newServer(t)
	c := srv.client(t, testConn)
	userID := c.createUser(t, "alice@acme.test")
	groupID := c.createGroup(t, "Eng")
	before := c.snapshot(t)
	bodies := []struct{ method, path, body string }{
		{"POST", "/Users", `{"userName":"bob@acme.test"}`},
		{"PUT", "/Users/" + userID, `{"userName":"alice@acme.test","displayName":"Changed"}`},
		{"PATCH", "/Users/" + userID, `{"schemas":["` + scim.PatchOpSchema + `"],"Operations":[{"op":"replace","value":{"active":false}}]}`},
		{"POST", "/Groups", `{"displayName":"Ops"}`},
		{"PATCH", "/Groups/" + groupID, `{"schemas":["` + scim.PatchOpSchema + `"],"Operations":[{"op":"replace","value":{"displayName":"Changed"}}]}`},
	}
	for _, ct := range []string{"text/plain", "application/xml", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "text/json", "not a media type;;"} {
		for _, b := range bodies {
			t.Run(ct+" "+b.method+" "+b.path, func(t *testing.T) {
				header := http.Header{"Authorization": {"Bearer " + c.token}, "Content-Type": {ct}}
				checkError(t, srv.send(t, b.method, srv.base(testConn)+b.path, header, strings.NewReader(b.body)), http.StatusUnsupportedMediaType, "")
			})
		}
	}
	requireUnchanged(t, c, before)

	for i, ct := range []string{"application/scim+json", "application/scim+json; charset=utf-8", "application/json", "Application/JSON; charset=UTF-8", ""} {
		t.Run("accepts "+ct, func(t *testing.T) {
			header := http.Header{"Authorization": {"Bearer " + c.token}}
			if ct != "" {
				header.Set("Content-Type", ct)
			}
			body := fmt.Sprintf(`{"userName":"user%d@acme.test"}`, i)
			mustStatus(t, srv.send(t, "POST", srv.base(testConn)+"/Users", header, strings.NewReader(body)), http.StatusCreated)
		})
	}
}

// TestOversizeBody: bodies beyond httpapi.MaxBodyBytes are refused with 413
// before anything is parsed or stored.
func TestOversizeBody(t *testing.T) {
	srv := newServer(t)
	c := srv.client(t, testConn)
	userID := c.createUser(t, "alice@acme.test")
	groupID := c.createGroup(t, "Eng", userID)
	before := c.snapshot(t)
	huge := strings.Repeat("x", httpapi.MaxBodyBytes)
	tests := []struct{ method, path, body string }{
		{"POST", "/Users", `{"userName":"bob@acme.test","displayName":"` + huge + `"}`},
		{"PUT", "/Users/" + userID, `{"userName":"alice@acme.test","displayName":"` + huge + `"}`},
		{"PATCH", "/Groups/" + groupID, `{"schemas":["` + scim.PatchOpSchema + `"],"Operations":[{"op":"replace","value":{"displayName":"` + huge + `"}}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			checkError(t, c.do(t, tt.method, tt.path, tt.body), http.StatusRequestEntityTooLarge, "")
		})
	}
	requireUnchanged(t, c, before)
}

// TestBadInputChangesNothing: every invalid request gets its RFC 7644 §3.12
// status and scimType and leaves the stored data exactly as it was.
func TestBadInputChangesNothing(t *testing.T) {
	srv := newServer(t)
	c := srv.client(t, testConn)
	stranger := srv.client(t, scim.Connection{Tenant: "acme", SSO: "entra"}).createUser(t, "stranger@acme.test")
	alice := c.create(t, "/Users", `{"userName":"alice@acme.test","externalId":"ext-alice","displayName":"Alice"}`)
	bob := c.createUser(t, "bob@acme.test")
	eng := c.createGroup(t, "Eng", alice)
	c.createGroup(t, "Ops")
	aliceVersion := c.do(t, "GET", "/Users/"+alice, "").header.Get("ETag")
	before := c.snapshot(t)

	ops := func(ops string) string {
		return `{"schemas":["` + scim.PatchOpSchema + `"],"Operations":[` + ops + `]}`
	}
	stale := `W/"99"`
	tests := []struct {
		name         string
		method, path string
		header       map[string]string
		body         string
		status       int
		scimType     string
	}{
		{"truncated JSON", "POST", "/Users", nil, `{"userName":`, 400, "invalidSyntax"},
		{"JSON array", "POST", "/Users", nil, `[{"userName":"carol@acme.test"}]`, 400, "invalidSyntax"},
		{"no body", "POST", "/Users", nil, ``, 400, "invalidSyntax"},
		{"two JSON objects", "POST", "/Users", nil, `{"userName":"carol@acme.test"} {"userName":"dave@acme.test"}`, 400, "invalidSyntax"},
		{"schemas not an array", "POST", "/Users", nil, `{"schemas":"` + scim.UserSchema + `","userName":"carol@acme.test"}`, 400, "invalidSyntax"},
		{"active is not a boolean", "POST", "/Users", nil, `{"userName":"carol@acme.test","active":"maybe"}`, 400, "invalidValue"},
		{"active is a number", "POST", "/Users", nil, `{"userName":"carol@acme.test","active":1}`, 400, "invalidValue"},
		{"userName missing", "POST", "/Users", nil, `{"displayName":"Carol","active":true}`, 400, "invalidValue"},
		{"userName empty", "POST", "/Users", nil, `{"userName":"  "}`, 400, "invalidValue"},
		{"userName a number", "POST", "/Users", nil, `{"userName":42}`, 400, "invalidValue"},
		{"unknown attribute", "POST", "/Users", nil, `{"userName":"carol@acme.test","shoeSize":44}`, 400, "invalidValue"},
		{"undeclared extension nested too deep", "POST", "/Users", nil, `{"userName":"carol@acme.test","urn:example:ext:1.0:User":{"x":{"y":{"z":1}}}}`, 400, "invalidValue"},
		{"name is not an object", "POST", "/Users", nil, `{"userName":"carol@acme.test","name":"Carol"}`, 400, "invalidValue"},
		{"userName taken, other case", "POST", "/Users", nil, `{"userName":"ALICE@acme.TEST"}`, 409, "uniqueness"},
		{"externalId taken", "POST", "/Users", nil, `{"userName":"carol@acme.test","externalId":"ext-alice"}`, 409, "uniqueness"},
		{"PUT active not a boolean", "PUT", "/Users/" + alice, nil, `{"userName":"alice@acme.test","active":"maybe"}`, 400, "invalidValue"},
		{"PUT without userName", "PUT", "/Users/" + alice, nil, `{"displayName":"Alice"}`, 400, "invalidValue"},
		{"PUT takes another user's userName", "PUT", "/Users/" + bob, nil, `{"userName":"Alice@Acme.Test"}`, 409, "uniqueness"},
		{"PUT with another id in the body", "PUT", "/Users/" + alice, nil, `{"id":"` + bob + `","userName":"alice@acme.test"}`, 400, "mutability"},
		{"PUT with a stale If-Match", "PUT", "/Users/" + alice, map[string]string{"If-Match": stale}, `{"userName":"alice@acme.test","displayName":"Changed"}`, 412, ""},
		{"PUT with an If-Match that is no ETag of ours", "PUT", "/Users/" + alice, map[string]string{"If-Match": `"abc"`}, `{"userName":"alice@acme.test","displayName":"Changed"}`, 412, ""},
		{"PATCH truncated JSON", "PATCH", "/Users/" + alice, nil, `{"Operations":[`, 400, "invalidSyntax"},
		{"PATCH without Operations", "PATCH", "/Users/" + alice, nil, `{"schemas":["` + scim.PatchOpSchema + `"]}`, 400, "invalidSyntax"},
		{"PATCH with an unknown op", "PATCH", "/Users/" + alice, nil, ops(`{"op":"frobnicate","path":"displayName","value":"x"}`), 400, "invalidSyntax"},
		{"PATCH active not a boolean", "PATCH", "/Users/" + alice, nil, ops(`{"op":"replace","value":{"active":"maybe"}}`), 400, "invalidValue"},
		{"PATCH path active not a boolean", "PATCH", "/Users/" + alice, nil, ops(`{"op":"replace","path":"active","value":"maybe"}`), 400, "invalidValue"},
		{"PATCH replace without a value", "PATCH", "/Users/" + alice, nil, ops(`{"op":"replace","path":"displayName"}`), 400, "invalidValue"},
		{"PATCH of the read-only id", "PATCH", "/Users/" + alice, nil, ops(`{"op":"replace","path":"id","value":"x"}`), 400, "mutability"},
		{"PATCH of an unknown attribute", "PATCH", "/Users/" + alice, nil, ops(`{"op":"replace","path":"shoeSize","value":44}`), 400, "invalidPath"},
		{"PATCH path that does not parse", "PATCH", "/Users/" + alice, nil, ops(`{"op":"replace","path":"emails[type eq","value":"x"}`), 400, "invalidPath"},
		{"PATCH remove without a path", "PATCH", "/Users/" + alice, nil, ops(`{"op":"remove"}`), 400, "noTarget"},
		{"PATCH is all or nothing", "PATCH", "/Users/" + alice, nil, ops(`{"op":"replace","path":"displayName","value":"Changed"},{"op":"replace","path":"active","value":"maybe"}`), 400, "invalidValue"},
		{"PATCH takes another user's userName", "PATCH", "/Users/" + bob, nil, ops(`{"op":"replace","path":"userName","value":"ALICE@acme.test"}`), 409, "uniqueness"},
		{"PATCH with a stale If-Match", "PATCH", "/Users/" + alice, map[string]string{"If-Match": stale}, ops(`{"op":"replace","value":{"active":false}}`), 412, ""},
		{"DELETE with a stale If-Match", "DELETE", "/Users/" + alice, map[string]string{"If-Match": stale}, "", 412, ""},
		{"group member that does not exist", "POST", "/Groups", nil, `{"displayName":"Sales","members":[{"value":"00000000-0000-4000-8000-999999999999"}]}`, 400, "invalidValue"},
		{"group member of another connection", "POST", "/Groups", nil, `{"displayName":"Sales","members":[{"value":"` + stranger + `"}]}`, 400, "invalidValue"},
		{"group member that is a group", "POST", "/Groups", nil, `{"displayName":"Sales","members":[{"value":"` + eng + `"}]}`, 400, "invalidValue"},
		{"group member without value", "POST", "/Groups", nil, `{"displayName":"Sales","members":[{"display":"Alice"}]}`, 400, "invalidValue"},
		{"group without displayName", "POST", "/Groups", nil, `{"members":[]}`, 400, "invalidValue"},
		{"displayName taken, other case", "POST", "/Groups", nil, `{"displayName":"eNG"}`, 409, "uniqueness"},
		{"PATCH adds an unknown member with a valid one", "PATCH", "/Groups/" + eng, nil, ops(`{"op":"add","path":"members","value":[{"value":"` + bob + `"},{"value":"00000000-0000-4000-8000-999999999999"}]}`), 400, "invalidValue"},
		{"PATCH adds another connection's user", "PATCH", "/Groups/" + eng, nil, ops(`{"op":"add","path":"members","value":[{"value":"` + stranger + `"}]}`), 400, "invalidValue"},
		{"PATCH replaces members with an unknown one", "PATCH", "/Groups/" + eng, nil, ops(`{"op":"replace","path":"members","value":[{"value":"` + bob + `"},{"value":"nosuch"}]}`), 400, "invalidValue"},
		{"PATCH renames onto another group", "PATCH", "/Groups/" + eng, nil, ops(`{"op":"replace","value":{"id":"` + eng + `","displayName":"OPS"}}`), 409, "uniqueness"},
		{"PATCH with a broken member filter", "PATCH", "/Groups/" + eng, nil, ops(`{"op":"remove","path":"members[value eq"}`), 400, "invalidPath"},
		{"PUT group with an unknown member", "PUT", "/Groups/" + eng, nil, `{"displayName":"Eng","members":[{"value":"` + alice + `"},{"value":"nosuch"}]}`, 400, "invalidValue"},
		{"garbage filter", "GET", "/Users?filter=" + url.QueryEscape("garbage"), nil, "", 400, "invalidFilter"},
		{"filter without a value", "GET", "/Users?filter=" + url.QueryEscape("userName eq"), nil, "", 400, "invalidFilter"},
		{"filter on an unknown attribute", "GET", "/Users?filter=" + url.QueryEscape(`shoeSize eq "44"`), nil, "", 400, "invalidFilter"},
		{"filter comparing a boolean with a string", "GET", "/Users?filter=" + url.QueryEscape(`active eq "yes"`), nil, "", 400, "invalidFilter"},
		{"groups filter on a user attribute", "GET", "/Groups?filter=" + url.QueryEscape(`userName eq "alice@acme.test"`), nil, "", 400, "invalidFilter"},
		{"startIndex not a number", "GET", "/Users?startIndex=abc", nil, "", 400, "invalidValue"},
		{"count not an integer", "GET", "/Users?count=1.5", nil, "", 400, "invalidValue"},
		{"attributes names an unknown attribute", "GET", "/Users?attributes=shoeSize", nil, "", 400, "invalidValue"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			header := http.Header{"Authorization": {"Bearer " + c.token}}
			if tt.body != "" {
				header.Set("Content-Type", "application/scim+json")
			}
			for k, v := range tt.header {
				header.Set(k, v)
			}
			r := srv.send(t, tt.method, srv.base(testConn)+tt.path, header, strings.NewReader(tt.body))
			checkError(t, r, tt.status, tt.scimType)
			requireUnchanged(t, c, before)
		})
	}
	// The stale-ETag cases above must fail for the version, not for any
	// other reason: the same requests with the current ETag succeed.
	header := http.Header{"Authorization": {"Bearer " + c.token}, "Content-Type": {"application/scim+json"}, "If-Match": {aliceVersion}}
	r := srv.send(t, "PATCH", srv.base(testConn)+"/Users/"+alice, header, strings.NewReader(ops(`{"op":"replace","value":{"displayName":"Changed"}}`)))
	mustStatus(t, r, http.StatusOK)
	if r.header.Get("ETag") == aliceVersion {
		t.Errorf("a change kept the ETag %s", aliceVersion)
	}
}

// TestListCountZero: count=0 returns no resources, only totalResults (RFC
// 7644 §3.4.2.4).
func TestListCountZero(t *testing.T) {
	srv := newServer(t)
	c := srv.client(t, testConn)
	for _, name := range []string{"alice@acme.test", "bob@acme.test", "carol@acme.test"} {
		c.createUser(t, name)
	}
	c.createGroup(t, "Eng")
	tests := []struct {
		path  string
		total float64
	}{
		{"/Users?count=0", 3},
		{"/Users?count=0&startIndex=2", 3},
		{"/Users?count=-5", 3}, // a negative count means 0
		{"/Users?count=0&filter=" + url.QueryEscape(`userName sw "b"`), 1},
		{"/Users?count=0&filter=" + url.QueryEscape(`userName eq "carol@acme.test"`), 1},
		{"/Groups?count=0", 1},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			list := c.get(t, tt.path)
			if list["totalResults"] != tt.total {
				t.Errorf("totalResults = %v, want %v", list["totalResults"], tt.total)
			}
			if list["itemsPerPage"] != float64(0) {
				t.Errorf("itemsPerPage = %v, want 0", list["itemsPerPage"])
			}
			if res, ok := list["Resources"]; ok && len(res.([]any)) != 0 {
				t.Errorf("Resources = %v, want none", res)
			}
		})
	}
}

// TestListPaging: startIndex and count page through one stable order, the
// same on every request (Okta imports page by page with count=100).
func TestListPaging(t *testing.T) {
	srv := startServer(t, sqliteStores(t), serverConfig{serviceOptions: []scim.Option{scim.WithMaxPageSize(5)}})
	c := srv.client(t, testConn)
	var created []string
	for i := range 7 {
		created = append(created, c.createUser(t, fmt.Sprintf("user%d@acme.test", i)))
	}
	pages := func(query string, size int) []string {
		t.Helper()
		var ids []string
		for start := 1; ; start += size {
			list := c.get(t, fmt.Sprintf("/Users?%sstartIndex=%d&count=%d", query, start, size))
			if list["totalResults"] != float64(len(created)) {
				t.Fatalf("startIndex=%d: totalResults %v, want %d", start, list["totalResults"], len(created))
			}
			if list["startIndex"] != float64(start) {
				t.Errorf("startIndex echoed as %v, want %d", list["startIndex"], start)
			}
			page := resourceIDs(t, list)
			if len(page) == 0 {
				return ids
			}
			if len(page) > size {
				t.Fatalf("startIndex=%d: %d resources, count was %d", start, len(page), size)
			}
			ids = append(ids, page...)
		}
	}
	for _, size := range []int{1, 2, 3, 5} {
		if got := pages("", size); !slices.Equal(got, created) {
			t.Errorf("pages of %d: %v, want %v", size, got, created)
		}
	}
	// A filter no key answers is evaluated over the same order.
	if got := pages("filter="+url.QueryEscape(`userName ew "@acme.test"`)+"&", 3); !slices.Equal(got, created) {
		t.Errorf("filtered pages: %v, want %v", got, created)
	}

	tests := []struct {
		query string
		want  []string
	}{
		{"startIndex=0&count=2", created[:2]},  // below 1 means 1
		{"startIndex=-3&count=2", created[:2]}, // likewise
		{"startIndex=7&count=5", created[6:]},
		{"startIndex=8&count=5", nil},
		{"startIndex=100", nil},
		{"count=100", created[:5]}, // capped at the maximum page size
		{"", created[:5]},          // no count: the maximum page size
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			list := c.get(t, "/Users?"+tt.query)
			if got := resourceIDs(t, list); !slices.Equal(got, tt.want) {
				t.Errorf("ids %v, want %v", got, tt.want)
			}
			if list["totalResults"] != float64(len(created)) {
				t.Errorf("totalResults %v, want %d", list["totalResults"], len(created))
			}
		})
	}
}

// TestGroupProjection: excludedAttributes=members (what Entra and Okta send
// to look a group up without its member list) and attributes work on lists
// and on single groups; id and schemas are always returned (RFC 7643 §2.2).
func TestGroupProjection(t *testing.T) {
	srv := newServer(t)
	c := srv.client(t, testConn)
	alice := c.createUser(t, "alice@acme.test")
	bob := c.createUser(t, "bob@acme.test")
	eng := c.createGroup(t, "Eng", alice, bob)

	members := func(doc map[string]any) (int, bool) {
		m, ok := doc["members"].([]any)
		return len(m), ok
	}
	if n, _ := members(c.get(t, "/Groups/"+eng)); n != 2 {
		t.Fatalf("group has %d members, want 2", n)
	}
	tests := []struct {
		name        string
		path        string
		wantMembers bool
		wantKeys    []string
		absentKeys  []string
	}{
		{"list without members", "/Groups?excludedAttributes=members", false, []string{"id", "schemas", "displayName", "meta"}, nil},
		{"filtered list without members", "/Groups?excludedAttributes=members&filter=" + url.QueryEscape(`displayName eq "Eng"`), false, []string{"id", "displayName"}, nil},
		{"one group without members", "/Groups/" + eng + "?excludedAttributes=members", false, []string{"id", "displayName", "meta"}, nil},
		{"excluded names are case-insensitive", "/Groups/" + eng + "?excludedAttributes=MEMBERS", false, []string{"id", "displayName"}, nil},
		{"attributes=displayName", "/Groups?attributes=displayName", false, []string{"id", "schemas", "displayName"}, []string{"meta"}},
		{"id cannot be excluded", "/Groups/" + eng + "?excludedAttributes=id,displayName", true, []string{"id", "schemas"}, []string{"displayName"}},
		{"attributes=members", "/Groups/" + eng + "?attributes=members", true, []string{"id", "members"}, []string{"displayName"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := c.get(t, tt.path)
			docs := []map[string]any{doc}
			if list, ok := doc["Resources"].([]any); ok {
				if len(list) != 1 {
					t.Fatalf("%d groups, want 1", len(list))
				}
				docs = []map[string]any{list[0].(map[string]any)}
			}
			for _, d := range docs {
				n, has := members(d)
				if has != tt.wantMembers || (has && n != 2) {
					t.Errorf("members present=%v (%d), want present=%v\n%v", has, n, tt.wantMembers, d)
				}
				for _, k := range tt.wantKeys {
					if _, ok := d[k]; !ok {
						t.Errorf("%s missing in %v", k, d)
					}
				}
				for _, k := range tt.absentKeys {
					if _, ok := d[k]; ok {
						t.Errorf("%s present in %v", k, d)
					}
				}
			}
		})
	}
}

// TestDiscovery: the discovery endpoints (RFC 7644 §4) answer for a
// connection, with locations inside its base URL.
func TestDiscovery(t *testing.T) {
	srv := newServer(t)
	c := srv.client(t, testConn)
	base := srv.base(testConn)

	spc := c.get(t, "/ServiceProviderConfig")
	if !reflect.DeepEqual(spc["schemas"], []any{scim.SPConfigSchema}) {
		t.Errorf("ServiceProviderConfig schemas = %v", spc["schemas"])
	}
	for _, feature := range []string{"patch", "filter", "etag"} {
		if f, _ := spc[feature].(map[string]any); f["supported"] != true {
			t.Errorf("ServiceProviderConfig %s = %v, want supported", feature, spc[feature])
		}
	}
	if loc, _ := spc["meta"].(map[string]any)["location"].(string); loc != base+"/ServiceProviderConfig" {
		t.Errorf("ServiceProviderConfig meta.location = %q", loc)
	}

	list := func(path string) map[string]map[string]any {
		t.Helper()
		doc := c.get(t, path)
		if !reflect.DeepEqual(doc["schemas"], []any{scim.ListResponseSchema}) {
			t.Errorf("%s schemas = %v", path, doc["schemas"])
		}
		res, _ := doc["Resources"].([]any)
		if doc["totalResults"] != float64(len(res)) || doc["itemsPerPage"] != float64(len(res)) {
			t.Errorf("%s: totalResults %v, itemsPerPage %v, %d Resources", path, doc["totalResults"], doc["itemsPerPage"], len(res))
		}
		byID := map[string]map[string]any{}
		for _, r := range res {
			m := r.(map[string]any)
			byID[m["id"].(string)] = m
		}
		return byID
	}
	schemas := list("/Schemas")
	for _, id := range []string{scim.UserSchema, scim.GroupSchema, scim.EnterpriseUserSchema} {
		if schemas[id] == nil {
			t.Errorf("/Schemas lacks %s", id)
		}
		one := c.get(t, "/Schemas/"+id)
		if !reflect.DeepEqual(one, schemas[id]) {
			t.Errorf("/Schemas/%s differs from its entry in /Schemas", id)
		}
		if loc := one["meta"].(map[string]any)["location"]; loc != base+"/Schemas/"+id {
			t.Errorf("/Schemas/%s meta.location = %v", id, loc)
		}
	}
	types := list("/ResourceTypes")
	for id, want := range map[string][2]string{"User": {"/Users", scim.UserSchema}, "Group": {"/Groups", scim.GroupSchema}} {
		one := c.get(t, "/ResourceTypes/"+id)
		if one["endpoint"] != want[0] || one["schema"] != want[1] {
			t.Errorf("/ResourceTypes/%s = endpoint %v schema %v, want %v", id, one["endpoint"], one["schema"], want)
		}
		if !reflect.DeepEqual(one, types[id]) {
			t.Errorf("/ResourceTypes/%s differs from its entry in /ResourceTypes", id)
		}
	}
	if len(types) != 2 {
		t.Errorf("%d resource types, want User and Group", len(types))
	}
	for _, path := range []string{"/Schemas/urn:example:nosuch", "/ResourceTypes/Device", "/ResourceTypes/user"} {
		checkError(t, c.do(t, "GET", path, ""), http.StatusNotFound, "")
	}
	checkError(t, srv.call(t, testConn, "", "GET", "/ServiceProviderConfig", ""), http.StatusUnauthorized, "")
}

// TestDedicatedTenant: a stack deployed for one tenant answers every other
// tenant as if it did not exist, even with that tenant's own valid token.
func TestDedicatedTenant(t *testing.T) {
	st := sqliteStores(t)
	srv := startServer(t, st, serverConfig{handler: func(cfg *httpapi.Config) { cfg.DedicatedTenant = "acme" }})
	shared := startServer(t, st, serverConfig{}) // the same store, serving every tenant

	acme := srv.client(t, testConn)
	acme.createUser(t, "alice@acme.test")
	if list := acme.get(t, "/Users"); list["totalResults"] != float64(1) {
		t.Fatalf("the dedicated tenant sees %v users", list["totalResults"])
	}

	globex := scim.Connection{Tenant: "globex", SSO: "okta"}
	globexToken := srv.token(t, globex)
	for _, rq := range []struct{ method, path, body string }{
		{"GET", "/Users", ""},
		{"POST", "/Users", `{"userName":"mallory@globex.test"}`},
		{"POST", "/Groups", `{"displayName":"Globex"}`},
		{"GET", "/ServiceProviderConfig", ""},
	} {
		for _, token := range []string{globexToken, acme.token, ""} {
			r := srv.call(t, globex, token, rq.method, rq.path, rq.body)
			body := checkError(t, r, http.StatusNotFound, "")
			if d, _ := body["detail"].(string); !strings.HasPrefix(d, "no SCIM endpoint at ") {
				t.Errorf("%s %s: detail %q differs from an unknown path's", rq.method, rq.path, d)
			}
		}
	}
	other := &client{srv: shared, conn: globex, token: globexToken}
	if users, groups := other.get(t, "/Users"), other.get(t, "/Groups"); users["totalResults"] != float64(0) || groups["totalResults"] != float64(0) {
		t.Errorf("refused requests stored data: users %v, groups %v", users["totalResults"], groups["totalResults"])
	}
}

// TestResourcesRestriction: a handler deployed for some resources (one
// Lambda function per resource) answers 404 for the others.
func TestResourcesRestriction(t *testing.T) {
	st := sqliteStores(t)
	usersOnly := startServer(t, st, serverConfig{handler: func(cfg *httpapi.Config) { cfg.Resources = []httpapi.Resource{httpapi.UsersResource} }})
	groupsOnly := startServer(t, st, serverConfig{handler: func(cfg *httpapi.Config) {
		cfg.Resources = []httpapi.Resource{httpapi.GroupsResource, httpapi.DiscoveryResource}
	}})
	all := startServer(t, st, serverConfig{})
	full := all.client(t, testConn)
	alice := full.createUser(t, "alice@acme.test")
	eng := full.createGroup(t, "Eng", alice)
	before := full.snapshot(t)

	users := &client{srv: usersOnly, conn: testConn, token: full.token}
	groups := &client{srv: groupsOnly, conn: testConn, token: full.token}
	mustStatus(t, users.do(t, "GET", "/Users/"+alice, ""), http.StatusOK)
	mustStatus(t, groups.do(t, "GET", "/Groups/"+eng, ""), http.StatusOK)
	mustStatus(t, groups.do(t, "GET", "/ServiceProviderConfig", ""), http.StatusOK)

	patch := `{"schemas":["` + scim.PatchOpSchema + `"],"Operations":[{"op":"replace","value":{"displayName":"Changed"}}]}`
	refused := []struct {
		c                  *client
		method, path, body string
	}{
		{users, "GET", "/Groups", ""},
		{users, "GET", "/Groups/" + eng, ""},
		{users, "POST", "/Groups", `{"displayName":"Ops"}`},
		{users, "PATCH", "/Groups/" + eng, patch},
		{users, "DELETE", "/Groups/" + eng, ""},
		{users, "GET", "/ServiceProviderConfig", ""},
		{users, "GET", "/Schemas", ""},
		{groups, "GET", "/Users", ""},
		{groups, "POST", "/Users", `{"userName":"bob@acme.test"}`},
		{groups, "PATCH", "/Users/" + alice, patch},
		{groups, "DELETE", "/Users/" + alice, ""},
	}
	for _, rq := range refused {
		t.Run(rq.c.srv.url+" "+rq.method+" "+rq.path, func(t *testing.T) {
			checkError(t, rq.c.do(t, rq.method, rq.path, rq.body), http.StatusNotFound, "")
		})
	}
	requireUnchanged(t, full, before)
}

// TestRequestID: every response, whatever its status, carries the id its
// log line has; by default 128 random bits in hex.
func TestRequestID(t *testing.T) {
	srv := newServer(t)
	c := srv.client(t, testConn)
	hex32 := regexp.MustCompile(`^[0-9a-f]{32}$`)
	seen := map[string]bool{}
	for _, rq := range []struct{ token, method, path string }{
		{c.token, "GET", "/Users"},
		{"", "GET", "/Users"},
		{c.token, "GET", "/Nope"},
		{c.token, "DELETE", "/Users"},
		{c.token, "GET", "/Users/00000000-0000-4000-8000-999999999999"},
	} {
		r := srv.call(t, testConn, rq.token, rq.method, rq.path, "")
		id := r.header.Get(httpapi.RequestIDHeader)
		if !hex32.MatchString(id) {
			t.Errorf("%s %s: request id %q is not 32 hex digits", rq.method, rq.path, id)
		}
		if seen[id] {
			t.Errorf("request id %s repeated", id)
		}
		seen[id] = true
	}
	// A client's own X-Request-Id does not replace ours: the log must not
	// be steerable by the caller.
	header := http.Header{"Authorization": {"Bearer " + c.token}, httpapi.RequestIDHeader: {"client-chosen"}}
	if got := srv.send(t, "GET", srv.base(testConn)+"/Users", header, nil).header.Get(httpapi.RequestIDHeader); got == "client-chosen" {
		t.Errorf("the handler echoed the client's request id")
	}
}

// accessLogLine is one line of the handler's JSON access log.
type accessLogLine struct {
	Level      string   `json:"level"`
	Msg        string   `json:"msg"`
	RequestID  *string  `json:"request_id"`
	Tenant     *string  `json:"tenant"`
	SSO        *string  `json:"sso"`
	Method     *string  `json:"method"`
	Route      *string  `json:"route"`
	ResourceID *string  `json:"resource_id"`
	Status     *int     `json:"status"`
	LatencyMS  *float64 `json:"latency_ms"`
	Error      string   `json:"error"`
}

// TestAccessLog: one JSON line per request with the fields an operator
// filters on, and never a token or a password (the SCIM password is
// writeOnly, RFC 7643 §4.1.1; Okta sends one on every create).
func TestAccessLog(t *testing.T) {
	n := 0
	srv := startServer(t, sqliteStores(t), serverConfig{handler: func(cfg *httpapi.Config) {
		cfg.NewRequestID = func() string { n++; return fmt.Sprintf("req-%d", n) }
		cfg.Now = newStepClock(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC), 1500*time.Microsecond).Now
	}})
	c := srv.client(t, testConn)
	wrongToken := srv.token(t, scim.Connection{Tenant: "acme", SSO: "entra"})
	const createPassword, syncedPassword, putPassword = "1mz050nq-create", "Sync3d-Passw0rd", "Put-Passw0rd-9"

	created := c.do(t, "POST", "/Users", `{"userName":"alice@acme.test","password":"`+createPassword+`","active":true}`)
	mustStatus(t, created, http.StatusCreated)
	id := created.object(t)["id"].(string)
	type want struct {
		tenant, sso, method, route, resourceID string
		status                                 int
		err                                    bool
	}
	wants := []want{{"acme", "okta", "POST", "POST /{tenant}/{sso}/Users", id, 201, false}}
	responses := []response{created}
	record := func(r response, w want) {
		responses = append(responses, r)
		wants = append(wants, w)
	}
	record(c.do(t, "GET", "/Users/"+id, ""),
		want{"acme", "okta", "GET", "GET /{tenant}/{sso}/Users/{id}", id, 200, false})
	record(c.do(t, "PATCH", "/Users/"+id, `{"schemas":["`+scim.PatchOpSchema+`"],"Operations":[{"op":"replace","value":{"password":"`+syncedPassword+`"}}]}`),
		want{"acme", "okta", "PATCH", "PATCH /{tenant}/{sso}/Users/{id}", id, 200, false})
	record(c.do(t, "PUT", "/Users/"+id, `{"userName":"alice@acme.test","password":"`+putPassword+`","active":"maybe"}`),
		want{"acme", "okta", "PUT", "PUT /{tenant}/{sso}/Users/{id}", id, 400, true})
	record(srv.call(t, testConn, wrongToken, "GET", "/Users", ""),
		want{"acme", "okta", "GET", "GET /{tenant}/{sso}/Users", "", 401, true})
	record(srv.call(t, testConn, c.token, "GET", "/Nope", ""),
		want{"", "", "GET", "unmatched", "", 404, true})
	record(c.do(t, "GET", "/Users?filter="+url.QueryEscape(`userName eq "alice@acme.test"`), ""),
		want{"acme", "okta", "GET", "GET /{tenant}/{sso}/Users", "", 200, false})
	record(c.do(t, "DELETE", "/Users/"+id, ""),
		want{"acme", "okta", "DELETE", "DELETE /{tenant}/{sso}/Users/{id}", id, 204, false})

	logs := srv.logs.String()
	for _, secret := range []string{c.token, wrongToken, auth.HashSecret(c.token), createPassword, syncedPassword, putPassword} {
		if strings.Contains(logs, secret) {
			t.Errorf("the log contains a secret (%.12s...)", secret)
		}
	}
	var lines []accessLogLine
	sc := bufio.NewScanner(strings.NewReader(logs))
	for sc.Scan() {
		var l accessLogLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("log line is not JSON: %v\n%s", err, sc.Text())
		}
		lines = append(lines, l)
	}
	// The token issued by the test server goes through no request, so every
	// line is one of the requests above, in order.
	if len(lines) != len(wants) {
		t.Fatalf("%d log lines for %d requests:\n%s", len(lines), len(wants), logs)
	}
	for i, l := range lines {
		w := wants[i]
		if l.RequestID == nil || l.Tenant == nil || l.SSO == nil || l.Method == nil || l.Route == nil || l.ResourceID == nil || l.Status == nil || l.LatencyMS == nil {
			t.Errorf("line %d lacks a field: %+v", i+1, l)
			continue
		}
		got := want{*l.Tenant, *l.SSO, *l.Method, *l.Route, *l.ResourceID, *l.Status, l.Error != ""}
		if got != w {
			t.Errorf("line %d = %+v, want %+v", i+1, got, w)
		}
		if *l.RequestID != responses[i].header.Get(httpapi.RequestIDHeader) || *l.RequestID != fmt.Sprintf("req-%d", i+1) {
			t.Errorf("line %d request_id %q, response header %q", i+1, *l.RequestID, responses[i].header.Get(httpapi.RequestIDHeader))
		}
		if *l.LatencyMS != 1.5 {
			t.Errorf("line %d latency_ms %v, want 1.5 (one step of the injected clock)", i+1, *l.LatencyMS)
		}
		if l.Msg != "request" || l.Level != "INFO" {
			t.Errorf("line %d: msg %q level %q, want request at INFO (client errors are not server errors)", i+1, l.Msg, l.Level)
		}
	}
}

// TestLocationAndETag: POST answers Location = meta.location in the scheme
// the client used (X-Forwarded-Proto behind API Gateway), GET answers the
// ETag of meta.version, and If-None-Match / If-Match use it (RFC 7644 §3.14).
func TestLocationAndETag(t *testing.T) {
	srv := newServer(t)
	c := srv.client(t, testConn)

	header := http.Header{"Authorization": {"Bearer " + c.token}, "Content-Type": {"application/scim+json"}, "X-Forwarded-Proto": {"https"}}
	r := srv.send(t, "POST", srv.base(testConn)+"/Users", header, strings.NewReader(`{"userName":"alice@acme.test"}`))
	mustStatus(t, r, http.StatusCreated)
	doc := r.object(t)
	id := doc["id"].(string)
	want := "https://" + strings.TrimPrefix(srv.base(testConn), "http://") + "/Users/" + id
	if loc := r.header.Get("Location"); loc != want || doc["meta"].(map[string]any)["location"] != want {
		t.Errorf("Location %q, meta.location %v, want %s", loc, doc["meta"].(map[string]any)["location"], want)
	}

	got := c.do(t, "GET", "/Users/"+id, "")
	etag := got.header.Get("ETag")
	if etag == "" || etag != got.object(t)["meta"].(map[string]any)["version"] {
		t.Fatalf("ETag %q, meta.version %v", etag, got.object(t)["meta"])
	}
	cond := func(name, value, method, body string) response {
		t.Helper()
		h := http.Header{"Authorization": {"Bearer " + c.token}, name: {value}}
		if body != "" {
			h.Set("Content-Type", "application/scim+json")
		}
		return srv.send(t, method, srv.base(testConn)+"/Users/"+id, h, strings.NewReader(body))
	}
	notModified := cond("If-None-Match", etag, "GET", "")
	mustStatus(t, notModified, http.StatusNotModified)
	if len(notModified.body) != 0 || notModified.header.Get("ETag") != etag {
		t.Errorf("304 with body %q, ETag %q", notModified.body, notModified.header.Get("ETag"))
	}
	mustStatus(t, cond("If-None-Match", `W/"999"`, "GET", ""), http.StatusOK)
	updated := cond("If-Match", etag, "PUT", `{"userName":"alice@acme.test","displayName":"Alice"}`)
	mustStatus(t, updated, http.StatusOK)
	if next := updated.header.Get("ETag"); next == etag || next != updated.object(t)["meta"].(map[string]any)["version"] {
		t.Errorf("after a change: ETag %q (was %q), meta.version %v", next, etag, updated.object(t)["meta"])
	}
	checkError(t, cond("If-Match", etag, "PUT", `{"userName":"alice@acme.test","displayName":"Lost update"}`), http.StatusPreconditionFailed, "")
	if c.get(t, "/Users/"+id)["displayName"] != "Alice" {
		t.Errorf("a PUT with a stale If-Match changed the user")
	}
}

// TestGroupMemberFilterIgnoresProjection: a filter naming members is
// evaluated on the group's members even when excludedAttributes=members
// leaves them out of the response. RFC 7644 §3.4.2.5 makes attributes and
// excludedAttributes shape the returned representation, not the resources
// the filter (§3.4.2.2) selects. Both the scanned filter and the one a key
// (id, displayName) answers must agree.
func TestGroupMemberFilterIgnoresProjection(t *testing.T) {
	srv := newServer(t)
	c := srv.client(t, testConn)
	alice := c.createUser(t, "alice@acme.test")
	bob := c.createUser(t, "bob@acme.test")
	eng := c.createGroup(t, "Eng", alice)
	c.createGroup(t, "Ops", bob)

	tests := []struct {
		name   string
		filter string
		want   []string
	}{
		{"scanned: member", `members[value eq "` + alice + `"]`, []string{eng}},
		{"scanned: non-member", `members[value eq "00000000-0000-4000-8000-999999999999"]`, nil},
		{"by id: member", `id eq "` + eng + `" and members[value eq "` + alice + `"]`, []string{eng}},
		{"by id: non-member", `id eq "` + eng + `" and members[value eq "` + bob + `"]`, nil},
		{"by displayName: member", `displayName eq "Eng" and members[value eq "` + alice + `"]`, []string{eng}},
		{"by displayName: non-member", `displayName eq "Eng" and members[value eq "` + bob + `"]`, nil},
	}
	for _, tt := range tests {
		for _, projection := range []string{"", "&excludedAttributes=members", "&attributes=displayName"} {
			t.Run(tt.name+projection, func(t *testing.T) {
				list := c.get(t, "/Groups?filter="+url.QueryEscape(tt.filter)+projection)
				if got := resourceIDs(t, list); !slices.Equal(got, tt.want) {
					t.Errorf("groups %v, want %v", got, tt.want)
				}
				if projection == "" {
					return
				}
				for _, r := range list["Resources"].([]any) {
					if _, has := r.(map[string]any)["members"]; has {
						t.Errorf("members returned despite %s", projection)
					}
				}
			})
		}
	}
}
