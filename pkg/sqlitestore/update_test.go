package sqlitestore

import (
	"context"
	"maps"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/scimgate/scimgate/pkg/scim"
)

// TestUpdateUserWritesOnlyWhatChanged covers the shortcuts of Update: the
// groups of the written user come from the read, not a second query, and
// an update that keeps userName and externalId leaves them (and their unique
// indexes) alone, while one that changes either is still checked against
// the other users.
func TestUpdateUserWritesOnlyWhatChanged(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, filepath.Join(t.TempDir(), "scimgate.db"))
	at := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	a, b := testUser(1, at), testUser(2, at)
	a.ExternalID, b.ExternalID = "ext-a", "ext-b"
	for _, u := range []*scim.Resource{a, b} {
		if err := s.Create(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	g := &scim.Resource{Conn: testConn, Type: scim.GroupResource, ID: "00000009-0000-4000-8000-000000000000", Version: 1,
		Created: at, LastModified: at, Name: "Team", Attributes: map[string]any{"displayName": "Team"},
		Members: []scim.Member{{Value: a.ID}}}
	if err := s.Create(ctx, g); err != nil {
		t.Fatal(err)
	}
	// update changes a as edit says, at the next version.
	update := func(edit func(next *scim.Resource)) (*scim.Resource, error) {
		return s.Update(ctx, testConn, scim.UserResource, a.ID, false, func(cur *scim.Resource) (*scim.Change, error) {
			next := *cur
			next.Attributes = maps.Clone(cur.Attributes)
			next.Version = cur.Version + 1
			next.LastModified = cur.LastModified.Add(time.Second)
			edit(&next)
			return &scim.Change{Next: &next}, nil
		})
	}

	out, err := update(func(next *scim.Resource) { next.Active = false; next.Attributes["active"] = false })
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(out.Groups, []string{g.ID}) || out.Active || out.Version != 2 {
		t.Errorf("updated user: groups %v active %v version %d, want [%s] false 2", out.Groups, out.Active, out.Version, g.ID)
	}
	got, err := s.Get(ctx, testConn, scim.UserResource, a.ID, false)
	if err != nil {
		t.Fatal(err)
	}
	if got.Active || got.Version != 2 || got.Name != a.Name || got.ExternalID != "ext-a" {
		t.Errorf("stored user: active %v version %d name %q externalId %q", got.Active, got.Version, got.Name, got.ExternalID)
	}

	if _, err := update(func(next *scim.Resource) { next.Name = b.Name }); scim.ErrorCodeOf(err) != scim.EUniqueness {
		t.Errorf("rename to a taken userName: %v, want uniqueness", err)
	}
	if _, err := update(func(next *scim.Resource) { next.ExternalID = "ext-b" }); scim.ErrorCodeOf(err) != scim.EUniqueness {
		t.Errorf("externalId taken: %v, want uniqueness", err)
	}
	if _, err := update(func(next *scim.Resource) { next.Name = "renamed@example.com"; next.ExternalID = "ext-c" }); err != nil {
		t.Fatal(err)
	}
	for _, find := range []func() (*scim.Resource, error){
		func() (*scim.Resource, error) {
			return s.FindByName(ctx, testConn, scim.UserResource, "renamed@example.com", false)
		},
		func() (*scim.Resource, error) {
			return s.FindByExternalID(ctx, testConn, scim.UserResource, "ext-c", false)
		},
	} {
		if r, err := find(); err != nil || r.ID != a.ID || r.Version != 3 {
			t.Errorf("find the renamed user: %v, %v", r, err)
		}
	}
	if _, err := s.FindByName(ctx, testConn, scim.UserResource, a.Name, false); !scim.IsNotFound(err) {
		t.Errorf("old userName still found: %v", err)
	}
}
