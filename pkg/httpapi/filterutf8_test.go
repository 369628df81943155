package httpapi_test

import (
	"net/http"
	"testing"
)

// TestFilterWithInvalidUTF8: a filter whose percent-decoded bytes are not
// UTF-8 is a 400 invalidFilter, as invalid UTF-8 in a body is a 400; it used
// to match nothing and answer 200 with an empty list, which an IdP reads as
// "no such user" and creates a duplicate.
func TestFilterWithInvalidUTF8(t *testing.T) {
	srv := startServer(t, sqliteStores(t), serverConfig{})
	c := srv.client(t, testConn)
	for _, query := range []string{
		`?filter=userName%20eq%20%22ada%FF%40example.com%22`,
		`?filter=userName%20eq%20%22%C3%28%22`,
		`?filter=displayName%20eq%20%22%ED%A0%80%22`, // an encoded surrogate half
	} {
		for _, collection := range []string{"/Users", "/Groups"} {
			r := c.do(t, "GET", collection+query, "")
			mustStatus(t, r, http.StatusBadRequest)
			if got := r.object(t)["scimType"]; got != "invalidFilter" {
				t.Errorf("GET %s%s: scimType %v, want invalidFilter\n%s", collection, query, got, r)
			}
		}
	}
}
