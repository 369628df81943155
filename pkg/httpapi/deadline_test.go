package httpapi_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/scimgate/scimgate/pkg/httpapi"
	"github.com/scimgate/scimgate/pkg/scim"
)

// slowStore holds every Update until the request's deadline has passed,
// as a store stuck behind a slow disk or a throttled table would.
type slowStore struct {
	scim.Store
	wrote bool
}

func (s *slowStore) Update(ctx context.Context, conn scim.Connection, typ scim.ResourceType, id string, withMembers bool, modify func(*scim.Resource) (*scim.Change, error)) (*scim.Resource, error) {
	return s.Store.Update(ctx, conn, typ, id, withMembers, func(cur *scim.Resource) (*scim.Change, error) {
		<-ctx.Done()
		ch, err := modify(cur)
		if err == nil && ch != nil {
			s.wrote = true
		}
		return ch, err
	})
}

// TestRequestDeadline: a request still running at Config.RequestTimeout
// writes nothing and is answered 503 with Retry-After.
func TestRequestDeadline(t *testing.T) {
	st := sqliteStores(t)
	slow := &slowStore{Store: st.resources}
	srv := startServer(t, stores{resources: slow, tokens: st.tokens}, serverConfig{handler: func(c *httpapi.Config) {
		c.RequestTimeout = 200 * time.Millisecond
	}})
	token := srv.token(t, testConn)
	created := srv.call(t, testConn, token, "POST", "/Users", `{"userName":"ada@example.com"}`)
	mustStatus(t, created, http.StatusCreated)
	id, _ := created.object(t)["id"].(string)
	start := time.Now()
	r := srv.call(t, testConn, token, "PATCH", "/Users/"+id, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"title","value":"late"}]}`)
	mustStatus(t, r, http.StatusServiceUnavailable)
	if r.header.Get("Retry-After") == "" {
		t.Fatalf("503 without Retry-After: %v", r)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("the request ran %v past a 200ms deadline", took)
	}
	if slow.wrote {
		t.Fatalf("a change was handed to the store after the deadline")
	}
	// Read the stored user directly: through this handler, a GET under load
	// could itself run out of the 200 ms deadline.
	stored, err := st.resources.Get(context.Background(), testConn, scim.UserResource, id, false)
	if err != nil {
		t.Fatal(err)
	}
	if title, ok := stored.Attributes["title"]; ok {
		t.Fatalf("title = %v after a request that ran out of time", title)
	}
}
