package sqlitestore

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/scimgate/scimgate/pkg/scim"
	"github.com/scimgate/scimgate/pkg/storetest"
)

// BenchmarkScale measures lookups, member changes and list pages on the
// embedded store at 1k, 10k and 100k users and in groups of 1 to 50k
// members (see storetest.RunScale). The files are on tmpfs when
// SCIMGATE_BENCH_DIR names one (make bench-report uses /dev/shm): the
// curve is about the work that grows with the data, and a disk shared with
// other processes would add fsync noise of its own to every write point.
//
//	go test ./pkg/sqlitestore -run '^$' -bench Scale
func BenchmarkScale(b *testing.B) {
	dir := os.Getenv("SCIMGATE_BENCH_DIR")
	if dir == "" {
		dir = b.TempDir()
	} else {
		d, err := os.MkdirTemp(dir, "scimgate-scale-")
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { os.RemoveAll(d) })
		dir = d
	}
	storetest.RunScale(b, storetest.ScaleConfig{
		Open: func(b *testing.B, name string) scim.Store {
			s, err := Open(b.Context(), filepath.Join(dir, name+".db"))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Close() })
			return s
		},
		Users:           storetest.ScaleSizes("SCIMGATE_SCALE_USERS", 1_000, 10_000, 100_000),
		Groups:          storetest.ScaleSizes("SCIMGATE_SCALE_GROUPS", 1, 1_000, 10_000, 50_000),
		DeepOffset:      slices.Max(storetest.ScaleSizes("SCIMGATE_SCALE_USERS", 100_000)) - 100,
		Rounds:          15,
		OpsPerRound:     100,
		ListOpsPerRound: 5,
		SeedConcurrency: 16,
	})
}
