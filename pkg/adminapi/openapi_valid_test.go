package adminapi_test

import (
	"context"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

// TestOpenAPIDocumentIsValid: docs/admin-api.yaml must be a valid OpenAPI
// 3 document, as a client generator or a viewer reads it, not just YAML
// that parses: kin-openapi loads it, resolves every $ref and validates it
// against the specification (a description with an unquoted comma inside a
// flow mapping, for one, turns into a stray key and fails here).
func TestOpenAPIDocumentIsValid(t *testing.T) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromFile("../../docs/admin-api.yaml")
	if err != nil {
		t.Fatalf("docs/admin-api.yaml does not load as OpenAPI: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("docs/admin-api.yaml is not valid OpenAPI: %v", err)
	}
}
