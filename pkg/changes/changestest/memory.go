package changestest

import (
	"context"
	"slices"
	"sync"

	"github.com/scimgate/scimgate/pkg/changes"
)

// Memory is an in-memory changes.Feed and changes.Cursors for tests of
// feed consumers; the stores' own tests cover the real ones.
type Memory struct {
	mu      sync.Mutex
	records []changes.Record
	cursors map[string]string
	// Saves counts SaveCursor calls.
	Saves int
}

// Append adds records in commit order.
func (m *Memory) Append(rs ...changes.Record) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.records = append(m.records, rs...)
}

// ListChanges implements changes.Feed.
func (m *Memory) ListChanges(_ context.Context, q changes.Query) (*changes.Page, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	start := 0
	if q.After != "" {
		start = slices.IndexFunc(m.records, func(r changes.Record) bool { return r.ID == q.After }) + 1
	}
	limit := q.Limit
	if limit <= 0 || limit > changes.MaxPage {
		limit = changes.MaxPage
	}
	page := &changes.Page{Next: q.After}
	for _, r := range m.records[start:] {
		if r.Tenant != q.Tenant || r.SSO != q.SSO {
			continue
		}
		if len(page.Records) == limit {
			break
		}
		page.Next = r.ID
		if q.Matches(&r) {
			page.Records = append(page.Records, r)
		}
	}
	return page, nil
}

// FeedConnections lists the connections that have records (a changes.ConnectionLister).
func (m *Memory) FeedConnections(context.Context) ([]changes.Conn, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []changes.Conn
	for _, r := range m.records {
		c := changes.Conn{Tenant: r.Tenant, SSO: r.SSO}
		if !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return out, nil
}

// LoadCursor implements changes.Cursors.
func (m *Memory) LoadCursor(_ context.Context, consumer string, c changes.Conn) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cursors[consumer+"|"+c.String()], nil
}

// SaveCursor implements changes.Cursors.
func (m *Memory) SaveCursor(_ context.Context, consumer string, c changes.Conn, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cursors == nil {
		m.cursors = map[string]string{}
	}
	m.cursors[consumer+"|"+c.String()] = id
	m.Saves++
	return nil
}
