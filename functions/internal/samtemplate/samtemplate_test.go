package samtemplate_test

import (
	"reflect"
	"testing"

	"github.com/scimgate/scimgate/functions/internal/samtemplate"
)

func TestParseTurnsShortTagsIntoLongForm(t *testing.T) {
	tpl, err := samtemplate.Parse([]byte(`
Parameters:
  Level: {Type: String, Default: INFO}
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Metadata: {BuildMethod: makefile}
    Properties:
      Role: !GetAtt Role.Arn
      Name: !Sub "${AWS::StackName}-fn"
      Limit: !If [HasLimit, !Ref Limit, !Ref AWS::NoValue]
      Policies:
        - Statement:
            - Effect: Allow
              Action: [dynamodb:Query, dynamodb:GetItem]
              Resource: !GetAtt [Table, Arn]
      Events:
        Get:
          Type: HttpApi
          Properties: {ApiId: !Ref Api, Method: get, Path: "/x/{id}", PayloadFormatVersion: "2.0"}
`))
	if err != nil {
		t.Fatal(err)
	}
	fn, ok := tpl.Function("Fn")
	if !ok {
		t.Fatal("function Fn not found")
	}
	for name, want := range map[string]any{
		"Role":  map[string]any{"Fn::GetAtt": []any{"Role", "Arn"}},
		"Name":  map[string]any{"Fn::Sub": "${AWS::StackName}-fn"},
		"Limit": map[string]any{"Fn::If": []any{"HasLimit", map[string]any{"Ref": "Limit"}, map[string]any{"Ref": "AWS::NoValue"}}},
	} {
		if got := fn.Properties[name]; !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %#v, want %#v", name, got, want)
		}
	}
	actions, resources := fn.Actions()
	if !reflect.DeepEqual(actions, []string{"dynamodb:GetItem", "dynamodb:Query"}) {
		t.Errorf("actions = %v", actions)
	}
	if !reflect.DeepEqual(resources, []any{map[string]any{"Fn::GetAtt": []any{"Table", "Arn"}}}) {
		t.Errorf("resources = %#v", resources)
	}
	want := []samtemplate.Route{{Function: "Fn", Event: "Get", Method: "GET", Path: "/x/{id}", PayloadFormatVersion: "2.0", ApiID: map[string]any{"Ref": "Api"}}}
	if !reflect.DeepEqual(fn.Routes, want) {
		t.Errorf("routes = %#v", fn.Routes)
	}
	if tpl.Parameters["Level"]["Default"] != "INFO" {
		t.Errorf("parameters = %v", tpl.Parameters)
	}
}

func TestMatchFollowsAPIGatewaySelection(t *testing.T) {
	routes := []samtemplate.Route{
		{Function: "Items", Method: "ANY", Path: "/api/{tenant}/Items"},
		{Function: "Item", Method: "ANY", Path: "/api/{tenant}/Items/{id}"},
		{Function: "Search", Method: "ANY", Path: "/api/{tenant}/Items/.search"},
		{Function: "GetItem", Method: "GET", Path: "/api/{tenant}/Items/{id}"},
		{Function: "CatchAll", Method: "ANY", Path: "/api/{proxy+}"},
	}
	tests := []struct {
		method, path, want string
	}{
		{"GET", "/api/acme/Items", "Items"},
		{"POST", "/api/acme/Items/42", "Item"},
		{"GET", "/api/acme/Items/42", "GetItem"},        // exact method beats ANY
		{"POST", "/api/acme/Items/.search", "Search"},   // literal beats {id}
		{"GET", "/api/acme/Widgets", "CatchAll"},        // greedy only when nothing else matches
		{"GET", "/api/acme/Items/42/extra", "CatchAll"}, // more segments than any fixed route
		{"GET", "/api/acme", "CatchAll"},                // {proxy+} takes one segment or more
		{"GET", "/other", ""},                           // API Gateway's own 404
		{"GET", "/api", ""},                             // {proxy+} needs a segment
	}
	for _, tt := range tests {
		got, ok := samtemplate.Match(routes, tt.method, tt.path)
		if got.Function != tt.want || ok != (tt.want != "") {
			t.Errorf("%s %s: got %q (ok %v), want %q", tt.method, tt.path, got.Function, ok, tt.want)
		}
	}
}

func TestFunctionDir(t *testing.T) {
	tests := []struct{ id, want string }{{"UsersFunction", "users"}, {"DiscoveryFunction", "discovery"}}
	for _, tt := range tests {
		if got, err := samtemplate.FunctionDir(tt.id); err != nil || got != tt.want {
			t.Errorf("FunctionDir(%q) = %q, %v; want %q", tt.id, got, err, tt.want)
		}
	}
	for _, id := range []string{"Users", "Function", "UsersFn"} {
		if _, err := samtemplate.FunctionDir(id); err == nil {
			t.Errorf("FunctionDir(%q): want an error", id)
		}
	}
}
