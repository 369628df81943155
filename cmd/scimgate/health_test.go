package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scimgate/scimgate/pkg/admin"
	"github.com/scimgate/scimgate/pkg/dynamostore"
	"github.com/scimgate/scimgate/pkg/health"
	"github.com/scimgate/scimgate/pkg/scim"
	"github.com/scimgate/scimgate/pkg/sqlitestore"
)

// failingGroups is a store whose group creations fail as an outage would:
// the injected fault behind the script's 5xx.
type failingGroups struct{ scim.Store }

func (f failingGroups) Create(ctx context.Context, r *scim.Resource) error {
	if r.Type == scim.GroupResource {
		return errors.New("injected store fault")
	}
	return f.Store.Create(ctx, r)
}

// countingHealth counts the health writes a store gets.
type countingHealth struct {
	health.Store
	puts atomic.Int64
}

func (c *countingHealth) PutHealth(ctx context.Context, b []health.Bucket) error {
	c.puts.Add(1)
	return c.Store.PutHealth(ctx, b)
}

// healthEnv is a local server on one store kind, with the CLI's flags and
// environment for the same store.
type healthEnv struct {
	st      *stores
	cliArgs []string
	calls   *dynamostore.CallCounter // nil on the embedded store
}

func openHealthEnv(t *testing.T, kind string) healthEnv {
	t.Helper()
	t.Setenv("SCIMGATE_DATA", "")
	t.Setenv("SCIMGATE_DYNAMODB_TABLE", "")
	if kind == "dynamodb" {
		srv := moto.Server(t)
		counter := &dynamostore.CallCounter{}
		client := srv.Client(t, counter.ClientOption())
		table := srv.NewTable(t, client)
		for k, v := range map[string]string{"AWS_ENDPOINT_URL_DYNAMODB": srv.Endpoint(), "AWS_REGION": "us-east-1",
			"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_PROFILE": "", "AWS_EC2_METADATA_DISABLED": "true"} {
			t.Setenv(k, v)
		}
		st := dynamostore.New(client, table)
		return healthEnv{st: &stores{resources: st, tokens: st, conns: st, health: st, table: table, close: func() error { return nil }},
			cliArgs: []string{"--dynamodb-table", table}, calls: counter}
	}
	path := filepath.Join(t.TempDir(), "scimgate.db")
	st, err := sqlitestore.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return healthEnv{st: &stores{resources: st, tokens: st, conns: st, health: st, embedded: st, close: func() error { return nil }},
		cliArgs: []string{"--data", path}}
}

// TestHealthAfterScriptedMix drives a mix of requests through the local
// wiring on both stores (2xx, a 304, 4xx, a 5xx from an injected store
// fault, 429s from the rate limit, and an unauthenticated request that must
// not count), checks that no request wrote health to the store, flushes, and
// reads the result from the admin API and from `connection show` (table and
// --json).
func TestHealthAfterScriptedMix(t *testing.T) {
	for _, kind := range storeKinds {
		t.Run(kind, func(t *testing.T) { testHealthAfterScriptedMix(t, openHealthEnv(t, kind)) })
	}
}

func testHealthAfterScriptedMix(t *testing.T, env healthEnv) {
	ctx := context.Background()
	svc := admin.New(admin.Config{Store: env.st.conns, PublicURL: "http://scim.test", Clock: time.Now})
	okta, err := svc.CreateConnection(ctx, scim.Connection{Tenant: "acme", SSO: "okta"}, "", admin.TokenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	entra, err := svc.CreateConnection(ctx, scim.Connection{Tenant: "acme", SSO: "entra"}, "", admin.TokenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	counted := &countingHealth{Store: env.st.health}
	agg := health.NewAggregator(counted, health.WithFlushInterval(time.Hour))
	st := *env.st
	st.resources = failingGroups{env.st.resources}
	// A burst of 7 per connection and next to no refill: acme/okta's 7
	// requests pass, acme/entra's 8th and 9th are refused with 429.
	ops := &opsFlags{rateLimit: "0.0001", rateBurst: "7"}
	handler, err := localHandler(&st, serveOptions{adminToken: testAdminToken, requestTimeout: time.Minute, ops: ops, health: agg},
		slog.New(slog.NewJSONHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)

	const userAgent = "Okta SCIM Client 1.0.0"
	scimCall := func(conn, token, method, path, body string, header ...string) (int, http.Header, []byte) {
		t.Helper()
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
		}
		req, err := http.NewRequest(method, srv.URL+"/scim/v2/acme/"+conn+path, rd)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("User-Agent", userAgent)
		req.Header.Set("Content-Type", "application/scim+json")
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, b
	}
	expect := func(what string, want, got int, body []byte) {
		t.Helper()
		if got != want {
			t.Fatalf("%s: status %d, want %d: %s", what, got, want, body)
		}
	}
	user := func(name string) string {
		return `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"` + name + `"}`
	}
	// acme/okta: 7 requests, within its burst.
	var firstID, etag string
	for _, name := range []string{"ada@example.com", "bob@example.com", "cy@example.com"} {
		status, h, body := scimCall("okta", okta.Token, "POST", "/Users", user(name))
		expect("create "+name, 201, status, body)
		if firstID == "" {
			var u struct{ ID string }
			_ = json.Unmarshal(body, &u)
			firstID, etag = u.ID, h.Get("ETag")
		}
	}
	status, _, body := scimCall("okta", okta.Token, "GET", "/Users/"+firstID, "", "If-None-Match", etag)
	expect("conditional get", 304, status, body)
	status, _, body = scimCall("okta", okta.Token, "GET", "/Users/00000000-0000-4000-8000-000000000999", "")
	expect("get unknown", 404, status, body)
	status, _, body = scimCall("okta", okta.Token, "POST", "/Groups", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Eng"}`)
	expect("create group on a failing store", 500, status, body)
	status, dupHeader, body := scimCall("okta", okta.Token, "POST", "/Users", user("ADA@example.com"))
	expect("duplicate userName", 409, status, body)
	dupRequestID := dupHeader.Get("X-Request-Id")
	// Without a valid token: not recorded, not even its user agent.
	req, _ := http.NewRequest("GET", srv.URL+"/scim/v2/acme/okta/Users", nil)
	req.Header.Set("Authorization", "Bearer scimgate_wrong-token-0123456789abcdef")
	req.Header.Set("User-Agent", "scanner")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	expect("wrong token", 401, resp.StatusCode, nil)

	// acme/entra: 7 lists within the burst, then 2 refused by the rate limit.
	for i := range 9 {
		status, _, body := scimCall("entra", entra.Token, "GET", "/Users", "")
		want := 200
		if i >= 7 {
			want = 429
		}
		expect("entra list", want, status, body)
	}

	// Nothing reached the store per request: no health write at all until
	// the flush, and on DynamoDB no BatchWriteItem (the only call health makes).
	if n := counted.puts.Load(); n != 0 {
		t.Fatalf("%d health writes during the requests; want none before the flush", n)
	}
	if env.calls != nil {
		if n := env.calls.Snapshot()["BatchWriteItem"]; n != 0 {
			t.Fatalf("%d BatchWriteItem calls during the requests; want none", n)
		}
	}
	if err := agg.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if n := counted.puts.Load(); n != 1 {
		t.Fatalf("%d health writes for one flush of two connections; want 1", n)
	}
	if env.calls != nil {
		if n := env.calls.Snapshot()["BatchWriteItem"]; n != 1 {
			t.Fatalf("%d BatchWriteItem calls for one flush; want 1", n)
		}
	}

	// The admin API.
	get := func(sso string) (health.Report, string) {
		t.Helper()
		r := do(t, "GET", srv.URL+"/admin/v1/connections/acme/"+sso+"/health", testAdminToken, "")
		want(t, r, 200, "GET health")
		var rep health.Report
		dec := json.NewDecoder(strings.NewReader(string(r.body)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&rep); err != nil {
			t.Fatalf("health JSON: %v: %s", err, r.body)
		}
		return rep, string(r.body)
	}
	rep, raw := get("okta")
	wantOkta := health.Counts{Success2xx: 3, Redirect3xx: 1, Client4xx: 2, Server5xx: 1}
	if rep.LastHour != wantOkta || rep.LastDay != wantOkta {
		t.Fatalf("okta counts: hour %+v day %+v, want %+v", rep.LastHour, rep.LastDay, wantOkta)
	}
	if e := rep.LastError; e == nil || e.Status != 409 || e.ScimType != "uniqueness" || e.Method != "POST" || e.Route != "/Users" || e.RequestID != dupRequestID || dupRequestID == "" {
		t.Fatalf("okta last error %+v, want the 409 uniqueness of request %s", e, dupRequestID)
	}
	if s := rep.LastSuccess; s == nil || s.Status != 304 || s.Method != "GET" || s.Route != "/Users/{id}" || s.RequestID != "" {
		t.Fatalf("okta last success %+v, want the 304 GET /Users/{id}", s)
	}
	if r := rep.LastRequest; r == nil || r.Status != 409 || r.Time != rep.LastError.Time {
		t.Fatalf("okta last request %+v, want the 409", r)
	}
	if rep.UserAgent != userAgent {
		t.Fatalf("user agent %q, want %q (never the unauthenticated caller's)", rep.UserAgent, userAgent)
	}
	if _, err := time.Parse(time.RFC3339, rep.LastError.Time); err != nil || !strings.Contains(rep.LastError.Time, ".") || !strings.HasSuffix(rep.LastError.Time, "Z") {
		t.Fatalf("time %q: want RFC 3339 UTC with milliseconds", rep.LastError.Time)
	}
	for _, secret := range []string{firstID, "ada@example.com", "ADA@example.com", "scanner"} {
		if strings.Contains(raw, secret) {
			t.Fatalf("health answer carries %q: routes must be templates: %s", secret, raw)
		}
	}
	rep, _ = get("entra")
	wantEntra := health.Counts{Success2xx: 7, Client4xx: 2, RateLimited: 2}
	if rep.LastHour != wantEntra || rep.LastDay != wantEntra {
		t.Fatalf("entra counts: hour %+v day %+v, want %+v", rep.LastHour, rep.LastDay, wantEntra)
	}
	if e := rep.LastError; e == nil || e.Status != 429 || e.Route != "/Users" {
		t.Fatalf("entra last error %+v, want the 429", e)
	}
	if r := do(t, "GET", srv.URL+"/admin/v1/connections/acme/nope/health", testAdminToken, ""); r.status != 404 {
		t.Fatalf("health of an unknown connection: %d, want 404", r.status)
	}

	// The CLI, table and JSON, on the same store.
	code, out, errOut := runCLI(t, append([]string{"connection", "show", "--tenant", "acme", "--sso", "okta"}, env.cliArgs...)...)
	if code != 0 {
		t.Fatalf("connection show: exit %d: %s", code, errOut)
	}
	for _, wantLine := range []string{
		"last error    ", "POST /Users  409 uniqueness  request " + dupRequestID,
		"last success  ", "GET /Users/{id}  304",
		"last hour     2xx 3  3xx 1  4xx 2  5xx 1  rate-limited 0",
		"user agent    " + userAgent,
	} {
		if !strings.Contains(out, wantLine) {
			t.Fatalf("connection show lacks %q:\n%s", wantLine, out)
		}
	}
	code, out, errOut = runCLI(t, append([]string{"connection", "show", "--tenant", "acme", "--sso", "entra", "--json"}, env.cliArgs...)...)
	if code != 0 {
		t.Fatalf("connection show --json: exit %d: %s", code, errOut)
	}
	var shown struct {
		Tenant string        `json:"tenant"`
		Health health.Report `json:"health"`
	}
	if err := json.Unmarshal([]byte(out), &shown); err != nil {
		t.Fatalf("connection show --json: %v\n%s", err, out)
	}
	if shown.Tenant != "acme" || shown.Health.LastDay != wantEntra || shown.Health.LastError == nil || shown.Health.LastError.Status != 429 {
		t.Fatalf("connection show --json health %+v", shown.Health)
	}
}

// TestServeHealthFlushesOnStop: serve's aggregator writes what it holds
// when stopped, though its interval has not passed, so a clean stop loses
// nothing; "off" starts nothing.
func TestServeHealthFlushesOnStop(t *testing.T) {
	store := &countingHealth{Store: openHealthEnv(t, "sqlite").st.health}
	agg, stop := startHealth(store, time.Hour, slog.New(slog.NewJSONHandler(io.Discard, nil)))
	conn := scim.Connection{Tenant: "acme", SSO: "okta"}
	agg.Record(health.Event{Conn: conn, Method: "GET", Route: "/Users", Status: 200})
	if n := store.puts.Load(); n != 0 {
		t.Fatalf("%d writes before the stop", n)
	}
	stop()
	buckets, err := store.ListHealth(context.Background(), conn, health.Since(time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	if r := health.Summarize(conn, buckets, time.Now()); r.LastDay.Success2xx != 1 {
		t.Fatalf("after stop: %+v, want the request written", r.LastDay)
	}
	if agg, stop := startHealth(store, 0, nil); agg != nil {
		t.Fatal("--health-flush off started an aggregator")
	} else {
		stop()
	}
}

func TestHealthFlushFlag(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    time.Duration
		wantErr bool
	}{{"10s", 10 * time.Second, false}, {"off", 0, false}, {"soon", 0, true}, {"1ms", 0, true}} {
		got, err := (&healthFlags{flush: tc.in}).interval()
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("--health-flush %s: %v %v", tc.in, got, err)
		}
	}
}
