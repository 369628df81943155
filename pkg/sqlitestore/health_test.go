package sqlitestore

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/scimgate/scimgate/pkg/health"
	"github.com/scimgate/scimgate/pkg/scim"
	"github.com/scimgate/scimgate/pkg/storetest"
)

func TestHealthContract(t *testing.T) {
	s := openStore(t, filepath.Join(t.TempDir(), "scimgate.db"))
	storetest.RunHealth(t, func(t *testing.T) health.Store { return s })
}

// TestHealthExpires: the file has no Time to Live, so a put removes the
// buckets older than health.Retention.
func TestHealthExpires(t *testing.T) {
	s := openStore(t, filepath.Join(t.TempDir(), "scimgate.db"))
	ctx := context.Background()
	conn := scim.Connection{Tenant: "acme", SSO: "okta"}
	old := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	if err := s.PutHealth(ctx, []health.Bucket{{Conn: conn, Hour: old, Instance: "a"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutHealth(ctx, []health.Bucket{{Conn: conn, Hour: old.Add(health.Retention + time.Hour), Instance: "a"}}); err != nil {
		t.Fatal(err)
	}
	got, err := s.ListHealth(ctx, conn, old)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || !got[0].Hour.Equal(old.Add(health.Retention+time.Hour)) {
		t.Fatalf("buckets %+v: want only the recent one", got)
	}
}
