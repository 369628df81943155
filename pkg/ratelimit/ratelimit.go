// Package ratelimit bounds how fast one SSO connection may call the SCIM
// API: a token bucket per connection, in memory, answered with 429 and
// Retry-After when empty (RFC 6585 §4; Okta and Entra both wait and retry).
//
// It is deliberately local: no DynamoDB write per request. On Lambda each
// execution environment has its own buckets, so the effective bound for a
// connection is the configured rate times the number of environments
// serving it; the function's reserved concurrency caps that number and API
// Gateway's stage throttling caps the whole API (docs/operations.md,
// "Rate limits").
package ratelimit

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/scimgate/scimgate/pkg/scim"
)

// Defaults sized for an IdP's initial sync. Microsoft's gallery
// requirements ask a SCIM endpoint to sustain at least 25 requests per
// second per tenant
// (https://learn.microsoft.com/entra/identity/enterprise-apps/app-gallery-user-provisioning-requirements);
// Okta publishes no outbound provisioning rate (its provisioning honours 429
// with Retry-After). Twice Entra's figure, with a burst of two seconds of
// it (the template's default API Gateway throttling for the whole stack),
// never slows a well-behaved IdP and still stops a runaway script.
const (
	DefaultPerSecond = 50
	DefaultBurst     = 100
)

// maxIdleBuckets bounds memory: beyond it, buckets that have refilled
// completely (which behave exactly like new ones) are dropped.
const maxIdleBuckets = 10000

// Limiter holds one token bucket per connection.
type Limiter struct {
	perSecond rate.Limit
	burst     int
	now       func() time.Time

	mu      sync.Mutex
	buckets map[scim.Connection]*rate.Limiter
}

// Option configures a Limiter.
type Option func(*Limiter)

// WithClock replaces time.Now, for tests.
func WithClock(now func() time.Time) Option { return func(l *Limiter) { l.now = now } }

// New returns a limiter allowing perSecond requests per second per
// connection on average, and bursts of up to burst requests. perSecond
// math.Inf(1) admits everything.
func New(perSecond float64, burst int, opts ...Option) (*Limiter, error) {
	if perSecond <= 0 || math.IsNaN(perSecond) {
		return nil, fmt.Errorf("rate limit must be a positive number of requests per second; got %v", perSecond)
	}
	if burst < 1 {
		return nil, fmt.Errorf("rate limit burst must be at least 1; got %d", burst)
	}
	l := &Limiter{perSecond: rate.Limit(perSecond), burst: burst, now: time.Now, buckets: map[scim.Connection]*rate.Limiter{}}
	for _, o := range opts {
		o(l)
	}
	return l, nil
}

// Admit takes one token from conn's bucket. Without one it returns a
// scim.ETooManyRequests error whose Retry-After is the whole seconds until
// the next token (at least 1). It fits httpapi.Config.Admit.
func (l *Limiter) Admit(_ context.Context, conn scim.Connection) error {
	if l.perSecond == rate.Inf {
		return nil
	}
	now := l.now()
	l.mu.Lock()
	b := l.buckets[conn]
	if b == nil {
		l.evictFull(now)
		b = rate.NewLimiter(l.perSecond, l.burst)
		l.buckets[conn] = b
	}
	r := b.ReserveN(now, 1)
	delay := r.DelayFrom(now)
	if delay > 0 {
		// Not taken: a refused request must not push the next one further out.
		r.CancelAt(now)
	}
	l.mu.Unlock()
	if delay <= 0 {
		return nil
	}
	return &scim.Error{
		Code:   scim.ETooManyRequests,
		Detail: fmt.Sprintf("this SCIM connection sends more than %g requests per second; retry after the number of seconds in Retry-After", float64(l.perSecond)),
		Err:    retryAfter(int(math.Ceil(delay.Seconds()))),
	}
}

// evictFull drops refilled buckets once there are many; called with mu held.
func (l *Limiter) evictFull(now time.Time) {
	if len(l.buckets) < maxIdleBuckets {
		return
	}
	for conn, b := range l.buckets {
		if b.TokensAt(now) >= float64(l.burst) {
			delete(l.buckets, conn)
		}
	}
}

// retryAfter carries the wait to the HTTP layer (scim.RetryAfter).
type retryAfter int

func (r retryAfter) Error() string          { return fmt.Sprintf("rate limited for %d s", int(r)) }
func (r retryAfter) RetryAfterSeconds() int { return max(int(r), 1) }

// Environment variables of the rate limit, read by the Lambda functions and
// as defaults of scimgate serve's flags.
const (
	EnvPerSecond = "SCIMGATE_RATE_LIMIT" // requests per second per connection; "off" disables the limit
	EnvBurst     = "SCIMGATE_RATE_BURST" // bucket size
)

// FromEnv builds the limiter the environment asks for: the defaults when
// the variables are unset, one that admits everything for
// SCIMGATE_RATE_LIMIT=off.
func FromEnv(getenv func(string) string) (*Limiter, error) {
	perSecond, burst := float64(DefaultPerSecond), DefaultBurst
	if raw := strings.TrimSpace(getenv(EnvPerSecond)); raw == "off" {
		perSecond = math.Inf(1)
	} else if raw != "" {
		v, err := strconv.ParseFloat(raw, 64)
		if err != nil {
			return nil, fmt.Errorf("%s: want requests per second or \"off\", got %q", EnvPerSecond, raw)
		}
		perSecond = v
	}
	if raw := strings.TrimSpace(getenv(EnvBurst)); raw != "" {
		v, err := strconv.Atoi(raw)
		if err != nil {
			return nil, fmt.Errorf("%s: want a whole number of requests, got %q", EnvBurst, raw)
		}
		burst = v
	}
	l, err := New(perSecond, burst)
	if err != nil {
		return nil, fmt.Errorf("%s/%s: %w", EnvPerSecond, EnvBurst, err)
	}
	return l, nil
}
