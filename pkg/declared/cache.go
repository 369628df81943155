// Package declared serves the platform's default declaration of extension
// schemas (docs/custom-attributes.md, "The platform's default set") to the
// SCIM request path. The default is one stored value for the whole
// deployment; reading it on every request would add a read to each one,
// so every process keeps it for at most a minute.
package declared

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Source reads the stored default declaration: canonical JSON of
// scim.Declaration, "" when none is set. auth.DefaultSchemaStore is one;
// so is Cache.
type Source interface {
	DefaultSchemas(ctx context.Context) (string, error)
}

// DefaultMaxAge is how old the default declaration a process applies may
// be: a change reaches every SCIM request within a minute, and a warm
// Lambda execution environment reads the item once a minute at most, not
// once per request.
const DefaultMaxAge = time.Minute

// retryAfterFailure is how soon a failed refresh is tried again while the
// value read before keeps being served.
const retryAfterFailure = 5 * time.Second

// Cache is a Source that reads its source at most once per maxAge. It is
// per process (one per execution environment on Lambda), safe for
// concurrent use, and holds no package-level state.
type Cache struct {
	src    Source
	now    func() time.Time
	maxAge time.Duration
	logger *slog.Logger

	mu     sync.Mutex
	value  string
	loaded bool
	next   time.Time // when the source is read again
}

// NewCache caches src for maxAge (DefaultMaxAge when not positive). now is
// the clock (time.Now outside tests); logger gets a line when a refresh
// fails and the previous value is kept (nil logs nothing).
func NewCache(src Source, now func() time.Time, maxAge time.Duration, logger *slog.Logger) *Cache {
	if now == nil {
		now = time.Now
	}
	if maxAge <= 0 {
		maxAge = DefaultMaxAge
	}
	return &Cache{src: src, now: now, maxAge: maxAge, logger: logger}
}

// DefaultSchemas implements Source. The first call reads the source and
// fails if that read fails: a request must not be validated without the
// platform's schemas it is meant to follow. Later, a failed refresh keeps
// the value read before (a store hiccup must not fail provisioning that
// worked a minute ago) and is retried a few seconds later. Concurrent
// callers wait for one read rather than each making their own.
func (c *Cache) DefaultSchemas(ctx context.Context) (string, error) {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.loaded && now.Before(c.next) {
		return c.value, nil
	}
	v, err := c.src.DefaultSchemas(ctx)
	if err != nil {
		if !c.loaded {
			return "", fmt.Errorf("read the default declaration: %w", err)
		}
		c.next = now.Add(retryAfterFailure)
		if c.logger != nil {
			c.logger.LogAttrs(ctx, slog.LevelWarn, "refresh default declaration; keeping the one read before", slog.String("error", err.Error()))
		}
		return c.value, nil
	}
	c.value, c.loaded, c.next = v, true, now.Add(c.maxAge)
	return v, nil
}
