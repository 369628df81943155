package health_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scimgate/scimgate/pkg/health"
	"github.com/scimgate/scimgate/pkg/health/healthtest"
	"github.com/scimgate/scimgate/pkg/scim"
)

var conn = scim.Connection{Tenant: "acme", SSO: "okta"}

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newClock() *clock { return &clock{t: time.Date(2026, 12, 2, 10, 7, 30, 250e6, time.UTC)} }

func event(status int, route string) health.Event {
	return health.Event{Conn: conn, Method: "POST", Route: route, Status: status, RequestID: "req-" + route, UserAgent: "Okta SCIM Client 1.0.0"}
}

func report(t *testing.T, s health.Store, now time.Time) health.Report {
	t.Helper()
	buckets, err := s.ListHealth(context.Background(), conn, health.Since(now))
	if err != nil {
		t.Fatal(err)
	}
	return health.Summarize(conn, buckets, now)
}

func TestRecordWritesNothingUntilFlush(t *testing.T) {
	store := &healthtest.Memory{}
	clk := newClock()
	agg := health.NewAggregator(store, health.WithClock(clk.now), health.WithFlushInterval(time.Minute))
	for range 100 {
		agg.Record(event(201, "/Users"))
	}
	if store.Puts() != 0 {
		t.Fatalf("%d store writes before a flush; want none", store.Puts())
	}
	if err := agg.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if store.Puts() != 1 {
		t.Fatalf("%d store writes for one flush; want 1", store.Puts())
	}
	// Nothing changed: the next flush writes nothing.
	if err := agg.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if store.Puts() != 1 {
		t.Fatalf("an idle flush wrote: %d writes", store.Puts())
	}
	if got := report(t, store, clk.now()).LastHour.Success2xx; got != 100 {
		t.Fatalf("2xx = %d, want 100", got)
	}
}

func TestFlushIfDueAtMostOncePerInterval(t *testing.T) {
	store := &healthtest.Memory{}
	clk := newClock()
	agg := health.NewAggregator(store, health.WithClock(clk.now), health.WithFlushInterval(time.Minute))
	ctx := context.Background()
	writes := 0
	// 10 requests a second for 5 minutes, each followed by the
	// piggy-backed flush check, as on Lambda.
	for range 3000 {
		agg.Record(event(200, "/Users/{id}"))
		if err := agg.FlushIfDue(ctx); err != nil {
			t.Fatal(err)
		}
		clk.advance(100 * time.Millisecond)
	}
	writes = store.Puts()
	// The first request flushes at once, then one per minute.
	if writes < 5 || writes > 6 {
		t.Fatalf("%d writes for 3000 requests over 5 minutes with a 1-minute interval; want 5 or 6", writes)
	}
}

func TestTwoInstancesMerge(t *testing.T) {
	store := &healthtest.Memory{}
	clk := newClock()
	a := health.NewAggregator(store, health.WithClock(clk.now), health.WithInstance("a"))
	b := health.NewAggregator(store, health.WithClock(clk.now), health.WithInstance("b"))
	ctx := context.Background()
	for range 3 {
		a.Record(event(201, "/Users"))
	}
	b.Record(event(409, "/Users"))
	clk.advance(time.Second)
	b.Record(health.Event{Conn: conn, Method: "PATCH", Route: "/Groups/{id}", Status: 200, UserAgent: "Microsoft.AAD/1.0"})
	for _, g := range []*health.Aggregator{a, b} {
		if err := g.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// a flushes again with more: its bucket is replaced, b's is kept.
	clk.advance(time.Second)
	a.Record(event(500, "/Users"))
	if err := a.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if store.Len() != 2 {
		t.Fatalf("%d buckets stored, want one per instance", store.Len())
	}
	r := report(t, store, clk.now())
	want := health.Counts{Success2xx: 4, Client4xx: 1, Server5xx: 1}
	if r.LastHour != want || r.LastDay != want {
		t.Fatalf("hour %+v day %+v, want %+v", r.LastHour, r.LastDay, want)
	}
	if r.LastRequest == nil || r.LastRequest.Status != 500 || r.LastRequest.Route != "/Users" {
		t.Fatalf("last request %+v, want a's 500", r.LastRequest)
	}
	if r.LastSuccess == nil || r.LastSuccess.Method != "PATCH" || r.LastSuccess.Route != "/Groups/{id}" {
		t.Fatalf("last success %+v, want b's PATCH", r.LastSuccess)
	}
	if r.LastError == nil || r.LastError.Status != 500 || r.LastError.RequestID != "req-/Users" {
		t.Fatalf("last error %+v", r.LastError)
	}
	if r.UserAgent != "Okta SCIM Client 1.0.0" {
		t.Fatalf("user agent %q: want the latest request's", r.UserAgent)
	}
}

func TestWindows(t *testing.T) {
	store := &healthtest.Memory{}
	clk := newClock()
	agg := health.NewAggregator(store, health.WithClock(clk.now))
	ctx := context.Background()
	// One request now, one 50 minutes later, one 3 hours later, one 25 hours later.
	steps := []time.Duration{0, 50 * time.Minute, 3 * time.Hour, 25 * time.Hour}
	start := clk.now()
	for _, at := range steps {
		agg.Record(health.Event{At: start.Add(at), Conn: conn, Method: "GET", Route: "/Users", Status: 200})
	}
	if err := agg.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		at         time.Duration
		hour, day  int64
		lastRecent bool
	}{
		{at: 55 * time.Minute, hour: 2, day: 2},
		{at: 61 * time.Minute, hour: 1, day: 2},
		{at: 3 * time.Hour, hour: 1, day: 3},
		{at: 23*time.Hour + 58*time.Minute, hour: 0, day: 2}, // the first has left the day
		{at: 25 * time.Hour, hour: 1, day: 2},
	} {
		r := report(t, store, start.Add(tc.at))
		if r.LastHour.Success2xx != tc.hour || r.LastDay.Success2xx != tc.day {
			t.Errorf("at +%s: hour %d day %d, want %d %d", tc.at, r.LastHour.Success2xx, r.LastDay.Success2xx, tc.hour, tc.day)
		}
	}
}

func TestFailedFlushIsRetried(t *testing.T) {
	store := &healthtest.Memory{Fail: true}
	clk := newClock()
	agg := health.NewAggregator(store, health.WithClock(clk.now))
	agg.Record(event(200, "/Users"))
	if err := agg.Flush(context.Background()); err == nil {
		t.Fatal("flush into a failing store succeeded")
	}
	store.Fail = false
	clk.advance(2 * time.Hour) // the bucket's hour is over: it must still be written
	if err := agg.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if store.Len() != 1 {
		t.Fatalf("the failed flush's bucket was lost: %d stored", store.Len())
	}
}

func TestMaxConnections(t *testing.T) {
	store := &healthtest.Memory{}
	agg := health.NewAggregator(store, health.WithMaxConnections(2))
	for _, tenant := range []string{"a", "b", "c"} {
		agg.Record(health.Event{Conn: scim.Connection{Tenant: tenant, SSO: "okta"}, Method: "GET", Route: "/Users", Status: 200})
	}
	if agg.Dropped() != 1 {
		t.Fatalf("dropped %d, want 1", agg.Dropped())
	}
}

func TestSanitizeUserAgent(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"Okta SCIM Client 1.0.0", "Okta SCIM Client 1.0.0"},
		{"  a\t\tb  ", "a b"},
		{"evil\x1b[31mred\r\n", "evil?[31mred??"},
		{"caf\u00e9", "caf?"},
		{strings.Repeat("x", 500), strings.Repeat("x", health.MaxUserAgentLength)},
	} {
		if got := health.SanitizeUserAgent(tc.in); got != tc.want {
			t.Errorf("SanitizeUserAgent(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestCodecRoundTrip(t *testing.T) {
	at := time.Date(2026, 12, 2, 10, 7, 30, 250e6, time.UTC)
	b := health.Bucket{Conn: conn, Hour: at.Truncate(time.Hour), Instance: "i",
		LastRequest: &health.Call{Time: at, Method: "POST", Route: "/Users", Status: 409, ScimType: "uniqueness", RequestID: "r1"},
		LastSuccess: &health.Call{Time: at.Add(-time.Second), Method: "GET", Route: "/Users", Status: 200},
		LastError:   &health.Call{Time: at, Method: "POST", Route: "/Users", Status: 409, ScimType: "uniqueness", RequestID: "r1"},
		UserAgent:   "ua"}
	b.Slots[1] = health.Counts{Success2xx: 5, Client4xx: 1, RateLimited: 1}
	b.Slots[11] = health.Counts{Server5xx: 2, Redirect3xx: 3}
	data, err := health.EncodeBucket(b)
	if err != nil {
		t.Fatal(err)
	}
	got := health.Bucket{Conn: b.Conn, Hour: b.Hour, Instance: b.Instance}
	if err := health.DecodeBucket(data, &got); err != nil {
		t.Fatal(err)
	}
	if got.Slots != b.Slots || *got.LastRequest != *b.LastRequest || *got.LastSuccess != *b.LastSuccess || *got.LastError != *b.LastError || got.UserAgent != b.UserAgent {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, b)
	}
	if err := health.DecodeBucket([]byte(`{"v":1,"s":{"12":[1,0,0,0,0]}}`), &got); err == nil {
		t.Fatal("a slot out of range was accepted")
	}
}

func TestObserverRecordsOnlyAuthenticated(t *testing.T) {
	store := &healthtest.Memory{}
	clk := newClock()
	agg := health.NewAggregator(store, health.WithClock(clk.now))
	authed := true
	obs := health.NewObserver(agg, func(context.Context) health.Detail {
		return health.Detail{Authenticated: authed, RequestID: "r", UserAgent: "ua", ScimType: "invalidValue"}
	}).FlushOnRequest()
	ctx := obs.StartRequest(context.Background())
	obs.EndRequest(ctx, "POST /{tenant}/{sso}/Users", 400, 0, conn)
	authed = false
	obs.EndRequest(ctx, "GET /{tenant}/{sso}/Users", 401, 0, conn)
	obs.EndRequest(ctx, "unmatched", 404, 0, scim.Connection{})
	r := report(t, store, clk.now())
	if r.LastDay != (health.Counts{Client4xx: 1}) {
		t.Fatalf("counts %+v: want only the authenticated 400", r.LastDay)
	}
	if r.LastError == nil || r.LastError.Route != "/Users" || r.LastError.Method != "POST" || r.LastError.ScimType != "invalidValue" {
		t.Fatalf("last error %+v", r.LastError)
	}
	if store.Puts() != 1 {
		t.Fatalf("%d writes: want the first request's piggy-backed flush only", store.Puts())
	}
}
