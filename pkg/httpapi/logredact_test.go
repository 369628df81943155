package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/scimgate/scimgate/pkg/scim"
)

// TestLogRedactsPathValues: an IdP or a person that puts a userName or an
// email where an id belongs (/Users/secret.person@corp.example) must not
// get it into the access log: path values that are not well-formed ids are
// logged as [redacted], as the error details are.
func TestLogRedactsPathValues(t *testing.T) {
	srv := startServer(t, sqliteStores(t), serverConfig{})
	c := srv.client(t, testConn)
	const secret = "secret.person@corp.example"
	for _, rq := range []struct{ method, path, body string }{
		{"GET", "/Users/" + secret, ""},
		{"DELETE", "/Users/" + secret, ""},
		{"PATCH", "/Groups/" + secret, `{"schemas":["` + scim.PatchOpSchema + `"],"Operations":[{"op":"replace","path":"displayName","value":"x"}]}`},
		{"GET", "/Users/" + secret + "/extra", ""},
	} {
		c.do(t, rq.method, rq.path, rq.body)
	}
	srv.send(t, "GET", srv.url+"/scim/v2/"+secret+"/okta/Users", http.Header{"Authorization": {"Bearer " + c.token}}, nil)
	logs := srv.logs.String()
	if strings.Contains(logs, "secret.person") || strings.Contains(logs, "corp.example") {
		t.Fatalf("the access log holds a path value that is not an id:\n%s", logs)
	}
	if !strings.Contains(logs, `"resource_id":"`+scim.Redacted+`"`) {
		t.Fatalf("the access log does not say a resource id was redacted:\n%s", logs)
	}
}
