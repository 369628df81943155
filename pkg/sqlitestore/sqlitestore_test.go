package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/scimgate/scimgate/pkg/auth"
	"github.com/scimgate/scimgate/pkg/scim"
	"github.com/scimgate/scimgate/pkg/storetest"
)

var testConn = scim.Connection{Tenant: "acme", SSO: "okta"}

func openStore(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(context.Background(), path)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s
}

func testUser(n int, at time.Time) *scim.Resource {
	name := fmt.Sprintf("user%03d@example.com", n)
	return &scim.Resource{
		Conn: testConn, Type: scim.UserResource, ID: fmt.Sprintf("%08d-0000-4000-8000-000000000000", n), Version: 1,
		Created: at, LastModified: at, Name: name, Active: true,
		Attributes: map[string]any{"userName": name, "active": true},
	}
}

// TestContract runs the store contract against one database file shared by
// all its tests, so that connection isolation is tested within one file.
func TestContract(t *testing.T) {
	s := openStore(t, filepath.Join(t.TempDir(), "scimgate.db"))
	storetest.Run(t, func(t *testing.T) storetest.Stores {
		return storetest.Stores{Resources: s, Tokens: s}
	})
	storetest.RunWritePath(t, func(t *testing.T) storetest.Stores {
		return storetest.Stores{Resources: s, Tokens: s}
	})
}

// TestTwoHandlesWriteConcurrently is `scimgate serve` provisioning users
// while `scimgate token create` runs against the same file: both handles
// write at once, neither fails with SQLITE_BUSY, and each sees the other's
// writes. The serve side also adds each user to a group: ModifyMembers reads
// before it writes, which only waits for the lock (instead of failing at
// once) because write transactions begin IMMEDIATE.
func TestTwoHandlesWriteConcurrently(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "scimgate.db")
	serve, tokenCLI := openStore(t, path), openStore(t, path)
	at := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)

	const writers, perWriter = 4, 15
	groups := make([]*scim.Resource, writers)
	for w := range groups {
		groups[w] = &scim.Resource{
			Conn: testConn, Type: scim.GroupResource, ID: fmt.Sprintf("9%07d-0000-4000-8000-000000000000", w), Version: 1,
			Created: at, LastModified: at, Name: fmt.Sprintf("group%d", w), Active: true, Attributes: map[string]any{},
		}
		if err := serve.Create(ctx, groups[w]); err != nil {
			t.Fatalf("create group: %v", err)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, 3*writers*perWriter)
	for w := range writers {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				hash := auth.HashSecret(fmt.Sprint(w*perWriter + i))
				errs <- tokenCLI.AddToken(ctx, auth.TokenInfo{ID: auth.TokenID(hash), Hash: hash, Conn: testConn, Created: at})
			}
		}()
		go func() {
			defer wg.Done()
			g := *groups[w]
			for i := range perWriter {
				u := testUser(w*perWriter+i, at)
				errs <- serve.Create(ctx, u)
				g.Version++
				errs <- serve.ModifyMembers(ctx, &g, g.Version-1, []scim.Member{{Value: u.ID}}, nil)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent write: %v", err)
		}
	}

	for n := range writers * perWriter {
		if _, err := serve.FindToken(ctx, testConn, auth.HashSecret(fmt.Sprint(n))); err != nil {
			t.Fatalf("serve does not see token %d: %v", n, err)
		}
	}
	users, err := tokenCLI.List(ctx, testConn, scim.UserResource, scim.ListOptions{Limit: 0})
	if err != nil {
		t.Fatalf("list users: %v", err)
	}
	if users.Total != writers*perWriter {
		t.Fatalf("token handle sees %d users, want %d", users.Total, writers*perWriter)
	}
	list, err := tokenCLI.List(ctx, testConn, scim.GroupResource, scim.ListOptions{Limit: writers, WithMembers: true})
	if err != nil {
		t.Fatalf("list groups: %v", err)
	}
	for _, g := range list.Resources {
		if len(g.Members) != perWriter || g.Version != perWriter+1 {
			t.Fatalf("group %s: %d members at version %d, want %d at %d", g.Name, len(g.Members), g.Version, perWriter, perWriter+1)
		}
	}
}

func TestOpenCreatesPrivateFiles(t *testing.T) {
	// A space and a "#" check that the path survives the file: URI.
	dir := filepath.Join(t.TempDir(), "state dir", "scim#gate")
	path := filepath.Join(dir, "scimgate.db")
	s := openStore(t, path)
	var seq int
	var schema, file string
	if err := s.writer.QueryRow(`PRAGMA database_list`).Scan(&seq, &schema, &file); err != nil {
		t.Fatalf("database_list: %v", err)
	}
	if file != path {
		t.Fatalf("SQLite opened %q, want %q", file, path)
	}
	tests := []struct {
		path string
		mode os.FileMode
	}{
		{dir, os.ModeDir | 0o700},
		{path, 0o600},
	}
	for _, tc := range tests {
		fi, err := os.Stat(tc.path)
		if err != nil {
			t.Fatalf("stat: %v", err)
		}
		if fi.Mode() != tc.mode {
			t.Errorf("%s mode = %v, want %v", filepath.Base(tc.path), fi.Mode(), tc.mode)
		}
	}
}

func TestReopenKeepsDataAndSchemaVersion(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "scimgate.db")
	first, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	u := testUser(1, time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC))
	if err := first.Create(ctx, u); err != nil {
		t.Fatalf("create: %v", err)
	}
	if err := first.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}

	again := openStore(t, path)
	if _, err := again.Get(ctx, testConn, scim.UserResource, u.ID, false); err != nil {
		t.Fatalf("user lost on reopen: %v", err)
	}
	var version int
	if err := again.reader.QueryRow(`PRAGMA user_version`).Scan(&version); err != nil {
		t.Fatalf("read user_version: %v", err)
	}
	if version != len(migrations()) {
		t.Fatalf("user_version = %d, want %d", version, len(migrations()))
	}
	var mode string
	if err := again.reader.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal_mode = %q, %v; want wal", mode, err)
	}
	// The writer's savepoint journals stay in memory (dsn); readers keep
	// the default, so that a large sort may still spill to disk.
	for _, tc := range []struct {
		name string
		db   *sql.DB
		want int
	}{{"writer", again.writer, 2}, {"reader", again.reader, 0}} {
		var store int
		if err := tc.db.QueryRow(`PRAGMA temp_store`).Scan(&store); err != nil || store != tc.want {
			t.Errorf("%s: temp_store = %d, %v; want %d", tc.name, store, err, tc.want)
		}
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "scimgate.db")
	s := openStore(t, path)
	if _, err := s.writer.Exec(fmt.Sprintf(`PRAGMA user_version = %d`, len(migrations())+1)); err != nil {
		t.Fatalf("set user_version: %v", err)
	}
	if other, err := Open(context.Background(), path); err == nil {
		other.Close()
		t.Fatalf("opened a file with a newer schema")
	}
}

func TestIsEmpty(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, filepath.Join(t.TempDir(), "scimgate.db"))
	steps := []struct {
		name  string
		do    func() error
		empty bool
	}{
		{"new file", func() error { return nil }, true},
		// Resources alone do not make a connection: only a token does.
		{"after a user", func() error { return s.Create(ctx, testUser(1, time.Unix(0, 0))) }, true},
		{"after a token", func() error {
			hash := fmt.Sprintf("%064x", 1)
			return s.AddToken(ctx, auth.TokenInfo{ID: auth.TokenID(hash), Hash: hash, Conn: testConn, Created: time.Unix(0, 0)})
		}, false},
	}
	for _, step := range steps {
		if err := step.do(); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		empty, err := s.IsEmpty(ctx)
		if err != nil || empty != step.empty {
			t.Fatalf("%s: IsEmpty = %v, %v; want %v", step.name, empty, err, step.empty)
		}
	}
}

// TestSoftDeleteRetainsRecord checks what the contract cannot see: the row
// of a deleted resource stays, with its data and deletion time, for audit.
func TestSoftDeleteRetainsRecord(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, filepath.Join(t.TempDir(), "scimgate.db"))
	created := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)
	deleted := created.Add(time.Hour)
	u := testUser(1, created)
	if err := s.Create(ctx, u); err != nil {
		t.Fatalf("create: %v", err)
	}
	if err := s.Delete(ctx, testConn, scim.UserResource, u.ID, 1, deleted); err != nil {
		t.Fatalf("delete: %v", err)
	}
	var name, deletedAt string
	err := s.reader.QueryRow(`SELECT name, deleted_at FROM resources WHERE id = ?`, u.ID).Scan(&name, &deletedAt)
	if err != nil {
		t.Fatalf("deleted row gone: %v", err)
	}
	if name != u.Name || deletedAt != formatTime(deleted) {
		t.Fatalf("retained row: name %q deleted_at %q; want %q %q", name, deletedAt, u.Name, formatTime(deleted))
	}
}

func TestTimesRoundTripInUTC(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, filepath.Join(t.TempDir(), "scimgate.db"))
	berlin := time.FixedZone("CET", 3600)
	tests := []struct {
		name string
		at   time.Time
	}{
		{"nanoseconds, other zone", time.Date(2026, 11, 2, 11, 0, 0, 123456789, berlin)},
		{"whole second", time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)},
		{"trailing zero nanos", time.Date(2026, 11, 2, 10, 0, 0, 100, time.UTC)},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := testUser(i, tc.at)
			u.LastModified = tc.at.Add(time.Nanosecond)
			if err := s.Create(ctx, u); err != nil {
				t.Fatalf("create: %v", err)
			}
			got, err := s.Get(ctx, testConn, scim.UserResource, u.ID, false)
			if err != nil {
				t.Fatalf("get: %v", err)
			}
			if !got.Created.Equal(u.Created) || !got.LastModified.Equal(u.LastModified) {
				t.Fatalf("times %v / %v, want %v / %v", got.Created, got.LastModified, u.Created, u.LastModified)
			}
			if got.Created.Location() != time.UTC {
				t.Fatalf("created in %v, want UTC", got.Created.Location())
			}
		})
	}
}

// TestReAddKeepsOrUpdatesDisplay: Okta re-sends members it already added;
// a re-add without display must not erase the display stored before.
func TestReAddKeepsOrUpdatesDisplay(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, filepath.Join(t.TempDir(), "scimgate.db"))
	at := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)
	u := testUser(1, at)
	g := &scim.Resource{Conn: testConn, Type: scim.GroupResource, ID: "90000000-0000-4000-8000-000000000000", Version: 1,
		Created: at, LastModified: at, Name: "Engineering", Active: true, Attributes: map[string]any{"displayName": "Engineering"},
		Members: []scim.Member{{Value: u.ID, Display: "Ada"}}}
	for _, r := range []*scim.Resource{u, g} {
		if err := s.Create(ctx, r); err != nil {
			t.Fatalf("create %s: %v", r, err)
		}
	}
	tests := []struct {
		name, sent, want string
	}{
		{"without display", "", "Ada"},
		{"with new display", "Ada Lovelace", "Ada Lovelace"},
	}
	for i, tc := range tests {
		next := *g
		next.Members = nil
		next.Version = int64(i + 2)
		if err := s.ModifyMembers(ctx, &next, int64(i+1), []scim.Member{{Value: u.ID, Display: tc.sent}}, nil); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		got, err := s.Get(ctx, testConn, scim.GroupResource, g.ID, true)
		if err != nil {
			t.Fatalf("%s: get: %v", tc.name, err)
		}
		if want := []scim.Member{{Value: u.ID, Display: tc.want}}; !reflect.DeepEqual(got.Members, want) {
			t.Fatalf("%s: members = %+v, want %+v", tc.name, got.Members, want)
		}
	}
}

// TestConnectionContract runs the connection and token lifecycle contract
// on one shared file.
func TestConnectionContract(t *testing.T) {
	s := openStore(t, filepath.Join(t.TempDir(), "scimgate.db"))
	storetest.RunConnections(t, func(t *testing.T) storetest.ConnectionStores {
		return storetest.ConnectionStores{Resources: s, Connections: s}
	})
}

func TestIdPLinkContract(t *testing.T) {
	s := openStore(t, filepath.Join(t.TempDir(), "scimgate.db"))
	storetest.RunIdPLinks(t, func(t *testing.T) storetest.LinkStores {
		return storetest.LinkStores{Connections: s, Links: s}
	})
}

func TestDeclaredSchemasContract(t *testing.T) {
	s := openStore(t, filepath.Join(t.TempDir(), "scimgate.db"))
	storetest.RunDeclaredSchemas(t, s)
}
