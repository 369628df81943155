package sqlitestore

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/scimgate/scimgate/pkg/changes"
	"github.com/scimgate/scimgate/pkg/storetest"
)

func TestFeedContract(t *testing.T) {
	storetest.RunFeed(t, func(t *testing.T) storetest.FeedStore {
		return openStore(t, filepath.Join(t.TempDir(), "feed.db"))
	})
}

// TestFeedIsInCommitOrder: a record whose id was drawn earlier but that
// committed later is still listed after a cursor that names a record
// committed before it; paging by id would skip it.
func TestFeedIsInCommitOrder(t *testing.T) {
	s := openStore(t, filepath.Join(t.TempDir(), "feed.db"))
	ctx := context.Background()
	gen := changes.NewIDGenerator(nil)
	at := time.Now().UTC()
	mk := func(id string) changes.Record {
		return changes.Record{ID: id, Type: changes.UserCreated, Tenant: "acme", SSO: "okta", ResourceType: "User",
			ResourceID: "u", Version: 1, Time: at, Actor: changes.TokenActor("t"), Data: json.RawMessage(`{}`)}
	}
	early, late := gen(at), gen(at.Add(time.Millisecond))
	if err := s.AppendChanges(ctx, mk(late)); err != nil {
		t.Fatal(err)
	}
	p, err := s.ListChanges(ctx, changes.Query{Tenant: "acme", SSO: "okta"})
	if err != nil || len(p.Records) != 1 {
		t.Fatalf("first page %+v, %v", p, err)
	}
	if err := s.AppendChanges(ctx, mk(early)); err != nil {
		t.Fatal(err)
	}
	p, err = s.ListChanges(ctx, changes.Query{Tenant: "acme", SSO: "okta", After: p.Next})
	if err != nil || len(p.Records) != 1 || p.Records[0].ID != early {
		t.Fatalf("after the cursor: %+v, %v; want the record committed later", p, err)
	}
}

func TestPruneChanges(t *testing.T) {
	s := openStore(t, filepath.Join(t.TempDir(), "feed.db"))
	ctx := context.Background()
	gen := changes.NewIDGenerator(nil)
	now := time.Now().UTC()
	var recs []changes.Record
	for _, age := range []time.Duration{500 * 24 * time.Hour, 401 * 24 * time.Hour, 10 * time.Hour} {
		at := now.Add(-age)
		recs = append(recs, changes.Record{ID: gen(at), Type: changes.UserCreated, Tenant: "acme", SSO: "okta", ResourceType: "User",
			ResourceID: "u", Version: 1, Time: at, Actor: changes.TokenActor("t"), Data: json.RawMessage(`{}`)})
	}
	if err := s.AppendChanges(ctx, recs...); err != nil {
		t.Fatal(err)
	}
	n, err := s.PruneChanges(ctx, now.Add(-changes.DefaultRetention))
	if err != nil || n != 2 {
		t.Fatalf("pruned %d, %v; want 2", n, err)
	}
	p, _ := s.ListChanges(ctx, changes.Query{Tenant: "acme", SSO: "okta"})
	if len(p.Records) != 1 || p.Records[0].ID != recs[2].ID {
		t.Errorf("left %+v", p.Records)
	}
	// A cursor naming a pruned record still resumes where it was.
	p, _ = s.ListChanges(ctx, changes.Query{Tenant: "acme", SSO: "okta", After: recs[1].ID})
	if len(p.Records) != 1 || p.Records[0].ID != recs[2].ID {
		t.Errorf("after a pruned cursor: %+v", p.Records)
	}
}

func TestAdminRecords(t *testing.T) {
	storetest.RunAdminRecords(t, func(t *testing.T) storetest.AdminFeedStore {
		return openStore(t, filepath.Join(t.TempDir(), "admin.db"))
	})
}

func TestRecordContent(t *testing.T) {
	storetest.RunRecordContent(t, func(t *testing.T) storetest.RecordStore {
		return openStore(t, filepath.Join(t.TempDir(), "records.db"))
	})
}

func TestGlobalFeedUnderConcurrentWrites(t *testing.T) {
	st := openStore(t, filepath.Join(t.TempDir(), "global.db"))
	storetest.RunGlobalFeed(t, st, storetest.GlobalFeedConfig{Writers: 4, Records: 40})
}
