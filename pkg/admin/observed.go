package admin

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/scimgate/scimgate/pkg/observed"
	"github.com/scimgate/scimgate/pkg/scim"
)

// observedTimeLayout: RFC 3339 UTC to the millisecond, as SCIM's meta
// shows times.
const observedTimeLayout = "2006-01-02T15:04:05.000Z"

// observedOf lists what conn was observed to send, ordered by resource
// type, URN, attribute and JSON type. A store that keeps no observed schema
// lists nothing.
func (s *Service) observedOf(ctx context.Context, conn scim.Connection) ([]Observed, []observed.Entry, error) {
	st, ok := s.cfg.Store.(observed.Store)
	if !ok {
		return []Observed{}, nil, nil
	}
	entries, err := st.ListObserved(ctx, conn)
	if err != nil {
		return nil, nil, fmt.Errorf("list the observed schema of connection %s: %w", conn, err)
	}
	sort.Slice(entries, func(i, j int) bool {
		a, b := entries[i].Key(), entries[j].Key()
		switch {
		case a.ResourceType != b.ResourceType:
			return a.ResourceType > b.ResourceType // User before Group
		case a.URN != b.URN:
			return a.URN < b.URN
		case a.Attribute != b.Attribute:
			return a.Attribute < b.Attribute
		}
		return a.JSONType < b.JSONType
	})
	out := make([]Observed, len(entries))
	for i, e := range entries {
		out[i] = Observed{URN: e.URN, Attribute: e.Attribute, JSONType: e.JSONType,
			FirstSeen: stamp(e.FirstSeen).Format(observedTimeLayout), LastSeen: stamp(e.LastSeen).Format(observedTimeLayout),
			Count: e.Count, ResourceType: string(e.ResourceType)}
	}
	return out, entries, nil
}

// ObservedDeclaration is what --from-observed declares for conn: RFC 7643
// §7 Schema resources built from its observed schema (observed.Declaration),
// and notes on what was left out or chosen.
func (s *Service) ObservedDeclaration(ctx context.Context, conn scim.Connection) ([]json.RawMessage, []string, error) {
	if _, err := s.cfg.Store.GetConnection(ctx, conn); err != nil {
		return nil, nil, fmt.Errorf("declare the observed schema of connection %s: %w", conn, err)
	}
	_, entries, err := s.observedOf(ctx, conn)
	if err != nil {
		return nil, nil, err
	}
	schemas, notes := observed.Declaration(entries)
	return schemas, notes, nil
}

// withObserved merges the observed declaration into u.Declared. The
// connection's declared schemas replace observed ones with the same id
// (ids compare case-insensitively, RFC 7643 §2.1): what was declared with
// care, and observed before it was declared, is not re-guessed. A schema of
// the given set (--file) replaces either, so a file can correct what was
// observed. Declaring nothing this way is refused rather than clearing the
// declared set.
func (s *Service) withObserved(ctx context.Context, conn scim.Connection, u *SchemaUpdate) ([]string, error) {
	fromObserved, notes, err := s.ObservedDeclaration(ctx, conn)
	if err != nil {
		return nil, err
	}
	rec, err := s.cfg.Store.GetConnection(ctx, conn)
	if err != nil {
		return nil, fmt.Errorf("declare the observed schema of connection %s: %w", conn, err)
	}
	existing, err := declaredResources(rec.DeclaredSchemas)
	if err != nil {
		return nil, fmt.Errorf("declare the observed schema of connection %s: %w", conn, err)
	}
	var given []json.RawMessage
	if u.Declared != nil {
		given = *u.Declared
	}
	if len(fromObserved) == 0 {
		existing = nil // nothing new to declare: refused below, never a silent no-op
	}
	merged := MergeDeclared(MergeDeclared(fromObserved, existing), given)
	if len(merged) == 0 {
		detail := "from_observed: nothing observed can be declared; the connection has sent no undeclared attribute yet (see `connection schema show`)"
		if len(notes) > 0 {
			detail = "from_observed: nothing observed can be declared: " + strings.Join(notes, "; ")
		}
		return nil, scim.Errorf(scim.EInvalidValue, "%s", detail)
	}
	u.Declared = &merged
	return notes, nil
}

// MergeDeclared is the declared set of --from-observed with --file: the
// observed schemas, each replaced by a given one with the same id (ids
// compare case-insensitively, RFC 7643 §2.1), then the given ones that
// replace none.
func MergeDeclared(fromObserved, given []json.RawMessage) []json.RawMessage {
	byID := map[string]int{}
	for i, raw := range given {
		byID[strings.ToLower(schemaID(raw))] = i
	}
	used := make([]bool, len(given))
	merged := make([]json.RawMessage, 0, len(fromObserved)+len(given))
	for _, raw := range fromObserved {
		if i, ok := byID[strings.ToLower(schemaID(raw))]; ok {
			merged = append(merged, given[i])
			used[i] = true
			continue
		}
		merged = append(merged, raw)
	}
	for i, raw := range given {
		if !used[i] {
			merged = append(merged, raw)
		}
	}
	return merged
}

// schemaID is the "id" of a Schema resource, "" when it has none (the
// declaration's parser then says so).
func schemaID(raw json.RawMessage) string {
	var head struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(raw, &head)
	return strings.TrimSpace(head.ID)
}
