package sqlitestore

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/scimgate/scimgate/pkg/scim"
)

// TestPurgeLeavesNoPersonalDataInTheFile: a purge (a data-deletion request)
// must erase the users' data from the file's bytes, not only from its
// tables: SQLite keeps deleted rows in free pages until they are reused
// unless secure_delete overwrites them (https://www.sqlite.org/pragma.html#pragma_secure_delete).
func TestPurgeLeavesNoPersonalDataInTheFile(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "scimgate.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)
	neighbour := scim.Connection{Tenant: "acme", SSO: "entra"}
	for n := range 200 {
		for _, conn := range []scim.Connection{testConn, neighbour} {
			u := testUser(n, at)
			u.Conn = conn
			email := fmt.Sprintf("secret.person%03d@%s.example", n, conn.SSO)
			u.Name = email
			u.Attributes = map[string]any{"userName": email, "active": true,
				"emails": []any{map[string]any{"value": email, "primary": true}}}
			if err := s.Create(ctx, u); err != nil {
				t.Fatalf("create %s: %v", email, err)
			}
		}
	}
	for steps := 0; ; steps++ {
		p, err := s.PurgeConnection(ctx, testConn, 50)
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
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	var file []byte
	for _, suffix := range []string{"", "-wal"} {
		b, err := os.ReadFile(path + suffix)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		file = append(file, b...)
	}
	if hits := bytes.Count(file, []byte("@okta.example")); hits != 0 {
		i := bytes.Index(file, []byte("@okta.example"))
		t.Fatalf("the purged users' emails are still in the file: %d hits, at %d of %d: %q", hits, i, len(file), file[max(0, i-200):i+20])
	}
	if hits := bytes.Count(file, []byte("@entra.example")); hits == 0 {
		t.Fatal("the neighbour's users are not in the file: the test reads the wrong bytes")
	}
}
