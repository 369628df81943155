package changes

import (
	"context"
	"encoding/json"
	"fmt"
)

// Origin is who made a change and in which request: what every record of
// the change carries as request_id and actor.
type Origin struct {
	RequestID string
	Actor     string
}

type originKey struct{}

// WithOrigin returns ctx carrying o: the HTTP layer sets it once the
// request is authenticated, and the service stamps it on the records of
// whatever the request changes.
func WithOrigin(ctx context.Context, o Origin) context.Context {
	return context.WithValue(ctx, originKey{}, o)
}

// OriginFrom returns the origin ctx carries (zero when none).
func OriginFrom(ctx context.Context) Origin {
	o, _ := ctx.Value(originKey{}).(Origin)
	return o
}

// MembershipRecords splits one membership change of a group into records of
// at most Chunk members and MaxMembersDataBytes of data each: first the
// added members (GroupMembersAdded), then the removed ones
// (GroupMembersRemoved). All carry base's fields (the group, its version
// after the change, time, origin) and a new id from newID each, and are
// numbered part 1..parts across both types, so a consumer knows when it has
// the whole change. No members: no records.
func MembershipRecords(base Record, group GroupSummary, added, removed []Member, newID IDGenerator) ([]Record, error) {
	chunks := membershipChunks(group, added, removed)
	out := make([]Record, 0, len(chunks))
	for i, c := range chunks {
		ids := make([]string, len(c.members))
		for k, m := range c.members {
			ids[k] = m.ID
		}
		data, err := json.Marshal(MembersData{Group: group, Members: c.members, MemberIDs: ids})
		if err != nil {
			return nil, fmt.Errorf("encode members: %w", err)
		}
		r := base
		r.ID, r.Type, r.Changed, r.Data = newID(base.Time), c.typ, []string{"members"}, data
		r.Part, r.Parts = i+1, len(chunks)
		out = append(out, r)
	}
	return out, nil
}

// MembershipParts is how many records MembershipRecords makes of a change:
// what a store reserves in the transaction that writes them. Fewer members
// never make more records (each record is filled greedily in order).
func MembershipParts(group GroupSummary, added, removed []Member) int {
	return len(membershipChunks(group, added, removed))
}

type membersChunk struct {
	typ     Type
	members []Member
}

func membershipChunks(group GroupSummary, added, removed []Member) []membersChunk {
	var chunks []membersChunk
	fixed := membersDataBytes(group)
	for _, side := range []membersChunk{{GroupMembersAdded, added}, {GroupMembersRemoved, removed}} {
		size, start := fixed, 0
		for i, m := range side.members {
			n := memberBytes(m)
			if i > start && (i-start >= Chunk || size+n > MaxMembersDataBytes) {
				chunks = append(chunks, membersChunk{side.typ, side.members[start:i]})
				size, start = fixed, i
			}
			size += n
		}
		if start < len(side.members) {
			chunks = append(chunks, membersChunk{side.typ, side.members[start:]})
		}
	}
	return chunks
}

// memberBytes is what one member adds to a record's data: its summary and
// its id in member_ids, with separators.
func memberBytes(m Member) int {
	b, _ := json.Marshal(m)
	id, _ := json.Marshal(m.ID)
	return len(b) + len(id) + 2
}

// membersDataBytes is the data of a record without members.
func membersDataBytes(g GroupSummary) int {
	b, _ := json.Marshal(MembersData{Group: g, Members: []Member{}, MemberIDs: []string{}})
	return len(b)
}
