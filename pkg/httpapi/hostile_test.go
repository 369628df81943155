package httpapi_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestHostileInputOnBothStores: input that the SCIM layer accepts but a
// store might not (keys beyond DynamoDB's 1 KB sort-key limit, odd
// characters) must get a SCIM answer, never a 500, on either store.
func TestHostileInputOnBothStores(t *testing.T) {
	forEachStore(t, func(t *testing.T, srv *testServer) {
		c := srv.client(t, testConn)
		long := strings.Repeat("x", 2000)
		tests := []struct {
			method, path, body string
			want               []int
		}{
			{"GET", "/Users/" + long, "", []int{http.StatusNotFound}},
			{"GET", "/Groups/" + long + "?excludedAttributes=members", "", []int{http.StatusNotFound}},
			{"DELETE", "/Users/" + long, "", []int{http.StatusNotFound}},
			{"PATCH", "/Users/" + long, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[]}`, []int{http.StatusNotFound}},
			{"GET", "/Users?filter=" + url.QueryEscape(`userName eq "`+long+`"`), "", []int{http.StatusOK}},
			{"GET", "/Users?filter=" + url.QueryEscape(`externalId eq "`+long+`"`), "", []int{http.StatusOK}},
			{"GET", "/Users?filter=" + url.QueryEscape(`id eq "`+long+`"`), "", []int{http.StatusOK}},
			{"GET", "/Users?cursor=" + url.QueryEscape("YTo"+strings.Repeat("eHh4", 700)), "", []int{http.StatusBadRequest, http.StatusOK}},
			{"POST", "/Users", `{"userName":"` + long + `"}`, []int{http.StatusCreated, http.StatusBadRequest}},
			{"POST", "/Users", `{"userName":"a@x.com","externalId":"` + long + `"}`, []int{http.StatusCreated, http.StatusBadRequest}},
			{"POST", "/Groups", `{"displayName":"` + long + `"}`, []int{http.StatusCreated, http.StatusBadRequest}},
			{"POST", "/Groups", `{"displayName":"g","members":[{"value":"` + long + `"}]}`, []int{http.StatusBadRequest}},
			{"GET", "/Users?startIndex=99999999999999999999", "", []int{http.StatusBadRequest}},
			{"GET", "/Users?startIndex=2000000000&count=5", "", []int{http.StatusOK}},
			{"GET", "/Users/%00", "", []int{http.StatusNotFound}},
		}
		for _, tc := range tests {
			r := c.do(t, tc.method, tc.path, tc.body)
			ok := false
			for _, w := range tc.want {
				ok = ok || r.status == w
			}
			if !ok {
				t.Errorf("%s %.80s: %d, want one of %v\n%.300s", tc.method, tc.path, r.status, tc.want, r.body)
			}
		}
	})
}

// forEachStore runs test against a fresh server on the embedded store and
// on DynamoDB (moto): the protocol must behave the same on both.
func forEachStore(t *testing.T, test func(t *testing.T, srv *testServer)) {
	for _, store := range []struct {
		name    string
		factory storeFactory
	}{{"sqlite", sqliteStores}, {"dynamodb", dynamoStores}} {
		t.Run(store.name, func(t *testing.T) {
			test(t, startServer(t, store.factory(t), serverConfig{}))
		})
	}
}
