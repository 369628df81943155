package functions_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/scimgate/scimgate/functions/internal/samtemplate"
	"github.com/scimgate/scimgate/internal/localrun"
)

// expectation is what one event of events/ must produce.
type expectation struct {
	status int
	// body maps JSON pointers (RFC 6901) to values; "{{name}}" in a string
	// value is a captured id.
	body map[string]any
	// headers maps header names to values, with "{{name}}" as in body.
	headers map[string]string
	// capture binds a placeholder name to a JSON pointer into the body,
	// for the events that follow.
	capture map[string]string
}

const (
	listResponse = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
	errorSchema  = "urn:ietf:params:scim:api:messages:2.0:Error"
	userSchema   = "urn:ietf:params:scim:schemas:core:2.0:User"
	location     = "https://abcdef1234.execute-api.eu-west-1.amazonaws.com/scim/v2/demo/okta"
)

// expectations lists every file of events/, by its name without the order
// prefix and .json (07-users-create.json is "users-create"), and what it must
// produce when the files are replayed in order on an empty table.
func expectations() map[string]expectation {
	return map[string]expectation{
		"discovery-service-provider-config": {status: 200, body: map[string]any{
			"/schemas/0": "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig", "/patch/supported": true,
		}},
		"discovery-schemas":            {status: 200, body: map[string]any{"/schemas/0": listResponse}},
		"discovery-schema-user":        {status: 200, body: map[string]any{"/id": userSchema}},
		"discovery-resource-types":     {status: 200, body: map[string]any{"/schemas/0": listResponse}},
		"discovery-resource-type-user": {status: 200, body: map[string]any{"/id": "User", "/endpoint": "/Users"}},
		"users-lookup-absent":          {status: 200, body: map[string]any{"/totalResults": 0}},
		"users-create": {status: 201, capture: map[string]string{"userId": "/id"},
			body: map[string]any{
				"/userName": "jane.doe@example.com", "/active": true, "/externalId": "00ujl29u0le5T6Aj10h7",
				"/meta/location": location + "/Users/{{userId}}",
			},
			headers: map[string]string{"Location": location + "/Users/{{userId}}", "Content-Type": "application/scim+json"}},
		"users-lookup-present": {status: 200, body: map[string]any{"/totalResults": 1, "/Resources/0/id": "{{userId}}"}},
		"users-get":            {status: 200, body: map[string]any{"/id": "{{userId}}", "/name/givenName": "Jane"}},
		"users-replace":        {status: 200, body: map[string]any{"/id": "{{userId}}", "/name/middleName": "Q"}},
		"users-deactivate":     {status: 200, body: map[string]any{"/id": "{{userId}}", "/active": false}},
		"users-reactivate":     {status: 200, body: map[string]any{"/id": "{{userId}}", "/active": true}},
		"users-list":           {status: 200, body: map[string]any{"/totalResults": 1, "/Resources/0/id": "{{userId}}"}},
		"users-search": {status: 200, body: map[string]any{
			"/totalResults": 1, "/Resources/0/id": "{{userId}}", "/Resources/0/userName": "jane.doe@example.com",
		}},
		"groups-lookup-absent": {status: 200, body: map[string]any{"/totalResults": 0}},
		"groups-create": {status: 201, capture: map[string]string{"groupId": "/id"},
			body:    map[string]any{"/displayName": "Engineering"},
			headers: map[string]string{"Location": location + "/Groups/{{groupId}}"}},
		"groups-get":             {status: 200, body: map[string]any{"/id": "{{groupId}}", "/displayName": "Engineering"}},
		"groups-member-add":      {status: 204},
		"groups-get-with-member": {status: 200, body: map[string]any{"/members/0/value": "{{userId}}"}},
		"groups-rename":          {status: 204},
		"groups-member-remove":   {status: 204},
		// A push of 60 members that are not users: more than one transaction
		// holds, so the store checks them all first (BatchGetItem).
		"groups-member-add-unknown": {status: 400, body: map[string]any{"/schemas/0": errorSchema, "/scimType": "invalidValue"}},
		"groups-replace": {status: 200, body: map[string]any{
			"/displayName": "Engineering Team", "/members/0/value": "{{userId}}",
		}},
		"groups-search":      {status: 200, body: map[string]any{"/totalResults": 1, "/Resources/0/id": "{{groupId}}"}},
		"search-all":         {status: 200, body: map[string]any{"/totalResults": 2}},
		"bulk":               {status: 200, body: map[string]any{"/Operations/0/bulkId": "u1", "/Operations/0/status": "201"}},
		"groups-delete":      {status: 204},
		"users-delete":       {status: 204},
		"users-get-deleted":  {status: 404, body: map[string]any{"/schemas/0": errorSchema, "/status": "404"}},
		"users-wrong-method": {status: 405, body: map[string]any{"/schemas/0": errorSchema, "/status": "405"}},
		"unmatched-path":     {status: 404, body: map[string]any{"/schemas/0": errorSchema, "/status": "404"}},
		"bad-token": {status: 401, body: map[string]any{"/schemas/0": errorSchema, "/status": "401"},
			headers: map[string]string{"WWW-Authenticate": `Bearer realm="scimgate"`}},
		"other-connection": {status: 401, body: map[string]any{"/schemas/0": errorSchema, "/status": "401"}},
		// API Gateway routes /Users/ to the /Users route; the handler serves it as /Users.
		"users-lookup-trailing-slash": {status: 200, body: map[string]any{"/schemas/0": listResponse, "/totalResults": 0}},
		// /users reaches the catch-all: a 404 that names the right spelling.
		"users-lowercase": {status: 404, body: map[string]any{"/schemas/0": errorSchema, "/status": "404"}},

		// The admin API (AdminFunction), called by the platform's backend with SigV4 through the IAM authorizer.
		"admin-connections-list": {status: 200, body: map[string]any{"/connections/0/tenant": "demo", "/connections/0/state": "active"}},
		"admin-connection-create": {status: 201, capture: map[string]string{"tokenId": "/token_id"}, body: map[string]any{
			"/tenant": "acme", "/sso": "okta", "/state": "active", "/name": "Acme Okta",
			"/base_url": "https://abcdef1234.execute-api.eu-west-1.amazonaws.com/scim/v2/acme/okta",
		}},
		"admin-connection-exists":  {status: 409, body: map[string]any{"/code": "already_exists"}},
		"admin-connection-get":     {status: 200, body: map[string]any{"/tenant": "demo", "/sso": "okta", "/users": 0, "/groups": 0}},
		"admin-tokens-list":        {status: 200, body: map[string]any{"/tokens/0/id": "{{tokenId}}", "/tokens/0/revoked": nil}},
		"admin-token-create":       {status: 201, body: map[string]any{"/description": "Okta production"}},
		"admin-token-rotate":       {status: 201, body: map[string]any{"/old_id": "{{tokenId}}"}},
		"admin-token-revoke":       {status: 200, body: map[string]any{"/id": "{{tokenId}}"}},
		"admin-connection-disable": {status: 200, body: map[string]any{"/state": "disabled"}},
		"admin-connection-enable":  {status: 200, body: map[string]any{"/state": "active"}},
		"admin-users-view":         {status: 200, body: map[string]any{"/schemas/0": listResponse, "/totalResults": 0}},
		"admin-groups-view":        {status: 200, body: map[string]any{"/schemas/0": listResponse, "/totalResults": 0}},
		"admin-user-view-absent":   {status: 404, body: map[string]any{"/schemas/0": errorSchema, "/status": "404"}},
		"admin-connection-delete":  {status: 204},
		"admin-unmatched-path":     {status: 404, body: map[string]any{"/code": "not_found"}},
		// The SCIM functions flushed their first requests' health (each
		// environment's first request flushes at once); the admin function reads it.
		"admin-connection-health": {status: 200, body: map[string]any{"/tenant": "demo", "/sso": "okta", "/user_agent": "Okta SCIM Client 1.0.0"}},
		// An event without an IAM identity (a route that lost its authorizer) is refused by the function itself.
		"admin-without-iam-identity": {status: 401, body: map[string]any{"/code": "unauthorized"}},
	}
}

// invokeFunc sends an event to the function with this logical id and
// returns its response.
type invokeFunc func(t *testing.T, function string, event []byte) events.APIGatewayV2HTTPResponse

// replayEvents sends every event of events/ in order to the function API
// Gateway would route it to, substituting ids captured from earlier
// responses, and checks each response. It stops at the first failing event:
// later ones build on it.
func replayEvents(t *testing.T, tpl *samtemplate.Template, invoke invokeFunc) {
	t.Helper()
	evs, err := localrun.LoadEvents(eventsDir)
	if err != nil {
		t.Fatal(err)
	}
	want := expectations()
	var names []string
	for _, ev := range evs {
		names = append(names, expectationName(ev.Name))
	}
	for name := range want {
		if !containsString(names, name) {
			t.Errorf("expectation for %s, but no events/NN-%s.json exists", name, name)
		}
	}
	routes := tpl.Routes()
	vars := map[string]string{}
	for _, ev := range evs {
		exp, ok := want[expectationName(ev.Name)]
		if !ok {
			t.Errorf("events/%s.json has no expectation in replay_test.go", ev.Name)
			continue
		}
		passed := t.Run(ev.Name, func(t *testing.T) {
			event, err := localrun.Substitute(ev.Raw, vars)
			if err != nil {
				t.Fatal(err)
			}
			req, err := localrun.ParseRequest(event)
			if err != nil {
				t.Fatal(err)
			}
			route, ok := samtemplate.Match(routes, req.Method, req.RawPath)
			if !ok {
				t.Fatalf("no route of the template matches %s %s", req.Method, req.RawPath)
			}
			if route.Key() != req.RouteKey {
				t.Fatalf("the event's routeKey is %q, but API Gateway would select %q", req.RouteKey, route.Key())
			}
			resp := invoke(t, route.Function, event)
			checkResponse(t, resp, exp, vars)
		})
		if !passed {
			t.Fatalf("stopping the replay at %s", ev.Name)
		}
	}
}

// checkResponse checks resp against exp and records exp's captures in vars.
func checkResponse(t *testing.T, resp events.APIGatewayV2HTTPResponse, exp expectation, vars map[string]string) {
	t.Helper()
	body := []byte(resp.Body)
	if resp.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(resp.Body)
		if err != nil {
			t.Fatalf("response body: %v", err)
		}
		body = b
	}
	if resp.StatusCode != exp.status {
		t.Fatalf("status %d, want %d; body: %s", resp.StatusCode, exp.status, body)
	}
	var doc any
	if len(body) > 0 {
		if err := json.Unmarshal(body, &doc); err != nil {
			t.Fatalf("body is not JSON: %v: %s", err, body)
		}
	}
	if exp.status == http.StatusNoContent && len(body) != 0 {
		t.Errorf("204 with a body: %s", body)
	}
	for name, ptr := range exp.capture {
		v, ok := lookup(doc, ptr)
		s, isString := v.(string)
		if !ok || !isString || s == "" {
			t.Fatalf("capture %s: no string at %s in %s", name, ptr, body)
		}
		vars[name] = s
	}
	fill := func(s string) string {
		for k, v := range vars {
			s = strings.ReplaceAll(s, "{{"+k+"}}", v)
		}
		return s
	}
	pointers := make([]string, 0, len(exp.body))
	for p := range exp.body {
		pointers = append(pointers, p)
	}
	sort.Strings(pointers)
	for _, ptr := range pointers {
		want := exp.body[ptr]
		if s, ok := want.(string); ok {
			want = fill(s)
		}
		got, ok := lookup(doc, ptr)
		if !ok {
			t.Errorf("%s is missing from %s", ptr, body)
			continue
		}
		if g, w := jsonText(got), jsonText(want); g != w {
			t.Errorf("%s = %s, want %s", ptr, g, w)
		}
	}
	header := http.Header{}
	for k, v := range resp.Headers {
		header.Set(k, v)
	}
	for name, want := range exp.headers {
		if got := header.Get(name); got != fill(want) {
			t.Errorf("header %s = %q, want %q", name, got, fill(want))
		}
	}
}

// lookup resolves a JSON pointer (RFC 6901).
func lookup(doc any, ptr string) (any, bool) {
	if ptr == "" {
		return doc, true
	}
	cur := doc
	for _, tok := range strings.Split(strings.TrimPrefix(ptr, "/"), "/") {
		tok = strings.NewReplacer("~1", "/", "~0", "~").Replace(tok)
		switch c := cur.(type) {
		case map[string]any:
			v, ok := c[tok]
			if !ok {
				return nil, false
			}
			cur = v
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(c) {
				return nil, false
			}
			cur = c[i]
		default:
			return nil, false
		}
	}
	return cur, true
}

func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%#v", v)
	}
	return string(b)
}

// expectationName strips the order prefix: "07-users-create" -> "users-create".
func expectationName(event string) string {
	_, name, _ := strings.Cut(event, "-")
	return name
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
