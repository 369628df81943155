package scim

import (
	"context"
	"encoding/json"
	"fmt"

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
		changed = changes.ChangedAttributes(nil, ownAttributes(next))
	default:
		changed = changes.ChangedAttributes(ownAttributes(prev), ownAttributes(next))
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
	return &rec, nil
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
	doc := s.Document(&bare, "")
	delete(doc, "members")
	delete(doc, "groups")
	if meta, ok := doc["meta"].(map[string]any); ok {
		delete(meta, "location")
	}
	return doc
}
