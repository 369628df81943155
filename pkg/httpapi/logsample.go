package httpapi

import (
	"sync"
	"time"

	"github.com/scimgate/scimgate/pkg/scim"
)

// RateLimitedLogInterval is how often the access log writes a line for a
// connection's 429s: the first of each interval, and in the next line the
// count of those left out. A flood of 429s (214k lines in 30 s) would
// otherwise drown the log and its cost; the metrics still count every one.
const RateLimitedLogInterval = 10 * time.Second

// maxSampledConnections bounds the sampler's memory; beyond it, connections
// whose interval has passed and that owe no count are forgotten.
const maxSampledConnections = 10000

// rateLimitedSampler decides which 429 lines are written, per connection.
type rateLimitedSampler struct {
	mu    sync.Mutex
	conns map[scim.Connection]*sampledConn
}

type sampledConn struct {
	logged    time.Time // when the last 429 line was written
	notLogged int       // 429s since then that wrote no line
}

// rateLimited is asked for a 429 of conn at now: whether to write its line,
// and the count of 429s left out before it.
func (s *rateLimitedSampler) rateLimited(conn scim.Connection, now time.Time) (write bool, notLogged int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conns == nil {
		s.conns = map[scim.Connection]*sampledConn{}
	}
	c := s.conns[conn]
	if c == nil {
		s.evict(now)
		s.conns[conn] = &sampledConn{logged: now}
		return true, 0
	}
	if now.Sub(c.logged) < RateLimitedLogInterval {
		c.notLogged++
		return false, 0
	}
	notLogged, c.notLogged, c.logged = c.notLogged, 0, now
	return true, notLogged
}

// served is told of any other request of conn, whose line is always
// written: it carries the 429s left out since the last 429 line, so that
// the end of a flood is counted too.
func (s *rateLimitedSampler) served(conn scim.Connection) (notLogged int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.conns[conn]
	if c == nil {
		return 0
	}
	notLogged, c.notLogged = c.notLogged, 0
	return notLogged
}

// evict forgets connections that owe no count and whose interval has
// passed, once there are many; called with mu held.
func (s *rateLimitedSampler) evict(now time.Time) {
	if len(s.conns) < maxSampledConnections {
		return
	}
	for conn, c := range s.conns {
		if c.notLogged == 0 && now.Sub(c.logged) >= RateLimitedLogInterval {
			delete(s.conns, conn)
		}
	}
}
