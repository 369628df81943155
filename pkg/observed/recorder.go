package observed

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/scimgate/scimgate/pkg/metrics"
	"github.com/scimgate/scimgate/pkg/scim"
)

// DefaultFlushInterval is how often, at most, a connection's counts and
// last-seen times are written by one process. It is the staleness of count
// and last_seen, and bounds their cost: one write per connection per
// interval per process, and only while the connection sends undeclared data.
const DefaultFlushInterval = time.Minute

// DefaultMaxKeys bounds the keys a process holds per connection; past it,
// new keys are counted as dropped and logged once. An IdP mapping sends a
// few custom attributes, not hundreds: 200 is far above any real mapping
// and keeps a connection's state a few tens of KB.
const DefaultMaxKeys = 200

// DefaultMaxConnections bounds the connections a process holds state for.
// Only requests that authenticated and committed a write are observed, so
// only real connections count toward it.
const DefaultMaxConnections = 10000

// Sighting is one undeclared attribute a successful write carried.
type Sighting struct {
	ResourceType scim.ResourceType
	URN          string
	Attribute    string
	JSONType     string
}

// Key returns the key of the entry s counts toward.
func (s Sighting) Key() Key {
	return Entry{ResourceType: s.ResourceType, URN: s.URN, Attribute: s.Attribute, JSONType: s.JSONType}.Key()
}

// Recorder counts sightings per connection in memory and writes them to a
// Store: a key new to the process at once, in the request that saw it (an
// execution environment may be frozen right after its response, so nothing
// may wait for a later moment), and the counts of known keys at most once
// per flush interval, on the first sighting after it. It starts no
// goroutine. It is safe for concurrent use.
type Recorder struct {
	store          Store
	now            func() time.Time
	interval       time.Duration
	maxKeys        int
	maxConnections int
	logger         *slog.Logger

	mu           sync.Mutex
	conns        map[scim.Connection]*connState
	connsDropped bool // logged once
}

// connState is one connection's part of the process's observed schema.
// Its mutex is held across the store calls of a sighting: they are rare
// (the first request of the connection in the process, a new key, once a
// minute), and holding it means one load and one first write per key.
type connState struct {
	mu        sync.Mutex
	loaded    bool
	known     map[Key]*pendingCount
	lastFlush time.Time
	dropped   int64
	// fullLogged: the bound on keys was reached and said so, once.
	fullLogged bool
}

// pendingCount is what a known key has gathered since the last flush.
type pendingCount struct {
	entry Entry // URN and Attribute as first seen
	delta int64
	first time.Time // of the delta, for a key whose first write failed
	last  time.Time
}

// Option configures a Recorder.
type Option func(*Recorder)

// WithClock sets the clock sightings are stamped with.
func WithClock(now func() time.Time) Option { return func(r *Recorder) { r.now = now } }

// WithFlushInterval sets the flush interval (DefaultFlushInterval when zero
// or negative).
func WithFlushInterval(d time.Duration) Option { return func(r *Recorder) { r.interval = d } }

// WithMaxKeys sets the bound on keys per connection (DefaultMaxKeys when
// zero or negative).
func WithMaxKeys(n int) Option { return func(r *Recorder) { r.maxKeys = n } }

// WithMaxConnections sets the bound on connections (DefaultMaxConnections
// when zero or negative).
func WithMaxConnections(n int) Option { return func(r *Recorder) { r.maxConnections = n } }

// WithLogger sets where new keys, dropped keys and failed writes are logged.
func WithLogger(l *slog.Logger) Option { return func(r *Recorder) { r.logger = l } }

// NewRecorder returns a recorder writing to store.
func NewRecorder(store Store, opts ...Option) *Recorder {
	r := &Recorder{store: store, now: time.Now, conns: map[scim.Connection]*connState{}}
	for _, o := range opts {
		o(r)
	}
	if r.interval <= 0 {
		r.interval = DefaultFlushInterval
	}
	if r.maxKeys <= 0 {
		r.maxKeys = DefaultMaxKeys
	}
	if r.maxConnections <= 0 {
		r.maxConnections = DefaultMaxConnections
	}
	if r.logger == nil {
		r.logger = slog.New(slog.NewJSONHandler(io.Discard, nil))
	}
	return r
}

// stamp is the time of a sighting: UTC to the millisecond, as every time
// scimgate shows.
func (r *Recorder) stamp() time.Time { return r.now().UTC().Truncate(time.Millisecond) }

// Record counts what one successful write of conn carried. A key sent
// several times in one request counts once. Errors are logged, never
// returned: recording must not fail the request, whose write is committed.
func (r *Recorder) Record(ctx context.Context, conn scim.Connection, sightings []Sighting) {
	if len(sightings) == 0 {
		return
	}
	st := r.state(conn)
	if st == nil {
		return
	}
	now := r.stamp()
	st.mu.Lock()
	defer st.mu.Unlock()
	if !st.loaded {
		// Once per connection and process: a cold process must not rewrite
		// the keys another process (or its predecessor) already recorded.
		entries, err := r.store.ListObserved(ctx, conn)
		if err != nil {
			// Nothing is recorded for this request; the next one retries.
			r.logger.ErrorContext(ctx, "load the observed schema", "tenant", conn.Tenant, "sso", conn.SSO, "error", err.Error())
			return
		}
		for _, e := range entries {
			if len(st.known) < r.maxKeys {
				st.known[e.Key()] = &pendingCount{entry: e}
			}
		}
		st.loaded, st.lastFlush = true, now
	}

	var fresh []Entry
	seen := make(map[Key]bool, len(sightings))
	newlyDropped := 0
	for _, s := range sightings {
		k := s.Key()
		if seen[k] {
			continue
		}
		seen[k] = true
		if p, ok := st.known[k]; ok {
			if p.delta == 0 {
				p.first = now
			}
			p.delta++
			p.last = now
			continue
		}
		// A sighting the store could not key (an unknown type, a name
		// past the bounds) is dropped as a key past the bound is.
		invalid := !ValidJSONType(s.JSONType) || s.URN == "" || s.Attribute == "" ||
			len(s.URN) > MaxURNBytes || len(s.Attribute) > MaxAttributeBytes
		if full := len(st.known)+len(fresh) >= r.maxKeys; invalid || full {
			if full && !st.fullLogged {
				st.fullLogged = true
				r.logger.WarnContext(ctx, "observed schema full: further undeclared attributes of the connection are counted as dropped, not recorded",
					"tenant", conn.Tenant, "sso", conn.SSO, "max_keys", r.maxKeys)
			}
			st.dropped++
			newlyDropped++
			continue
		}
		fresh = append(fresh, Entry{Conn: conn, ResourceType: s.ResourceType, URN: s.URN, Attribute: s.Attribute,
			JSONType: s.JSONType, FirstSeen: now, LastSeen: now, Count: 1})
	}
	if newlyDropped > 0 {
		metrics.CountObservedDropped(ctx, newlyDropped)
	}

	// The new keys are written now; a flush that is due rides along in the
	// same store call.
	batch := fresh
	flushing := now.Sub(st.lastFlush) >= r.interval
	if flushing {
		batch = append(batch, st.deltas()...)
	}
	if len(batch) == 0 {
		return
	}
	if err := r.store.AddObserved(ctx, conn, batch); err != nil {
		// Counts stay pending and new keys stay new: the next sighting
		// writes them again.
		r.logger.ErrorContext(ctx, "record the observed schema", "tenant", conn.Tenant, "sso", conn.SSO, "error", err.Error())
		return
	}
	if flushing {
		st.flushed(now)
	}
	for _, e := range fresh {
		st.known[e.Key()] = &pendingCount{entry: e}
		// One line per key and process, without the value: the URN and the
		// attribute are what the operator needs to declare it.
		r.logger.InfoContext(ctx, "observed an undeclared attribute",
			"tenant", conn.Tenant, "sso", conn.SSO, "resource_type", string(e.ResourceType),
			"urn", e.URN, "attribute", e.Attribute, "json_type", e.JSONType)
	}
	if len(fresh) > 0 {
		metrics.CountObserved(ctx, len(fresh))
	}
}

// deltas are the pending counts of the connection, as store deltas.
func (st *connState) deltas() []Entry {
	var out []Entry
	for _, p := range st.known {
		if p.delta == 0 {
			continue
		}
		e := p.entry
		e.Count, e.FirstSeen, e.LastSeen = p.delta, p.first, p.last
		out = append(out, e)
	}
	return out
}

// flushed clears the pending counts once they are written.
func (st *connState) flushed(now time.Time) {
	for _, p := range st.known {
		p.delta = 0
	}
	st.lastFlush = now
}

// state returns conn's state, or nil when the process holds the most
// connections it may.
func (r *Recorder) state(conn scim.Connection) *connState {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.conns[conn]
	if st == nil {
		if len(r.conns) >= r.maxConnections {
			if !r.connsDropped {
				r.connsDropped = true
				r.logger.Warn("observed schema: too many connections in this process; the undeclared attributes of further ones are not recorded",
					"max_connections", r.maxConnections, "tenant", conn.Tenant, "sso", conn.SSO)
			}
			return nil
		}
		st = &connState{known: map[Key]*pendingCount{}}
		r.conns[conn] = st
	}
	return st
}

// Flush writes every pending count now, whatever the interval: for a
// process that is about to exit (`scimgate serve` on shutdown).
func (r *Recorder) Flush(ctx context.Context) error {
	r.mu.Lock()
	states := make(map[scim.Connection]*connState, len(r.conns))
	for c, st := range r.conns {
		states[c] = st
	}
	r.mu.Unlock()
	var firstErr error
	for conn, st := range states {
		st.mu.Lock()
		if batch := st.deltas(); len(batch) > 0 {
			if err := r.store.AddObserved(ctx, conn, batch); err != nil {
				r.logger.ErrorContext(ctx, "flush the observed schema", "tenant", conn.Tenant, "sso", conn.SSO, "error", err.Error())
				if firstErr == nil {
					firstErr = err
				}
			} else {
				st.flushed(r.stamp())
			}
		}
		st.mu.Unlock()
	}
	return firstErr
}

// Dropped is how many sightings of new keys conn's state could not hold.
func (r *Recorder) Dropped(conn scim.Connection) int64 {
	r.mu.Lock()
	st := r.conns[conn]
	r.mu.Unlock()
	if st == nil {
		return 0
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.dropped
}

var _ scim.Observer = (*Recorder)(nil)

// Observe implements scim.Observer: the Service calls it after a write
// committed, with the undeclared attributes the write carried.
func (r *Recorder) Observe(ctx context.Context, conn scim.Connection, obs []scim.Observation) {
	if len(obs) == 0 {
		return
	}
	sightings := make([]Sighting, len(obs))
	for i, o := range obs {
		sightings[i] = Sighting{ResourceType: o.ResourceType, URN: o.URN, Attribute: o.Attribute, JSONType: o.JSONType}
	}
	r.Record(ctx, conn, sightings)
}
