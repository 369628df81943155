package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/scimgate/scimgate/pkg/auth"
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

// slowCreateStore makes Create run into the request's deadline, as a write stuck
// behind DynamoDB retries does at the end of a Lambda function's time.
type slowCreateStore struct{ scim.Store }

func (s slowCreateStore) Create(ctx context.Context, r *scim.Resource) error {
	<-ctx.Done()
	return fmt.Errorf("create user: backoff: %w", ctx.Err())
}

// TestDeadlineAnswers503: a request that runs out of time is told to come
// back (503, Retry-After, a SCIM body), not failed with a 500.
func TestDeadlineAnswers503(t *testing.T) {
	st := sqliteStores(t)
	token, err := auth.Issue(context.Background(), st.tokens, testConn, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	h := httpapi.New(httpapi.Config{Service: scim.NewService(slowCreateStore{st.resources}), Tokens: st.tokens})
	// On Lambda the request context carries the function's deadline.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req := httptest.NewRequest("POST", httpapi.BasePath+"/acme/okta/Users",
		strings.NewReader(fmt.Sprintf(`{"schemas":[%q],"userName":"slow@example.com"}`, scim.UserSchema))).WithContext(ctx)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/scim+json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503\n%s", rec.Code, rec.Body)
	}
	if s, err := strconv.Atoi(rec.Header().Get("Retry-After")); err != nil || s < 1 {
		t.Errorf("Retry-After %q", rec.Header().Get("Retry-After"))
	}
	if !strings.Contains(rec.Body.String(), `"status":"503"`) {
		t.Errorf("not a SCIM error body: %s", rec.Body)
	}
}
