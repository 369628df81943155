package scim

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/scimgate/scimgate/pkg/changes"
)

// ownChangeRecord is the record of a resource's own change, from prev to
// next: prev nil for a create, deleted for a DELETE (next is then the last
// state). It returns nil when the resource's own attributes did not change
// (a membership-only change writes membership records only). Membership
// records are built where the effective member changes are known (see
// changes.MembershipRecords).
func (s *Service) ownChangeRecord(ctx context.Context, prev, next *Resource, deleted bool, newID changes.IDGenerator) (*changes.Record, error) {
	var typ changes.Type
	var changed []string
	switch {
	case deleted:
		typ = pick(next.Type, changes.UserDeleted, changes.GroupDeleted)
	case prev == nil:
		typ = pick(next.Type, changes.UserCreated, changes.GroupCreated)
		changed = expandExtensionChanges(changes.ChangedAttributes(nil, ownAttributes(next)), nil, next.Attributes)
	default:
		changed = expandExtensionChanges(changes.ChangedAttributes(ownAttributes(prev), ownAttributes(next)), prev.Attributes, next.Attributes)
		if len(changed) == 0 {
			return nil, nil
		}
		typ = pick(next.Type, changes.UserUpdated, changes.GroupUpdated)
		if next.Type == UserResource && prev.Active != next.Active {
			typ = changes.UserDeactivated
			if next.Active {
				typ = changes.UserReactivated
			}
		}
	}
	data, err := json.Marshal(s.recordDocument(next))
	if err != nil {
		return nil, fmt.Errorf("encode change record data: %w", err)
	}
	rec := s.recordBase(ctx, next)
	rec.ID, rec.Type, rec.Changed, rec.Data = newID(rec.Time), typ, changed, data
	if prev != nil && !deleted {
		rec.Previous, rec.Current = changedValues(ownAttributes(prev), ownAttributes(next), changed)
	}
	return &rec, nil
}

// changedValues are a record's previous and current objects: for each name
// in changed (as changes.ChangedAttributes reports them), its whole value
// before and after, null where absent. Names are matched case-insensitively
// (RFC 7643 §2.1), so a name spelled differently before keeps its value.
// The resource's own attributes never hold a password (Resource.Attributes),
// and both objects together are at most twice MaxResourceBytes, so a record
// stays under changes.MaxRecordBytes (TestRecordOfLargestUpdateFitsLimits).
func changedValues(before, after map[string]any, changed []string) (previous, current map[string]any) {
	previous = make(map[string]any, len(changed))
	current = make(map[string]any, len(changed))
	for _, name := range changed {
		previous[name] = lookupFold(before, name)
		current[name] = lookupFold(after, name)
	}
	return previous, current
}

func lookupFold(m map[string]any, name string) any {
	if v, ok := m[name]; ok {
		return v
	}
	for k, v := range m {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return nil
}

// MemberSummary is what a membership record says of user u.
func MemberSummary(u *Resource) changes.Member {
	display, _ := u.Attributes["displayName"].(string)
	return changes.Member{ID: u.ID, ExternalID: u.ExternalID, UserName: u.Name, DisplayName: display, Active: u.Active}
}

// GroupSummary is what a membership record says of group g.
func GroupSummary(g *Resource) changes.GroupSummary {
	return changes.GroupSummary{ID: g.ID, DisplayName: g.Name, ExternalID: g.ExternalID}
}

// recordBase is what every record of a change of r carries.
func (s *Service) recordBase(ctx context.Context, r *Resource) changes.Record {
	o := changes.OriginFrom(ctx)
	return changes.Record{
		Tenant: r.Conn.Tenant, SSO: r.Conn.SSO, ResourceType: string(r.Type), ResourceID: r.ID, ExternalID: r.ExternalID,
		Version: r.Version, Time: r.LastModified, RequestID: o.RequestID, Actor: o.Actor,
	}
}

func pick(typ ResourceType, user, group changes.Type) changes.Type {
	if typ == GroupResource {
		return group
	}
	return user
}

// ownAttributes is what a record compares: the stored attributes with the
// indexed fields the representation shows (userName, active, externalId),
// never members or groups.
func ownAttributes(r *Resource) map[string]any {
	m := make(map[string]any, len(r.Attributes)+3)
	for k, v := range r.Attributes {
		m[k] = v
	}
	m[UniqueAttrName(r.Type)] = r.Name
	if r.ExternalID != "" {
		m["externalId"] = r.ExternalID
	} else {
		delete(m, "externalId")
	}
	if r.Type == UserResource {
		m["active"] = r.Active
	}
	return m
}

// recordDocument is a record's data: the representation without members
// and groups (membership records carry them, and they would make a large
// group's record exceed any item limit) and without meta.location (a
// record does not know the base URL the platform reaches scimgate on).
func (s *Service) recordDocument(r *Resource) map[string]any {
	bare := *r
	bare.Members, bare.Groups = nil, nil
	doc := s.document(&bare, "")
	delete(doc, "members")
	delete(doc, "groups")
	if meta, ok := doc["meta"].(map[string]any); ok {
		delete(meta, "location")
	}
	return doc
}

// Journal builds the change records of one request's writes. The service
// puts it on the context of every store call that may change something
// (WithJournal); a store asks it, inside the very transaction it is about
// to commit, for the records of what that transaction changes, and writes
// them in it (docs/events.md: one record per change, in the same atomic
// step). Asking inside the attempt means a change that turns out to be a
// no-op writes no record, and a record's id is drawn right before its
// commit. A store called without a journal writes no records.
type Journal struct {
	svc   *Service
	ctx   context.Context
	newID changes.IDGenerator
	// prev is the state a Store.Replace replaces, when the service knows it
	// (a POST that reactivates a user): Replace is not given it.
	prev *Resource
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

// WithChangeIDs sets the generator of change record ids (tests make them deterministic).
func WithChangeIDs(g changes.IDGenerator) Option { return func(s *Service) { s.changeIDs = g } }

// WithChangeFeed turns the writing of change records on (the default) or
// off; off is what the cost benchmark compares against.
func WithChangeFeed(on bool) Option { return func(s *Service) { s.changeFeed = on } }

// journal returns ctx with the journal of this request, unless the feed is off.
func (s *Service) journal(ctx context.Context) context.Context {
	if !s.changeFeed {
		return ctx
	}
	return WithJournal(ctx, &Journal{svc: s, ctx: ctx, newID: s.changeIDs})
}

// Own returns the record of a resource's own change from prev to next
// (prev nil: created; deleted: next is the state that was deleted), or
// none when its own attributes did not change.
func (j *Journal) Own(prev, next *Resource, deleted bool) ([]changes.Record, error) {
	if j == nil {
		return nil, nil
	}
	rec, err := j.svc.ownChangeRecord(j.ctx, prev, next, deleted, j.newID)
	if err != nil || rec == nil {
		return nil, err
	}
	return []changes.Record{*rec}, nil
}

// WithPrevious returns ctx whose journal knows the state a write replaces:
// a store's Update passes the state it read (cur) to its own Replace or
// membership change, so that their records describe the change from it.
func WithPrevious(ctx context.Context, prev *Resource) context.Context { return withPrev(ctx, prev) }

// withPrev returns ctx whose journal knows the state a Replace replaces.
func withPrev(ctx context.Context, prev *Resource) context.Context {
	j := JournalFrom(ctx)
	if j == nil {
		return ctx
	}
	withPrev := *j
	withPrev.prev = prev
	return WithJournal(ctx, &withPrev)
}

// Replaced returns the records of a Store.Replace writing next: its own
// change from the state the service read (none when the service did not
// say which).
func (j *Journal) Replaced(next *Resource) ([]changes.Record, error) {
	if j == nil || j.prev == nil {
		return nil, nil
	}
	return j.Own(j.prev, next, false)
}

// Deleted returns the record of deleting last, the live state removed at
// at: its version is one more than the last, so that a consumer that keeps
// the highest version per resource applies it.
func (j *Journal) Deleted(last *Resource, at time.Time) ([]changes.Record, error) {
	if j == nil {
		return nil, nil
	}
	gone := *last
	gone.Version++
	gone.LastModified = at
	return j.Own(nil, &gone, true)
}

// Members returns the records of the members a write actually added to
// and removed from group (whose Version and LastModified are those after
// the change, and whose Name and ExternalID the records' group summary
// shows), split by changes.MembershipRecords. The store gives each member's
// summary (MemberSummary of the user it read, or only the id of one that is
// gone). A store that splits a change into several transactions writes all
// its records in the one that makes it visible.
func (j *Journal) Members(group *Resource, added, removed []changes.Member) ([]changes.Record, error) {
	if j == nil {
		return nil, nil
	}
	return changes.MembershipRecords(j.svc.recordBase(j.ctx, group), GroupSummary(group), added, removed, j.newID)
}

// defaultChangeIDs is the record id generator of services not given one
// (WithChangeIDs): one per process, so its ids increase within it.
var defaultChangeIDs = changes.NewIDGenerator(nil)
