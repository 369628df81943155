package localrun_test

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/scimgate/scimgate/internal/localrun"
)

func TestSubstituteFillsPathAndBase64Body(t *testing.T) {
	body := `{"Operations":[{"op":"remove","path":"members[value eq \"{{userId}}\"]"}]}`
	event := `{"rawPath":"/scim/v2/demo/okta/Groups/{{groupId}}","pathParameters":{"id":"{{groupId}}"},
		"headers":{"content-length":"` + itoa(len(body)) + `"},
		"requestContext":{"http":{"method":"PATCH","path":"/scim/v2/demo/okta/Groups/{{groupId}}"}},
		"body":"` + base64.StdEncoding.EncodeToString([]byte(body)) + `","isBase64Encoded":true}`

	names, err := localrun.Placeholders([]byte(event))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(names, ",") != "groupId,userId" {
		t.Errorf("placeholders = %v", names)
	}

	out, err := localrun.Substitute([]byte(event), map[string]string{"groupId": "g-123456", "userId": "u-1"})
	if err != nil {
		t.Fatal(err)
	}
	var e struct {
		RawPath        string            `json:"rawPath"`
		PathParameters map[string]string `json:"pathParameters"`
		Headers        map[string]string `json:"headers"`
		Body           string            `json:"body"`
		IsBase64       bool              `json:"isBase64Encoded"`
	}
	if err := json.Unmarshal(out, &e); err != nil {
		t.Fatal(err)
	}
	decoded, err := base64.StdEncoding.DecodeString(e.Body)
	if err != nil {
		t.Fatal(err)
	}
	wantBody := strings.ReplaceAll(body, "{{userId}}", "u-1")
	if string(decoded) != wantBody || !e.IsBase64 {
		t.Errorf("body = %s (base64 %v), want %s", decoded, e.IsBase64, wantBody)
	}
	if e.Headers["content-length"] != itoa(len(wantBody)) {
		t.Errorf("content-length = %s, want %d", e.Headers["content-length"], len(wantBody))
	}
	if e.RawPath != "/scim/v2/demo/okta/Groups/g-123456" || e.PathParameters["id"] != "g-123456" {
		t.Errorf("rawPath = %s, id = %s", e.RawPath, e.PathParameters["id"])
	}

	if _, err := localrun.Substitute([]byte(event), map[string]string{"groupId": "g"}); err == nil || !strings.Contains(err.Error(), "userId") {
		t.Errorf("missing userId: error %v, want one naming userId", err)
	}
}

func TestParseRequest(t *testing.T) {
	req, err := localrun.ParseRequest([]byte(`{"routeKey":"ANY /x","rawPath":"/x","requestContext":{"http":{"method":"GET"}}}`))
	if err != nil || req != (localrun.Request{Method: "GET", RawPath: "/x", RouteKey: "ANY /x"}) {
		t.Errorf("got %+v, %v", req, err)
	}
	if _, err := localrun.ParseRequest([]byte(`{"httpMethod":"GET","path":"/x"}`)); err == nil {
		t.Error("a REST API (payload 1.0) event: want an error")
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}
