package sqlitestore

import (
	"fmt"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkConcurrentCreates creates users from 8 goroutines on a file in
// the temporary directory (a real disk, synchronous(FULL)), with one
// transaction and one fsync per write (the store before group commit) and
// with group commit. Run with -cpuprofile to see where the time goes.
//
//	go test ./pkg/sqlitestore -run '^$' -bench ConcurrentCreates -benchtime 2000x
func BenchmarkConcurrentCreates(b *testing.B) {
	for _, mode := range []struct {
		name  string
		alone bool
	}{{"one-transaction-per-write", true}, {"group-commit", false}} {
		b.Run(mode.name, func(b *testing.B) {
			s, err := Open(b.Context(), filepath.Join(b.TempDir(), "scimgate.db"))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			s.commits.oneTransactionPerWrite = mode.alone
			at := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
			var n atomic.Int64
			// 4 goroutines per GOMAXPROCS: 8 on a 2-core machine.
			b.SetParallelism(max(1, 8/testingProcs()))
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := s.Create(b.Context(), testUser(int(n.Add(1)), at)); err != nil {
						b.Error(fmt.Errorf("create: %w", err))
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "creates/s")
		})
	}
}

func testingProcs() int { return runtime.GOMAXPROCS(0) }
