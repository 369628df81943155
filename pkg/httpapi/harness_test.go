package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scimgate/scimgate/pkg/auth"
	"github.com/scimgate/scimgate/pkg/httpapi"
	"github.com/scimgate/scimgate/pkg/scim"
	"github.com/scimgate/scimgate/pkg/sqlitestore"
)

// testConn is the connection the tests provision into.
var testConn = scim.Connection{Tenant: "acme", SSO: "okta"}

// stores is what the handler needs from a backend: resources and tokens.
type stores struct {
	resources scim.Store
	tokens    auth.TokenStore
}

// storeFactory opens a fresh, empty backend for one test.
type storeFactory func(t *testing.T) stores

// sqliteStores is the embedded store on a file of the test's own.
func sqliteStores(t *testing.T) stores {
	t.Helper()
	st, err := sqlitestore.Open(context.Background(), filepath.Join(t.TempDir(), "scimgate.db"))
	if err != nil {
		t.Fatalf("open sqlite store: %v", err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("close sqlite store: %v", err)
		}
	})
	return stores{resources: st, tokens: st}
}

// stepClock returns start, start+step, start+2*step, ... so that meta
// timestamps and logged latencies are deterministic.
type stepClock struct {
	mu   sync.Mutex
	next time.Time
	step time.Duration
}

func newStepClock(start time.Time, step time.Duration) *stepClock {
	return &stepClock{next: start, step: step}
}

func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.next
	c.next = c.next.Add(c.step)
	return now
}

// sequentialIDs returns UUID-shaped ids of one fixed length (the DynamoDB
// store relies on it) that sort in creation order.
func sequentialIDs() scim.IDGenerator {
	var n atomic.Int64
	return func() string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", n.Add(1)) }
}

// lockedBuffer collects the handler's log output; handlers log from the
// server's goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// testServer is the real handler behind a real HTTP server.
type testServer struct {
	url        string
	stores     stores
	logs       *lockedBuffer
	httpClient *http.Client
}

// serverConfig adjusts what startServer builds.
type serverConfig struct {
	serviceOptions []scim.Option
	handler        func(*httpapi.Config)
}

// startServer serves the handler on st with a deterministic clock and id
// generator; cfg may add service options or change the handler config.
func startServer(t *testing.T, st stores, cfg serverConfig) *testServer {
	t.Helper()
	opts := append([]scim.Option{
		scim.WithClock(newStepClock(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC), time.Second).Now),
		scim.WithIDGenerator(sequentialIDs()),
	}, cfg.serviceOptions...)
	logs := &lockedBuffer{}
	hc := httpapi.Config{
		Service: scim.NewService(st.resources, opts...),
		Tokens:  st.tokens,
		Logger:  slog.New(slog.NewJSONHandler(logs, nil)),
	}
	if cfg.handler != nil {
		cfg.handler(&hc)
	}
	srv := httptest.NewServer(httpapi.New(hc))
	t.Cleanup(srv.Close)
	return &testServer{url: srv.URL, stores: st, logs: logs, httpClient: srv.Client()}
}

// newServer is startServer on a fresh embedded store with the default config.
func newServer(t *testing.T) *testServer {
	t.Helper()
	return startServer(t, sqliteStores(t), serverConfig{})
}

// token issues a bearer token for conn.
func (s *testServer) token(t *testing.T, conn scim.Connection) string {
	t.Helper()
	secret, err := auth.Issue(context.Background(), s.stores.tokens, conn, time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatalf("issue token for %s: %v", conn, err)
	}
	return secret
}

// base is conn's SCIM base URL on this server.
func (s *testServer) base(conn scim.Connection) string {
	return s.url + httpapi.BasePath + "/" + conn.Tenant + "/" + conn.SSO
}

// response is a complete HTTP response.
type response struct {
	status int
	header http.Header
	body   []byte
}

// object decodes the body as a JSON object.
func (r response) object(t *testing.T) map[string]any {
	t.Helper()
	var obj map[string]any
	if err := json.Unmarshal(r.body, &obj); err != nil {
		t.Fatalf("response body is not a JSON object: %v\n%s", err, r.body)
	}
	return obj
}

func (r response) String() string {
	return fmt.Sprintf("HTTP %d %v\n%s", r.status, r.header, r.body)
}

// send performs one request and checks what every SCIM response must
// satisfy: an X-Request-Id, and application/scim+json on every body (RFC
// 7644 §3.1).
func (s *testServer) send(t *testing.T, method, url string, header http.Header, body io.Reader) response {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatalf("build %s %s: %v", method, url, err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := s.httpClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, url, err)
	}
	r := response{status: resp.StatusCode, header: resp.Header, body: b}
	if resp.Header.Get(httpapi.RequestIDHeader) == "" {
		t.Errorf("%s %s: no %s header", method, url, httpapi.RequestIDHeader)
	}
	if len(b) > 0 {
		if mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err != nil || mt != httpapi.ContentType {
			t.Errorf("%s %s: Content-Type %q, want %s", method, url, resp.Header.Get("Content-Type"), httpapi.ContentType)
		}
	}
	return r
}

// call sends a JSON body (if any) with a bearer token (if any) to a path
// relative to conn's base URL.
func (s *testServer) call(t *testing.T, conn scim.Connection, token, method, path, body string) response {
	t.Helper()
	header := http.Header{}
	if token != "" {
		header.Set("Authorization", "Bearer "+token)
	}
	var rd io.Reader
	if body != "" {
		header.Set("Content-Type", "application/scim+json")
		rd = strings.NewReader(body)
	}
	return s.send(t, method, s.base(conn)+path, header, rd)
}

// mustStatus fails the test unless r has status want.
func mustStatus(t *testing.T, r response, want int) {
	t.Helper()
	if r.status != want {
		t.Fatalf("status %d, want %d\n%s", r.status, want, r)
	}
}

// client is a SCIM client of one connection with a valid token.
type client struct {
	srv   *testServer
	conn  scim.Connection
	token string
}

func (s *testServer) client(t *testing.T, conn scim.Connection) *client {
	t.Helper()
	return &client{srv: s, conn: conn, token: s.token(t, conn)}
}

func (c *client) do(t *testing.T, method, path, body string) response {
	t.Helper()
	return c.srv.call(t, c.conn, c.token, method, path, body)
}

// create POSTs body to collection and returns the new resource's id.
func (c *client) create(t *testing.T, collection, body string) string {
	t.Helper()
	r := c.do(t, "POST", collection, body)
	mustStatus(t, r, http.StatusCreated)
	id, _ := r.object(t)["id"].(string)
	if id == "" {
		t.Fatalf("POST %s: no id in\n%s", collection, r)
	}
	return id
}

func (c *client) createUser(t *testing.T, userName string) string {
	t.Helper()
	return c.create(t, "/Users", fmt.Sprintf(`{"schemas":[%q],"userName":%q,"active":true}`, scim.UserSchema, userName))
}

func (c *client) createGroup(t *testing.T, displayName string, memberIDs ...string) string {
	t.Helper()
	members := make([]map[string]string, 0, len(memberIDs))
	for _, id := range memberIDs {
		members = append(members, map[string]string{"value": id})
	}
	b, err := json.Marshal(map[string]any{"schemas": []string{scim.GroupSchema}, "displayName": displayName, "members": members})
	if err != nil {
		t.Fatal(err)
	}
	return c.create(t, "/Groups", string(b))
}

// get GETs path and requires a 200.
func (c *client) get(t *testing.T, path string) map[string]any {
	t.Helper()
	r := c.do(t, "GET", path, "")
	mustStatus(t, r, http.StatusOK)
	return r.object(t)
}

// snapshot is everything the connection holds, as the API shows it: two
// snapshots are equal exactly when nothing visible changed.
func (c *client) snapshot(t *testing.T) string {
	t.Helper()
	users := c.get(t, "/Users?count=1000")
	groups := c.get(t, "/Groups?count=1000")
	b, err := json.MarshalIndent(map[string]any{"users": users, "groups": groups}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// resourceIDs returns the ids of a list response's resources, in order.
func resourceIDs(t *testing.T, list map[string]any) []string {
	t.Helper()
	resources, ok := list["Resources"].([]any)
	if !ok {
		t.Fatalf("list response without a Resources array: %v", list)
	}
	ids := make([]string, 0, len(resources))
	for _, r := range resources {
		id, _ := r.(map[string]any)["id"].(string)
		ids = append(ids, id)
	}
	return ids
}
