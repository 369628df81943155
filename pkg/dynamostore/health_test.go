package dynamostore_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/scimgate/scimgate/pkg/dynamostore"
	"github.com/scimgate/scimgate/pkg/health"
	"github.com/scimgate/scimgate/pkg/scim"
	"github.com/scimgate/scimgate/pkg/storetest"
)

func TestHealthContract(t *testing.T) {
	srv := moto.Server(t)
	client := srv.Client(t)
	table := srv.NewTable(t, client)
	s := dynamostore.New(client, table)
	storetest.RunHealth(t, func(t *testing.T) health.Store { return s })
}

// TestHealthItemFitsOneWriteUnit: the largest bucket a flush can write (every
// slot counting, the longest route, user agent, request ids and tenant and
// SSO ids) stays within 1 KB, so one flush of one connection costs one WRU.
func TestHealthItemFitsOneWriteUnit(t *testing.T) {
	conn := scim.Connection{Tenant: strings.Repeat("t", 63), SSO: strings.Repeat("s", 63)}
	at := time.Date(2026, 12, 2, 10, 59, 59, 999e6, time.UTC)
	call := &health.Call{Time: at, Method: "DELETE", Route: "/ResourceTypes/{id}", Status: 503, ScimType: "invalidValue", RequestID: strings.Repeat("f", 32)}
	b := health.Bucket{Conn: conn, Hour: at.Truncate(time.Hour), Instance: strings.Repeat("i", 16),
		LastRequest: call, LastSuccess: call, LastError: call, UserAgent: strings.Repeat("u", health.MaxUserAgentLength)}
	for i := range b.Slots {
		b.Slots[i] = health.Counts{Success2xx: 99999, Redirect3xx: 9999, Client4xx: 99999, Server5xx: 9999, RateLimited: 99999}
	}
	item, err := dynamostore.HealthItem(b)
	if err != nil {
		t.Fatal(err)
	}
	if size := dynamostore.ItemSize(item); size > 1024 {
		t.Fatalf("worst-case health item is %d bytes: more than one write capacity unit (1024)", size)
	} else {
		t.Logf("worst-case health item: %d bytes (1 WRU)", size)
	}
}

// TestHealthFlushCalls: a flush is one BatchWriteItem per 25 connections,
// however many requests were recorded, and a report one Query.
func TestHealthFlushCalls(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	now := time.Date(2026, 12, 2, 10, 30, 0, 0, time.UTC)
	agg := health.NewAggregator(e.store, health.WithClock(func() time.Time { return now }))
	for i := range 1000 {
		agg.Record(health.Event{Conn: scim.Connection{Tenant: "acme", SSO: []string{"okta", "entra"}[i%2]}, Method: "GET", Route: "/Users", Status: 200})
	}
	if n := e.counter.Total(); n != 0 {
		t.Fatalf("recording made %d DynamoDB calls; want none", n)
	}
	if err := agg.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := e.counter.Snapshot(); got["BatchWriteItem"] != 1 || e.counter.Total() != 1 {
		t.Fatalf("flush of 2 connections made %v; want one BatchWriteItem", got)
	}
	e.counter.Reset()
	buckets, err := e.store.ListHealth(ctx, scim.Connection{Tenant: "acme", SSO: "okta"}, health.Since(now))
	if err != nil {
		t.Fatal(err)
	}
	if r := health.Summarize(scim.Connection{Tenant: "acme", SSO: "okta"}, buckets, now); r.LastHour.Success2xx != 500 {
		t.Fatalf("2xx = %d, want 500", r.LastHour.Success2xx)
	}
	if got := e.counter.Snapshot(); got["Query"] != 1 || e.counter.Total() != 1 {
		t.Fatalf("a report made %v; want one Query", got)
	}
}
