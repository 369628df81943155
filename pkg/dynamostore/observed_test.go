package dynamostore_test

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/scimgate/scimgate/pkg/dynamostore"
	"github.com/scimgate/scimgate/pkg/observed"
	"github.com/scimgate/scimgate/pkg/scim"
	"github.com/scimgate/scimgate/pkg/storetest"
)

func TestObservedContract(t *testing.T) {
	srv := moto.Server(t)
	client := srv.Client(t)
	storetest.RunObserved(t, func(t *testing.T) storetest.ObservedStores {
		s := dynamostore.New(client, srv.NewTable(t, client))
		return storetest.ObservedStores{Observed: s, Connections: s}
	})
}

// TestObservedRecorderCalls measures what the observed schema costs in
// DynamoDB calls, with the recorder on the store: a process's first
// sighting of a connection is one Query (its known keys) and one
// UpdateItem per new key; later sightings cost nothing until the flush
// interval, and the flush is one UpdateItem per key with new counts.
func TestObservedRecorderCalls(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	now := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	const urn = "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User"
	sight := func(attrs ...string) []observed.Sighting {
		var out []observed.Sighting
		for _, a := range attrs {
			out = append(out, observed.Sighting{ResourceType: scim.UserResource, URN: urn, Attribute: a, JSONType: observed.TypeString})
		}
		return out
	}
	want := func(when string, calls map[string]int) {
		t.Helper()
		got := e.counter.Snapshot()
		total := 0
		for op, n := range calls {
			total += n
			if got[op] != n {
				t.Fatalf("%s: %v, want %v", when, got, calls)
			}
		}
		if e.counter.Total() != total {
			t.Fatalf("%s: %v, want %v", when, got, calls)
		}
		t.Logf("%s: %v", when, got)
		e.counter.Reset()
	}

	rec := observed.NewRecorder(e.store, observed.WithClock(clock))
	rec.Record(ctx, e.conn, sight("CustomAttribute", "costCentre"))
	want("first request with 2 new keys", map[string]int{"Query": 1, "UpdateItem": 2})
	for range 100 {
		now = now.Add(500 * time.Millisecond)
		rec.Record(ctx, e.conn, sight("CustomAttribute", "costCentre"))
	}
	want("100 requests of known keys within the minute", map[string]int{})
	now = now.Add(10 * time.Second)
	rec.Record(ctx, e.conn, sight("CustomAttribute"))
	want("the first request after the minute (flush of 2 keys)", map[string]int{"UpdateItem": 2})

	cold := observed.NewRecorder(e.store, observed.WithClock(clock))
	for range 50 {
		cold.Record(ctx, e.conn, sight("CustomAttribute", "costCentre"))
	}
	want("a cold process, 50 requests of known keys", map[string]int{"Query": 1})

	entries, err := e.store.ListObserved(ctx, e.conn)
	if err != nil {
		t.Fatal(err)
	}
	want("list", map[string]int{"Query": 1})
	counts := map[string]int64{}
	for _, en := range entries {
		counts[en.Attribute] = en.Count
	}
	if len(entries) != 2 || counts["CustomAttribute"] != 102 || counts["costCentre"] != 101 {
		t.Fatalf("observed after traffic: %+v", entries)
	}
}

func TestObservedTraffic(t *testing.T) {
	srv := moto.Server(t)
	client := srv.Client(t)
	s := dynamostore.New(client, srv.NewTable(t, client))
	storetest.RunObservedTraffic(t, storetest.TrafficStores{Resources: s, Connections: s, Observed: s})
}

// TestObservedAddsNoCallPerRequest: with the recorder on the Service, a
// POST carrying an undeclared attribute already recorded makes exactly the
// DynamoDB calls of a POST without it; the first one makes one Query (the
// process's load of the connection's keys) and one UpdateItem more.
func TestObservedAddsNoCallPerRequest(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	now := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	svc := scim.NewService(e.store, scim.WithClock(clock),
		scim.WithObserver(observed.NewRecorder(e.store, observed.WithClock(clock))))
	const urn = "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User"
	post := func(name string, custom bool) map[string]int {
		t.Helper()
		body := `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"` + name + `"`
		if custom {
			body += `,"` + urn + `":{"CustomAttribute":"701984"}`
		}
		e.counter.Reset()
		if _, err := svc.Create(ctx, e.conn, scim.UserResource, []byte(body+"}")); err != nil {
			t.Fatalf("POST %s: %v", name, err)
		}
		now = now.Add(time.Second)
		return e.counter.Snapshot()
	}
	plain := post("plain@example.com", false)
	firstCustom := post("first@example.com", true)
	if firstCustom["Query"] != plain["Query"]+1 || firstCustom["UpdateItem"] != plain["UpdateItem"]+1 {
		t.Fatalf("first POST with the custom attribute: %v; a plain POST: %v; want one Query and one UpdateItem more", firstCustom, plain)
	}
	for i := range 10 {
		if got := post(fmt.Sprintf("u%d@example.com", i), true); !maps.Equal(got, plain) {
			t.Fatalf("POST %d with the recorded attribute: %v; a plain POST: %v", i, got, plain)
		}
	}
	t.Logf("plain POST %v; first with a custom attribute %v; later ones as the plain one", plain, firstCustom)
}

// TestObservedItemSize: an observed item of Entra's documented URN is far
// below 1 KB (one write unit per upsert, a few per Query page of 4 KB);
// the largest the name bounds allow stays below 2 KB (two write units).
func TestObservedItemSize(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	at := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name      string
		conn      scim.Connection
		urn, attr string
		max       int
	}{
		{"Entra's URN", e.conn, "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User", "CustomAttribute", 1024},
		{"the largest", scim.Connection{Tenant: strings.Repeat("t", 63), SSO: strings.Repeat("s", 63)},
			"urn:" + strings.Repeat("u", observed.MaxURNBytes-4), strings.Repeat("a", observed.MaxAttributeBytes), 2048},
	} {
		entry := observed.Entry{ResourceType: scim.UserResource, URN: tc.urn, Attribute: tc.attr, JSONType: observed.TypeBoolean,
			FirstSeen: at, LastSeen: at, Count: 123456789}
		if err := e.store.AddObserved(ctx, tc.conn, []observed.Entry{entry}); err != nil {
			t.Fatal(err)
		}
		out, err := e.client.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(e.table)})
		if err != nil {
			t.Fatal(err)
		}
		size := 0
		for _, item := range out.Items {
			if s, _ := item["sk"].(*types.AttributeValueMemberS); s != nil && strings.Contains(s.Value, strings.ToLower(tc.attr)) {
				size = dynamostore.ItemSize(item)
			}
		}
		if size == 0 || size > tc.max {
			t.Fatalf("%s: observed item of %d bytes, want at most %d", tc.name, size, tc.max)
		}
		t.Logf("%s: observed item of %d bytes", tc.name, size)
	}
}
