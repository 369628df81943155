// Package changes is the change feed's domain: the record every successful
// mutation writes in the same atomic step as the change itself, its types,
// its ids, and the interfaces the stores implement for reading the feed.
// It imports nothing of scimgate, so the protocol (pkg/scim), the admin
// operations and every adapter can share it; docs/events.md is its contract
// and docs/change-record.schema.json its JSON Schema.
package changes

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Type names what happened. The names follow the Standard Webhooks
// recommendation of full-stop delimited identifiers ("user.created").
type Type string

// Every record type, in one place (docs/events.md lists them too).
const (
	UserCreated     Type = "user.created"
	UserUpdated     Type = "user.updated"
	UserDeactivated Type = "user.deactivated" // active became false (Okta's and Entra's unassignment)
	UserReactivated Type = "user.reactivated" // active became true again, by PATCH, PUT or a re-POST
	UserDeleted     Type = "user.deleted"

	GroupCreated        Type = "group.created"
	GroupUpdated        Type = "group.updated" // displayName, externalId or other own attributes
	GroupDeleted        Type = "group.deleted"
	GroupMembersAdded   Type = "group.members_added"
	GroupMembersRemoved Type = "group.members_removed"

	ConnectionCreated  Type = "connection.created"
	ConnectionDisabled Type = "connection.disabled"
	ConnectionEnabled  Type = "connection.enabled"
	ConnectionDeleted  Type = "connection.deleted"
	// ConnectionReconciled: a drift run compared the connection with its
	// IdP's own API (pkg/drift); Data carries the counts.
	ConnectionReconciled Type = "connection.reconciled"

	TokenCreated Type = "token.created"
	TokenRotated Type = "token.rotated"
	TokenRevoked Type = "token.revoked"
	TokenDeleted Type = "token.deleted"
)

// AllTypes lists every Type; the JSON Schema's enum must equal it (tested).
var AllTypes = []Type{
	UserCreated, UserUpdated, UserDeactivated, UserReactivated, UserDeleted,
	GroupCreated, GroupUpdated, GroupDeleted, GroupMembersAdded, GroupMembersRemoved,
	ConnectionCreated, ConnectionDisabled, ConnectionEnabled, ConnectionDeleted, ConnectionReconciled,
	TokenCreated, TokenRotated, TokenRevoked, TokenDeleted,
}

// Valid reports whether t is one of AllTypes.
func (t Type) Valid() bool { return slices.Contains(AllTypes, t) }

// ParseTypes reads a comma-separated list of types or type prefixes
// ("user.deactivated,group.members_*" or "group.*"); it is what --type and
// ?type= accept. An unknown name is an error naming it.
func ParseTypes(s string) ([]Type, error) {
	var out []Type
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if prefix, ok := strings.CutSuffix(part, "*"); ok {
			n := 0
			for _, t := range AllTypes {
				if strings.HasPrefix(string(t), prefix) {
					out = append(out, t)
					n++
				}
			}
			if n == 0 {
				return nil, fmt.Errorf("event type pattern %q matches no type; types are %s", part, typeList())
			}
			continue
		}
		if !Type(part).Valid() {
			return nil, fmt.Errorf("unknown event type %q; types are %s", part, typeList())
		}
		out = append(out, Type(part))
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

func typeList() string {
	names := make([]string, len(AllTypes))
	for i, t := range AllTypes {
		names[i] = string(t)
	}
	return strings.Join(names, ", ")
}

// Resource types of records beyond SCIM's User and Group.
const (
	ConnectionResource = "Connection"
	TokenResource      = "Token"
)

// Record is one change. Its JSON form (the keys below, all always present)
// is the fixed interface of `scimgate events list --json`, the admin API,
// the webhook body and the EventBridge detail.
type Record struct {
	// ID is unique and time-ordered (a ULID): sorting ids sorts records by
	// the time they were written. It is the idempotency key consumers
	// dedupe on, the webhook-id header and the feed's cursor.
	ID     string `json:"id"`
	Type   Type   `json:"type"`
	Tenant string `json:"tenant"`
	SSO    string `json:"sso"`
	// ResourceType is "User", "Group", "Connection" or "Token".
	ResourceType string `json:"resource_type"`
	// ResourceID is the SCIM id, the connection's "tenant/sso", or the token id.
	ResourceID string `json:"resource_id"`
	// ExternalID is the IdP's externalId of the resource; "" when it has none.
	ExternalID string `json:"external_id"`
	// Version is the resource's meta.version after the change; per resource,
	// records are ordered by it. 0 for connection and token records.
	Version int64     `json:"version"`
	Time    time.Time `json:"time"`
	// RequestID is the X-Request-Id of the SCIM (or admin) request that made the change.
	RequestID string `json:"request_id"`
	// Actor is who made the change: "token:<token id>" for a SCIM request,
	// "admin:<identity>" for an admin operation. Never a secret.
	Actor string `json:"actor"`
	// Changed names the attributes the change set or removed (canonical SCIM
	// names, top level: "active", "name", "members"), sorted.
	Changed []string `json:"changed"`
	// Data is the resource's SCIM representation after the change (without
	// members and groups, which membership records carry) for user and group
	// records; MembersData for membership records; the admin view for
	// connection and token records.
	Data json.RawMessage `json:"data"`
	// Previous and Current hold, for a change of a resource's own
	// attributes (user.updated, user.deactivated, user.reactivated,
	// group.updated), the value of each attribute named in Changed before
	// and after it: the whole attribute for a multi-valued one, null where
	// it was absent. Omitted from every other record.
	Previous map[string]any `json:"previous,omitempty"`
	Current  map[string]any `json:"current,omitempty"`
	// Part and Parts number the records of one membership change of one
	// group split by size (part 1..parts, in id order, all with the same
	// request_id and version); every other record is part 1 of 1.
	Part  int `json:"part"`
	Parts int `json:"parts"`
}

// Member is the summary of a user that a membership record carries, so a
// consumer needs no call back for names. A member whose user is gone (a
// removal racing its deletion) has only its id, and active false.
type Member struct {
	ID          string `json:"id"`
	ExternalID  string `json:"externalId"`
	UserName    string `json:"userName"`
	DisplayName string `json:"displayName"`
	Active      bool   `json:"active"`
}

// GroupSummary is the group a membership record is about.
type GroupSummary struct {
	ID          string `json:"id"`
	DisplayName string `json:"displayName"`
	ExternalID  string `json:"externalId"`
}

// MembersData is the Data of group.members_added and group.members_removed.
// MemberIDs repeats the members' ids in the same order: the form the
// records carried before they carried summaries.
type MembersData struct {
	Group     GroupSummary `json:"group"`
	Members   []Member     `json:"members"`
	MemberIDs []string     `json:"member_ids"`
}

// Chunk bounds the members one membership record carries, and
// MaxMembersDataBytes the JSON of its data: a record of 100 typical
// summaries is about 15 KB, and of members with the largest names SCIM
// accepts (scim.MaxKeyBytes, scim.MaxStringBytes) it would be far above
// EventBridge's 256 KB entry limit, so a record also ends where its data
// would pass MaxMembersDataBytes. That keeps every record under
// MaxRecordBytes, inside both EventBridge's entry and DynamoDB's 400 KB item.
const (
	Chunk               = 100
	MaxMembersDataBytes = 128 << 10
	// MaxRecordBytes is the size no record's JSON reaches: EventBridge's
	// 256 KB PutEvents entry, less room for the envelope (source,
	// detail-type, resources).
	MaxRecordBytes = 250 << 10
)

// Actor forms.
func TokenActor(tokenID string) string  { return "token:" + tokenID }
func AdminActor(identity string) string { return "admin:" + identity }

// ReconcileActor is a drift run's repairs against idp ("okta", "entra").
func ReconcileActor(idp string) string { return "reconcile:" + idp }

// Validate checks what a store relies on before writing a record.
func (r *Record) Validate() error {
	switch {
	case r.ID == "":
		return fmt.Errorf("change record without id")
	case !r.Type.Valid():
		return fmt.Errorf("change record %s: unknown type %q", r.ID, r.Type)
	case r.Tenant == "" || r.SSO == "":
		return fmt.Errorf("change record %s: no connection", r.ID)
	case r.ResourceID == "":
		return fmt.Errorf("change record %s: no resource id", r.ID)
	case r.Time.IsZero():
		return fmt.Errorf("change record %s: no time", r.ID)
	case len(r.Data) == 0 || !json.Valid(r.Data):
		return fmt.Errorf("change record %s: data is not JSON", r.ID)
	}
	return nil
}

// MarshalJSON keeps the fixed keys present even when empty: changed is
// always an array, time is RFC 3339 UTC in milliseconds as meta shows it.
func (r Record) MarshalJSON() ([]byte, error) {
	type plain Record
	p := plain(r)
	if p.Changed == nil {
		p.Changed = []string{}
	}
	if len(p.Data) == 0 {
		p.Data = json.RawMessage("null")
	}
	p.Time = p.Time.UTC().Truncate(time.Millisecond)
	// Records stored before parts existed are whole.
	if p.Part == 0 {
		p.Part, p.Parts = 1, 1
	}
	return json.Marshal(p)
}
