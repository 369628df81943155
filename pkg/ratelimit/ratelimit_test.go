package ratelimit_test

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/scimgate/scimgate/pkg/ratelimit"
	"github.com/scimgate/scimgate/pkg/scim"
)

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

var (
	acme  = scim.Connection{Tenant: "acme", SSO: "okta"}
	other = scim.Connection{Tenant: "acme", SSO: "entra"}
)

func newLimiter(t *testing.T, perSecond float64, burst int) (*ratelimit.Limiter, *fakeClock) {
	t.Helper()
	clock := &fakeClock{now: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
	l, err := ratelimit.New(perSecond, burst, ratelimit.WithClock(clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	return l, clock
}

func retryAfterOf(t *testing.T, err error) int {
	t.Helper()
	var ra scim.RetryAfter
	if !errors.As(err, &ra) {
		t.Fatalf("%v carries no Retry-After", err)
	}
	return ra.RetryAfterSeconds()
}

func TestBurstThenRefusedThenRefilled(t *testing.T) {
	l, clock := newLimiter(t, 2, 5)
	ctx := context.Background()
	for i := range 5 {
		if err := l.Admit(ctx, acme); err != nil {
			t.Fatalf("request %d of the burst refused: %v", i+1, err)
		}
	}
	err := l.Admit(ctx, acme)
	if scim.ErrorCodeOf(err) != scim.ETooManyRequests {
		t.Fatalf("sixth request: %v, want too many requests", err)
	}
	if s := retryAfterOf(t, err); s != 1 {
		t.Errorf("Retry-After %d, want 1 (a token every 0.5 s)", s)
	}
	// Refused requests take nothing: after half a second exactly one more passes.
	for range 10 {
		_ = l.Admit(ctx, acme)
	}
	clock.advance(500 * time.Millisecond)
	if err := l.Admit(ctx, acme); err != nil {
		t.Fatalf("after one refill interval: %v", err)
	}
	if err := l.Admit(ctx, acme); err == nil {
		t.Fatal("a second request in the same instant passed")
	}
	// Another connection has its own bucket.
	if err := l.Admit(ctx, other); err != nil {
		t.Fatalf("another connection refused: %v", err)
	}
}

func TestRetryAfterRoundsUp(t *testing.T) {
	l, _ := newLimiter(t, 0.25, 1) // one request every 4 s
	ctx := context.Background()
	if err := l.Admit(ctx, acme); err != nil {
		t.Fatal(err)
	}
	if s := retryAfterOf(t, l.Admit(ctx, acme)); s != 4 {
		t.Errorf("Retry-After %d, want 4", s)
	}
}

func TestSustainedRate(t *testing.T) {
	l, clock := newLimiter(t, ratelimit.DefaultPerSecond, ratelimit.DefaultBurst)
	ctx := context.Background()
	admitted := 0
	// Ten seconds of an IdP sending 100 requests per second.
	for range 1000 {
		if l.Admit(ctx, acme) == nil {
			admitted++
		}
		clock.advance(10 * time.Millisecond)
	}
	want := ratelimit.DefaultBurst + 10*ratelimit.DefaultPerSecond
	if admitted < want-2 || admitted > want+2 {
		t.Errorf("admitted %d of 1000 in 10 s, want about %d (burst + 10 s × rate)", admitted, want)
	}
}

func TestNewRefusesNonsense(t *testing.T) {
	for _, tc := range []struct {
		perSecond float64
		burst     int
	}{{0, 10}, {-1, 10}, {10, 0}} {
		if _, err := ratelimit.New(tc.perSecond, tc.burst); err == nil {
			t.Errorf("New(%v, %d) accepted", tc.perSecond, tc.burst)
		}
	}
}

// TestConcurrentUse runs under -race in CI.
func TestConcurrentUse(t *testing.T) {
	l, err := ratelimit.New(1000, 100)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn := scim.Connection{Tenant: "t" + strconv.Itoa(i%2), SSO: "okta"}
			for range 200 {
				_ = l.Admit(context.Background(), conn)
			}
		}()
	}
	wg.Wait()
}

func TestFromEnv(t *testing.T) {
	env := func(vars map[string]string) func(string) string { return func(k string) string { return vars[k] } }
	ctx := context.Background()
	off, err := ratelimit.FromEnv(env(map[string]string{ratelimit.EnvPerSecond: "off"}))
	if err != nil {
		t.Fatal(err)
	}
	for range 10 * ratelimit.DefaultBurst {
		if err := off.Admit(ctx, acme); err != nil {
			t.Fatalf("limit off refused: %v", err)
		}
	}
	small, err := ratelimit.FromEnv(env(map[string]string{ratelimit.EnvPerSecond: "0.5", ratelimit.EnvBurst: "2"}))
	if err != nil {
		t.Fatal(err)
	}
	_, _ = small.Admit(ctx, acme), small.Admit(ctx, acme)
	if s := retryAfterOf(t, small.Admit(ctx, acme)); s != 2 {
		t.Errorf("Retry-After %d, want 2 at 0.5 requests per second", s)
	}
	defaults, err := ratelimit.FromEnv(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	admitted := 0
	for range 2 * ratelimit.DefaultBurst {
		if defaults.Admit(ctx, acme) == nil {
			admitted++
		}
	}
	if admitted < ratelimit.DefaultBurst || admitted > ratelimit.DefaultBurst+5 {
		t.Errorf("defaults admitted %d at once, want the burst of %d", admitted, ratelimit.DefaultBurst)
	}
	for _, bad := range []map[string]string{{ratelimit.EnvPerSecond: "fast"}, {ratelimit.EnvBurst: "1.5"}, {ratelimit.EnvPerSecond: "-3"}} {
		if _, err := ratelimit.FromEnv(env(bad)); err == nil {
			t.Errorf("FromEnv(%v) accepted", bad)
		}
	}
}
