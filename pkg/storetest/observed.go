package storetest

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scimgate/scimgate/pkg/auth"
	"github.com/scimgate/scimgate/pkg/observed"
	"github.com/scimgate/scimgate/pkg/scim"
)

// ObservedStores is what the observed schema's contract needs: the store
// behind both interfaces (a purge must erase the entries).
type ObservedStores struct {
	Observed    observed.Store
	Connections auth.ConnectionStore
}

// RunObserved is the contract of an observed.Store: an upsert adds the
// count, moves last seen and keeps first seen and the first spelling; keys
// differ by resource type and JSON type, not by case; connections stay
// apart; a purge of the connection erases its entries.
func RunObserved(t *testing.T, newStores func(t *testing.T) ObservedStores) {
	var seq atomic.Int64
	tests := []struct {
		name string
		fn   func(t *testing.T, s ObservedStores, tenant string)
	}{
		{"UpsertAndIsolation", testObservedUpsert},
		{"PurgeErasesThem", testObservedPurge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, newStores(t), fmt.Sprintf("o%d-%d", time.Now().UnixNano()%1e9, seq.Add(1)))
		})
	}
}

const observedURN = "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User"

var observedStart = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)

func listObserved(t *testing.T, s observed.Store, conn scim.Connection) []observed.Entry {
	t.Helper()
	got, err := s.ListObserved(context.Background(), conn)
	if err != nil {
		t.Fatalf("list observed of %s: %v", conn, err)
	}
	sort.Slice(got, func(i, j int) bool {
		a, b := got[i].Key(), got[j].Key()
		return fmt.Sprint(a) < fmt.Sprint(b)
	})
	return got
}

func testObservedUpsert(t *testing.T, s ObservedStores, tenant string) {
	ctx := context.Background()
	conn := scim.Connection{Tenant: tenant, SSO: "entra"}
	neighbour := scim.Connection{Tenant: tenant, SSO: "okta"}
	mustCreateConnection(t, s.Connections, conn, "", lifecycleStart)
	mustCreateConnection(t, s.Connections, neighbour, "", lifecycleStart)
	t1 := observedStart.Add(90*time.Second + 250*time.Millisecond)

	first := observed.Entry{ResourceType: scim.UserResource, URN: observedURN, Attribute: "CustomAttribute", JSONType: observed.TypeString,
		FirstSeen: observedStart, LastSeen: observedStart, Count: 1}
	if err := s.Observed.AddObserved(ctx, conn, []observed.Entry{first}); err != nil {
		t.Fatalf("add a new key: %v", err)
	}
	// Later: the same key spelled in other case, and three new keys in one
	// call (another JSON type, a Group's, another attribute).
	again := first
	again.URN, again.Attribute = "URN:IETF:params:scim:schemas:extension:customextensionname:2.0:User", "customattribute"
	again.FirstSeen, again.LastSeen, again.Count = t1.Add(-30*time.Second), t1, 41
	asNumber := first
	asNumber.JSONType, asNumber.FirstSeen, asNumber.LastSeen = observed.TypeNumber, t1, t1
	group := observed.Entry{ResourceType: scim.GroupResource, URN: "urn:acme:Group", Attribute: "costCentre", JSONType: observed.TypeArray,
		FirstSeen: t1, LastSeen: t1, Count: 2}
	if err := s.Observed.AddObserved(ctx, conn, []observed.Entry{again, asNumber, group}); err != nil {
		t.Fatalf("add deltas: %v", err)
	}
	if err := s.Observed.AddObserved(ctx, neighbour, []observed.Entry{first}); err != nil {
		t.Fatalf("add to the neighbour: %v", err)
	}

	got := listObserved(t, s.Observed, conn)
	if len(got) != 3 {
		t.Fatalf("%d entries, want 3: %+v", len(got), got)
	}
	byKey := map[observed.Key]observed.Entry{}
	for _, e := range got {
		if e.Conn != conn {
			t.Errorf("entry of %s listed for %s", e.Conn, conn)
		}
		byKey[e.Key()] = e
	}
	want := func(e observed.Entry, count int64, firstSeen, lastSeen time.Time) {
		t.Helper()
		g, ok := byKey[e.Key()]
		if !ok {
			t.Fatalf("no entry for %+v in %+v", e.Key(), got)
		}
		if g.URN != e.URN || g.Attribute != e.Attribute || g.JSONType != e.JSONType || g.ResourceType != e.ResourceType ||
			g.Count != count || !g.FirstSeen.Equal(firstSeen) || !g.LastSeen.Equal(lastSeen) {
			t.Fatalf("entry %+v, want %s %s %s %s count %d first %s last %s", g, e.ResourceType, e.URN, e.Attribute, e.JSONType, count, firstSeen, lastSeen)
		}
	}
	want(first, 42, observedStart, t1) // the first spelling and first sighting stay
	want(asNumber, 1, t1, t1)
	want(group, 2, t1, t1)
	if n := listObserved(t, s.Observed, neighbour); len(n) != 1 || n[0].Count != 1 {
		t.Fatalf("the neighbour's entries: %+v", n)
	}
	if empty := listObserved(t, s.Observed, scim.Connection{Tenant: tenant, SSO: "none"}); len(empty) != 0 {
		t.Fatalf("a connection without entries lists %+v", empty)
	}
}

func testObservedPurge(t *testing.T, s ObservedStores, tenant string) {
	ctx := context.Background()
	conn := scim.Connection{Tenant: tenant, SSO: "entra"}
	neighbour := scim.Connection{Tenant: tenant, SSO: "okta"}
	mustCreateConnection(t, s.Connections, conn, "", lifecycleStart)
	mustCreateConnection(t, s.Connections, neighbour, "", lifecycleStart)
	var entries []observed.Entry
	for i := range 7 {
		entries = append(entries, observed.Entry{ResourceType: scim.UserResource, URN: observedURN, Attribute: fmt.Sprintf("attr%d", i),
			JSONType: observed.TypeString, FirstSeen: observedStart, LastSeen: observedStart, Count: 1})
	}
	for _, c := range []scim.Connection{conn, neighbour} {
		if err := s.Observed.AddObserved(ctx, c, entries); err != nil {
			t.Fatalf("add observed to %s: %v", c, err)
		}
	}
	if err := s.Connections.DeleteConnection(ctx, conn, lifecycleStart.Add(time.Hour)); err != nil {
		t.Fatalf("delete: %v", err)
	}
	for steps := 0; ; steps++ {
		p, err := s.Connections.PurgeConnection(ctx, conn, 4)
		if err != nil {
			t.Fatalf("purge: %v", err)
		}
		if p.Done {
			break
		}
		if steps > 100 {
			t.Fatal("purge does not finish")
		}
	}
	if left := listObserved(t, s.Observed, conn); len(left) != 0 {
		t.Fatalf("a purge left %d observed entries: %+v", len(left), left)
	}
	if kept := listObserved(t, s.Observed, neighbour); len(kept) != len(entries) {
		t.Fatalf("the purge of %s took the neighbour's entries: %d left of %d", conn, len(kept), len(entries))
	}
}

// CountingObserved wraps an observed.Store and counts its calls.
type CountingObserved struct {
	observed.Store
	mu          sync.Mutex
	lists, adds int
}

// AddObserved implements observed.Store.
func (c *CountingObserved) AddObserved(ctx context.Context, conn scim.Connection, deltas []observed.Entry) error {
	c.mu.Lock()
	c.adds++
	c.mu.Unlock()
	return c.Store.AddObserved(ctx, conn, deltas)
}

// ListObserved implements observed.Store.
func (c *CountingObserved) ListObserved(ctx context.Context, conn scim.Connection) ([]observed.Entry, error) {
	c.mu.Lock()
	c.lists++
	c.mu.Unlock()
	return c.Store.ListObserved(ctx, conn)
}

// Calls returns the ListObserved and AddObserved calls so far.
func (c *CountingObserved) Calls() (lists, adds int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lists, c.adds
}

// TrafficStores is what RunObservedTraffic needs.
type TrafficStores struct {
	Resources   scim.Store
	Connections auth.ConnectionStore
	Observed    observed.Store
}

// RunObservedTraffic drives the SCIM service with the recorder on the
// store, with an injected clock: a POST with an undeclared URN not listed
// in schemas (Entra's shape), more POSTs, a PUT adding another attribute
// (Okta's full-body update): the observed list then holds each key with
// its count and first and last sighting, and the store was called once per
// new key and once per flush, never per request.
func RunObservedTraffic(t *testing.T, s TrafficStores) {
	ctx := context.Background()
	conn := scim.Connection{Tenant: fmt.Sprintf("t%d", time.Now().UnixNano()%1e9), SSO: "entra"}
	mustCreateConnection(t, s.Connections, conn, "", lifecycleStart)
	now := observedStart
	clock := func() time.Time { return now }
	counting := &CountingObserved{Store: s.Observed}
	rec := observed.NewRecorder(counting, observed.WithClock(clock))
	svc := scim.NewService(s.Resources, scim.WithObserver(rec), scim.WithClock(clock))
	calls := func(lists, adds int, when string) {
		t.Helper()
		if l, a := counting.Calls(); l != lists || a != adds {
			t.Fatalf("%s: %d ListObserved and %d AddObserved calls so far, want %d and %d", when, l, a, lists, adds)
		}
	}
	user := func(name string, ext string) []byte {
		return []byte(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"` + name + `"` + ext + `}`)
	}
	custom := `,"` + observedURN + `":{"CustomAttribute":"701984"}`

	first, err := svc.Create(ctx, conn, scim.UserResource, user("ada@example.com", custom))
	if err != nil {
		t.Fatalf("POST with an undeclared URN: %v", err)
	}
	calls(1, 1, "the first POST")
	for i := range 5 {
		now = now.Add(5 * time.Second)
		if _, err := svc.Create(ctx, conn, scim.UserResource, user(fmt.Sprintf("u%d@example.com", i), custom)); err != nil {
			t.Fatalf("POST %d: %v", i, err)
		}
	}
	calls(1, 1, "5 more POSTs of the known key within the minute")

	now = now.Add(5 * time.Second) // 30 s
	okta := `,"urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User":{"CustomAttribute":"701984","isContractor":true}`
	if _, err := svc.Replace(ctx, conn, scim.UserResource, first.Resource.ID, user("ada@example.com", okta), scim.Precondition{}); err != nil {
		t.Fatalf("PUT adding an attribute: %v", err)
	}
	calls(1, 2, "a PUT adding a new attribute (one write, for the new key)")
	if _, err := svc.Create(ctx, conn, scim.UserResource, []byte(`{"userName":"bad@example.com","`+observedURN+`":{"CustomAttribute":"x"},"nope":1}`)); err == nil {
		t.Fatal("a POST with an unknown core attribute was accepted")
	}
	calls(1, 2, "a failed POST")

	now = now.Add(10 * time.Second) // 40 s: Entra's PATCH with a URN path
	patch := `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","path":"` + observedURN + `:department","value":"R&D"}]}`
	if _, err := svc.Patch(ctx, conn, scim.UserResource, first.Resource.ID, []byte(patch), scim.Precondition{}); err != nil {
		t.Fatalf("PATCH adding an attribute: %v", err)
	}
	calls(1, 3, "a PATCH adding a new attribute")

	now = now.Add(21 * time.Second) // 61 s: the interval has passed
	if _, err := svc.Create(ctx, conn, scim.UserResource, user("late@example.com", custom)); err != nil {
		t.Fatal(err)
	}
	calls(1, 4, "the first POST after the minute (the flush)")

	got := listObserved(t, s.Observed, conn)
	if len(got) != 3 {
		t.Fatalf("observed after traffic: %+v", got)
	}
	byAttr := map[string]observed.Entry{}
	for _, e := range got {
		if e.URN != observedURN || e.ResourceType != scim.UserResource {
			t.Errorf("entry %+v", e)
		}
		byAttr[e.Attribute] = e
	}
	ca, ic := byAttr["CustomAttribute"], byAttr["isContractor"]
	if ca.JSONType != observed.TypeString || ca.Count != 8 || !ca.FirstSeen.Equal(observedStart) || !ca.LastSeen.Equal(observedStart.Add(61*time.Second)) {
		t.Errorf("CustomAttribute: %+v; want string, 8 (6 POSTs, the PUT, the last POST), first %s, last +61s", ca, observedStart)
	}
	if d, at := byAttr["department"], observedStart.Add(40*time.Second); d.JSONType != observed.TypeString || d.Count != 1 || !d.FirstSeen.Equal(at) || !d.LastSeen.Equal(at) {
		t.Errorf("department: %+v; want string, 1, first and last %s", d, at)
	}
	at := observedStart.Add(30 * time.Second)
	if ic.JSONType != observed.TypeBoolean || ic.Count != 1 || !ic.FirstSeen.Equal(at) || !ic.LastSeen.Equal(at) {
		t.Errorf("isContractor: %+v; want boolean, 1, first and last %s", ic, at)
	}
}
