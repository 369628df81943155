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
// at most Chunk member ids each, all with base's fields (the group, its
// version after the change, time, origin), typ GroupMembersAdded or
// GroupMembersRemoved and a new id from newID each. ids empty: none.
func MembershipRecords(base Record, typ Type, ids []string, newID IDGenerator) ([]Record, error) {
	var out []Record
	for start := 0; start < len(ids); start += Chunk {
		chunk := ids[start:min(start+Chunk, len(ids))]
		data, err := json.Marshal(MembersData{Members: chunk})
		if err != nil {
			return nil, fmt.Errorf("encode members: %w", err)
		}
		r := base
		r.ID, r.Type, r.Changed, r.Data = newID(base.Time), typ, []string{"members"}, data
		out = append(out, r)
	}
	return out, nil
}
