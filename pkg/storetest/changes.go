package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scimgate/scimgate/pkg/changes"
	"github.com/scimgate/scimgate/pkg/changes/changestest"
)

// FeedStore is a store's change feed as the contract drives it.
type FeedStore interface {
	changes.Feed
	changes.Cursors
	AppendChanges(ctx context.Context, recs ...changes.Record) error
}

var feedConn atomic.Int64

// RunFeed is the contract of reading the change feed and keeping cursors.
// The records it writes are an hour old, so a store's settle window (if
// any) does not hide them.
func RunFeed(t *testing.T, newStore func(t *testing.T) FeedStore) {
	ctx := context.Background()
	var gen changes.IDGenerator
	base := time.Now().UTC().Truncate(time.Millisecond).Add(-time.Hour)
	newConn := func() changes.Conn {
		return changes.Conn{Tenant: "feed", SSO: fmt.Sprintf("c%d", feedConn.Add(1))}
	}
	mk := func(c changes.Conn, typ changes.Type, rid string, i int) changes.Record {
		at := base.Add(time.Duration(i) * time.Second)
		r := changes.Record{
			ID: gen(at), Type: typ, Tenant: c.Tenant, SSO: c.SSO, ResourceType: "User", ResourceID: rid,
			Version: int64(i + 1), Time: at, RequestID: fmt.Sprintf("req-%d", i), Actor: changes.TokenActor("t"),
			Changed: []string{"active"},
			Data:    json.RawMessage(fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"id":%q,"meta":{"resourceType":"User","version":"W/\"%d\""}}`, rid, i+1)),
		}
		if typ != changes.UserCreated {
			r.Previous, r.Current = map[string]any{"active": true}, map[string]any{"active": typ != changes.UserDeactivated}
		}
		return r
	}
	ids := func(rs []changes.Record) []string {
		var out []string
		for _, r := range rs {
			out = append(out, r.ID)
		}
		return out
	}

	t.Run("PagesInOrderAndCatchesUp", func(t *testing.T) {
		gen = changes.NewIDGenerator(nil)
		s, c := newStore(t), newConn()
		other := newConn()
		var want []changes.Record
		for i := 0; i < 25; i++ {
			want = append(want, mk(c, changes.UserUpdated, fmt.Sprintf("u%d", i%3), i))
		}
		if err := s.AppendChanges(ctx, want[:10]...); err != nil {
			t.Fatal(err)
		}
		if err := s.AppendChanges(ctx, mk(other, changes.UserCreated, "x", 0)); err != nil {
			t.Fatal(err)
		}
		if err := s.AppendChanges(ctx, want[10:]...); err != nil {
			t.Fatal(err)
		}
		var got []changes.Record
		after := ""
		for pages := 0; ; pages++ {
			p, err := s.ListChanges(ctx, changes.Query{Tenant: c.Tenant, SSO: c.SSO, After: after, Limit: 10})
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Records) == 0 {
				if p.Next != after {
					t.Errorf("empty page moved the cursor from %q to %q", after, p.Next)
				}
				break
			}
			if pages > 5 {
				t.Fatal("paging does not end")
			}
			got = append(got, p.Records...)
			after = p.Next
		}
		if !slices.Equal(ids(got), ids(want)) {
			t.Errorf("feed %v, want %v", ids(got), ids(want))
		}
		changestest.Validate(t, got...)
		if got[3].RequestID != "req-3" || got[3].ResourceID != "u0" || !got[3].Time.Equal(want[3].Time) {
			t.Errorf("record does not round-trip: %+v", got[3])
		}
	})

	t.Run("Filters", func(t *testing.T) {
		gen = changes.NewIDGenerator(nil)
		s, c := newStore(t), newConn()
		var all []changes.Record
		for i, typ := range []changes.Type{changes.UserCreated, changes.UserDeactivated, changes.UserUpdated, changes.UserDeactivated} {
			all = append(all, mk(c, typ, fmt.Sprintf("u%d", i%2), i))
		}
		if err := s.AppendChanges(ctx, all...); err != nil {
			t.Fatal(err)
		}
		collect := func(q changes.Query) []string {
			t.Helper()
			q.Tenant, q.SSO = c.Tenant, c.SSO
			var out []string
			for range 10 {
				p, err := s.ListChanges(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				out = append(out, ids(p.Records)...)
				if p.Next == q.After {
					return out
				}
				q.After = p.Next
			}
			t.Fatal("paging does not end")
			return nil
		}
		if got, want := collect(changes.Query{Types: []changes.Type{changes.UserDeactivated}}), []string{all[1].ID, all[3].ID}; !slices.Equal(got, want) {
			t.Errorf("type filter: %v, want %v", got, want)
		}
		if got, want := collect(changes.Query{ResourceID: "u0"}), []string{all[0].ID, all[2].ID}; !slices.Equal(got, want) {
			t.Errorf("resource filter: %v, want %v", got, want)
		}
		if got, want := collect(changes.Query{Since: all[2].Time}), []string{all[2].ID, all[3].ID}; !slices.Equal(got, want) {
			t.Errorf("since: %v, want %v", got, want)
		}
		if got, want := collect(changes.Query{After: all[1].ID, Limit: 1}), []string{all[2].ID, all[3].ID}; !slices.Equal(got, want) {
			t.Errorf("after: %v, want %v", got, want)
		}
	})

	t.Run("Cursors", func(t *testing.T) {
		gen = changes.NewIDGenerator(nil)
		s, c := newStore(t), newConn()
		if got, err := s.LoadCursor(ctx, "webhook", c); err != nil || got != "" {
			t.Fatalf("new cursor = %q, %v; want empty", got, err)
		}
		a, b := gen(base), gen(base.Add(time.Second))
		for _, id := range []string{a, b} {
			if err := s.SaveCursor(ctx, "webhook", c, id); err != nil {
				t.Fatal(err)
			}
		}
		if got, _ := s.LoadCursor(ctx, "webhook", c); got != b {
			t.Errorf("cursor %q, want %q", got, b)
		}
		if got, _ := s.LoadCursor(ctx, "other", c); got != "" {
			t.Errorf("another consumer sees cursor %q", got)
		}
	})
}
