package httpapi_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestETagLists: If-Match and If-None-Match carry lists of entity tags
// (RFC 9110 §13.1.1-2), in one header or several; API Gateway joins several
// into one with commas.
func TestETagLists(t *testing.T) {
	srv := newServer(t)
	c := srv.client(t, testConn)
	id := c.createUser(t, "alice@acme.test")
	send := func(headers http.Header, method, body string) response {
		t.Helper()
		headers.Set("Authorization", "Bearer "+c.token)
		if body != "" {
			headers.Set("Content-Type", "application/scim+json")
		}
		return srv.send(t, method, srv.base(testConn)+"/Users/"+id, headers, strings.NewReader(body))
	}
	mustStatus(t, send(http.Header{"If-None-Match": {`W/"7", W/"1"`}}, "GET", ""), http.StatusNotModified)
	mustStatus(t, send(http.Header{"If-None-Match": {`W/"7"`, `W/"1"`}}, "GET", ""), http.StatusNotModified)
	mustStatus(t, send(http.Header{"If-None-Match": {"*"}}, "GET", ""), http.StatusNotModified)
	mustStatus(t, send(http.Header{"If-None-Match": {`W/"7", W/"8"`}}, "GET", ""), http.StatusOK)
	put := `{"userName":"alice@acme.test","title":"x"}`
	mustStatus(t, send(http.Header{"If-Match": {`W/"7", W/"8"`}}, "PUT", put), http.StatusPreconditionFailed)
	mustStatus(t, send(http.Header{"If-Match": {`W/"7", W/"1"`}}, "PUT", put), http.StatusOK)
	mustStatus(t, send(http.Header{"If-Match": {`W/"1"`, `W/"2"`}}, "PUT", `{"userName":"alice@acme.test","title":"y"}`), http.StatusOK)
	mustStatus(t, send(http.Header{"If-Match": {"*"}}, "DELETE", ""), http.StatusNoContent)
}
