package httpapi_test

import (
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/scimgate/scimgate/pkg/httpapi"
	"github.com/scimgate/scimgate/pkg/ratelimit"
	"github.com/scimgate/scimgate/pkg/scim"
)

// TestRateLimitAnswers429 checks the Admit hook with the per-connection
// limiter: past the burst a request gets 429 with Retry-After and changes
// nothing; requests with a bad token do not spend the connection's budget;
// other connections are not affected.
func TestRateLimitAnswers429(t *testing.T) {
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	limiter, err := ratelimit.New(1, 3, ratelimit.WithClock(func() time.Time { return now }))
	if err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, sqliteStores(t), serverConfig{handler: func(c *httpapi.Config) { c.Admit = limiter.Admit }})
	c := srv.client(t, testConn)
	other := srv.client(t, scim.Connection{Tenant: "acme", SSO: "entra"})

	for range 5 {
		mustStatus(t, srv.call(t, testConn, "scimgate_not-a-valid-token-at-all-0000000000000000000", "GET", "/Users", ""), http.StatusUnauthorized)
	}
	for i := range 3 {
		mustStatus(t, c.do(t, "GET", fmt.Sprintf("/Users?count=%d", i), ""), http.StatusOK)
	}
	r := c.do(t, "POST", "/Users", fmt.Sprintf(`{"schemas":[%q],"userName":"late@example.com"}`, scim.UserSchema))
	mustStatus(t, r, http.StatusTooManyRequests)
	if s, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || s != 1 {
		t.Errorf("Retry-After %q, want 1", r.header.Get("Retry-After"))
	}
	if obj := r.object(t); obj["status"] != "429" {
		t.Errorf("not a SCIM 429 error: %v", obj)
	}
	mustStatus(t, other.do(t, "GET", "/Users", ""), http.StatusOK)

	now = now.Add(time.Second)
	list := c.get(t, "/Users?filter="+`userName%20eq%20%22late@example.com%22`)
	if list["totalResults"] != float64(0) {
		t.Errorf("the refused POST created a user: %v", list)
	}
}
