package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/scimgate/scimgate/pkg/scim"
)

// TestGroupCommitIsolatesFailures sends many creates at once, every other
// one colliding with a user that exists: the collisions fail with
// uniqueness and leave nothing behind, every other create is stored, whichever
// batch each of them shared.
func TestGroupCommitIsolatesFailures(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, filepath.Join(t.TempDir(), "scimgate.db"))
	at := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	taken := testUser(0, at)
	if err := s.Create(ctx, taken); err != nil {
		t.Fatal(err)
	}
	const n = 64
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := 1; i <= n; i++ {
		wg.Go(func() {
			u := testUser(i, at)
			if i%2 == 0 {
				u.Name = taken.Name // collides
				u.Attributes = map[string]any{"userName": taken.Name, "active": true}
			}
			errs[i-1] = s.Create(ctx, u)
		})
	}
	wg.Wait()
	for i := 1; i <= n; i++ {
		_, getErr := s.Get(ctx, testConn, scim.UserResource, testUser(i, at).ID, false)
		if i%2 == 0 {
			var se *scim.Error
			if !errors.As(errs[i-1], &se) || se.Code != scim.EUniqueness {
				t.Errorf("create %d: got %v, want uniqueness", i, errs[i-1])
			}
			if getErr == nil {
				t.Errorf("user %d was stored although its create failed", i)
			}
			continue
		}
		if errs[i-1] != nil {
			t.Errorf("create %d: %v", i, errs[i-1])
		}
		if getErr != nil {
			t.Errorf("user %d: %v", i, getErr)
		}
	}
}

// TestGroupCommitSharesTransactions checks that concurrent writes do share
// commits (the point of group commit) and that a request's failure inside a
// shared batch undoes only its own statements.
func TestGroupCommitSharesTransactions(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, filepath.Join(t.TempDir(), "scimgate.db"))
	if _, err := s.writer.Exec(`CREATE TABLE gc_probe (request INTEGER NOT NULL, step INTEGER NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	// The first request holds the writer until all others are queued, so
	// they form one batch.
	release := make(chan struct{})
	started := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := s.write(ctx, func(tx *sql.Tx) error {
			close(started)
			<-release
			_, err := tx.ExecContext(ctx, `INSERT INTO gc_probe VALUES (0, 0)`)
			return err
		}); err != nil {
			t.Error(err)
		}
	})
	<-started
	const n = 10
	errs := make([]error, n+1)
	for i := 1; i <= n; i++ {
		wg.Go(func() {
			errs[i] = s.write(ctx, func(tx *sql.Tx) error {
				if _, err := tx.ExecContext(ctx, `INSERT INTO gc_probe VALUES (?, 1)`, i); err != nil {
					return err
				}
				if i%3 == 0 {
					return fmt.Errorf("request %d fails after its first write", i)
				}
				_, err := tx.ExecContext(ctx, `INSERT INTO gc_probe VALUES (?, 2)`, i)
				return err
			})
		})
	}
	waitQueued(t, &s.commits, n)
	close(release)
	wg.Wait()

	rows, err := s.reader.Query(`SELECT request, count(*) FROM gc_probe GROUP BY request`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := map[int]int{}
	for rows.Next() {
		var req, count int
		if err := rows.Scan(&req, &count); err != nil {
			t.Fatal(err)
		}
		got[req] = count
	}
	for i := 1; i <= n; i++ {
		if i%3 == 0 {
			if errs[i] == nil || got[i] != 0 {
				t.Errorf("failing request %d: err %v, %d rows left (want an error and none)", i, errs[i], got[i])
			}
			continue
		}
		if errs[i] != nil || got[i] != 2 {
			t.Errorf("request %d: err %v, %d rows (want both)", i, errs[i], got[i])
		}
	}
}

// TestGroupCommitCancelledWhileQueued: a request whose context ends while
// it waits for its batch is not applied and says so.
func TestGroupCommitCancelledWhileQueued(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, filepath.Join(t.TempDir(), "scimgate.db"))
	at := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	release := make(chan struct{})
	started := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		s.write(ctx, func(tx *sql.Tx) error {
			close(started)
			<-release
			return nil
		})
	})
	<-started
	cancelled, cancel := context.WithCancel(ctx)
	var err error
	wg.Go(func() { err = s.Create(cancelled, testUser(1, at)) })
	waitQueued(t, &s.commits, 1)
	cancel()
	close(release)
	wg.Wait()
	if !errors.Is(err, context.Canceled) {
		t.Errorf("create with a cancelled context: %v, want context.Canceled", err)
	}
	if _, err := s.Get(ctx, testConn, scim.UserResource, testUser(1, at).ID, false); err == nil {
		t.Error("the cancelled create was applied")
	}
}

// waitQueued waits until n requests wait behind the running batch.
func waitQueued(t *testing.T, g *groupCommitter, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		g.mu.Lock()
		queued := len(g.queue)
		g.mu.Unlock()
		if queued >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d requests queued after 10s, want %d", queued, n)
		}
		time.Sleep(time.Millisecond)
	}
}
