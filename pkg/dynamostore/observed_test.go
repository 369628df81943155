package dynamostore_test

import (
	"context"
	"testing"
	"time"

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
