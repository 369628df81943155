package storetest

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scimgate/scimgate/pkg/health"
	"github.com/scimgate/scimgate/pkg/scim"
)

// RunHealth is the contract of a health.Store: buckets round-trip whole,
// a put replaces the bucket of the same connection, hour and instance and
// no other, instances and connections stay apart, since bounds the read,
// and a put of many connections' buckets (more than one DynamoDB batch)
// stores them all. Last, two aggregators (two instances) flushing into the
// store merge into one report.
func RunHealth(t *testing.T, newStore func(t *testing.T) health.Store) {
	var seq atomic.Int64
	tests := []struct {
		name string
		fn   func(t *testing.T, s health.Store, conn scim.Connection)
	}{
		{"RoundTrip", testHealthRoundTrip},
		{"ReplaceAndIsolation", testHealthReplace},
		{"ManyConnectionsInOnePut", testHealthMany},
		{"TwoInstancesMerge", testHealthTwoInstances},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			conn := scim.Connection{Tenant: fmt.Sprintf("h%d-%d", time.Now().UnixNano()%1e9, seq.Add(1)), SSO: "okta"}
			tc.fn(t, newStore(t), conn)
		})
	}
}

var healthHour = time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)

func sampleBucket(conn scim.Connection, hour time.Time, instance string, n int64) health.Bucket {
	at := hour.Add(17*time.Minute + 250*time.Millisecond)
	b := health.Bucket{Conn: conn, Hour: hour, Instance: instance,
		LastRequest: &health.Call{Time: at, Method: "POST", Route: "/Users", Status: 409, ScimType: "uniqueness", RequestID: "req-" + instance},
		LastSuccess: &health.Call{Time: at.Add(-time.Second), Method: "PATCH", Route: "/Groups/{id}", Status: 200, RequestID: "ok-" + instance},
		LastError:   &health.Call{Time: at, Method: "POST", Route: "/Users", Status: 409, ScimType: "uniqueness", RequestID: "req-" + instance},
		UserAgent:   "Okta SCIM Client 1.0.0"}
	b.Slots[3] = health.Counts{Success2xx: n, Client4xx: 2, RateLimited: 1}
	b.Slots[11] = health.Counts{Server5xx: 1, Redirect3xx: 4}
	return b
}

func listHealth(t *testing.T, s health.Store, conn scim.Connection, since time.Time) map[string]health.Bucket {
	t.Helper()
	got, err := s.ListHealth(context.Background(), conn, since)
	if err != nil {
		t.Fatalf("list health: %v", err)
	}
	out := map[string]health.Bucket{}
	for _, b := range got {
		k := health.HourKey(b.Hour) + "/" + b.Instance
		if _, dup := out[k]; dup {
			t.Fatalf("bucket %s listed twice", k)
		}
		out[k] = b
	}
	return out
}

func sameBucket(t *testing.T, got, want health.Bucket) {
	t.Helper()
	eq := func(a, b *health.Call) bool {
		return (a == nil && b == nil) || (a != nil && b != nil && a.Time.Equal(b.Time) && a.Method == b.Method && a.Route == b.Route && a.Status == b.Status && a.ScimType == b.ScimType && a.RequestID == b.RequestID)
	}
	if got.Conn != want.Conn || !got.Hour.Equal(want.Hour) || got.Instance != want.Instance || got.Slots != want.Slots ||
		!eq(got.LastRequest, want.LastRequest) || !eq(got.LastSuccess, want.LastSuccess) || !eq(got.LastError, want.LastError) || got.UserAgent != want.UserAgent {
		t.Fatalf("bucket:\n got %+v\nwant %+v", got, want)
	}
}

func testHealthRoundTrip(t *testing.T, s health.Store, conn scim.Connection) {
	ctx := context.Background()
	b := sampleBucket(conn, healthHour, "i1", 7)
	empty := health.Bucket{Conn: conn, Hour: healthHour.Add(time.Hour), Instance: "i1"}
	if err := s.PutHealth(ctx, []health.Bucket{b, empty}); err != nil {
		t.Fatalf("put health: %v", err)
	}
	got := listHealth(t, s, conn, healthHour)
	if len(got) != 2 {
		t.Fatalf("%d buckets, want 2", len(got))
	}
	sameBucket(t, got[health.HourKey(healthHour)+"/i1"], b)
	sameBucket(t, got[health.HourKey(healthHour.Add(time.Hour))+"/i1"], empty)
	if err := s.PutHealth(ctx, nil); err != nil {
		t.Fatalf("put no buckets: %v", err)
	}
}

func testHealthReplace(t *testing.T, s health.Store, conn scim.Connection) {
	ctx := context.Background()
	other := scim.Connection{Tenant: conn.Tenant, SSO: "entra"}
	must := func(bs ...health.Bucket) {
		t.Helper()
		if err := s.PutHealth(ctx, bs); err != nil {
			t.Fatalf("put health: %v", err)
		}
	}
	must(sampleBucket(conn, healthHour, "i1", 1), sampleBucket(conn, healthHour, "i2", 2),
		sampleBucket(conn, healthHour.Add(-3*time.Hour), "i1", 3), sampleBucket(other, healthHour, "i1", 4))
	replaced := sampleBucket(conn, healthHour, "i1", 10)
	replaced.UserAgent = "Microsoft.AAD/1.0"
	must(replaced)
	got := listHealth(t, s, conn, healthHour.Add(-3*time.Hour))
	if len(got) != 3 {
		t.Fatalf("%d buckets of %s, want 3 (the other connection's stays apart)", len(got), conn)
	}
	sameBucket(t, got[health.HourKey(healthHour)+"/i1"], replaced)
	sameBucket(t, got[health.HourKey(healthHour)+"/i2"], sampleBucket(conn, healthHour, "i2", 2))
	// since is inclusive of its hour and excludes earlier ones.
	if n := len(listHealth(t, s, conn, healthHour)); n != 2 {
		t.Fatalf("%d buckets since %s, want 2", n, healthHour)
	}
	if n := len(listHealth(t, s, other, healthHour.Add(-24*time.Hour))); n != 1 {
		t.Fatalf("%d buckets of %s, want 1", n, other)
	}
}

func testHealthMany(t *testing.T, s health.Store, conn scim.Connection) {
	ctx := context.Background()
	var bs []health.Bucket
	for i := range 30 {
		c := scim.Connection{Tenant: conn.Tenant, SSO: fmt.Sprintf("sso-%d", i)}
		bs = append(bs, sampleBucket(c, healthHour, "i1", int64(i+1)))
	}
	if err := s.PutHealth(ctx, bs); err != nil {
		t.Fatalf("put %d buckets: %v", len(bs), err)
	}
	for _, b := range bs {
		got := listHealth(t, s, b.Conn, healthHour)
		if len(got) != 1 {
			t.Fatalf("%s: %d buckets, want 1", b.Conn, len(got))
		}
		sameBucket(t, got[health.HourKey(healthHour)+"/i1"], b)
	}
}

func testHealthTwoInstances(t *testing.T, s health.Store, conn scim.Connection) {
	ctx := context.Background()
	now := healthHour.Add(30 * time.Minute)
	clock := func() time.Time { return now }
	a := health.NewAggregator(s, health.WithClock(clock), health.WithInstance("lambda-a"))
	b := health.NewAggregator(s, health.WithClock(clock), health.WithInstance("lambda-b"))
	ev := func(status int) health.Event {
		return health.Event{Conn: conn, Method: "POST", Route: "/Users", Status: status, RequestID: fmt.Sprint("r", status), UserAgent: "Okta"}
	}
	for range 5 {
		a.Record(ev(201))
	}
	b.Record(ev(201))
	b.Record(ev(429))
	for _, g := range []*health.Aggregator{a, b, a} {
		if err := g.Flush(ctx); err != nil {
			t.Fatalf("flush: %v", err)
		}
	}
	now = now.Add(time.Second)
	a.Record(ev(503))
	for _, g := range []*health.Aggregator{a, b} {
		if err := g.Flush(ctx); err != nil {
			t.Fatalf("flush: %v", err)
		}
	}
	buckets, err := s.ListHealth(ctx, conn, health.Since(now))
	if err != nil {
		t.Fatalf("list health: %v", err)
	}
	r := health.Summarize(conn, buckets, now)
	want := health.Counts{Success2xx: 6, Client4xx: 1, Server5xx: 1, RateLimited: 1}
	if r.LastHour != want || r.LastDay != want {
		t.Fatalf("merged counts hour %+v day %+v, want %+v", r.LastHour, r.LastDay, want)
	}
	if r.LastError == nil || r.LastError.Status != 503 || r.LastError.RequestID != "r503" {
		t.Fatalf("last error %+v, want a's 503", r.LastError)
	}
}
