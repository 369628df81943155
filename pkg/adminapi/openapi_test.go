package adminapi_test

import (
	"os"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/scimgate/scimgate/pkg/adminapi"
)

// TestOpenAPIDescribesTheServedRoutes: docs/admin-api.yaml lists exactly
// the routes the handler serves, each with its path parameters and the
// error answers every route can give.
func TestOpenAPIDescribesTheServedRoutes(t *testing.T) {
	b, err := os.ReadFile("../../docs/admin-api.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		OpenAPI string                    `yaml:"openapi"`
		Paths   map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("docs/admin-api.yaml: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi %q, want 3.x", doc.OpenAPI)
	}
	documented := map[string]map[string]any{}
	for path, item := range doc.Paths {
		for method, op := range item {
			if method == "parameters" {
				continue
			}
			m, _ := op.(map[string]any)
			documented[strings.ToUpper(method)+" "+path] = m
		}
	}
	served := map[string]bool{}
	for _, rt := range adminapi.Routes() {
		key := rt.Method + " " + rt.Pattern
		served[key] = true
		op, ok := documented[key]
		if !ok {
			t.Errorf("served route %s is not in docs/admin-api.yaml", key)
			continue
		}
		responses, _ := op["responses"].(map[string]any)
		if _, ok := responses["401"]; !ok {
			t.Errorf("%s: no 401 response documented", key)
		}
		for _, param := range []string{"{tenant}", "{sso}", "{id}"} {
			if strings.Contains(rt.Pattern, param) && !strings.Contains(string(b), "name: "+strings.Trim(param, "{}")) {
				t.Errorf("%s: path parameter %s is not described", key, param)
			}
		}
	}
	var extra []string
	for key := range documented {
		if !served[key] {
			extra = append(extra, key)
		}
	}
	sort.Strings(extra)
	for _, key := range extra {
		t.Errorf("docs/admin-api.yaml documents %s, which the handler does not serve", key)
	}
}
