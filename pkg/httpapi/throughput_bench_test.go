package httpapi_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/scimgate/scimgate/pkg/auth"
	"github.com/scimgate/scimgate/pkg/httpapi"
	"github.com/scimgate/scimgate/pkg/scim"
	"github.com/scimgate/scimgate/pkg/sqlitestore"
)

// BenchmarkOktaReplaySQLite is the server side of the local throughput
// replay (make bench-report, section 4) without the network: the handler as
// `scimgate serve` builds it (access log at info, the 30 s request deadline,
// no rate limit) on the embedded store on real disk (synchronous(FULL),
// group commit), driven by 8 goroutines like the replay's 8 connections. One
// op is one user: a lookup by userName that finds nothing, a create, a get, a
// replace and a deactivation; every 50th user also pushes a group, created
// and given those 50 users in one PATCH: the replay's mix, 5.04 requests per
// user.
//
// It reports, per request, the process's CPU time (cpu-ns/req, user+system
// from getrusage: what the 2-core ceiling of the replay divides by), the wall
// time (ns/req) and the heap allocations (allocs/req, B/req). CPU per request is
// the figure to compare between builds on a shared machine; wall time is
// not.
//
//	go test -run '^$' -bench OktaReplaySQLite -benchtime 2000x ./pkg/httpapi
func BenchmarkOktaReplaySQLite(b *testing.B) {
	const workers = 8
	ctx := context.Background()
	st, err := sqlitestore.Open(ctx, filepath.Join(b.TempDir(), "scimgate.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	conn := scim.Connection{Tenant: "perf", SSO: "okta"}
	token, err := auth.Issue(ctx, st, conn, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	handler := httpapi.New(httpapi.Config{
		Service:        scim.NewService(st),
		Tokens:         st,
		Logger:         slog.New(slog.NewJSONHandler(io.Discard, nil)),
		RequestTimeout: 30 * time.Second,
	})
	base := httpapi.BasePath + "/" + conn.Tenant + "/" + conn.SSO
	var requests atomic.Int64
	var failed atomic.Value
	do := func(method, path, body string, want int) string {
		requests.Add(1)
		req := httptest.NewRequest(method, base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		if body != "" {
			req.Header.Set("Content-Type", "application/scim+json")
		}
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		if rec.Code != want {
			failed.CompareAndSwap(nil, fmt.Sprintf("%s %s: %d, want %d: %s", method, path, rec.Code, want, rec.Body))
		}
		return rec.Body.String()
	}
	idOf := func(body string) string {
		_, rest, _ := strings.Cut(body, `"id":"`)
		id, _, _ := strings.Cut(rest, `"`)
		return id
	}
	userBody := func(i int64, family string) string {
		return fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"user%07d@example.com","externalId":"00u%07d","name":{"givenName":"Ada","familyName":%q},"emails":[{"value":"user%07d@example.com","type":"work","primary":true}],"displayName":"Ada","active":true}`, i, i, family, i)
	}
	var next atomic.Int64
	var mu sync.Mutex
	var pending []string // users created since the last group
	user := func() {
		i := next.Add(1)
		do("GET", "/Users?filter="+url.QueryEscape(fmt.Sprintf(`userName eq "user%07d@example.com"`, i))+"&startIndex=1&count=100", "", http.StatusOK)
		id := idOf(do("POST", "/Users", userBody(i, "Lovelace"), http.StatusCreated))
		do("GET", "/Users/"+id, "", http.StatusOK)
		do("PUT", "/Users/"+id, userBody(i, "King"), http.StatusOK)
		do("PATCH", "/Users/"+id, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":false}}]}`, http.StatusOK)
		mu.Lock()
		pending = append(pending, id)
		var members []string
		if len(pending) == 50 {
			members, pending = pending, nil
		}
		mu.Unlock()
		if members == nil {
			return
		}
		group := idOf(do("POST", "/Groups", fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Team %d","members":[]}`, i), http.StatusCreated))
		values := make([]string, len(members))
		for j, m := range members {
			values[j] = fmt.Sprintf(`{"value":%q}`, m)
		}
		do("PATCH", "/Groups/"+group, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"members","value":[`+strings.Join(values, ",")+`]}]}`, http.StatusNoContent)
	}

	requests.Store(0)
	var memStart, memEnd runtime.MemStats
	runtime.ReadMemStats(&memStart)
	cpuStart := processCPU(b)
	start := time.Now()
	b.ResetTimer()
	work := make(chan struct{})
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range work {
				user()
			}
		})
	}
	for b.Loop() {
		work <- struct{}{}
	}
	close(work)
	wg.Wait()
	b.StopTimer()
	elapsed := time.Since(start)
	cpu := processCPU(b) - cpuStart
	runtime.ReadMemStats(&memEnd)
	if msg := failed.Load(); msg != nil {
		b.Fatal(msg)
	}
	n := float64(requests.Load())
	b.ReportMetric(n/float64(b.N), "req/op")
	b.ReportMetric(float64(cpu.Nanoseconds())/n, "cpu-ns/req")
	b.ReportMetric(float64(elapsed.Nanoseconds())/n, "ns/req")
	b.ReportMetric(float64(memEnd.Mallocs-memStart.Mallocs)/n, "allocs/req")
	b.ReportMetric(float64(memEnd.TotalAlloc-memStart.TotalAlloc)/n, "B/req")
}

// processCPU is this process's user+system CPU time so far.
func processCPU(b *testing.B) time.Duration {
	b.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
