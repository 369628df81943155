// Package reconcile checks that a store's state is consistent with itself,
// the periodic sync check that catches what a bug, a manual edit or a crash
// between two chunks of a large change left behind, and repairs what can be
// repaired without guessing.
//
// The invariants (docs/operations.md, "Reconciliation"):
//
//   - every uniqueness guard belongs to a live resource whose current
//     userName/displayName or externalId it is, and every live resource has
//     its guards;
//   - every member item has the matching reverse entry on the user (the
//     user's groups) and vice versa;
//   - no member item points to a deleted (or missing) user or group;
//   - the stored resource counters agree with the live items.
//
// Stores expose their raw state through Inspector, in files of their own;
// this package knows nothing of their layout.
package reconcile

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/scimgate/scimgate/pkg/scim"
)

// GuardKind is what a uniqueness guard protects.
type GuardKind string

const (
	NameGuard     GuardKind = "name"       // userName / displayName, case-insensitive (scim.NameKey)
	ExternalGuard GuardKind = "externalId" // exact
)

// Resource is a user or group as far as the invariants are concerned.
type Resource struct {
	Type       scim.ResourceType
	ID         string
	Name       string
	ExternalID string
	// Groups are the reverse membership entries a user carries (the ids of
	// its groups); always nil for groups.
	Groups []string
}

// Guard is one uniqueness key and the resource holding it.
type Guard struct {
	Type  scim.ResourceType
	Kind  GuardKind
	Key   string // as stored: scim.NameKey(name) for NameGuard, the externalId for ExternalGuard
	Owner string // resource id
}

// Membership is one member item: user UserID is a member of group GroupID.
type Membership struct {
	GroupID string
	UserID  string
}

// Inventory is everything of one connection the invariants are about.
type Inventory struct {
	Live    []Resource
	Deleted []Resource // archived resources (type and id suffice)
	Guards  []Guard
	Members []Membership
	// Counts are the stored live-resource counters by type; nil when the
	// store counts on read and has nothing to drift.
	Counts map[scim.ResourceType]int
}

// Inspector is the access a check needs to a store: read one connection's
// raw state, list connections page by page, and apply a repair. Both stores
// implement it.
type Inspector interface {
	// Inventory reads conn's state.
	Inventory(ctx context.Context, conn scim.Connection) (*Inventory, error)
	// Connections returns a page of at most limit connections, starting at
	// cursor ("" for the first page), and the cursor of the next page, ""
	// after the last.
	Connections(ctx context.Context, cursor string, limit int) ([]scim.Connection, string, error)
	// Apply makes one repair. It must be conditional on the state the
	// check saw, so that a repair racing live traffic changes nothing
	// instead of doing harm, and idempotent.
	Apply(ctx context.Context, conn scim.Connection, r Repair) error
}

// Kind names an invariant violation.
type Kind string

const (
	OrphanGuard          Kind = "orphan-guard"           // a guard whose owner is not a live resource holding that key
	MissingGuard         Kind = "missing-guard"          // a live resource without its guard
	DuplicateKey         Kind = "duplicate-key"          // two live resources claim the same key: not repairable
	MemberWithoutReverse Kind = "member-without-reverse" // member item, user lacks the group in its groups
	ReverseWithoutMember Kind = "reverse-without-member" // user lists a group that has no member item for it
	MemberOfDeletedUser  Kind = "member-of-deleted-user" // member item of a deleted or missing user
	MemberOfDeletedGroup Kind = "member-of-deleted-group"
	CounterDrift         Kind = "counter-drift"
)

// Action is what a repair does.
type Action string

const (
	DeleteGuard   Action = "delete-guard"
	PutGuard      Action = "put-guard"
	DeleteMember  Action = "delete-member"
	RemoveReverse Action = "remove-reverse"
	AddReverse    Action = "add-reverse"
	SetCount      Action = "set-count"
)

// actionOrder is the order repairs are applied in: orphan guards are freed
// before missing ones are put (the key may be the same), member items are
// removed before reverse entries are reconciled, counters last.
var actionOrder = []Action{DeleteGuard, PutGuard, DeleteMember, RemoveReverse, AddReverse, SetCount}

// Repair is one deterministic fix. Member items are the source of truth
// for membership: they are what the group's member list shows the IdP.
type Repair struct {
	Action  Action            `json:"action"`
	Type    scim.ResourceType `json:"type,omitempty"`
	Guard   *Guard            `json:"guard,omitempty"`
	GroupID string            `json:"groupId,omitempty"`
	UserID  string            `json:"userId,omitempty"`
	Count   int               `json:"count,omitempty"` // SetCount: the live resources of Type
}

// Violation is one broken invariant.
type Violation struct {
	Kind   Kind              `json:"kind"`
	Type   scim.ResourceType `json:"type,omitempty"`
	IDs    []string          `json:"ids"`
	Key    string            `json:"key,omitempty"`
	Detail string            `json:"detail"`
	// Repair is the fix, nil when none is deterministic.
	Repair *Repair `json:"repair,omitempty"`
	// Repaired and RepairError say what --repair did.
	Repaired    bool   `json:"repaired,omitempty"`
	RepairError string `json:"repairError,omitempty"`
}

// Report is the check of one connection.
type Report struct {
	Tenant     string      `json:"tenant"`
	SSO        string      `json:"sso"`
	Violations []Violation `json:"violations"`
}

// Conn is the report's connection.
func (r *Report) Conn() scim.Connection { return scim.Connection{Tenant: r.Tenant, SSO: r.SSO} }

// Find checks inv's invariants. The violations come in a stable order.
func Find(inv *Inventory) []Violation {
	var out []Violation
	type rkey struct {
		typ scim.ResourceType
		id  string
	}
	live := map[rkey]*Resource{}
	for i := range inv.Live {
		r := &inv.Live[i]
		live[rkey{r.Type, r.ID}] = r
	}
	deleted := map[rkey]bool{}
	for _, r := range inv.Deleted {
		deleted[rkey{r.Type, r.ID}] = true
	}
	noun := func(t scim.ResourceType) string { return strings.ToLower(string(t)) }
	expectedKey := func(r *Resource, kind GuardKind) string {
		if kind == NameGuard {
			return scim.NameKey(r.Type, r.Name)
		}
		return r.ExternalID
	}

	// Guards: every guard names a live owner holding that key.
	type gkey struct {
		typ  scim.ResourceType
		kind GuardKind
		key  string
	}
	held := map[gkey]string{}
	for _, g := range inv.Guards {
		owner := live[rkey{g.Type, g.Owner}]
		if owner == nil || expectedKey(owner, g.Kind) != g.Key {
			why := fmt.Sprintf("its owner %s is not a live %s", g.Owner, noun(g.Type))
			if owner != nil {
				why = fmt.Sprintf("its owner %s now has %s %q", g.Owner, g.Kind, expectedKey(owner, g.Kind))
			}
			gc := g
			out = append(out, Violation{Kind: OrphanGuard, Type: g.Type, IDs: []string{g.Owner}, Key: g.Key,
				Detail: fmt.Sprintf("%s guard %q: %s", g.Kind, g.Key, why),
				Repair: &Repair{Action: DeleteGuard, Type: g.Type, Guard: &gc}})
			continue
		}
		held[gkey{g.Type, g.Kind, g.Key}] = g.Owner
	}
	// Resources: every live resource has its guards, and no key is claimed twice.
	claims := map[gkey][]string{}
	for _, r := range inv.Live {
		for _, kind := range []GuardKind{NameGuard, ExternalGuard} {
			k := expectedKey(&r, kind)
			if k == "" {
				continue // no externalId, no guard
			}
			claims[gkey{r.Type, kind, k}] = append(claims[gkey{r.Type, kind, k}], r.ID)
		}
	}
	claimKeys := make([]gkey, 0, len(claims))
	for k := range claims {
		claimKeys = append(claimKeys, k)
	}
	order := func(k gkey) string { return string(k.typ) + "\x00" + string(k.kind) + "\x00" + k.key }
	sort.Slice(claimKeys, func(i, j int) bool { return order(claimKeys[i]) < order(claimKeys[j]) })
	for _, k := range claimKeys {
		ids := claims[k]
		holder := held[k]
		if len(ids) > 1 {
			sort.Strings(ids)
			out = append(out, Violation{Kind: DuplicateKey, Type: k.typ, IDs: ids, Key: k.key,
				Detail: fmt.Sprintf("%d live %ss share %s %q (guard held by %q); which one keeps it is a decision, not a repair", len(ids), noun(k.typ), k.kind, k.key, holder)})
			continue
		}
		if holder == "" {
			out = append(out, Violation{Kind: MissingGuard, Type: k.typ, IDs: ids, Key: k.key,
				Detail: fmt.Sprintf("live %s %s has no %s guard for %q", noun(k.typ), ids[0], k.kind, k.key),
				Repair: &Repair{Action: PutGuard, Type: k.typ, Guard: &Guard{Type: k.typ, Kind: k.kind, Key: k.key, Owner: ids[0]}}})
		}
	}

	// Membership, both directions.
	isMember := map[Membership]bool{}
	for _, m := range inv.Members {
		isMember[m] = true
	}
	members := slices.Clone(inv.Members)
	sort.Slice(members, func(i, j int) bool {
		if members[i].GroupID != members[j].GroupID {
			return members[i].GroupID < members[j].GroupID
		}
		return members[i].UserID < members[j].UserID
	})
	for _, m := range members {
		user := live[rkey{scim.UserResource, m.UserID}]
		group := live[rkey{scim.GroupResource, m.GroupID}]
		switch {
		case group == nil:
			state := "missing"
			if deleted[rkey{scim.GroupResource, m.GroupID}] {
				state = "deleted"
			}
			out = append(out, Violation{Kind: MemberOfDeletedGroup, Type: scim.GroupResource, IDs: []string{m.GroupID, m.UserID},
				Detail: fmt.Sprintf("member item of %s group %s for user %s", state, m.GroupID, m.UserID),
				Repair: &Repair{Action: DeleteMember, GroupID: m.GroupID, UserID: m.UserID}})
		case user == nil:
			state := "missing"
			if deleted[rkey{scim.UserResource, m.UserID}] {
				state = "deleted"
			}
			out = append(out, Violation{Kind: MemberOfDeletedUser, Type: scim.GroupResource, IDs: []string{m.GroupID, m.UserID},
				Detail: fmt.Sprintf("group %s has %s user %s as a member", m.GroupID, state, m.UserID),
				Repair: &Repair{Action: DeleteMember, GroupID: m.GroupID, UserID: m.UserID}})
		case !slices.Contains(user.Groups, m.GroupID):
			out = append(out, Violation{Kind: MemberWithoutReverse, Type: scim.UserResource, IDs: []string{m.GroupID, m.UserID},
				Detail: fmt.Sprintf("group %s lists user %s, whose groups lack it", m.GroupID, m.UserID),
				Repair: &Repair{Action: AddReverse, GroupID: m.GroupID, UserID: m.UserID}})
		}
	}
	users := slices.Clone(inv.Live)
	sort.Slice(users, func(i, j int) bool { return users[i].ID < users[j].ID })
	for _, u := range users {
		if u.Type != scim.UserResource {
			continue
		}
		for _, gid := range slices.Sorted(slices.Values(u.Groups)) {
			if isMember[Membership{GroupID: gid, UserID: u.ID}] && live[rkey{scim.GroupResource, gid}] != nil {
				continue
			}
			out = append(out, Violation{Kind: ReverseWithoutMember, Type: scim.UserResource, IDs: []string{gid, u.ID},
				Detail: fmt.Sprintf("user %s lists group %s, which has no member item for it", u.ID, gid),
				Repair: &Repair{Action: RemoveReverse, GroupID: gid, UserID: u.ID}})
		}
	}

	// Counters.
	if inv.Counts != nil {
		for _, typ := range []scim.ResourceType{scim.UserResource, scim.GroupResource} {
			n := 0
			for _, r := range inv.Live {
				if r.Type == typ {
					n++
				}
			}
			if inv.Counts[typ] != n {
				out = append(out, Violation{Kind: CounterDrift, Type: typ, IDs: []string{},
					Detail: fmt.Sprintf("the %s counter says %d, there are %d live %ss", noun(typ), inv.Counts[typ], n, noun(typ)),
					Repair: &Repair{Action: SetCount, Type: typ, Count: n}})
			}
		}
	}
	for i := range out {
		if out[i].IDs == nil {
			out[i].IDs = []string{}
		}
	}
	return out
}

// Check reads conn's inventory and finds its violations; with repair it
// applies every deterministic fix, in actionOrder, and records the outcome
// on each violation. A failed repair does not stop the others.
func Check(ctx context.Context, ins Inspector, conn scim.Connection, repair bool) (*Report, error) {
	inv, err := ins.Inventory(ctx, conn)
	if err != nil {
		return nil, fmt.Errorf("inventory of %s: %w", conn, err)
	}
	rep := &Report{Tenant: conn.Tenant, SSO: conn.SSO, Violations: Find(inv)}
	if !repair {
		return rep, nil
	}
	for _, action := range actionOrder {
		for i := range rep.Violations {
			v := &rep.Violations[i]
			if v.Repair == nil || v.Repair.Action != action {
				continue
			}
			if err := ins.Apply(ctx, conn, *v.Repair); err != nil {
				if ctx.Err() != nil {
					return rep, fmt.Errorf("repair %s: %w", conn, ctx.Err())
				}
				v.RepairError = scim.ErrorDetailOf(err)
				if scim.ErrorCodeOf(err) == scim.EInternal {
					v.RepairError = err.Error() // an operator tool: the cause is the point
				}
				continue
			}
			v.Repaired = true
		}
	}
	return rep, nil
}

// CheckAll checks every connection, page by page (at most pageSize
// connections read at a time), calling report after each one. It stops at
// the first error, which report may return to stop early.
func CheckAll(ctx context.Context, ins Inspector, pageSize int, repair bool, report func(*Report) error) error {
	cursor := ""
	for {
		conns, next, err := ins.Connections(ctx, cursor, pageSize)
		if err != nil {
			return fmt.Errorf("list connections: %w", err)
		}
		for _, conn := range conns {
			rep, err := Check(ctx, ins, conn, repair)
			if err != nil {
				return err
			}
			if err := report(rep); err != nil {
				return err
			}
		}
		if next == "" {
			return nil
		}
		cursor = next
	}
}
