package health

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/scimgate/scimgate/pkg/scim"
)

// DefaultFlushInterval is how often an aggregator writes what changed, when
// not told otherwise. It is the staleness of a report.
const DefaultFlushInterval = 60 * time.Second

// DefaultMaxConnections bounds the connections an aggregator holds between
// flushes. Only authenticated requests are recorded, so the bound is never
// reached by a caller who merely guesses base URLs; past it, requests of new
// connections are dropped (and counted in Dropped) until the next flush.
const DefaultMaxConnections = 10000

// Event is one finished SCIM request, as the HTTP layer reports it.
type Event struct {
	At        time.Time // zero: the aggregator's clock
	Conn      scim.Connection
	Method    string
	Route     string // relative to the base URL: "/Users/{id}"
	Status    int
	ScimType  string
	RequestID string
	UserAgent string // raw; sanitised when recorded
}

type bucketKey struct {
	conn scim.Connection
	hour int64 // Unix seconds of the hour
}

type pending struct {
	b     Bucket
	dirty bool
}

// Aggregator collects one process's requests into buckets and flushes them.
// It is safe for concurrent use.
type Aggregator struct {
	store          Store
	instance       string
	now            func() time.Time
	interval       time.Duration
	maxConnections int
	logger         *slog.Logger

	mu        sync.Mutex
	buckets   map[bucketKey]*pending
	lastFlush time.Time
	dropped   int64

	flushMu sync.Mutex // one flush at a time
}

// Option configures an Aggregator.
type Option func(*Aggregator)

// WithClock sets the clock events are stamped and slotted by.
func WithClock(now func() time.Time) Option { return func(a *Aggregator) { a.now = now } }

// WithFlushInterval sets the flush interval (DefaultFlushInterval when zero
// or negative).
func WithFlushInterval(d time.Duration) Option { return func(a *Aggregator) { a.interval = d } }

// WithInstance sets the instance id its buckets are written under; the
// default is 64 random bits. Two live aggregators must never share one.
func WithInstance(id string) Option { return func(a *Aggregator) { a.instance = id } }

// WithLogger sets where failed flushes are reported.
func WithLogger(l *slog.Logger) Option { return func(a *Aggregator) { a.logger = l } }

// WithMaxConnections changes DefaultMaxConnections.
func WithMaxConnections(n int) Option { return func(a *Aggregator) { a.maxConnections = n } }

// NewAggregator returns an aggregator flushing into store. It starts no
// goroutine and makes no call: on Lambda it costs nothing at init.
func NewAggregator(store Store, opts ...Option) *Aggregator {
	a := &Aggregator{store: store, now: time.Now, interval: DefaultFlushInterval,
		maxConnections: DefaultMaxConnections, buckets: map[bucketKey]*pending{}}
	for _, o := range opts {
		o(a)
	}
	if a.interval <= 0 {
		a.interval = DefaultFlushInterval
	}
	if a.instance == "" {
		b := make([]byte, 8)
		_, _ = rand.Read(b)
		a.instance = hex.EncodeToString(b)
	}
	if a.logger == nil {
		a.logger = slog.New(slog.NewJSONHandler(io.Discard, nil))
	}
	return a
}

// Instance is the id the aggregator's buckets carry.
func (a *Aggregator) Instance() string { return a.instance }

// Interval is the flush interval.
func (a *Aggregator) Interval() time.Duration { return a.interval }

// Dropped is how many events were dropped because DefaultMaxConnections
// connections were already held.
func (a *Aggregator) Dropped() int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.dropped
}

// Record adds e to its connection's bucket, in memory only.
func (a *Aggregator) Record(e Event) {
	if e.Conn.Validate() != nil {
		return
	}
	at := e.At
	if at.IsZero() {
		at = a.now()
	}
	at = at.UTC()
	hour := at.Truncate(time.Hour)
	key := bucketKey{conn: e.Conn, hour: hour.Unix()}
	call := &Call{Time: at, Method: e.Method, Route: e.Route, Status: e.Status, ScimType: e.ScimType, RequestID: e.RequestID}

	a.mu.Lock()
	defer a.mu.Unlock()
	p, ok := a.buckets[key]
	if !ok {
		if len(a.buckets) >= a.maxConnections {
			a.dropped++
			return
		}
		p = &pending{b: Bucket{Conn: e.Conn, Hour: hour, Instance: a.instance}}
		a.buckets[key] = p
	}
	p.dirty = true
	b := &p.b
	slot := int(at.Sub(hour) / SlotWidth)
	b.Slots[slot].add(countsOf(e.Status))
	if l := later(b.LastRequest, call); l == call {
		b.LastRequest = call
		b.UserAgent = SanitizeUserAgent(e.UserAgent)
	}
	if e.Status < 400 {
		b.LastSuccess = later(b.LastSuccess, call)
	} else {
		b.LastError = later(b.LastError, call)
	}
}

// FlushDue reports whether the interval has passed since the last flush
// (true before the first).
func (a *Aggregator) FlushDue() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.flushDueLocked()
}

func (a *Aggregator) flushDueLocked() bool {
	return a.lastFlush.IsZero() || a.now().Sub(a.lastFlush) >= a.interval
}

// FlushIfDue flushes when the interval has passed since the last flush, for
// a process that has no timer of its own: a Lambda execution environment
// is frozen between invocations, so its flush rides on a request at most
// once per interval. The first request of an environment flushes at once,
// so an IdP that starts sending shows up without waiting.
func (a *Aggregator) FlushIfDue(ctx context.Context) error {
	a.mu.Lock()
	due := a.flushDueLocked() && a.anyDirtyLocked()
	a.mu.Unlock()
	if !due {
		return nil
	}
	return a.Flush(ctx)
}

func (a *Aggregator) anyDirtyLocked() bool {
	for _, p := range a.buckets {
		if p.dirty {
			return true
		}
	}
	return false
}

// Flush writes every bucket that changed since the last flush, in one
// Store call, and forgets the buckets of past hours once written. A failed
// write leaves them to the next flush.
func (a *Aggregator) Flush(ctx context.Context) error {
	a.flushMu.Lock()
	defer a.flushMu.Unlock()
	a.mu.Lock()
	now := a.now()
	a.lastFlush = now
	var out []Bucket
	var keys []bucketKey
	for k, p := range a.buckets {
		if p.dirty {
			out = append(out, p.b) // a copy: Records after this go to the next flush
			keys = append(keys, k)
			p.dirty = false
		}
	}
	a.mu.Unlock()
	if len(out) > 0 {
		for i := range out {
			out[i].LastRequest, out[i].LastSuccess, out[i].LastError = copyCall(out[i].LastRequest), copyCall(out[i].LastSuccess), copyCall(out[i].LastError)
		}
		if err := a.store.PutHealth(ctx, out); err != nil {
			a.mu.Lock()
			for _, k := range keys {
				if p, ok := a.buckets[k]; ok {
					p.dirty = true
				}
			}
			a.mu.Unlock()
			a.logger.LogAttrs(ctx, slog.LevelWarn, "flush sync health", slog.Int("buckets", len(out)), slog.String("error", err.Error()))
			return fmt.Errorf("flush sync health: %w", err)
		}
	}
	current := now.UTC().Truncate(time.Hour).Unix()
	a.mu.Lock()
	for k, p := range a.buckets {
		if k.hour < current && !p.dirty {
			delete(a.buckets, k)
		}
	}
	a.mu.Unlock()
	return nil
}

func copyCall(c *Call) *Call {
	if c == nil {
		return nil
	}
	cp := *c
	return &cp
}

// Run flushes every interval until ctx ends, then once more (with a fresh
// deadline of its own), so that a server stopping cleanly loses nothing.
// It is for processes that keep running between requests (scimgate serve).
func (a *Aggregator) Run(ctx context.Context) {
	t := time.NewTicker(a.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			final, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			_ = a.Flush(final)
			cancel()
			return
		case <-t.C:
			_ = a.Flush(ctx)
		}
	}
}
