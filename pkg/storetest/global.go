package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scimgate/scimgate/pkg/auth"
	"github.com/scimgate/scimgate/pkg/changes"
	"github.com/scimgate/scimgate/pkg/changes/changestest"
	"github.com/scimgate/scimgate/pkg/scim"
)

// GlobalFeedStore is a store with the feed across connections and the
// connection directory it follows.
type GlobalFeedStore interface {
	changes.GlobalFeed
	auth.ConnectionStore
	AppendChanges(ctx context.Context, recs ...changes.Record) error
}

// GlobalFeedConfig tunes RunGlobalFeed to a store.
type GlobalFeedConfig struct {
	// Settle is how long the store holds back new records (0: none); the
	// readers wait it out before they call themselves caught up.
	Settle time.Duration
	// Writers is how many connections write at once, Records how many
	// records each writes (one transaction each).
	Writers, Records int
}

// RunGlobalFeed is the contract of the feed across connections: writers
// in several connections append records concurrently, each drawing its id
// right before its own commit (as the SCIM service does), while readers
// page through ListAllChanges in small pages, one of them with a type
// filter. Once the writers are done and the settle window has passed,
// every reader has seen each record exactly once: no gap, no duplicate,
// and the filtered reader exactly the matching ones.
func RunGlobalFeed(t *testing.T, st GlobalFeedStore, cfg GlobalFeedConfig) {
	ctx := context.Background()
	start := time.Now()
	var conns []scim.Connection
	for i := range cfg.Writers {
		c := scim.Connection{Tenant: fmt.Sprintf("global-%d", i), SSO: "okta"}
		if err := st.CreateConnection(ctx, auth.ConnectionRecord{Conn: c, State: auth.StateActive, Created: start},
			auth.NewTokenInfo(c, fmt.Sprintf("global-feed-secret-%d-%032d", i, i), start)); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	gen := changes.NewIDGenerator(nil)
	var mu sync.Mutex
	written := map[string]changes.Type{}
	var writers sync.WaitGroup
	for w, c := range conns {
		writers.Add(1)
		go func() {
			defer writers.Done()
			for i := range cfg.Records {
				typ := changes.UserCreated
				if i%5 == 1 { // rare, so that a filtered page reads past several partitions
					typ = changes.UserDeactivated
				}
				at := time.Now().UTC()
				rid := fmt.Sprintf("u%d-%d", w, i)
				r := changes.Record{ID: gen(at), Type: typ, Tenant: c.Tenant, SSO: c.SSO, ResourceType: "User", ResourceID: rid,
					Version: int64(i + 1), Time: at, RequestID: fmt.Sprintf("req-%d-%d", w, i), Actor: changes.TokenActor("t"),
					Changed: []string{"active"},
					Data:    json.RawMessage(fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"id":%q,"meta":{"resourceType":"User","version":"W/\"%d\""}}`, rid, i+1))}
				if typ == changes.UserDeactivated {
					r.Previous, r.Current = map[string]any{"active": true}, map[string]any{"active": false}
				}
				if err := st.AppendChanges(ctx, r); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				written[r.ID] = typ
				mu.Unlock()
				// Writers at different rates: a busy connection's records are
				// dense in id order, a quiet one's sparse, so that a page
				// meets partitions read to very different points.
				time.Sleep(time.Duration(w) * 15 * time.Millisecond)
			}
		}()
	}
	done := make(chan struct{})
	go func() { writers.Wait(); close(done) }()

	// read pages the feed until the writers are done, the settle window
	// has passed since, and a page comes back empty: caught up.
	read := func(types []changes.Type) []changes.Record {
		var got []changes.Record
		after := ""
		var quietSince time.Time
		for {
			page, err := st.ListAllChanges(ctx, changes.GlobalQuery{After: after, Limit: 7, Types: types})
			if err != nil {
				t.Error(err)
				return got
			}
			got = append(got, page.Records...)
			if page.Next < after {
				t.Errorf("cursor went back from %s to %s", after, page.Next)
			}
			caughtUp := page.Next == after && len(page.Records) == 0
			after = page.Next
			select {
			case <-done:
				if quietSince.IsZero() {
					quietSince = time.Now()
				}
				if caughtUp && time.Since(quietSince) > cfg.Settle+500*time.Millisecond {
					return got
				}
			default:
			}
			if caughtUp {
				time.Sleep(20 * time.Millisecond)
			}
		}
	}
	var readers sync.WaitGroup
	var all, deactivations []changes.Record
	readers.Add(2)
	go func() { defer readers.Done(); all = read(nil) }()
	go func() { defer readers.Done(); deactivations = read([]changes.Type{changes.UserDeactivated}) }()
	readers.Wait()
	// Readers that start on the whole backlog, in pages far smaller than
	// it: each connection's partition has more than a page to give.
	lateAll := read(nil)
	lateDeactivations := read([]changes.Type{changes.UserDeactivated})
	if t.Failed() {
		return
	}
	check := func(name string, got []changes.Record, want func(changes.Type) bool) {
		t.Helper()
		seen := map[string]bool{}
		for _, r := range got {
			if seen[r.ID] {
				t.Errorf("%s: record %s twice", name, r.ID)
			}
			seen[r.ID] = true
			if typ, ok := written[r.ID]; ok && !want(typ) {
				t.Errorf("%s: record %s of type %s, which the filter excludes", name, r.ID, typ)
			}
		}
		missing := 0
		for id, typ := range written {
			if want(typ) && !seen[id] {
				missing++
			}
		}
		if missing > 0 {
			t.Errorf("%s: %d of the records written were never listed (a gap)", name, missing)
		}
	}
	check("all", all, func(changes.Type) bool { return true })
	check("user.deactivated", deactivations, func(typ changes.Type) bool { return typ == changes.UserDeactivated })
	check("all, from the backlog", lateAll, func(changes.Type) bool { return true })
	check("user.deactivated, from the backlog", lateDeactivations, func(typ changes.Type) bool { return typ == changes.UserDeactivated })
	// Every connection is in the one feed.
	byConn := map[string]int{}
	for _, r := range all {
		byConn[r.Tenant+"/"+r.SSO]++
	}
	for _, c := range conns {
		if n := byConn[c.Tenant+"/"+c.SSO]; n != cfg.Records {
			t.Errorf("%s: %d records in the global feed, want %d", c, n, cfg.Records)
		}
	}
	if len(written) != cfg.Writers*cfg.Records {
		t.Errorf("%d records written, want %d", len(written), cfg.Writers*cfg.Records)
	}
	changestest.Validate(t, all...)
	if cfg.Settle > 0 && !slices.IsSortedFunc(all, func(a, b changes.Record) int { return strings.Compare(a.ID, b.ID) }) {
		// A store that merges by id (DynamoDB) lists in id order.
		t.Errorf("the global feed is not in id order")
	}
}
