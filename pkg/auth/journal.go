package auth

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/scimgate/scimgate/pkg/changes"
)

// Journal builds the change records of the admin operations
// (connection.* and token.*, docs/events.md). The admin service puts one on
// the context of every store call that may write (WithJournal); the store
// asks it, inside the transaction that applies the change, for the record
// of exactly what that transaction changes, so that a change and its record
// commit together and a no-op or a failure writes none. A nil *Journal
// builds no records: a store call without one writes none.
type Journal struct {
	Origin changes.Origin
	NewID  changes.IDGenerator
	// At is when the operation runs: the time of records whose store call
	// is given none (SetConnectionState).
	At time.Time
	// ConnectionView and TokenView render the record's data: the admin
	// API's view of the connection or token, never a secret or a hash.
	ConnectionView func(ConnectionRecord) any
	TokenView      func(TokenInfo) any
}

type journalKey struct{}

// WithJournal returns ctx carrying j.
func WithJournal(ctx context.Context, j *Journal) context.Context {
	return context.WithValue(ctx, journalKey{}, j)
}

// JournalFrom returns the journal ctx carries, or nil.
func JournalFrom(ctx context.Context) *Journal {
	j, _ := ctx.Value(journalKey{}).(*Journal)
	return j
}

// Connection returns the record of typ for c at at; none without a journal.
// changed names the attributes that changed ("state", "revoked").
func (j *Journal) Connection(typ changes.Type, c ConnectionRecord, at time.Time, changed ...string) ([]changes.Record, error) {
	if j == nil {
		return nil, nil
	}
	return j.record(typ, changes.ConnectionResource, c.Conn.Tenant, c.Conn.SSO, c.Conn.String(), j.ConnectionView(c), at, changed)
}

// Token returns the record of typ for t at at; none without a journal.
func (j *Journal) Token(typ changes.Type, t TokenInfo, at time.Time, changed ...string) ([]changes.Record, error) {
	if j == nil {
		return nil, nil
	}
	return j.record(typ, changes.TokenResource, t.Conn.Tenant, t.Conn.SSO, t.ID, j.TokenView(t), at, changed)
}

func (j *Journal) record(typ changes.Type, resourceType, tenant, sso, id string, view any, at time.Time, changed []string) ([]changes.Record, error) {
	data, err := json.Marshal(view)
	if err != nil {
		return nil, fmt.Errorf("encode %s record of %s: %w", typ, id, err)
	}
	at = at.UTC()
	return []changes.Record{{
		ID: j.NewID(at), Type: typ, Tenant: tenant, SSO: sso, ResourceType: resourceType, ResourceID: id,
		Time: at, RequestID: j.Origin.RequestID, Actor: j.Origin.Actor, Changed: changed, Data: data,
	}}, nil
}
