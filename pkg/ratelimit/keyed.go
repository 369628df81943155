package ratelimit

import (
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Keyed holds one token bucket per string key, such as a client address,
// for events that are counted rather than admitted: failed authentication
// attempts. Blocked asks before the work, Take counts an event after it.
type Keyed struct {
	perSecond rate.Limit
	burst     int
	now       func() time.Time

	mu      sync.Mutex
	buckets map[string]*rate.Limiter
}

// NewKeyed allows burst events per key at once and perSecond on average
// after that. now is the clock (time.Now outside tests).
func NewKeyed(perSecond float64, burst int, now func() time.Time) *Keyed {
	if now == nil {
		now = time.Now
	}
	return &Keyed{perSecond: rate.Limit(perSecond), burst: max(burst, 1), now: now, buckets: map[string]*rate.Limiter{}}
}

// Blocked reports whether key has used its events up, and how long until
// it has one again (whole seconds, at least 1).
func (k *Keyed) Blocked(key string) (retryAfter int, blocked bool) {
	now := k.now()
	k.mu.Lock()
	defer k.mu.Unlock()
	b := k.buckets[key]
	if b == nil {
		return 0, false
	}
	tokens := b.TokensAt(now)
	if tokens >= 1 {
		return 0, false
	}
	wait := (1 - tokens) / float64(k.perSecond)
	return max(int(math.Ceil(wait)), 1), true
}

// Take counts one event of key.
func (k *Keyed) Take(key string) {
	now := k.now()
	k.mu.Lock()
	defer k.mu.Unlock()
	b := k.buckets[key]
	if b == nil {
		k.evictFull(now)
		b = rate.NewLimiter(k.perSecond, k.burst)
		k.buckets[key] = b
	}
	b.AllowN(now, 1)
}

// evictFull drops refilled buckets once there are many; called with mu held.
func (k *Keyed) evictFull(now time.Time) {
	if len(k.buckets) < maxIdleBuckets {
		return
	}
	for key, b := range k.buckets {
		if b.TokensAt(now) >= float64(k.burst) {
			delete(k.buckets, key)
		}
	}
}
