// Package healthtest has an in-memory health.Store that counts its calls,
// for the tests of the aggregator and of what is wired to it.
package healthtest

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/scimgate/scimgate/pkg/health"
	"github.com/scimgate/scimgate/pkg/scim"
)

// Memory is a health.Store in memory.
type Memory struct {
	mu      sync.Mutex
	buckets map[string]health.Bucket
	puts    int
	lists   int
	// Fail, when set, makes PutHealth fail.
	Fail bool
}

func key(b health.Bucket) string {
	return b.Conn.String() + "|" + health.HourKey(b.Hour) + "|" + b.Instance
}

// PutHealth implements health.Store.
func (m *Memory) PutHealth(_ context.Context, buckets []health.Bucket) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.puts++
	if m.Fail {
		return errors.New("injected store failure")
	}
	if m.buckets == nil {
		m.buckets = map[string]health.Bucket{}
	}
	for _, b := range buckets {
		m.buckets[key(b)] = b
	}
	return nil
}

// ListHealth implements health.Store.
func (m *Memory) ListHealth(_ context.Context, conn scim.Connection, since time.Time) ([]health.Bucket, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lists++
	var out []health.Bucket
	for _, b := range m.buckets {
		if b.Conn == conn && !b.Hour.Before(since.Truncate(time.Hour)) {
			out = append(out, b)
		}
	}
	return out, nil
}

// Puts is how many PutHealth calls were made.
func (m *Memory) Puts() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.puts
}

// Len is how many buckets are stored.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.buckets)
}
