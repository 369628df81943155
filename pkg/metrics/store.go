package metrics

import (
	"context"

	"github.com/scimgate/scimgate/pkg/scim"
)

// CountMemberChanges wraps a store so that the group member additions and
// removals it commits are counted into their request. Methods other than
// Create and ModifyMembers pass through.
func CountMemberChanges(s scim.Store) scim.Store { return memberCounting{s} }

type memberCounting struct{ scim.Store }

func (m memberCounting) Create(ctx context.Context, r *scim.Resource) error {
	if err := m.Store.Create(ctx, r); err != nil {
		return err
	}
	if t := tallyOf(ctx); t != nil && r.Type == scim.GroupResource {
		t.addMembers(len(r.Members))
	}
	return nil
}

func (m memberCounting) ModifyMembers(ctx context.Context, group *scim.Resource, prevVersion int64, add []scim.Member, remove []string) error {
	if err := m.Store.ModifyMembers(ctx, group, prevVersion, add, remove); err != nil {
		return err
	}
	if t := tallyOf(ctx); t != nil {
		t.addMembers(len(add) + len(remove))
	}
	return nil
}
