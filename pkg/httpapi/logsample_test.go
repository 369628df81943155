package httpapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scimgate/scimgate/pkg/httpapi"
	"github.com/scimgate/scimgate/pkg/scim"
)

// TestRateLimitedRequestsAreLoggedOncePerInterval: a flood of 429s wrote one
// log line each (214k lines in 30 s). Now a connection's 429s make one line
// per httpapi.RateLimitedLogInterval, the first of the interval, and the
// next line carries how many were not logged; other requests are logged as
// ever, and another connection's 429s have their own line.
func TestRateLimitedRequestsAreLoggedOncePerInterval(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	limited := map[scim.Connection]bool{testConn: true, {Tenant: "acme", SSO: "entra"}: true}
	srv := startServer(t, sqliteStores(t), serverConfig{handler: func(cfg *httpapi.Config) {
		cfg.Now = clock
		cfg.Admit = func(_ context.Context, conn scim.Connection) error {
			mu.Lock()
			defer mu.Unlock()
			if limited[conn] {
				return scim.Errorf(scim.ETooManyRequests, "slow down")
			}
			return nil
		}
	}})
	c := srv.client(t, testConn)
	other := srv.client(t, scim.Connection{Tenant: "acme", SSO: "entra"})
	lines := func() (n429 int, suppressed []int, other int) {
		t.Helper()
		sc := bufio.NewScanner(strings.NewReader(srv.logs.String()))
		for sc.Scan() {
			var l struct {
				Status     int  `json:"status"`
				Suppressed *int `json:"rate_limited_not_logged"`
			}
			if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
				t.Fatalf("log line: %v\n%s", err, sc.Text())
			}
			if l.Status == http.StatusTooManyRequests {
				n429++
			} else {
				other++
			}
			if l.Suppressed != nil {
				suppressed = append(suppressed, *l.Suppressed)
			}
		}
		return
	}

	for range 50 {
		mustStatus(t, c.do(t, "GET", "/Users", ""), http.StatusTooManyRequests)
	}
	mustStatus(t, other.do(t, "GET", "/Users", ""), http.StatusTooManyRequests)
	if n, _, _ := lines(); n != 2 {
		t.Fatalf("51 answers 429 on two connections in one interval wrote %d lines, want 2:\n%s", n, srv.logs.String())
	}
	advance(httpapi.RateLimitedLogInterval)
	mustStatus(t, c.do(t, "GET", "/Users", ""), http.StatusTooManyRequests)
	n, suppressed, _ := lines()
	if n != 3 || len(suppressed) != 1 || suppressed[0] != 49 {
		t.Fatalf("the next interval's first 429: %d lines, not-logged counts %v, want 3 lines and [49]:\n%s", n, suppressed, srv.logs.String())
	}
	// The flood ends: the connection's next request that is served carries
	// the count of the 429s since the last line.
	mustStatus(t, c.do(t, "GET", "/Users", ""), http.StatusTooManyRequests)
	mustStatus(t, c.do(t, "GET", "/Users", ""), http.StatusTooManyRequests)
	mu.Lock()
	delete(limited, testConn)
	mu.Unlock()
	mustStatus(t, c.do(t, "GET", "/Users", ""), http.StatusOK)
	n, suppressed, others := lines()
	if n != 3 || others != 1 || len(suppressed) != 2 || suppressed[1] != 2 {
		t.Fatalf("after the flood: %d 429 lines, %d others, not-logged counts %v, want 3, 1 and [49 2]:\n%s", n, others, suppressed, srv.logs.String())
	}
}
